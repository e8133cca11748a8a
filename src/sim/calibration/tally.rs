//! The evaluation's counts and the metrics computed from them.
//!
//! On a discrete scale a response is fully described by its level and whether it is
//! right, so an evaluation pass only counts right and wrong responses per level; every
//! metric (ECE, Brier, AUROC with ties, …) is then a sum over levels, in level order,
//! with no per-response storage and no sort. On a real-valued scale each response is
//! kept and the AUROC sorts them.

use super::model::BINS;
use super::scale::{Speaker, Spoken, REAL};

/// Metrics recorded per step, in this order.
pub(super) const METRICS: [&str; 9] = [
    "accuracy",
    "ece",
    "brier",
    "auroc",
    "confidence",
    "abstention",
    "cap_share",
    "decisiveness",
    "readout_slope",
];

/// Counts over one evaluation pass. An abstention is a wrong answer stated with
/// confidence 0, ranked below every answer.
#[derive(Debug, Clone)]
pub(super) struct Tally {
    n: u32,
    abstained: u32,
    /// Discrete scale: [wrong, right] responses per level.
    per_level: Vec<[u32; 2]>,
    /// Real-valued scale: (log-odds, confidence, right?) per response, in order.
    real: Vec<(f64, f64, bool)>,
}

/// Per confidence bin: responses, right ones, summed confidence.
pub(super) struct Bins {
    pub n: [u32; BINS],
    pub right: [u32; BINS],
    pub confidence: [f64; BINS],
}

/// Sums over a pass, in a fixed order.
struct Sums {
    bins: Bins,
    correct: u32,
    at_cap: u32,
    brier: f64,
    confidence: f64,
    auroc: f64,
}

impl Tally {
    pub(super) fn new(speaker: &Speaker) -> Self {
        Tally {
            n: 0,
            abstained: 0,
            per_level: vec![[0; 2]; if speaker.is_real() { 0 } else { speaker.levels() + 1 }],
            real: Vec::new(),
        }
    }

    #[inline]
    pub(super) fn add(&mut self, s: Spoken, right: bool) {
        self.n += 1;
        if s.level == REAL {
            self.real.push((s.logit, s.q, right));
        } else {
            self.per_level[s.level as usize][right as usize] += 1;
        }
    }

    /// A response at `level` of a discrete scale.
    #[inline(always)]
    pub(super) fn add_level(&mut self, level: u32, right: bool) {
        self.n += 1;
        self.per_level[level as usize][right as usize] += 1;
    }

    #[inline]
    pub(super) fn abstain(&mut self) {
        self.n += 1;
        self.abstained += 1;
    }

    pub(super) fn n(&self) -> usize {
        self.n as usize
    }

    pub(super) fn reliability(&self, speaker: &Speaker) -> Bins {
        self.sums(speaker).bins
    }

    /// The metrics of [`METRICS`], with the policy's decisiveness `tau` and readout
    /// slope `w`.
    pub(super) fn metrics(&self, speaker: &Speaker, tau: f64, w: f64) -> [f64; 9] {
        let s = self.sums(speaker);
        let n = self.n as f64;
        let mut ece = 0.0;
        for b in 0..BINS {
            ece += (s.bins.right[b] as f64 - s.bins.confidence[b]).abs();
        }
        [
            s.correct as f64 / n,
            ece / n,
            s.brier / n,
            s.auroc,
            s.confidence / n,
            self.abstained as f64 / n,
            s.at_cap as f64 / n,
            tau,
            w,
        ]
    }

