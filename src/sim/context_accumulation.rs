//! `context_accumulation`: errors in the model's own context make later errors likelier.
//!
//! Anchor: Sinha et al. 2025, "The Illusion of Diminishing Returns: Measuring Long
//! Horizon Execution in LLMs", arXiv:2509.09677. With a constant step accuracy `p`, a
//! task of `H` steps succeeds with probability `p^H`, so the horizon at success rate
//! `s` is `H_s(p) = ln(s) / ln(p)` (p = 0.99 gives H_0.5 ≈ 69). They find that models
//! *self-condition*: once their own earlier mistakes are in the context, they make
//! more; injecting 0–100% errors into the history lowers turn-100 accuracy for
//! non-thinking models of every size, scale does not remove it, thinking models stay flat.
//!
//! # Model
//!
//! Turn `t` is right with probability `σ(z + s − β·e_t)`, where
//! - `z` (`logit_base`) is the base model's logit of a right step in a clean context;
//! - `s` (`scales[].bonus`) is the scale bonus of a larger model;
//! - `e_t` is the error share of the last `W` (`window`) turns of the model's own
//!   context, or of all its turns while it has fewer than `W` (an empty context is clean);
//! - `β` is the self-conditioning strength: `beta_base + beta_per_bonus·s` without
//!   thinking (in-context imitation grows with scale, which is why scale does not
//!   rescue it in the anchor), `thinking_beta` with thinking (the model re-derives its
//!   state instead of copying its context).
//!
//! Nothing in the model says "accuracy falls after turn k": the decline, the tipping
//! point and the failure of scale to help all emerge from the feedback of errors into `e_t`.
//!
//! # Experiments (one per panel)
//! - (a) *Free runs* of `turns` turns: turn accuracy (right at turn t) and task
//!   accuracy (right at every turn up to t), per scale, with and without thinking.
//! - (b) *Injection*: the first `injected_turns` turns of the history are written for
//!   the model, each wrong with probability `r`; the model then runs on to turn
//!   `turns`, where its accuracy is measured (Sinha et al. §3.2). Per replicate also the
//!   *drop*, accuracy at r = 0 minus accuracy at r = 1 (unpaired replicates: the mean is
//!   the difference of means and the interval accounts for both).
//! - (c) *Horizon*: for step accuracy `p` (`z = logit(p)`, no scale bonus), the turn at
//!   which the product of per-turn accuracies falls to `horizon_success`, i.e. the
//!   horizon a reader of the per-turn accuracies would predict, measured on batches of
//!   `horizon_batch` runs (one replicate = one batch), with `β = 0` and with
//!   `β = horizon_beta`, against the analytic `ln(s)/ln(p)`.
//! - (d) *Long run*: the error rate over the last `long_run_measure` of
//!   `long_run_turns` turns, against `β`, started from a clean context and from a
//!   context full of errors, beside the mean-field fixed points
//!   `e* = 1 − σ(z − β e*)` (three of them when β is large: two stable, one unstable,
//!   the tipping point between the two starts).
//!
//! # Streams
//! Conditions are named `free/<scale>/<mode>`, `inject/<scale>/<mode>/<r>`,
//! `horizon/<beta>/<p>`, `long_run/<start>/<beta>`; purposes are `turns` and `inject`.

use super::{Model, Observations, Replicate, Runner};
use crate::analysis::{Row, Summary};
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};
use crate::rng::{sigmoid, Stream};
use crate::spec::validate::{self as v, Invalid, Validate};
use serde::Deserialize;

