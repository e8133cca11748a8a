//! The simulation: a context window of right and wrong turns, and the experiments on it.

use super::{Mode, Params};
use crate::ops;
use crate::rng::{sigmoid, Stream};
use crate::sim::{Observations, Replicate, Runner};

/// σ(z − β·errors/W) for every error count of a full window of `W` turns, computed
/// once per condition so the inner loop draws one uniform and compares.
pub(super) struct Conditioning {
    p_right: Vec<f64>,
}

impl Conditioning {
    pub(super) fn new(window: usize, logit: f64, beta: f64) -> Self {
        let p_right = (0..=window)
            .map(|errors| sigmoid(logit - beta * errors as f64 / window as f64))
            .collect();
        Conditioning { p_right }
    }

    #[inline]
    fn p_right(&self, errors: usize) -> f64 {
        self.p_right[errors]
    }
}

/// The last `W` turns of a model's context, right or wrong.
pub(super) struct Context {
    ring: Vec<bool>,
    next: usize,
    errors: usize,
}

impl Context {
    /// A full window of clean turns (the prompt) or of errors.
    pub(super) fn new(window: usize, start_wrong: bool) -> Self {
        Context {
            ring: vec![start_wrong; window],
            next: 0,
            errors: if start_wrong { window } else { 0 },
        }
    }

    pub(super) fn errors(&self) -> usize {
        self.errors
    }

    /// Appends a turn to the context, forgetting the oldest.
    #[inline]
    pub(super) fn record(&mut self, wrong: bool) {
        let old = std::mem::replace(&mut self.ring[self.next], wrong);
        self.errors = self.errors + wrong as usize - old as usize;
        self.next += 1;
        if self.next == self.ring.len() {
            self.next = 0;
        }
    }

    /// Plays one turn: right with probability σ(z − β·e_t). A wrong turn enters the
    /// context as wrong with probability `feedback` (one extra draw only when it is
    /// strictly between 0 and 1), otherwise as right. Returns whether the turn was right.
    #[inline]
    pub(super) fn step(&mut self, cond: &Conditioning, feedback: f64, rng: &mut Stream) -> bool {
        let right = rng.uniform() < cond.p_right(self.errors);
        let seen_wrong = !right && (feedback >= 1.0 || (feedback > 0.0 && rng.uniform() < feedback));
        self.record(seen_wrong);
        right
    }

    /// Whether errors are the majority of the window (the collapsed state).
    pub(super) fn collapsed(&self) -> bool {
        2 * self.errors > self.ring.len()
    }
}

/// `logit(p) = ln(p / (1 − p))`.
pub(super) fn logit(p: f64) -> f64 {
    ops::log(p / (1.0 - p))
}

/// One injection run: the clean prompt, then `injected_turns` turns written for the
/// model, each wrong with probability `r`, then the model's own turns up to `turns`.
/// Returns the model's turns (right or not) and whether it ends collapsed.
fn injected_run(p: &Params, cond: &Conditioning, feedback: f64, r: f64, rep: Replicate) -> (Vec<bool>, bool) {
    let mut inject = rep.stream("inject");
    let mut rng = rep.stream("turns");
    let mut ctx = Context::new(p.window, false);
    for _ in 0..p.injected_turns {
        ctx.record(inject.uniform() < r);
    }
    let own: Vec<bool> = (p.injected_turns..p.turns)
        .map(|_| ctx.step(cond, feedback, &mut rng))
        .collect();
    (own, ctx.collapsed())
}

