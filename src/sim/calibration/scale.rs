//! How confidence is spoken, and what it earns.
//!
//! On a scale of `levels` steps the spoken level of log-odds `x` is
//! `round(σ(x) · levels)` clamped to `[lo, hi]`. That is the number of thresholds
//! `t_j = logit((lo + j − ½) / levels)`, `j = 1 … hi − lo`, at or below `x`, plus `lo`:
//! the [`Speaker`] finds it from a table of the thresholds (a guess from a uniform grid
//! of `x`, then a local search), with no `exp` per response. The reward of a spoken
//! level under each rule is a table too (no `log` for the log score). On a real-valued
//! scale (`levels = 0`) both are computed.

use super::draws::round_to_bits;
use super::model::{Rule, BINS};
use crate::ops;

/// How confidence is spoken: `levels` steps from 0 to 1 (0: a real number), clamped
/// to `[1 − cap, cap]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    levels: usize,
    cap: f64,
}

impl Scale {
    pub(crate) fn new(levels: usize, cap: f64) -> Self {
        Scale { levels, cap }
    }

    /// The lowest and highest level the scale allows.
    pub(crate) fn level_range(&self) -> (usize, usize) {
        let l = self.levels as f64;
        (
            libm::round((1.0 - self.cap) * l) as usize,
            libm::round(self.cap * l) as usize,
        )
    }
}

/// A spoken confidence: the level on a discrete scale (`REAL` on a real-valued one),
/// the confidence `q`, and the log-odds it was spoken from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Spoken {
    pub level: u32,
    pub q: f64,
    pub logit: f64,
}

/// `Spoken::level` on a real-valued scale.
pub(super) const REAL: u32 = u32::MAX;

/// Grid cells above this fall back to a binary search over the thresholds.
const MAX_CELLS: usize = 1 << 16;

/// A scale with its lookup tables.
pub(super) struct Speaker {
    scale: Scale,
    lo: u32,
    hi: u32,
    /// `t_j`, increasing, then +∞.
    thresholds: Vec<f64>,
    /// A grid of `x` (origin, cells per unit, last cell) whose cells are narrower than
    /// half the closest thresholds; cell `c` holds the `x` whose position rounds to
    /// `c`, and `guess[c]` counts the thresholds below its left edge (less a hair), so
    /// at most one more lies at or below any `x` in it. Empty: binary search.
    origin: f64,
    per_unit: f64,
    last_cell: f64,
    guess: Vec<u32>,
    /// Per level: `level / levels` and its bin.
    q: Vec<f64>,
    bin: Vec<u8>,
    /// Per rule and level: the reward of a wrong and of a right answer.
    rewards: [Vec<[f64; 2]>; 3],
}

impl Speaker {
    pub(super) fn new(scale: Scale) -> Self {
        let (lo, hi) = scale.level_range();
        let l = scale.levels as f64;
        let mut speaker = Speaker {
            scale,
            lo: lo as u32,
            hi: hi as u32,
            thresholds: Vec::new(),
            origin: 0.0,
            per_unit: 0.0,
            last_cell: 0.0,
            guess: Vec::new(),
            q: Vec::new(),
            bin: Vec::new(),
            rewards: [Vec::new(), Vec::new(), Vec::new()],
        };
        if scale.levels == 0 {
            return speaker;
        }
        speaker.thresholds = (lo + 1..=hi)
            .map(|j| {
                let p = (j as f64 - 0.5) / l;
                ops::log(p) - ops::log(1.0 - p)
            })
            .collect();
        let t = &speaker.thresholds;
        let gap = t.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
        if let (Some(&first), Some(&last)) = (t.first(), t.last()) {
            let per_unit = libm::exp2(libm::ceil(libm::log2(2.0 / gap.min(1.0))));
            let cells = ((last - first) * per_unit) as usize + 3;
            if cells <= MAX_CELLS {
                speaker.origin = first - 1.0 / per_unit;
                speaker.per_unit = per_unit;
                speaker.last_cell = (cells - 1) as f64;
                speaker.guess = (0..cells)
                    .map(|c| {
                        let edge = speaker.origin + (c as f64 - 0.5 - 1e-6) / per_unit;
                        t.partition_point(|&tj| tj <= edge) as u32
                    })
                    .collect();
            }
        }
        speaker.thresholds.push(f64::INFINITY);
        speaker.q = (0..=scale.levels).map(|v| v as f64 / l).collect();
        speaker.bin = (0..=scale.levels)
            .map(|v| (v * BINS / scale.levels).min(BINS - 1) as u8)
            .collect();
        for (rule, table) in [Rule::Binary, Rule::Brier, Rule::Log]
            .into_iter()
            .zip(&mut speaker.rewards)
        {
            *table = speaker
                .q
                .iter()
                .map(|&q| [rule_reward(rule, 0.0, q), rule_reward(rule, 1.0, q)])
                .collect();
        }
        speaker
    }