pub struct ContextAccumulation;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub name: String,
    pub bonus: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub logit_base: f64,
    pub window: usize,
    pub turns: usize,
    pub beta_base: f64,
    pub beta_per_bonus: f64,
    pub thinking_beta: f64,
    pub scales: Vec<Scale>,
    pub injection_rates: Vec<f64>,
    pub injected_turns: usize,
    pub horizon_step_accuracies: Vec<f64>,
    pub horizon_beta: f64,
    pub horizon_success: f64,
    pub horizon_batch: usize,
    pub horizon_max_turns: usize,
    pub long_run_betas: Vec<f64>,
    pub long_run_turns: usize,
    pub long_run_measure: usize,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::finite("logit_base", self.logit_base)?;
        v::count("window", self.window, 1, 10_000)?;
        v::count("turns", self.turns, 1, 100_000)?;
        v::non_negative("beta_base", self.beta_base)?;
        v::non_negative("beta_per_bonus", self.beta_per_bonus)?;
        v::non_negative("thinking_beta", self.thinking_beta)?;
        v::list_len("scales", &self.scales, 1, 8)?;
        v::unique_names("scales", self.scales.iter().map(|s| s.name.as_str()))?;
        v::each("scales", &self.scales, |k, s| {
            v::non_negative(&format!("{k}.bonus"), s.bonus)
        })?;
        v::list_len("injection_rates", &self.injection_rates, 2, 50)?;
        v::each("injection_rates", &self.injection_rates, |k, r| v::probability(k, *r))?;
        v::increasing("injection_rates", &self.injection_rates)?;
        if self.injection_rates[0] != 0.0 || *self.injection_rates.last().unwrap_or(&0.0) != 1.0 {
            return Err(Invalid {
                key: "injection_rates".into(),
                problem: "must start at 0 and end at 1 (the drop is measured between them)".into(),
            });
        }
        v::count(
            "injected_turns",
            self.injected_turns,
            1,
            self.turns.saturating_sub(1).max(1),
        )?;
        v::list_len("horizon_step_accuracies", &self.horizon_step_accuracies, 1, 50)?;
        v::each("horizon_step_accuracies", &self.horizon_step_accuracies, |k, p| {
            v::in_range(k, *p, 0.5, 0.99999)
        })?;
        v::increasing("horizon_step_accuracies", &self.horizon_step_accuracies)?;
        v::non_negative("horizon_beta", self.horizon_beta)?;
        v::in_range("horizon_success", self.horizon_success, 0.01, 0.99)?;
        v::count("horizon_batch", self.horizon_batch, 1, 4096)?;
        v::count("horizon_max_turns", self.horizon_max_turns, 1, 1_000_000)?;
        v::list_len("long_run_betas", &self.long_run_betas, 1, 200)?;
        v::each("long_run_betas", &self.long_run_betas, |k, b| v::non_negative(k, *b))?;
        v::increasing("long_run_betas", &self.long_run_betas)?;
        v::count("long_run_turns", self.long_run_turns, 1, 1_000_000)?;
        v::count("long_run_measure", self.long_run_measure, 1, self.long_run_turns)?;
        Ok(())
    }
}

/// The two modes of every scale: copying the context (β grows with scale) or thinking.
const MODES: [&str; 2] = ["non-thinking", "thinking"];

impl Params {
    fn beta(&self, scale: &Scale, mode: &str) -> f64 {
        if mode == "thinking" {
            self.thinking_beta
        } else {
            self.beta_base + self.beta_per_bonus * scale.bonus
        }
    }
}

/// σ(z − β·e) for every possible context: `len` turns of history (up to `W`) of which
/// `errors` are wrong, so `e = errors / len` (an empty history is clean). Computed once
/// per condition so the inner loop draws one uniform and compares.
struct Conditioning {
    window: usize,
    p_right: Vec<f64>,
}

impl Conditioning {
    fn new(window: usize, logit: f64, beta: f64) -> Self {
        let mut p_right = Vec::with_capacity((window + 1) * (window + 1));
        for len in 0..=window {
            for errors in 0..=window {
                let share = if len == 0 {
                    0.0
                } else {
                    errors.min(len) as f64 / len as f64
                };
                p_right.push(sigmoid(logit - beta * share));
            }
        }
        Conditioning { window, p_right }
    }

    #[inline]
    fn p_right(&self, len: usize, errors: usize) -> f64 {
        self.p_right[len * (self.window + 1) + errors]
    }
}

/// A model's own recent context: the last `W` turns, right or wrong.
struct Context {
    ring: Vec<bool>,
    next: usize,
    len: usize,
    errors: usize,
}

impl Context {
    /// An empty context (`start_wrong = false`) or a full window of errors.
    fn new(window: usize, start_wrong: bool) -> Self {
        Context {
            ring: vec![start_wrong; window],
            next: 0,
            len: if start_wrong { window } else { 0 },
            errors: if start_wrong { window } else { 0 },
        }
    }

    /// Appends a turn to the context, forgetting the oldest once the window is full.
    #[inline]
    fn record(&mut self, wrong: bool) {
        let old = std::mem::replace(&mut self.ring[self.next], wrong);
        if self.len == self.ring.len() {
            self.errors -= old as usize;
        } else {
            self.len += 1;
        }
        self.errors += wrong as usize;
        self.next = (self.next + 1) % self.ring.len();
    }

