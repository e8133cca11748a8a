//! The simulation: a context window of right and wrong turns, and the experiments on it.
//!
//! # Speed (issue 18)
//!
//! The work is turns: a draw and a comparison each. What keeps it fast, and why each
//! trick is exact (same model, same distribution; only which draws are used changed):
//!
//! - **Integer thresholds, two turns per draw.** σ(z − β·e/W) is tabulated per error
//!   count `e` (the state is discrete, so no `exp` per turn), as `⌈σ·2³²⌉`: a turn
//!   takes a 32-bit half of a draw and is right iff the half is below it, the same
//!   decision as `uniform_pair`'s uniform `< σ`, without the float ([`Draws`]). So do an
//!   injected turn and partial feedback. *Sampling change* (issue 18): these Bernoullis
//!   took a whole 53-bit draw each before; 2⁻³² resolution is far below any digit the
//!   model states, and half the draws of turn-by-turn play.
//! - **Runs of right turns in one draw.** While the window's error count stays as it
//!   is, every turn is right with the same probability `p`, so the number of right
//!   turns before the next wrong one is geometric: `⌊ln u / ln p⌋` with one uniform
//!   `u ∈ (0, 1]` and one `log` instead of a draw per turn (200 turns at p = 0.995).
//!   The count stays as it is until a wrong turn or until the oldest error leaves the
//!   window (a known turn: the shift register's highest bit); a run of right turns is
//!   cut there and the next one drawn afresh (exact: the gap is memoryless). It is
//!   used where it covers at least [`SKIP_TURNS`] turns on average (clean or sparse
//!   windows at high `p`); windows full of errors are played turn by turn. When the
//!   table is flat (β = 0) the window does not matter and a horizon run is `k + 1` gaps.
//! - **The window as a shift register.** For `W ≤ 64` the last `W` turns are the bits
//!   of one `u64` (newest in bit 0): no ring in memory; larger windows use a ring (and
//!   take runs of right turns only from a clean window).
//! - **Horizon batches run by run.** Turn by turn, a batch stops once at most half its
//!   runs survive: at the `m`-th smallest failure turn. Its runs are played one after
//!   another, each up to the `m`-th smallest failure turn of the runs before it (a
//!   bound on that stop), and both survival curves are counted from each run's first
//!   and `(k + 1)`-th error turn: the same curves, without a loop over turns and runs.
//!   The interpolation takes `ln(c / batch)` from a table.
//! - **One key per condition.** An injection or escape run draws from a substream
//!   of its condition's stream (the same key, ChaCha's stream number set to the
//!   replicate: a copy and a counter reset) instead of a stream of its own (a SHA-256
//!   and a key setup, ~180 ns, as long as a short run's turns). *Sampling change*: other
//!   streams, same rule for every replicate; shards still reproduce the whole run.
//! - **No draw without randomness.** Injection at rate 0 or 1 draws nothing (the
//!   outcome is certain); an injection run draws its injected turns and its own turns
//!   from one stream (`turns`).
//! - **The bistable test counts roots without refining them, and without `exp`.** The
//!   mean-field range scans β and asks only how many sign changes `f` has on its grid;
//!   the bisection of each root (60 `exp` per root) is left to [`fixed_points`]. The
//!   sign of `f(e) = 1 − σ(z − βe) − e` is `z − βe < ln((1 − e)/e)` (σ increases), from
//!   a table of the grid's log-odds ([`SignGrid`]); `f` itself is evaluated only at the
//!   ends and within 10⁻⁹ of the crossing, where the shortcut could disagree with the
//!   float `f`. Same bits (tested against the `exp` scan); 1.64 M `exp` became 2 per β.
//! - **Rows reserved.** The observation columns are reserved for every row at once
//!   (no copy as they grow). Same bits.
//! - **One parallel region per experiment.** Every condition's replicates are run
//!   inside one parallel iterator over conditions; the injection rows are pushed while
//!   the horizons and escapes run, and the mean-field range (a serial scan) runs beside
//!   them, so the serial tail is the push of the last experiments' rows.
//!
//! What is left (measured after these tricks, `make bench` counts and timing): 5.3 M
//! draws and 0.99 M `log`, a bound of 16 ms against ~70 ms at one thread. Most of the
//! difference is turn-by-turn play where a window is mostly errors (escape runs:
//! ~5.5 M turns, each a table look-up, a compare and a shift-register update chained
//! on the error count; a third of the instructions), the per-run bookkeeping of
//! horizon and injection runs, and `log` running slower inside the gap loop than alone.

use super::{Mode, Params};
use crate::ops;
use crate::rng::{sigmoid, Stream};
use crate::sim::{Observations, Replicate, Replicates, Runner};
use rayon::prelude::*;

/// `⌈p·2³²⌉`: a 32-bit half `h` of a draw has `h < threshold(p)` iff `h·2⁻³² < p`
/// (`p·2³²` is exact, and for an integer `h`, `h < y ⇔ h < ⌈y⌉`): the decision of
/// `Stream::uniform_pair`'s uniform against `p`, without the float.
fn threshold(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * (1u64 << 32) as f64).ceil() as u64
}

/// A run's stream, spent in 32-bit halves where a Bernoulli needs no more: a turn's
/// outcome, an injected turn, whether a wrong turn enters the context. These are the
/// two uniforms of `Stream::uniform_pair` (the high half of a draw first, then the low
/// half), compared as integers ([`threshold`]); 2⁻³² resolution is far below anything
/// the model states (σ to a few digits). A run of right turns takes a whole draw of its
/// own (53 bits, for its logarithm), leaving a pending low half where it is.
pub(super) struct Draws {
    rng: Stream,
    low: u64,
    spare: bool,
}

impl Draws {
    pub(super) fn new(rng: Stream) -> Self {
        Draws {
            rng,
            low: 0,
            spare: false,
        }
    }

    /// The next 32-bit half: the high half of a fresh draw, or the low half of the last.
    #[inline(always)]
    fn half(&mut self) -> u64 {
        if self.spare {
            self.spare = false;
            self.low
        } else {
            let x = self.rng.next_u64();
            self.low = x & 0xFFFF_FFFF;
            self.spare = true;
            x >> 32
        }
    }

    /// Uniform on (0, 1] with 53 random bits, from a draw of its own.
    #[inline(always)]
    fn uniform_open0(&mut self) -> f64 {
        self.rng.uniform_open0()
    }
}