    /// Whether the scale is real-valued (`levels = 0`).
    pub(super) fn is_real(&self) -> bool {
        self.scale.levels == 0
    }

    /// The number of levels (0: real-valued).
    pub(super) fn levels(&self) -> usize {
        self.scale.levels
    }

    /// The highest level (discrete scale).
    pub(super) fn top_level(&self) -> u32 {
        self.hi
    }

    /// Speaks the confidence whose log-odds is `x`.
    #[inline(always)]
    pub(super) fn speak(&self, x: f64) -> Spoken {
        if self.is_real() {
            let q = ops::sigmoid(x).clamp(1.0 - self.scale.cap, self.scale.cap);
            return Spoken {
                level: REAL,
                q,
                logit: x,
            };
        }
        let level = self.lo + self.count_below(x);
        Spoken {
            level,
            q: self.q[level as usize],
            logit: x,
        }
    }

    /// The level of log-odds `x` on a discrete scale.
    #[inline(always)]
    pub(super) fn level(&self, x: f64) -> u32 {
        self.lo + self.count_below(x)
    }

    /// The number of thresholds at or below `x`.
    #[inline(always)]
    fn count_below(&self, x: f64) -> u32 {
        let t = &self.thresholds;
        if self.guess.is_empty() {
            return t.partition_point(|&tj| tj <= x) as u32;
        }
        let pos = ((x - self.origin) * self.per_unit).clamp(0.0, self.last_cell);
        let n = self.guess[round_to_bits(pos) as u32 as usize];
        n + (x >= t[n as usize]) as u32
    }

    /// The reward under `rule` of an answer (right or not) spoken with `s`.
    #[inline(always)]
    pub(super) fn reward(&self, rule: Rule, right: bool, s: Spoken) -> f64 {
        if s.level == REAL {
            return rule_reward(rule, right as u8 as f64, s.q);
        }
        self.rewards[rule as usize][s.level as usize][right as usize]
    }

    /// The bin of `s` for ECE and the reliability diagram.
    pub(super) fn bin_of(&self, s: Spoken) -> usize {
        if s.level == REAL {
            ((s.q * BINS as f64) as usize).min(BINS - 1)
        } else {
            self.bin[s.level as usize] as usize
        }
    }

    /// `level / levels` and the bin of each level (discrete scale).
    pub(super) fn level_q(&self, level: usize) -> f64 {
        self.q[level]
    }

    pub(super) fn level_bin(&self, level: usize) -> usize {
        self.bin[level] as usize
    }

    /// Whether `s` sits at the top of the scale.
    pub(super) fn at_cap(&self, s: Spoken) -> bool {
        if s.level == REAL {
            ops::sigmoid(s.logit) >= self.scale.cap
        } else {
            s.level == self.hi
        }
    }
}