    /// Plays one turn: right with probability σ(z − β·e_t); the result enters the context.
    #[inline]
    fn step(&mut self, cond: &Conditioning, rng: &mut Stream) -> bool {
        let right = rng.uniform() < cond.p_right(self.len, self.errors);
        self.record(!right);
        right
    }
}

/// `logit(p) = ln(p / (1 − p))`.
fn logit(p: f64) -> f64 {
    libm::log(p / (1.0 - p))
}

fn free_runs(p: &Params, run: &Runner, out: &mut Observations) {
    for scale in &p.scales {
        for mode in MODES {
            let arm = format!("{}/{}", scale.name, mode);
            let logit_s = p.logit_base + scale.bonus;
            let beta = p.beta(scale, mode);
            let cond = Conditioning::new(p.window, logit_s, beta);
            let runs = run.replicates(&format!("free/{arm}"), run.count(), |rep: Replicate| {
                let mut rng = rep.stream("turns");
                let mut ctx = Context::new(p.window, false);
                let mut all_right = true;
                (0..p.turns)
                    .map(|_| {
                        let right = ctx.step(&cond, &mut rng);
                        all_right &= right;
                        (right, all_right)
                    })
                    .collect::<Vec<_>>()
            });
            for (i, turns) in runs.iter() {
                for (t, (right, task)) in turns.iter().enumerate() {
                    let x = (t + 1) as f64;
                    out.push_outcome(&arm, "turn_accuracy", x, i, *right);
                    out.push_outcome(&arm, "task_accuracy", x, i, *task);
                }
            }
        }
    }
}

/// Turn-`turns` accuracy after `injected_turns` injected turns at error rate `r`.
fn injected_run(p: &Params, cond: &Conditioning, r: f64, rep: Replicate) -> bool {
    let mut inject = rep.stream("inject");
    let mut rng = rep.stream("turns");
    let mut ctx = Context::new(p.window, false);
    for _ in 0..p.injected_turns {
        ctx.record(inject.uniform() < r);
    }
    let mut right = true;
    for _ in p.injected_turns..p.turns {
        right = ctx.step(cond, &mut rng);
    }
    right
}

fn injection(p: &Params, run: &Runner, out: &mut Observations) {
    for scale in &p.scales {
        for mode in MODES {
            let arm = format!("{}/{}", scale.name, mode);
            let cond = Conditioning::new(p.window, p.logit_base + scale.bonus, p.beta(scale, mode));
            let mut by_rate = Vec::new();
            for &r in &p.injection_rates {
                let acc = run.replicates(&format!("inject/{arm}/{r}"), run.count(), |rep| {
                    injected_run(p, &cond, r, rep)
                });
                for (i, right) in acc.iter() {
                    out.push_outcome(&arm, "turn_accuracy_at_end", r, i, *right);
                }
                by_rate.push(acc);
            }
            let (clean, dirty) = (&by_rate[0], &by_rate[by_rate.len() - 1]);
            for ((i, c), (_, d)) in clean.iter().zip(dirty.iter()) {
                out.push(&arm, "injection_drop", 0.0, i, *c as u8 as f64 - *d as u8 as f64);
            }
        }
    }
}

/// The horizon of one batch: the (interpolated) turn at which the running product of
/// the batch's per-turn accuracies falls to `success`.
fn batch_horizon(p: &Params, cond: &Conditioning, rep: Replicate) -> f64 {
    let mut rng = rep.stream("turns");
    let mut runs: Vec<Context> = (0..p.horizon_batch).map(|_| Context::new(p.window, false)).collect();
    let ln_share: Vec<f64> = (0..=p.horizon_batch)
        .map(|k| libm::log(k as f64 / p.horizon_batch as f64))
        .collect();
    let target = libm::log(p.horizon_success);
    let mut log_product = 0.0;
    for t in 0..p.horizon_max_turns {
        let right: usize = runs.iter_mut().map(|c| c.step(cond, &mut rng) as usize).sum();
        let step = ln_share[right];
        if log_product + step <= target {
            // Linear in log space between turn t and t + 1, exact for a constant p.
            return t as f64 + (target - log_product) / step;
        }
        log_product += step;
    }
    p.horizon_max_turns as f64
}