/// (a), (b): turn-`turns` accuracy against the injected error rate, the share of runs
/// that end collapsed, the drop from r = 0 to r = 1, and after a fully wrong injection
/// the accuracy turn by turn.
pub(super) fn injection(p: &Params, run: &Runner, out: &mut Observations) {
    for scale in &p.scales {
        for mode in Mode::ALL {
            let arm = format!("{}/{}", scale.name, mode.name());
            let cond = Conditioning::new(p.window, p.logit_base + scale.bonus, p.beta(scale, mode));
            let feedback = p.feedback(mode);
            let mut at_end = Vec::new();
            for &r in &p.injection_rates {
                let runs = run.replicates(&format!("inject/{arm}/{r}"), run.count(), |rep| {
                    injected_run(p, &cond, feedback, r, rep)
                });
                for (i, (own, collapsed)) in runs.iter() {
                    let last = *own.last().unwrap_or(&true);
                    out.push_outcome(&arm, "turn_accuracy_at_end", r, i, last);
                    out.push_outcome(&arm, "collapsed_at_end", r, i, *collapsed);
                }
                if r == 1.0 {
                    for (i, (own, _)) in runs.iter() {
                        for (k, right) in own.iter().enumerate() {
                            let t = (p.injected_turns + k + 1) as f64;
                            out.push_outcome(&arm, "accuracy_after_injection", t, i, *right);
                        }
                    }
                }
                at_end.push(runs);
            }
            let (clean, dirty) = (&at_end[0], &at_end[at_end.len() - 1]);
            for ((i, (c, _)), (_, (d, _))) in clean.iter().zip(dirty.iter()) {
                let (c, d) = (*c.last().unwrap_or(&true), *d.last().unwrap_or(&true));
                out.push(&arm, "injection_drop", 0.0, i, c as u8 as f64 - d as u8 as f64);
            }
        }
    }
}