/// σ(z − β·errors/W) for every error count of a full window of `W` turns, computed
/// once per condition so the inner loop draws once and compares.
pub(super) struct Conditioning {
    /// `threshold(σ(z − β·e/W))` for `e = 0..=W`.
    right_below: Vec<u64>,
    /// `ln σ(z − β·e/W)`: a run of right turns at `e` errors is geometric in it.
    ln_right: Vec<f64>,
    /// The fewest turns until the window changes (the oldest error leaves) for which a
    /// run of right turns at `e` errors is drawn at once rather than turn by turn: where
    /// the turns it covers on average, `(1 − p^d)/(1 − p)`, reach [`SKIP_TURNS`].
    min_span: Vec<usize>,
    /// Every entry equal (β = 0): the window does not change the next turn.
    flat: bool,
}

/// A run of right turns costs one draw and one `log` (about four turns' worth): it is
/// drawn at once when it covers at least this many turns on average.
const SKIP_TURNS: f64 = 4.0;

/// The smallest `d` with `(1 − p^d)/(1 − p) ≥ SKIP_TURNS`, or `usize::MAX`.
fn min_span(p: f64) -> usize {
    if p >= 1.0 {
        return 1;
    }
    if SKIP_TURNS * (1.0 - p) >= 1.0 {
        return usize::MAX; // even an endless window: 1/(1 − p) turns on average
    }
    let mut pd = 1.0;
    for d in 1..=4096 {
        pd *= p;
        if 1.0 - pd >= SKIP_TURNS * (1.0 - p) {
            return d;
        }
    }
    usize::MAX
}

impl Conditioning {
    pub(super) fn new(window: usize, logit: f64, beta: f64) -> Self {
        let p_right: Vec<f64> = (0..=window)
            .map(|errors| sigmoid(logit - beta * errors as f64 / window as f64))
            .collect();
        Conditioning {
            right_below: p_right.iter().map(|&p| threshold(p)).collect(),
            ln_right: p_right.iter().map(|&p| ops::log(p)).collect(),
            min_span: p_right.iter().map(|&p| min_span(p)).collect(),
            flat: p_right.iter().all(|&p| p == p_right[0]),
        }
    }

    /// One turn from a window with `errors` errors: right or not (one draw).
    #[inline(always)]
    fn right(&self, errors: usize, rng: &mut Draws) -> bool {
        rng.half() < self.right_below[errors]
    }

    /// While the window stays as it is at `errors` errors: the number of right turns
    /// before the next wrong one, `⌊ln u / ln p⌋` (P(gap ≥ g) = p^g), at most `max`.
    #[inline]
    fn gap(&self, errors: usize, rng: &mut Draws, max: usize) -> usize {
        let u = rng.uniform_open0();
        let ln_p = self.ln_right[errors];
        if ln_p == 0.0 {
            return max; // p = 1: never wrong
        }
        let g = ops::log(u) / ln_p;
        if g >= max as f64 {
            max
        } else {
            g as usize
        }
    }
}

/// Whether a wrong turn enters the context as wrong: with probability `feedback`, one
/// extra draw only when it is strictly between 0 and 1.
#[derive(Clone, Copy)]
struct Feedback(f64);

impl Feedback {
    #[inline(always)]
    fn seen(self, rng: &mut Draws) -> bool {
        self.0 >= 1.0 || (self.0 > 0.0 && rng.half() < threshold(self.0))
    }

    /// Whether a turn (`right` or not) enters the context as wrong; without a branch on
    /// `right` when feedback is 0 or 1 (no draw).
    #[inline(always)]
    fn seen_if_wrong(self, right: bool, rng: &mut Draws) -> bool {
        if self.0 > 0.0 && self.0 < 1.0 {
            !right && rng.half() < threshold(self.0)
        } else {
            !right & (self.0 >= 1.0)
        }
    }
}

/// The last `W` turns of a model's context, right or wrong.
pub(super) trait Window {
    /// A full window of clean turns (the prompt) or of errors.
    fn new(window: usize, start_wrong: bool) -> Self;
    /// Wrong turns in the window.
    fn errors(&self) -> usize;
    /// Appends a turn to the context, forgetting the oldest.
    fn record(&mut self, wrong: bool);
    /// How many right turns in a row leave the error count as it is until the last of
    /// them, which drops the oldest error: `usize::MAX` for a clean window, 0 when not
    /// tracked (then only a clean window's right turns are taken at once).
    fn span(&self) -> usize;
    /// Appends `n ≤ span()` right turns.
    fn record_rights(&mut self, n: usize);
}

/// A window of at most 64 turns: bit `i` is the turn `i` turns ago (1 = wrong).
pub(super) struct Bits {
    bits: u64,
    mask: u64,
    top: u32,
    errors: usize,
}

impl Window for Bits {
    fn new(window: usize, start_wrong: bool) -> Self {
        debug_assert!((1..=64).contains(&window));
        let mask = u64::MAX >> (64 - window);
        Bits {
            bits: if start_wrong { mask } else { 0 },
            mask,
            top: window as u32 - 1,
            errors: if start_wrong { window } else { 0 },
        }
    }

    #[inline(always)]
    fn errors(&self) -> usize {
        self.errors
    }

    #[inline(always)]
    fn record(&mut self, wrong: bool) {
        let old = (self.bits >> self.top) & 1;
        self.bits = ((self.bits << 1) | wrong as u64) & self.mask;
        self.errors = self.errors + wrong as usize - old as usize;
    }

    #[inline]
    fn span(&self) -> usize {
        if self.bits == 0 {
            return usize::MAX;
        }
        // The oldest error is bit j: it leaves on the (top + 1 − j)-th turn.
        let j = 63 - self.bits.leading_zeros();
        (self.top + 1 - j) as usize
    }

    #[inline]
    fn record_rights(&mut self, n: usize) {
        self.bits = if n >= 64 { 0 } else { (self.bits << n) & self.mask };
        self.errors = self.bits.count_ones() as usize;
    }
}

/// A window of any length: a ring of turns.
pub(super) struct Context {
    ring: Vec<bool>,
    next: usize,
    errors: usize,
}

impl Window for Context {
    fn new(window: usize, start_wrong: bool) -> Self {
        Context {
            ring: vec![start_wrong; window],
            next: 0,
            errors: if start_wrong { window } else { 0 },
        }
    }

    #[inline(always)]
    fn errors(&self) -> usize {
        self.errors
    }

    #[inline(always)]
    fn record(&mut self, wrong: bool) {
        let old = std::mem::replace(&mut self.ring[self.next], wrong);
        self.errors = self.errors + wrong as usize - old as usize;
        self.next += 1;
        if self.next == self.ring.len() {
            self.next = 0;
        }
    }

    fn span(&self) -> usize {
        if self.errors == 0 {
            usize::MAX
        } else {
            0
        }
    }

    /// Only called on a clean window, which right turns leave as it is (every slot
    /// right, so where the ring starts does not matter).
    fn record_rights(&mut self, _n: usize) {
        debug_assert_eq!(self.errors, 0);
    }
}