fn horizons(p: &Params, run: &Runner, out: &mut Observations) {
    for (arm, beta) in [("no_self_conditioning", 0.0), ("self_conditioning", p.horizon_beta)] {
        for &acc in &p.horizon_step_accuracies {
            let cond = Conditioning::new(p.window, logit(acc), beta);
            let h = run.replicates(&format!("horizon/{beta}/{acc}"), run.count(), |rep| {
                batch_horizon(p, &cond, rep)
            });
            for (i, v) in h.iter() {
                out.push(arm, "horizon", acc, i, *v);
            }
        }
    }
    for &acc in &p.horizon_step_accuracies {
        out.push_exact(
            "analytic",
            "horizon",
            acc,
            libm::log(p.horizon_success) / libm::log(acc),
        );
    }
}

fn long_runs(p: &Params, run: &Runner, out: &mut Observations) {
    for (arm, start_wrong) in [("clean_start", false), ("error_start", true)] {
        for &beta in &p.long_run_betas {
            let cond = Conditioning::new(p.window, p.logit_base, beta);
            let rates = run.replicates(&format!("long_run/{arm}/{beta}"), run.count(), |rep| {
                let mut rng = rep.stream("turns");
                let mut ctx = Context::new(p.window, start_wrong);
                let burn_in = p.long_run_turns - p.long_run_measure;
                let mut wrong = 0usize;
                for t in 0..p.long_run_turns {
                    let right = ctx.step(&cond, &mut rng);
                    if t >= burn_in && !right {
                        wrong += 1;
                    }
                }
                wrong as f64 / p.long_run_measure as f64
            });
            for (i, r) in rates.iter() {
                out.push(arm, "long_run_error", beta, i, *r);
            }
        }
    }
    for (beta, branch, e) in mean_field_branches(
        p.logit_base,
        p.long_run_betas[0],
        *p.long_run_betas.last().unwrap_or(&0.0),
    ) {
        out.push_exact(branch, "long_run_error", beta, e);
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

/// The mean-field branches on a fine β grid: `(β, branch, e*)` with branch
/// `mean_field_low`, `mean_field_high` (stable) or `mean_field_unstable`.
fn mean_field_branches(z: f64, from: f64, to: f64) -> Vec<(f64, &'static str, f64)> {
    const POINTS: usize = 240;
    let mut out = Vec::new();
    for i in 0..=POINTS {
        let beta = from + (to - from) * i as f64 / POINTS as f64;
        let roots = fixed_points(z, beta);
        for (j, (e, stable)) in roots.iter().enumerate() {
            let branch = match (stable, j, roots.len()) {
                (false, _, _) => "mean_field_unstable",
                (true, 0, n) if n > 1 => "mean_field_low",
                (true, _, n) if n > 1 => "mean_field_high",
                // A single stable root continues whichever branch it is nearer to.
                (true, _, _) if *e < 0.5 => "mean_field_low",
                (true, _, _) => "mean_field_high",
            };
            out.push((beta, branch, *e));
        }
    }
    out
}

impl Model for ContextAccumulation {
    type Params = Params;
    const ID: &'static str = "context_accumulation";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let mut out = Observations::default();
        free_runs(p, run, &mut out);
        injection(p, run, &mut out);
        horizons(p, run, &mut out);
        long_runs(p, run, &mut out);
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        Ok(Figure::column_width(
            820,
            vec![
                panel_free_runs(p, summary)?,
                panel_injection(p, summary)?,
                panel_horizon(summary)?,
                panel_long_run(p, summary)?,
            ],
        ))
    }
}

fn panel_free_runs(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, scale) in p.scales.iter().enumerate() {
        series.push(Series::new(
            &scale.name,
            i,
            Mark::Line,
            s.expect_series(&format!("{}/non-thinking", scale.name), "turn_accuracy")?,
        ));
        series.push(Series::new(
            &format!("{} thinking", scale.name),
            i,
            Mark::Dashed,
            s.expect_series(&format!("{}/thinking", scale.name), "turn_accuracy")?,
        ));
    }
    // Task accuracy is the same with and without thinking (the first error comes
    // from a clean context): one dotted curve per scale.
    for (i, scale) in p.scales.iter().enumerate() {
        let mut task = Series::new(
            &format!("{} task", scale.name),
            i,
            Mark::Dotted,
            s.expect_series(&format!("{}/non-thinking", scale.name), "task_accuracy")?,
        );
        task.band = false;
        series.push(task);
    }
    Ok(Panel {
        title: "(a) Free runs: accuracy by turn".into(),
        x: Axis::linear("turn", 1.0, p.turns as f64),
        y: Axis::linear("accuracy", 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

fn panel_injection(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, scale) in p.scales.iter().enumerate() {
        for mode in MODES {
            let rows = s.expect_series(&format!("{}/{}", scale.name, mode), "turn_accuracy_at_end")?;
            let (label, mark) = if mode == "thinking" {
                (format!("{} thinking", scale.name), Mark::Dashed)
            } else {
                (scale.name.clone(), Mark::Line)
            };
            series.push(Series::new(&label, i, mark, rows));
        }
    }
    Ok(Panel {
        title: format!("(b) Injected errors: turn-{} accuracy", p.turns),
        x: Axis::linear(
            &format!("error rate injected in turns 1–{}", p.injected_turns),
            0.0,
            1.0,
        ),
        y: Axis::linear(&format!("turn-{} accuracy", p.turns), 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

/// Rows with x mapped from step accuracy p to step error 1 − p (for the log axis).
fn as_step_error(rows: Vec<Row>) -> Vec<Row> {
    let mut rows: Vec<Row> = rows.into_iter().map(|r| Row { x: 1.0 - r.x, ..r }).collect();
    rows.sort_by(|a, b| a.x.total_cmp(&b.x));
    rows
}

fn panel_horizon(s: &Summary) -> Result<Panel> {
    let analytic = as_step_error(s.expect_series("analytic", "horizon")?);
    let plain = as_step_error(s.expect_series("no_self_conditioning", "horizon")?);
    let cond = as_step_error(s.expect_series("self_conditioning", "horizon")?);
    let (xlo, xhi) = (analytic[0].x, analytic[analytic.len() - 1].x);
    let ymax = analytic.iter().map(|r| r.mean).fold(1.0, f64::max);
    let ymin = cond.iter().map(|r| r.lo).fold(ymax, f64::min).max(0.5);
    let mut analytic = Series::new("ln(0.5)/ln(p)", 6, Mark::Dashed, analytic);
    analytic.band = false;
    Ok(Panel {
        title: "(c) Horizon H₀.₅ against step accuracy".into(),
        x: Axis::log("step error rate 1 − p", xlo * 0.8, xhi * 1.25),
        y: Axis::log("horizon H₀.₅ (turns)", ymin * 0.8, ymax * 1.25),
        series: vec![
            analytic,
            Series::new("simulated, β = 0", 0, Mark::Points, plain),
            Series::new("simulated, self-conditioning", 1, Mark::Points, cond),
        ],
        legend_columns: 2,
    })
}

fn panel_long_run(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (branch, label, mark) in [
        ("mean_field_low", "mean field, stable", Mark::Line),
        ("mean_field_high", "", Mark::Line),
        ("mean_field_unstable", "mean field, unstable", Mark::Dashed),
    ] {
        let rows = s.series(branch, "long_run_error")?;
        if !rows.is_empty() {
            let mut line = Series::new(label, 6, mark, rows);
            line.band = false;
            series.push(line);
        }
    }
    series.push(Series::new(
        "from clean context",
        0,
        Mark::Points,
        s.expect_series("clean_start", "long_run_error")?,
    ));
    series.push(Series::new(
        "from context of errors",
        1,
        Mark::Points,
        s.expect_series("error_start", "long_run_error")?,
    ));
    let (lo, hi) = (p.long_run_betas[0], *p.long_run_betas.last().unwrap_or(&1.0));
    Ok(Panel {
        title: "(d) Tipping point: long-run error rate".into(),
        x: Axis::linear("self-conditioning strength β", lo, hi),
        y: Axis::linear("long-run error rate", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_points_are_one_or_three() {
        assert_eq!(fixed_points(2.5, 0.0).len(), 1);
        let three = fixed_points(2.5, 5.0);
        assert_eq!(three.len(), 3, "{three:?}");
        assert_eq!(three.iter().map(|r| r.1).collect::<Vec<_>>(), [true, false, true]);
        assert!((three[1].0 - 0.5).abs() < 1e-9);
    }

    #[test]
    fn context_counts_errors_in_window() {
        let mut c = Context::new(3, false);
        c.record(true);
        assert_eq!((c.len, c.errors), (1, 1));
        for w in [true, false, true] {
            c.record(w);
        }
        assert_eq!((c.len, c.errors), (3, 2));
        assert_eq!(Context::new(4, true).errors, 4);
    }

    #[test]
    fn error_share_is_over_the_history_so_far() {
        let cond = Conditioning::new(4, 1.0, 2.0);
        assert_eq!(cond.p_right(0, 0), sigmoid(1.0));
        assert_eq!(cond.p_right(2, 1), sigmoid(0.0));
        assert_eq!(cond.p_right(4, 4), sigmoid(-1.0));
    }
}