    fn sums(&self, speaker: &Speaker) -> Sums {
        let mut s = Sums {
            bins: Bins {
                n: [0; BINS],
                right: [0; BINS],
                confidence: [0.0; BINS],
            },
            correct: 0,
            at_cap: 0,
            brier: 0.0,
            confidence: 0.0,
            auroc: 0.5,
        };
        // Abstentions: bin 0, confidence 0, wrong, below every answer.
        s.bins.n[0] += self.abstained;
        // AUROC: P(right above wrong) + ½ P(tie), by groups of equal score in
        // increasing order: each group's right responses against the wrong ones below
        // it and half the wrong ones in it.
        let (mut pairs, mut wrong_below) = (0.0, self.abstained as f64);
        let mut group = |right: f64, wrong: f64| {
            pairs += right * (wrong_below + 0.5 * wrong);
            wrong_below += wrong;
        };
        if speaker.is_real() {
            for &(logit, q, right) in &self.real {
                let c = right as u8 as f64;
                let b = speaker.bin_of(Spoken { level: REAL, q, logit });
                s.bins.n[b] += 1;
                s.bins.right[b] += right as u32;
                s.bins.confidence[b] += q;
                s.correct += right as u32;
                s.at_cap += speaker.at_cap(Spoken { level: REAL, q, logit }) as u32;
                s.brier += (q - c) * (q - c);
                s.confidence += q;
            }
            let mut sorted = self.real.clone();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            for run in sorted.chunk_by(|a, b| a.0 == b.0) {
                let right = run.iter().filter(|r| r.2).count() as f64;
                group(right, run.len() as f64 - right);
            }
        } else {
            for (level, &[wrong, right]) in self.per_level.iter().enumerate() {
                if wrong + right == 0 {
                    continue;
                }
                let (q, b) = (speaker.level_q(level), speaker.level_bin(level));
                let count = (wrong + right) as f64;
                s.bins.n[b] += wrong + right;
                s.bins.right[b] += right;
                s.bins.confidence[b] += count * q;
                s.correct += right;
                if level as u32 == speaker.top_level() {
                    s.at_cap += wrong + right;
                }
                s.brier += right as f64 * (q - 1.0) * (q - 1.0) + wrong as f64 * q * q;
                s.confidence += count * q;
                group(right as f64, wrong as f64);
            }
        }
        let right = s.correct as f64;
        let wrong = self.n as f64 - right;
        if right > 0.0 && wrong > 0.0 {
            s.auroc = pairs / (right * wrong);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::scale::Scale;
    use super::*;
    use crate::ops;

    fn auroc(t: &Tally, speaker: &Speaker) -> f64 {
        t.metrics(speaker, 1.0, 1.0)[3]
    }

    fn ece(t: &Tally, speaker: &Speaker) -> f64 {
        t.metrics(speaker, 1.0, 1.0)[1]
    }

    #[test]
    fn auroc_and_ece_of_known_tallies() {
        for speaker in [Speaker::new(Scale::new(100, 0.99)), Speaker::new(Scale::new(0, 0.99))] {
            let mut t = Tally::new(&speaker);
            // Levels 90, 10, 50, 50 (on the real scale: the same confidences).
            let (l90, l10) = (ops::log(9.0), -ops::log(9.0));
            for (right, logit) in [(true, l90), (false, l10), (true, 0.0), (false, 0.0)] {
                t.add(speaker.speak(logit), right);
            }
            // Pairs: (90 > 10), (90 > 50), (50 > 10), (50 = 50): (3 + 0.5) / 4.
            assert!((auroc(&t, &speaker) - 0.875).abs() < 1e-12);
            // Bins: 0.9 → |1 − 0.9|, 0.1 → |0 − 0.1|, 0.5 → |1 − 1.0|: 0.2 / 4.
            assert!((ece(&t, &speaker) - 0.05).abs() < 1e-12);
            // An abstention ranks below every answer.
            t.abstain();
            assert!((auroc(&t, &speaker) - (3.5 + 2.0) / 6.0).abs() < 1e-12);
            let m = t.metrics(&speaker, 2.0, 0.5);
            assert_eq!((m[0], m[5], m[7], m[8]), (0.4, 0.2, 2.0, 0.5));
            // Brier: (0.1² + 0.1² + 0.5² + 0.5² + 0) / 5.
            assert!((m[2] - 0.52 / 5.0).abs() < 1e-12);
            if !speaker.is_real() {
                let bins = t.reliability(&speaker);
                assert_eq!(bins.n, [1, 1, 0, 0, 0, 2, 0, 0, 0, 1]);
                assert_eq!(bins.right, [0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
            }
        }
    }

    #[test]
    fn a_tally_with_one_kind_of_answer_has_auroc_one_half() {
        let speaker = Speaker::new(Scale::new(100, 0.99));
        let mut t = Tally::new(&speaker);
        t.add(speaker.speak(1.0), true);
        t.add(speaker.speak(-1.0), true);
        assert_eq!(auroc(&t, &speaker), 0.5);
    }
}