/// Runs `$f::<Bits>` for windows of at most 64 turns, `$f::<Context>` otherwise.
macro_rules! by_window {
    ($w:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        if $w <= 64 {
            $f::<Bits>($($arg),*)
        } else {
            $f::<Context>($($arg),*)
        }
    };
}

/// Plays one turn: right with probability σ(z − β·e_t); a wrong turn enters the
/// context as wrong as [`Feedback`] says, otherwise as right. Returns whether it was right.
#[inline(always)]
fn step<C: Window>(ctx: &mut C, cond: &Conditioning, feedback: Feedback, rng: &mut Draws) -> bool {
    let right = cond.right(ctx.errors(), rng);
    ctx.record(feedback.seen_if_wrong(right, rng));
    right
}

/// Plays the next turns, at least one and at most `max`: either one turn, or, when the
/// window will stay as it is for long enough ([`Conditioning::min_span`]), a run of
/// right turns drawn at once, ended by a wrong turn, by the oldest error leaving the
/// window (the error count changes: the run stops there, and the next one is drawn
/// afresh, exact since the gap is memoryless) or by `max`. Returns the turns played and
/// whether the last one was wrong; the error count changes only on that last turn.
#[inline(always)]
fn segment<C: Window>(
    ctx: &mut C,
    cond: &Conditioning,
    feedback: Feedback,
    rng: &mut Draws,
    max: usize,
) -> (usize, bool) {
    let errors = ctx.errors();
    let need = cond.min_span[errors];
    // Most turns in a window of many errors: p is low, a run of right turns is short.
    if need == usize::MAX {
        let right = step(ctx, cond, feedback, rng);
        return (1, !right);
    }
    let span = ctx.span();
    if span >= need {
        let cap = span.min(max);
        let g = cond.gap(errors, rng, cap);
        ctx.record_rights(g);
        if g == cap {
            return (g, false);
        }
        let seen = feedback.seen(rng);
        ctx.record(seen);
        return (g + 1, true);
    }
    let right = step(ctx, cond, feedback, rng);
    (1, !right)
}

/// `logit(p) = ln(p / (1 − p))`.
pub(super) fn logit(p: f64) -> f64 {
    ops::log(p / (1.0 - p))
}

/// One injection run's outcome.
pub(super) struct Injected {
    /// The model's last turn (turn `turns`) was right.
    last_right: bool,
    /// Errors are the majority of the window at the end.
    collapsed: bool,
    /// Each of the model's turns, right or not (kept only when asked).
    own: Vec<bool>,
}

/// One injection run: the clean prompt, then `injected_turns` turns written for the
/// model, each wrong with probability `r`, then the model's own turns up to `turns`.
fn injected_run<C: Window>(
    p: &Params,
    cond: &Conditioning,
    feedback: f64,
    r: f64,
    keep: bool,
    mut rng: Draws,
) -> Injected {
    let feedback = Feedback(feedback);
    let mut ctx = C::new(p.window, false);
    // Rate 0 or 1: every injected turn is certain, no draw.
    let wrong_below = threshold(r);
    for _ in 0..p.injected_turns {
        let wrong = if r <= 0.0 {
            false
        } else if r >= 1.0 {
            true
        } else {
            rng.half() < wrong_below
        };
        ctx.record(wrong);
    }
    let n = p.turns - p.injected_turns;
    let mut own = if keep { vec![true; n] } else { Vec::new() };
    let mut last_right = true;
    let mut t = 0;
    while t < n {
        let (played, wrong) = segment(&mut ctx, cond, feedback, &mut rng, n - t);
        t += played;
        if keep && wrong {
            own[t - 1] = false;
        }
        last_right = !wrong;
    }
    Injected {
        last_right,
        collapsed: 2 * ctx.errors() > p.window,
        own,
    }
}

/// (a), (b): every scale and mode at every injection rate, as one parallel region.
fn injection_runs(p: &Params, run: &Runner) -> Vec<(String, Vec<Replicates<Injected>>)> {
    let arms: Vec<(String, Conditioning, f64)> = p
        .scales
        .iter()
        .flat_map(|scale| {
            Mode::ALL.map(|mode| {
                let cond = Conditioning::new(p.window, p.logit_base + scale.bonus, p.beta(scale, mode));
                (format!("{}/{}", scale.name, mode.name()), cond, p.feedback(mode))
            })
        })
        .collect();
    arms.par_iter()
        .map(|(arm, cond, feedback)| {
            let runs = p
                .injection_rates
                .par_iter()
                .map(|&r| {
                    let keep = r == 1.0;
                    let condition = format!("inject/{arm}/{r}");
                    let turns = run.shared(&condition, |rep| rep.stream("turns"));
                    run.replicates(&condition, run.count(), |rep| {
                        let rng = Draws::new(turns.substream(rep.index()));
                        by_window!(p.window, injected_run(p, cond, *feedback, r, keep, rng))
                    })
                })
                .collect();
            (arm.clone(), runs)
        })
        .collect()
}

/// (a), (b): turn-`turns` accuracy against the injected error rate, the share of runs
/// that end collapsed, the drop from r = 0 to r = 1, and after a fully wrong injection
/// the accuracy turn by turn.
fn push_injection(p: &Params, arms: &[(String, Vec<Replicates<Injected>>)], out: &mut Observations) {
    for (arm, at_rate) in arms {
        for (&r, runs) in p.injection_rates.iter().zip(at_rate) {
            for (i, run) in runs.iter() {
                out.push_outcome(arm, "turn_accuracy_at_end", r, i, run.last_right);
                out.push_outcome(arm, "collapsed_at_end", r, i, run.collapsed);
            }
            if r == 1.0 {
                for (i, run) in runs.iter() {
                    for (k, right) in run.own.iter().enumerate() {
                        let t = (p.injected_turns + k + 1) as f64;
                        out.push_outcome(arm, "accuracy_after_injection", t, i, *right);
                    }
                }
            }
        }
        let (clean, dirty) = (&at_rate[0], &at_rate[at_rate.len() - 1]);
        for ((i, c), (_, d)) in clean.iter().zip(dirty.iter()) {
            out.push(
                arm,
                "injection_drop",
                0.0,
                i,
                c.last_right as u8 as f64 - d.last_right as u8 as f64,
            );
        }
    }
}

/// The turn at which a survival curve falls to `success`, linear in log space between
/// the last turn above and the first at or below (exact for a geometric curve).
/// `curve(t)` is the survival after `t` turns, `curve(0) = 1`; `None` past `max`.
fn crossing(success: f64, max: usize, mut curve: impl FnMut(usize) -> f64) -> Option<f64> {
    crossing_log(ops::log(success), max, |t| ops::log(curve(t)))
}