/// Reward of a right (`c = 1`) or wrong answer stated with confidence `q` under `rule`.
pub(super) fn rule_reward(rule: Rule, c: f64, q: f64) -> f64 {
    match rule {
        Rule::Binary => c,
        Rule::Brier => c - (q - c) * (q - c),
        Rule::Log if c == 1.0 => 1.0 + ops::log(q),
        Rule::Log if c == 0.0 => ops::log(1.0 - q),
        Rule::Log => c + c * ops::log(q) + (1.0 - c) * ops::log(1.0 - q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: round(σ(x) · levels), clamped.
    fn direct(scale: Scale, x: f64) -> u32 {
        let (lo, hi) = scale.level_range();
        (libm::round(ops::sigmoid(x) * scale.levels as f64) as usize).clamp(lo, hi) as u32
    }

    /// The level of `x` by counting thresholds directly (equal to `direct` away from
    /// the thresholds).
    fn direct_or_step(speaker: &Speaker, scale: Scale, x: f64) -> u32 {
        let (lo, _) = scale.level_range();
        lo as u32 + speaker.thresholds.iter().filter(|&&t| t <= x).count() as u32
    }

    #[test]
    fn levels_match_rounding_the_sigmoid() {
        let mut s = crate::rng::Stream::new(1, "speak", 0, "t");
        for (levels, cap) in [(100, 0.99), (10, 0.9), (7, 0.9), (1000, 0.999), (100_000, 0.99)] {
            let scale = Scale::new(levels, cap);
            let speaker = Speaker::new(scale);
            assert_eq!(speaker.guess.is_empty(), levels > 10_000);
            for i in 0..20_000 {
                let x = if i % 2 == 0 {
                    12.0 * (s.uniform() - 0.5)
                } else {
                    60.0 * (s.uniform() - 0.5)
                };
                let spoken = speaker.speak(x);
                // Away from a threshold (where rounding of σ could go either way).
                let near = speaker.thresholds.iter().any(|t| (t - x).abs() < 1e-9);
                // And at the grid's cell edges.
                let edge = ((x - speaker.origin) * speaker.per_unit - 0.5).round();
                let y = speaker.origin + (edge + 0.5) / speaker.per_unit;
                if !speaker.guess.is_empty() && y.is_finite() {
                    assert_eq!(speaker.speak(y).level, direct_or_step(&speaker, scale, y));
                }
                if !near {
                    assert_eq!(spoken.level, direct(scale, x), "levels {levels} x {x}");
                }
                assert_eq!(
                    spoken.level,
                    direct_or_step(&speaker, scale, x),
                    "levels {levels} x {x}"
                );
                assert_eq!(spoken.q, spoken.level as f64 / levels as f64);
            }
            // At each threshold the level steps up.
            for (j, &t) in speaker.thresholds.iter().take_while(|t| t.is_finite()).enumerate() {
                assert_eq!(speaker.speak(t).level, speaker.lo + j as u32 + 1);
                assert_eq!(speaker.speak(t - 1e-9 * t.abs().max(1.0)).level, speaker.lo + j as u32);
            }
        }
    }

    #[test]
    fn the_scale_rounds_clamps_and_ranks() {
        let percent = Speaker::new(Scale::new(100, 0.99));
        assert_eq!(percent.scale.level_range(), (1, 99));
        let top = percent.speak(10.0);
        assert_eq!((top.q, percent.bin_of(top), percent.at_cap(top)), (0.99, 9, true));
        // Two different certainties above the cap tie on the spoken scale...
        assert_eq!(percent.speak(6.0).level, percent.speak(9.0).level);
        let low = percent.speak(-10.0);
        assert_eq!((low.q, percent.bin_of(low), percent.at_cap(low)), (0.01, 0, false));
        assert_eq!(percent.speak(0.0).q, 0.5);
        // ...and keep their order on a real-valued scale.
        let real = Speaker::new(Scale::new(0, 1.0 - 1e-9));
        assert!(real.speak(6.0).logit < real.speak(9.0).logit);
        assert!(!real.at_cap(real.speak(9.0)));
        assert_eq!(real.bin_of(real.speak(0.3)), 5);
    }

    #[test]
    fn reward_tables_match_the_rules() {
        let speaker = Speaker::new(Scale::new(100, 0.99));
        for x in [-3.0, -0.2, 0.0, 1.1, 4.0, 9.0] {
            let s = speaker.speak(x);
            for rule in [Rule::Binary, Rule::Brier, Rule::Log] {
                for right in [false, true] {
                    let c = right as u8 as f64;
                    let general = c + c * ops::log(s.q) + (1.0 - c) * ops::log(1.0 - s.q);
                    let expected = match rule {
                        Rule::Binary => c,
                        Rule::Brier => c - (s.q - c) * (s.q - c),
                        Rule::Log => general,
                    };
                    assert!((speaker.reward(rule, right, s) - expected).abs() < 1e-15);
                }
            }
        }
    }
}