/// The turn at which a survival curve falls to `success`, linear in log space between
/// the last turn above and the first at or below (exact for a geometric curve).
/// `curve(t)` is the survival after `t` turns, `curve(0) = 1`; `None` past `max`.
fn crossing(success: f64, max: usize, mut curve: impl FnMut(usize) -> f64) -> Option<f64> {
    let target = ops::log(success);
    let mut prev = 0.0;
    for t in 1..=max {
        let cur = ops::log(curve(t));
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

/// The task-success and `k`-tolerant horizons of one batch of `horizon_batch` runs:
/// where the share of runs with no error, and with at most `k` errors, falls to
/// `horizon_success`.
fn batch_horizons(p: &Params, cond: &Conditioning, feedback: f64, rep: Replicate) -> (f64, f64) {
    let mut rng = rep.stream("turns");
    let k = p.horizon_tolerance;
    let batch = p.horizon_batch;
    let mut runs: Vec<(Context, usize)> = (0..batch).map(|_| (Context::new(p.window, false), 0)).collect();
    // Survival counts by turn, filled lazily: the run stops once both curves crossed.
    let (mut clean, mut tolerant) = (vec![batch], vec![batch]);
    let target = p.horizon_success * batch as f64;
    while (tolerant[tolerant.len() - 1] as f64 > target || clean[clean.len() - 1] as f64 > target)
        && tolerant.len() <= p.horizon_max_turns
    {
        let (mut c, mut tol) = (0, 0);
        for (ctx, errors) in runs.iter_mut().filter(|(_, e)| *e <= k) {
            if !ctx.step(cond, feedback, &mut rng) {
                *errors += 1;
            }
            c += (*errors == 0) as usize;
            tol += (*errors <= k) as usize;
        }
        clean.push(c);
        tolerant.push(tol);
    }
    let max = tolerant.len() - 1;
    let share = |v: &Vec<usize>, t: usize| v[t] as f64 / batch as f64;
    let h_clean = crossing(p.horizon_success, max, |t| share(&clean, t)).unwrap_or(max as f64);
    let h_tol = crossing(p.horizon_success, max, |t| share(&tolerant, t)).unwrap_or(max as f64);
    (h_clean, h_tol)
}

/// (c): horizons without self-conditioning (β = 0) and with it (β = `beta_base`),
/// against the analytic values for independent turns.
pub(super) fn horizons(p: &Params, run: &Runner, out: &mut Observations) {
    for (arm, beta) in [("no_self_conditioning", 0.0), ("self_conditioning", p.beta_base)] {
        for &acc in &p.horizon_step_accuracies {
            let cond = Conditioning::new(p.window, logit(acc), beta);
            let h = run.replicates(&format!("horizon/{arm}/{acc}"), p.horizon_batches, |rep| {
                batch_horizons(p, &cond, p.feedback, rep)
            });
            for (i, (clean, tolerant)) in h.iter() {
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
    rng: &mut Stream,
) -> usize {
    let mut ctx = Context::new(window, start_wrong);
    for t in 1..=max {
        ctx.step(cond, feedback, rng);
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

/// Lifetimes from both starts at every window, one replicate each; returns, per
/// window, the times in replicate order.
fn lifetimes(p: &Params, run: &Runner, beta: f64, start: &str, windows: &[usize]) -> Vec<Vec<(u64, usize)>> {
    let start_wrong = start == "error_start";
    windows
        .iter()
        .map(|&w| {
            let cond = Conditioning::new(w, p.logit_base, beta);
            run.replicates(&format!("escape/{start}/{beta}/{w}"), run.count(), |rep| {
                let mut rng = rep.stream("turns");
                escape_time(&cond, w, start_wrong, p.feedback, p.escape_max_turns, &mut rng)
            })
            .iter()
            .map(|(i, t)| (i, *t))
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
pub(super) fn escapes(p: &Params, run: &Runner, out: &mut Observations) {
    for start in ["error_start", "clean_start"] {
        let times = lifetimes(p, run, p.beta_base, start, &p.escape_windows);
        for (w, ts) in p.escape_windows.iter().zip(&times) {
            for &(i, t) in ts {
                out.push(start, "lifetime", *w as f64, i, t as f64);
            }
        }
        if start == "error_start" {
            for (i, g) in excess_growth(&p.escape_windows, &times) {
                out.push(start, "lifetime_excess_growth", 0.0, i, g);
            }
        }
    }
    for &w in &p.escape_windows {
        out.push_exact("turnover", "lifetime", w as f64, turnover_time(w) as f64);
    }
    for &beta in &p.escape_betas {
        let times = lifetimes(p, run, beta, "error_start", &p.escape_beta_windows);
        for (i, g) in excess_growth(&p.escape_beta_windows, &times) {
            out.push("error_start", "excess_growth_by_beta", beta, i, g);
        }
    }
    if let Some((lo, hi)) = mean_field_bistable_range(p.logit_base) {
        out.push_exact("mean_field", "bistable_beta", 0.0, lo);
        out.push_exact("mean_field", "bistable_beta", 1.0, hi);
    }
}

/// Roots of `f(e) = 1 − σ(z − β e) − e` on [0, 1]: scanned on a fixed grid, refined by
/// bisection. A root is stable when the map's slope `β σ(1 − σ)` is below 1.
pub fn fixed_points(z: f64, beta: f64) -> Vec<(f64, bool)> {
    let f = |e: f64| 1.0 - sigmoid(z - beta * e) - e;
    const GRID: usize = 2000;
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

/// The β range in which the mean field `e* = 1 − σ(z − β e*)` has two stable fixed
/// points (a clean and an error state), or `None`. Scanned on β ∈ [0, 40] in steps of
/// 0.05, edges refined by bisection to 1e-6.
pub fn mean_field_bistable_range(z: f64) -> Option<(f64, f64)> {
    let bistable = |beta: f64| fixed_points(z, beta).len() == 3;
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

    fn stream(name: &str) -> Stream {
        Stream::new(7, name, 0, "turns")
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
    fn context_counts_errors_in_window() {
        let mut c = Context::new(3, false);
        c.record(true);
        assert_eq!(c.errors(), 1);
        for w in [true, false, true] {
            c.record(w);
        }
        assert_eq!(c.errors(), 2);
        assert_eq!(Context::new(4, true).errors(), 4);
        assert!(Context::new(4, true).collapsed());
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
        let cond = Conditioning::new(p.window, logit(0.95), 5.0);
        let n = 40;
        let mut sum = 0.0;
        for i in 0..n {
            let rep = Replicate {
                seed: 1,
                condition: "h",
                index: i,
            };
            sum += batch_horizons(&p, &cond, 1.0, rep).0;
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
                    let rep = Replicate {
                        seed: 3,
                        condition: "inject",
                        index: i,
                    };
                    let (own, c) = injected_run(&p, &cond, feedback, 1.0, rep);
                    if collapsed {
                        c
                    } else {
                        own[own.len() - 1]
                    }
                })
                .count() as f64
                / n as f64
        };
        assert!(share(1.0, true) > 0.9, "with feedback most runs stay collapsed");
        assert_eq!(share(0.0, true), 0.0, "without feedback none does");
        assert!(share(0.0, false) - share(1.0, false) > 0.5);
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