/// [`crossing`] on the logarithm of the curve, `ln_curve(t)`, and `target = ln(success)`.
fn crossing_log(target: f64, max: usize, mut ln_curve: impl FnMut(usize) -> f64) -> Option<f64> {
    let mut prev = 0.0;
    for t in 1..=max {
        let cur = ln_curve(t);
        if cur <= target {
            let frac = if cur.is_finite() {
                (target - prev) / (cur - prev)
            } else {
                0.0
            };
            return Some((t - 1) as f64 + frac);
        }
        prev = cur;
    }
    None
}

/// The analytic horizon of a task that fails at its `(k + 1)`-th error when turns are
/// independent and right with probability `p`: where P(Binomial(t, 1 − p) ≤ k) falls
/// to `success` (interpolated as [`crossing`] does). `k = 0` gives `ln(s)/ln(p)`.
pub fn binomial_horizon(p: f64, k: usize, success: f64, max: usize) -> f64 {
    let mut pmf = vec![0.0; k + 1];
    pmf[0] = 1.0;
    crossing(success, max, |_| {
        for j in (0..=k).rev() {
            pmf[j] = pmf[j] * p + if j > 0 { pmf[j - 1] * (1.0 - p) } else { 0.0 };
        }
        pmf.iter().sum()
    })
    .unwrap_or(max as f64)
}

/// One run of a horizon batch, played until its `(k + 1)`-th error or turn `cap`:
/// the turns of its first and `(k + 1)`-th error (`usize::MAX` if not by `cap`).
fn horizon_run<C: Window>(
    window: usize,
    k: usize,
    cap: usize,
    cond: &Conditioning,
    feedback: Feedback,
    rng: &mut Draws,
) -> (usize, usize) {
    let mut ctx = C::new(window, false);
    let (mut t, mut errors) = (0, 0);
    let (mut first, mut death) = (usize::MAX, usize::MAX);
    while t < cap {
        let wrong = if cond.flat || ctx.errors() == 0 {
            // Right turns leave the window as it is (clean), or it does not matter.
            let g = cond.gap(ctx.errors(), rng, cap - t);
            if g == cap - t {
                break;
            }
            t += g + 1;
            let seen = feedback.seen(rng);
            ctx.record(seen);
            true
        } else {
            let (played, wrong) = segment(&mut ctx, cond, feedback, rng, cap - t);
            t += played;
            wrong
        };
        if wrong {
            errors += 1;
            if errors == 1 {
                first = t;
            }
            if errors > k {
                death = t;
                break;
            }
        }
    }
    (first, death)
}

/// A horizon condition's constants: the turn table, and `ln(c / batch)` for every count.
struct HorizonCondition {
    cond: Conditioning,
    ln_share: Vec<f64>,
    ln_success: f64,
}

/// The task-success and `k`-tolerant horizons of one batch of `horizon_batch` runs:
/// where the share of runs with no error, and with at most `k` errors, falls to
/// `horizon_success`.
///
/// Turn by turn, the batch would stop at the first turn with at most `target`
/// tolerant survivors: the `m`-th smallest failure turn, `m = batch − ⌊target⌋`. The
/// runs are played one after another instead, each only up to the `m`-th smallest
/// failure turn among the runs before it (an upper bound on where the batch stops),
/// and the survival curves up to the stop are counted from the turns of each run's
/// first and `(k + 1)`-th error: the same curves, with no turn-by-turn loop.
fn batch_horizons<C: Window>(p: &Params, hc: &HorizonCondition, feedback: f64, rep: Replicate) -> (f64, f64) {
    let mut rng = Draws::new(rep.stream("turns"));
    let feedback = Feedback(feedback);
    let (k, batch, max) = (p.horizon_tolerance, p.horizon_batch, p.horizon_max_turns);
    let target = p.horizon_success * batch as f64;
    let m = batch - (target.floor() as usize).min(batch - 1);
    // The m smallest failure turns so far, ascending.
    let mut smallest: Vec<usize> = Vec::with_capacity(m + 1);
    let runs: Vec<(usize, usize)> = (0..batch)
        .map(|_| {
            let cap = if smallest.len() == m { smallest[m - 1] } else { max };
            let (first, death) = horizon_run::<C>(p.window, k, cap, &hc.cond, feedback, &mut rng);
            if death != usize::MAX {
                let at = smallest.partition_point(|&d| d <= death);
                smallest.insert(at, death);
                smallest.truncate(m);
            }
            (first, death)
        })
        .collect();
    let end = if smallest.len() == m { smallest[m - 1] } else { max };
    // Survival counts by turn up to `end`, and the turn at which the turn-by-turn loop
    // stopped: the first with at most `target` survivors on both curves.
    let (mut clean, mut tolerant) = (vec![0usize; end + 2], vec![0usize; end + 2]);
    for &(first, death) in &runs {
        clean[first.min(end + 1)] += 1;
        tolerant[death.min(end + 1)] += 1;
    }
    let (mut c, mut tol) = (batch, batch);
    let mut stop = end;
    for t in 0..=end {
        c -= clean[t];
        tol -= tolerant[t];
        clean[t] = c;
        tolerant[t] = tol;
        if tol as f64 <= target && (c as f64) <= target {
            stop = t;
            break;
        }
    }
    let h_clean = crossing_log(hc.ln_success, stop, |t| hc.ln_share[clean[t]]).unwrap_or(stop as f64);
    let h_tol = crossing_log(hc.ln_success, stop, |t| hc.ln_share[tolerant[t]]).unwrap_or(stop as f64);
    (h_clean, h_tol)
}

/// The horizon arms: no self-conditioning (β = 0) and self-conditioning (β = `beta_base`).
fn horizon_arms(p: &Params) -> [(&'static str, f64); 2] {
    [("no_self_conditioning", 0.0), ("self_conditioning", p.beta_base)]
}

/// (c): the horizons of every batch of every arm and step accuracy, as one parallel region.
fn horizon_runs(p: &Params, run: &Runner) -> Vec<Replicates<(f64, f64)>> {
    let batch = p.horizon_batch;
    let ln_share: Vec<f64> = (0..=batch).map(|c| ops::log(c as f64 / batch as f64)).collect();
    let ln_success = ops::log(p.horizon_success);
    let conditions: Vec<(String, HorizonCondition)> = horizon_arms(p)
        .iter()
        .flat_map(|&(arm, beta)| p.horizon_step_accuracies.iter().map(move |&acc| (arm, beta, acc)))
        .map(|(arm, beta, acc)| {
            let hc = HorizonCondition {
                cond: Conditioning::new(p.window, logit(acc), beta),
                ln_share: ln_share.clone(),
                ln_success,
            };
            (format!("horizon/{arm}/{acc}"), hc)
        })
        .collect();
    conditions
        .par_iter()
        .map(|(name, hc)| {
            run.replicates(name, p.horizon_batches, |rep| {
                by_window!(p.window, batch_horizons(p, hc, p.feedback, rep))
            })
        })
        .collect()
}

/// (c): horizons without self-conditioning (β = 0) and with it (β = `beta_base`),
/// against the analytic values for independent turns.
fn push_horizons(p: &Params, h: &[Replicates<(f64, f64)>], out: &mut Observations) {
    let mut h = h.iter();
    for (arm, _) in horizon_arms(p) {
        for &acc in &p.horizon_step_accuracies {
            let runs = h.next().expect("one result per condition");
            for (i, (clean, tolerant)) in runs.iter() {
                out.push(arm, "task_horizon", acc, i, *clean);
                out.push(arm, "tolerant_horizon", acc, i, *tolerant);
            }
        }
    }
    for &acc in &p.horizon_step_accuracies {
        let max = p.horizon_max_turns;
        out.push_exact(
            "analytic",
            "task_horizon",
            acc,
            binomial_horizon(acc, 0, p.horizon_success, max),
        );
        let tolerant = binomial_horizon(acc, p.horizon_tolerance, p.horizon_success, max);
        out.push_exact("analytic", "tolerant_horizon", acc, tolerant);
    }
}

/// Turns until a context started full of errors (`start_wrong`) no longer has errors
/// as its majority, or one started clean has; `max` if neither happens by then.
pub(super) fn escape_time(
    cond: &Conditioning,
    window: usize,
    start_wrong: bool,
    feedback: f64,
    max: usize,
    rng: &mut Draws,
) -> usize {
    by_window!(
        window,
        escape_time_in(cond, window, start_wrong, Feedback(feedback), max, rng)
    )
}

fn escape_time_in<C: Window>(
    cond: &Conditioning,
    window: usize,
    start_wrong: bool,
    feedback: Feedback,
    max: usize,
    rng: &mut Draws,
) -> usize {
    let mut ctx = C::new(window, start_wrong);
    let mut t = 0;
    while t < max {
        // The error count changes only on a segment's last turn: check there.
        t += segment(&mut ctx, cond, feedback, rng, max - t).0;
        let e2 = 2 * ctx.errors();
        if (start_wrong && e2 < window) || (!start_wrong && e2 > window) {
            return t;
        }
    }
    max
}

/// The turns a window of `W` errors needs to lose its majority when none of the
/// model's turns enter it as wrong: `⌊W/2⌋ + 1` (the context merely turns over).
pub fn turnover_time(window: usize) -> usize {
    window / 2 + 1
}

/// Lifetimes of one start at one β, at every window: per window, `(replicate, time)`
/// in replicate order.
type Lifetimes = Vec<Vec<(u64, usize)>>;

/// Every lifetime the escapes need, as one parallel region: both starts at β =
/// `beta_base` over `escape_windows`, then the error start at every β of `escape_betas`
/// over `escape_beta_windows`.
fn escape_runs(p: &Params, run: &Runner) -> Vec<Lifetimes> {
    let mut sets: Vec<(f64, &str, &[usize])> = ["error_start", "clean_start"]
        .iter()
        .map(|&start| (p.beta_base, start, &p.escape_windows[..]))
        .collect();
    sets.extend(
        p.escape_betas
            .iter()
            .map(|&beta| (beta, "error_start", &p.escape_beta_windows[..])),
    );
    sets.par_iter()
        .map(|&(beta, start, windows)| {
            let start_wrong = start == "error_start";
            windows
                .par_iter()
                .map(|&w| {
                    let cond = Conditioning::new(w, p.logit_base, beta);
                    let condition = format!("escape/{start}/{beta}/{w}");
                    let turns = run.shared(&condition, |rep| rep.stream("turns"));
                    run.replicates(&condition, run.count(), |rep| {
                        let mut rng = Draws::new(turns.substream(rep.index()));
                        escape_time(&cond, w, start_wrong, p.feedback, p.escape_max_turns, &mut rng)
                    })
                    .iter()
                    .map(|(i, t)| (i, *t))
                    .collect()
                })
                .collect()
        })
        .collect()
}

/// Per replicate: how much more the lifetime grew from the first window to the last
/// than the turnover time did, `ln(τ_last/τ_first) − ln(turnover_last/turnover_first)`.
fn excess_growth(windows: &[usize], times: &[Vec<(u64, usize)>]) -> Vec<(u64, f64)> {
    let (w0, w1) = (windows[0], windows[windows.len() - 1]);
    let turnover = ops::log(turnover_time(w1) as f64 / turnover_time(w0) as f64);
    times[0]
        .iter()
        .zip(times[times.len() - 1].iter())
        .map(|(&(i, t0), &(_, t1))| (i, ops::log(t1 as f64 / t0 as f64) - turnover))
        .collect()
}

/// (d), (e): lifetimes of the error and clean states against W at β = `beta_base`,
/// the excess growth of the error state's lifetime against β, and the mean-field
/// bistable range.
fn push_escapes(p: &Params, lifetimes: &[Lifetimes], bistable: Option<(f64, f64)>, out: &mut Observations) {
    for (start, times) in ["error_start", "clean_start"].into_iter().zip(lifetimes) {
        for (w, ts) in p.escape_windows.iter().zip(times) {
            for &(i, t) in ts {
                out.push(start, "lifetime", *w as f64, i, t as f64);
            }
        }
        if start == "error_start" {
            for (i, g) in excess_growth(&p.escape_windows, times) {
                out.push(start, "lifetime_excess_growth", 0.0, i, g);
            }
        }
    }
    for &w in &p.escape_windows {
        out.push_exact("turnover", "lifetime", w as f64, turnover_time(w) as f64);
    }
    for (&beta, times) in p.escape_betas.iter().zip(&lifetimes[2..]) {
        for (i, g) in excess_growth(&p.escape_beta_windows, times) {
            out.push("error_start", "excess_growth_by_beta", beta, i, g);
        }
    }
    if let Some((lo, hi)) = bistable {
        out.push_exact("mean_field", "bistable_beta", 0.0, lo);
        out.push_exact("mean_field", "bistable_beta", 1.0, hi);
    }
}

/// Every experiment: (a), (b) injection; (c) horizons; (d), (e) escapes and the mean
/// field. The injection's rows are pushed while the rest runs; rows come out in the
/// same order as experiment after experiment.
pub(super) fn simulate(p: &Params, run: &Runner) -> Observations {
    let mut out = Observations::default();
    // The rows to come (at most), reserved at once: ~320 k rows would otherwise be
    // copied as the columns double, onto freshly faulted pages each time.
    let n = run.count();
    let arms = p.scales.len() * Mode::ALL.len();
    let rows = arms * n * (2 * p.injection_rates.len() + (p.turns - p.injected_turns) + 1)
        + 2 * p.horizon_step_accuracies.len() * (2 * p.horizon_batches + 2)
        + n * (2 * p.escape_windows.len() + 2 + p.escape_betas.len())
        + 2 * p.escape_windows.len()
        + 2;
    out.key.reserve(rows);
    out.x.reserve(rows);
    out.replicate.reserve(rows);
    out.value.reserve(rows);
    let injected = injection_runs(p, run);
    let ((), (horizons, (lifetimes, bistable))) = rayon::join(
        || push_injection(p, &injected, &mut out),
        || {
            rayon::join(
                || horizon_runs(p, run),
                || rayon::join(|| escape_runs(p, run), || mean_field_bistable_range(p.logit_base)),
            )
        },
    );
    push_horizons(p, &horizons, &mut out);
    push_escapes(p, &lifetimes, bistable, &mut out);
    out
}

/// The grid on [0, 1] on which [`fixed_points`] looks for sign changes.
const GRID: usize = 2000;

/// Roots of `f(e) = 1 − σ(z − β e) − e` on [0, 1]: scanned on a fixed grid, refined by
/// bisection. A root is stable when the map's slope `β σ(1 − σ)` is below 1.
pub fn fixed_points(z: f64, beta: f64) -> Vec<(f64, bool)> {
    let f = |e: f64| 1.0 - sigmoid(z - beta * e) - e;
    let mut roots = Vec::new();
    let mut prev = f(0.0);
    for i in 1..=GRID {
        let (a, b) = ((i - 1) as f64 / GRID as f64, i as f64 / GRID as f64);
        let cur = f(b);
        if (prev > 0.0) != (cur > 0.0) {
            let (mut lo, mut hi) = (a, b);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if (f(mid) > 0.0) == (prev > 0.0) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let e = 0.5 * (lo + hi);
            let s = sigmoid(z - beta * e);
            roots.push((e, beta * s * (1.0 - s) < 1.0));
        }
        prev = cur;
    }
    roots
}

/// The number of roots [`fixed_points`] finds (sign changes of `f` on its grid),
/// without refining them, evaluating `f` with `exp` at every grid point: the
/// reference for [`SignGrid::root_count`].
#[cfg(test)]
fn root_count(z: f64, beta: f64) -> usize {
    let f = |e: f64| 1.0 - sigmoid(z - beta * e) - e;
    let mut prev = f(0.0) > 0.0;
    (1..=GRID)
        .filter(|&i| {
            let cur = f(i as f64 / GRID as f64) > 0.0;
            std::mem::replace(&mut prev, cur) != cur
        })
        .count()
}

/// How far (in logit) the argument `x = z − β e` must be from `ln((1 − e)/e)` for the
/// sign of `f(e) = 1 − σ(x) − e` to be decided without evaluating `σ`.
const SIGN_MARGIN: f64 = 1e-9;

/// The signs of `f(e) = 1 − σ(z − β e) − e` on the grid of [`fixed_points`], for one
/// `z` and any `β`, mostly without `exp`: `f(e) > 0 ⇔ σ(x) < 1 − e ⇔ x < ln((1 − e)/e)`
/// (σ increases), and the log-odds of each grid point are computed once.
///
/// Exact (the same signs as evaluating `f` in floats, so the same counts and the same
/// bisection): where `|x − ln((1 − e)/e)| > SIGN_MARGIN` the true `|f(e)|` is at least
/// `SIGN_MARGIN · e(1 − e) ≥ 10⁻⁹ · 5·10⁻⁴` (σ' = e(1 − e) at the crossing, and on the
/// grid `e(1 − e) ≥ 1999/2000²`), far above the rounding of the float `f` (a few
/// 10⁻¹⁶: `exp` within 1 ulp, then three roundings of values at most 1) and of the
/// log-odds (a few 10⁻¹⁵); `x` is computed as `f` computes it. Closer than that, and
/// at `e = 0` and `e = 1`, `f` is evaluated as [`fixed_points`] does.
struct SignGrid {
    z: f64,
    /// `ln((1 − e)/e)` at the inner grid points `e = i/GRID`, `i = 1..GRID` (index `i − 1`).
    ln_odds: Vec<f64>,
    /// Buffer: the sign of `f` at every grid point.
    positive: Vec<bool>,
}

impl SignGrid {
    fn new(z: f64) -> Self {
        SignGrid {
            z,
            ln_odds: (1..GRID)
                .map(|i| {
                    let e = i as f64 / GRID as f64;
                    ops::log((1.0 - e) / e)
                })
                .collect(),
            positive: vec![false; GRID + 1],
        }
    }

    /// The number of sign changes of `f` on the grid (the roots [`fixed_points`] finds).
    fn root_count(&mut self, beta: f64) -> usize {
        let z = self.z;
        let f = |e: f64| 1.0 - sigmoid(z - beta * e) - e;
        let positive = &mut self.positive;
        positive[0] = f(0.0) > 0.0;
        positive[GRID] = f(1.0) > 0.0;
        let mut unsure = false;
        for (i, (&ln_odds, pos)) in self.ln_odds.iter().zip(&mut positive[1..GRID]).enumerate() {
            let e = (i + 1) as f64 / GRID as f64;
            let d = (z - beta * e) - ln_odds;
            *pos = d < -SIGN_MARGIN;
            unsure |= d.abs() <= SIGN_MARGIN;
        }
        if unsure {
            for (i, &ln_odds) in self.ln_odds.iter().enumerate() {
                let e = (i + 1) as f64 / GRID as f64;
                if ((z - beta * e) - ln_odds).abs() <= SIGN_MARGIN {
                    positive[i + 1] = f(e) > 0.0;
                }
            }
        }
        positive.windows(2).filter(|w| w[0] != w[1]).count()
    }
}

/// The β range in which the mean field `e* = 1 − σ(z − β e*)` has two stable fixed
/// points (a clean and an error state), or `None`. Scanned on β ∈ [0, 40] in steps of
/// 0.05, edges refined by bisection to 1e-6.
pub fn mean_field_bistable_range(z: f64) -> Option<(f64, f64)> {
    let grid = std::cell::RefCell::new(SignGrid::new(z));
    let bistable = |beta: f64| grid.borrow_mut().root_count(beta) == 3;
    const STEP: f64 = 0.05;
    let first = (0..=800).map(|i| i as f64 * STEP).find(|&b| bistable(b))?;
    let last = (0..=800).map(|i| i as f64 * STEP).rev().find(|&b| bistable(b))?;
    let refine = |mut inside: f64, mut outside: f64| {
        while (inside - outside).abs() > 1e-6 {
            let mid = 0.5 * (inside + outside);
            if bistable(mid) {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        0.5 * (inside + outside)
    };
    Some((refine(first, first - STEP), refine(last, last + STEP)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters like the spec's (only the ones the tests read matter).
    fn test_params() -> Params {
        Params {
            logit_base: 2.5,
            window: 50,
            turns: 100,
            beta_base: 5.0,
            beta_per_bonus: 1.0,
            thinking_beta: 0.3,
            feedback: 1.0,
            scales: vec![],
            injection_rates: vec![0.0, 1.0],
            injected_turns: 50,
            horizon_step_accuracies: vec![0.95],
            horizon_success: 0.5,
            horizon_tolerance: 3,
            horizon_batch: 64,
            horizon_batches: 10,
            horizon_max_turns: 100_000,
            escape_windows: vec![10, 30],
            escape_betas: vec![5.0],
            escape_beta_windows: vec![10, 20],
            escape_max_turns: 100_000,
        }
    }

    fn stream(name: &str) -> Draws {
        Draws::new(Stream::new(7, name, 0, "turns"))
    }

    #[test]
    fn fixed_points_are_one_or_three() {
        assert_eq!(fixed_points(2.5, 0.0).len(), 1);
        let three = fixed_points(2.5, 5.0);
        assert_eq!(three.len(), 3, "{three:?}");
        assert_eq!(three.iter().map(|r| r.1).collect::<Vec<_>>(), [true, false, true]);
        assert!((three[1].0 - 0.5).abs() < 1e-9);
    }

    #[test]
    fn bistable_range_brackets_the_symmetric_point() {
        // z = β/2 is the symmetric case: three roots when β > 4 (slope β/4 at e = 1/2).
        let (lo, hi) = mean_field_bistable_range(2.5).expect("bistable somewhere");
        assert!(lo > 4.0 && lo < 5.0 && hi > 5.0, "({lo}, {hi})");
    }

    #[test]
    fn sign_grid_counts_roots_like_exp() {
        // The log-odds shortcut gives the same count as evaluating f with exp, over
        // the whole scan and the bisection edges, at several z.
        for z in [-1.0, 0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 7.3] {
            let mut grid = SignGrid::new(z);
            for i in 0..=800 {
                let beta = i as f64 * 0.05;
                assert_eq!(grid.root_count(beta), root_count(z, beta), "z {z} β {beta}");
            }
            if let Some((lo, hi)) = mean_field_bistable_range(z) {
                for beta in [lo, hi] {
                    for k in -40..=40 {
                        let b = beta + k as f64 * 1e-7;
                        assert_eq!(grid.root_count(b), root_count(z, b), "z {z} β {b}");
                    }
                }
            }
        }
        // A grid point exactly at a root (z = 0, β = 0: f(1/2) = 0) takes the exact path.
        assert_eq!(SignGrid::new(0.0).root_count(0.0), root_count(0.0, 0.0));
    }

    #[test]
    fn bistable_range_is_the_exp_scan() {
        // The same bits as the scan that evaluates f with exp at every grid point.
        let reference = |z: f64| {
            let bistable = |beta: f64| root_count(z, beta) == 3;
            let first = (0..=800).map(|i| i as f64 * 0.05).find(|&b| bistable(b))?;
            let last = (0..=800).map(|i| i as f64 * 0.05).rev().find(|&b| bistable(b))?;
            let refine = |mut inside: f64, mut outside: f64| {
                while (inside - outside).abs() > 1e-6 {
                    let mid = 0.5 * (inside + outside);
                    if bistable(mid) {
                        inside = mid;
                    } else {
                        outside = mid;
                    }
                }
                0.5 * (inside + outside)
            };
            Some((refine(first, first - 0.05), refine(last, last + 0.05)))
        };
        for z in [0.5, 1.5, 2.5, 3.5] {
            let (a, b) = (mean_field_bistable_range(z), reference(z));
            assert_eq!(
                a.map(|r| (r.0.to_bits(), r.1.to_bits())),
                b.map(|r| (r.0.to_bits(), r.1.to_bits())),
                "z {z}"
            );
        }
    }

    fn counts_errors_in_window<C: Window>() {
        let mut c = C::new(3, false);
        c.record(true);
        assert_eq!(c.errors(), 1);
        for w in [true, false, true] {
            c.record(w);
        }
        assert_eq!(c.errors(), 2);
        assert_eq!(C::new(4, true).errors(), 4);
    }

    #[test]
    fn windows_count_errors_in_window() {
        counts_errors_in_window::<Bits>();
        counts_errors_in_window::<Context>();
    }

    #[test]
    fn bits_and_ring_agree() {
        // The shift register and the ring are the same window, at every length up to 64.
        let mut rng = stream("windows");
        for w in [1, 2, 7, 50, 63, 64] {
            let (mut b, mut c) = (Bits::new(w, true), Context::new(w, true));
            for _ in 0..500 {
                let wrong = rng.half() < threshold(0.3);
                b.record(wrong);
                c.record(wrong);
                assert_eq!(b.errors(), c.errors(), "W = {w}");
            }
        }
    }

    #[test]
    fn threshold_decides_like_the_pair_of_uniforms() {
        // Halves in the order of uniform_pair (high, then low), decided like its floats.
        let mut draws = stream("threshold");
        let mut pairs = Stream::new(7, "threshold", 0, "turns");
        for p in [0.0, 1e-300, 0.076, 0.5, 0.924, 0.995, 1.0 - 1e-16, 1.0] {
            let below = threshold(p);
            for _ in 0..10_000 {
                let (hi, lo) = pairs.uniform_pair();
                assert_eq!(draws.half() < below, hi < p, "{p} {hi}");
                assert_eq!(draws.half() < below, lo < p, "{p} {lo}");
            }
            // The edges: the largest 32-bit half below p, and the smallest at or above.
            if below > 0 {
                assert!(((below - 1) as f64 / (1u64 << 32) as f64) < p);
            }
            if below < 1 << 32 {
                assert!((below as f64 / (1u64 << 32) as f64) >= p);
            }
        }
        // A whole draw for a run of right turns leaves the pending half where it is.
        let mut a = stream("halves");
        let mut b = Stream::new(7, "halves", 0, "turns");
        let h = a.half();
        let u = a.uniform_open0();
        let (x, y) = (b.next_u64(), b.next_u64());
        assert_eq!((h, a.half()), (x >> 32, x & 0xFFFF_FFFF));
        assert_eq!(u, ((y >> 11) + 1) as f64 / (1u64 << 53) as f64);
    }

    #[test]
    fn clean_gaps_are_geometric() {
        // The gap from a clean window: P(gap ≥ g) = p₀^g, mean p₀ / (1 − p₀).
        let cond = Conditioning::new(50, logit(0.95), 5.0);
        let mut rng = stream("gaps");
        let n = 200_000;
        let gaps: Vec<usize> = (0..n).map(|_| cond.gap(0, &mut rng, usize::MAX / 4)).collect();
        let mean = gaps.iter().sum::<usize>() as f64 / n as f64;
        assert!((mean - 19.0).abs() < 0.3, "{mean}");
        for g in [1, 10, 40] {
            let share = gaps.iter().filter(|&&x| x >= g).count() as f64 / n as f64;
            let exact = libm::pow(0.95, g as f64);
            assert!((share - exact).abs() < 0.005, "{g}: {share} vs {exact}");
        }
        assert!((0..1000).all(|_| cond.gap(0, &mut rng, 3) <= 3));
        assert!(Conditioning::new(10, 2.5, 0.0).flat && !cond.flat);
    }

    #[test]
    fn binomial_horizon_is_ln_s_over_ln_p_without_tolerance() {
        for p in [0.9, 0.99, 0.999] {
            let exact = ops::log(0.5) / ops::log(p);
            assert!((binomial_horizon(p, 0, 0.5, 100_000) - exact).abs() < 1e-9, "{p}");
        }
        // Tolerating errors lengthens the horizon: at p = 0.99 and k = 3 about 367 turns
        // (the median of the 4th error's turn).
        let h3 = binomial_horizon(0.99, 3, 0.5, 100_000);
        assert!(h3 > 360.0 && h3 < 375.0, "{h3}");
    }

    #[test]
    fn without_feedback_the_error_state_only_turns_over() {
        // Knock-out at small size: an oracle keeps the model's errors out of its
        // context, so a window full of errors clears in exactly ⌊W/2⌋ + 1 turns.
        for w in [10, 11, 30] {
            let cond = Conditioning::new(w, 2.5, 5.0);
            let mut rng = stream("ko");
            assert_eq!(escape_time(&cond, w, true, 0.0, 10_000, &mut rng), turnover_time(w));
        }
    }

    #[test]
    fn with_feedback_the_error_state_outlives_the_turnover() {
        // β = 5, z = 2.5, W = 30: the error state lasts hundreds of turns on average.
        let cond = Conditioning::new(30, 2.5, 5.0);
        let mut rng = stream("fb");
        let n = 200;
        let mean = (0..n)
            .map(|_| escape_time(&cond, 30, true, 1.0, 1_000_000, &mut rng) as f64)
            .sum::<f64>()
            / n as f64;
        assert!(mean > 10.0 * turnover_time(30) as f64, "{mean}");
    }

    #[test]
    fn task_horizon_ignores_self_conditioning() {
        // The first error comes from a clean context: with or without β the survival
        // of the "no error yet" curve is p^t; a batch estimate lands near ln(s)/ln(p).
        let mut p = test_params();
        p.horizon_batch = 256;
        let hc = HorizonCondition {
            cond: Conditioning::new(p.window, logit(0.95), 5.0),
            ln_share: (0..=p.horizon_batch)
                .map(|c| ops::log(c as f64 / p.horizon_batch as f64))
                .collect(),
            ln_success: ops::log(0.5),
        };
        let n = 40;
        let mut sum = 0.0;
        for i in 0..n {
            let rep = Replicate {
                seed: 1,
                condition: "h",
                index: i,
            };
            sum += batch_horizons::<Bits>(&p, &hc, 1.0, rep).0;
        }
        let exact = ops::log(0.5) / ops::log(0.95);
        assert!((sum / n as f64 - exact).abs() < 0.5, "{} vs {exact}", sum / n as f64);
    }

    #[test]
    fn feedback_carries_the_drop_after_a_full_injection() {
        // 100% injected errors in turns 1–50 with W = 50: without feedback the
        // window holds one injected turn at turn 100; with feedback it stays collapsed.
        let p = test_params();
        let cond = Conditioning::new(p.window, p.logit_base, p.beta_base);
        let n = 200;
        let share = |feedback: f64, collapsed: bool| {
            (0..n)
                .filter(|&i| {
                    let rng = Draws::new(Stream::new(3, "inject", 0, "turns").substream(i));
                    let run = injected_run::<Bits>(&p, &cond, feedback, 1.0, true, rng);
                    assert_eq!(run.own.len(), p.turns - p.injected_turns);
                    assert_eq!(run.last_right, run.own[run.own.len() - 1]);
                    if collapsed {
                        run.collapsed
                    } else {
                        run.last_right
                    }
                })
                .count() as f64
                / n as f64
        };
        assert!(share(1.0, true) > 0.9, "with feedback most runs stay collapsed");
        assert_eq!(share(0.0, true), 0.0, "without feedback none does");
        assert!(share(0.0, false) - share(1.0, false) > 0.5);
    }

    /// The escape time turn by turn, one draw per turn: the reference for [`segment`].
    fn escape_by_steps(cond: &Conditioning, window: usize, start_wrong: bool, max: usize, rng: &mut Draws) -> usize {
        let mut ctx = Context::new(window, start_wrong);
        for t in 1..=max {
            step(&mut ctx, cond, Feedback(1.0), rng);
            let e2 = 2 * ctx.errors();
            if (start_wrong && e2 < window) || (!start_wrong && e2 > window) {
                return t;
            }
        }
        max
    }

    #[test]
    fn runs_of_right_turns_keep_the_distribution() {
        // Segments (runs of right turns drawn at once) against one draw per turn: the
        // mean lifetimes of both states agree within sampling error (4 standard errors).
        for (w, start_wrong, beta) in [(20, false, 5.0), (20, true, 5.0), (10, false, 4.0), (15, true, 0.0)] {
            let cond = Conditioning::new(w, 2.5, beta);
            let n = 4000;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut rng = stream("segments");
            for _ in 0..n {
                a.push(escape_time(&cond, w, start_wrong, 1.0, 1_000_000, &mut rng) as f64);
                b.push(escape_by_steps(&cond, w, start_wrong, 1_000_000, &mut rng) as f64);
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let var = |v: &[f64]| {
                let m = mean(v);
                v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
            };
            let se = ((var(&a) + var(&b)) / n as f64).sqrt();
            assert!(
                (mean(&a) - mean(&b)).abs() < 4.0 * se,
                "W {w} {start_wrong} β {beta}: {} vs {} (se {se})",
                mean(&a),
                mean(&b)
            );
        }
    }

    #[test]
    fn partial_feedback_lets_some_errors_in() {
        // feedback = 0.5: a window of errors drains slower than with no feedback and
        // faster than with full feedback, on average.
        let cond = Conditioning::new(20, 2.5, 5.0);
        let mean = |fb: f64| {
            let mut rng = stream("partial");
            (0..300)
                .map(|_| escape_time(&cond, 20, true, fb, 1_000_000, &mut rng) as f64)
                .sum::<f64>()
                / 300.0
        };
        let (none, half, full) = (mean(0.0), mean(0.5), mean(1.0));
        assert!(none < half && half < full, "{none} {half} {full}");
    }
}
