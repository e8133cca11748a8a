//! `context_accumulation`: a model that reads its own errors back makes more of them.
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
//! - `z` (`logit_base`) is the smallest model's logit of a right turn in a clean context;
//! - `s` (`scales[].bonus`) is the scale bonus of a larger model;
//! - `e_t` is the error share of the last `W` (`window`) turns of the context. The
//!   context starts as `W` clean turns (the task's prompt), so one early error is one
//!   error in `W`, not a whole context of errors;
//! - `β` is the self-conditioning strength.
//!
//! A turn the model plays enters its context: a wrong turn enters as wrong with
//! probability `feedback` (1: the model reads its own outputs; 0: an oracle corrects
//! every turn before it enters the context, so the model reads injected errors but
//! never its own). This is the feedback loop the findings are about.
//!
//! # Assumptions (premises, not results)
//! - **Scale**: `β = beta_base + beta_per_bonus·s` without thinking: in-context
//!   imitation is assumed to grow with capacity. With `beta_per_bonus = 1` the logit
//!   in a context full of errors, `z + s − β`, is the same for every size; that
//!   scale does not help is this assumption, and the robustness map over
//!   `beta_per_bonus` shows how the large model's collapse depends on it.
//! - **Thinking**: `β = thinking_beta` (small): thinking is assumed to re-derive the
//!   state instead of copying the context. No mechanism; its flatness is a premise.
//!
//! # What emerges (findings)
//! - **Feedback**: errors injected into turns 1–`injected_turns` (= `W`) have all left
//!   the window by turn `turns`; a model that does not read its own outputs recovers
//!   to its clean accuracy, one that does stays collapsed. The drop at turn 100 is the
//!   model's own errors sustaining themselves, not the injected dose.
//! - **Clustering**: a task that tolerates `k` errors has a shorter horizon than
//!   independent turns would give (errors beget errors), while the task-success
//!   horizon (no error tolerated) is exactly `ln(s)/ln(p)` whatever `β` (the first
//!   error comes from a clean context): the sanity check of the simulator.
//! - **Metastability**: for `β` in the mean-field bistable range of
//!   `e* = 1 − σ(z − β e*)`, the finite-`W` chain is ergodic but the error state's
//!   lifetime (turns until errors are no longer the majority of the window) grows
//!   exponentially with `W`, much faster than the `⌊W/2⌋ + 1` turns a context needs
//!   to turn over when the model's errors do not feed back.
//!
//! # Experiments (one per panel, see `figure.rs`)
//! - (a) injection: turn-`turns` accuracy against the injected error rate, per scale,
//!   thinking or not, and without feedback (`open-loop`); (b) accuracy turn by turn
//!   after a fully wrong injection, with and without feedback;
//! - (c) horizons on batches of `horizon_batch` runs: task success and `k`-tolerant,
//!   against the analytic values;
//! - (d) the error state's and clean state's lifetimes against `W` at `β = beta_base`;
//!   (e) the excess growth of the error state's lifetime against `β`, beside the
//!   mean-field bistable range.
//!
//! # Streams
//! Conditions are named `inject/<scale>/<mode>/<r>`, `horizon/<arm>/<p>`,
//! `escape/<start>/<beta>/<W>`; the one purpose is `turns` (an injection run draws its
//! injected turns, then its own, from it). A horizon batch draws from its replicate's
//! stream; an injection or escape run, short and made by the ten thousand, draws from
//! `Stream::substream(i)` of its condition's `turns` stream (the key of replicate 0's,
//! ChaCha stream number `i + 1` for replicate `i`): one SHA-256 per condition instead of
//! one per run. How the draws are spent (two turns per draw, clean stretches in one
//! geometric draw, see `model.rs`) is part of the model's sampling.

mod figure;
mod model;

pub use model::{binomial_horizon, fixed_points, mean_field_bistable_range};

use super::{Model, Observations, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::Figure;
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
    pub feedback: f64,
    pub scales: Vec<Scale>,
    pub injection_rates: Vec<f64>,
    pub injected_turns: usize,
    pub horizon_step_accuracies: Vec<f64>,
    pub horizon_success: f64,
    pub horizon_tolerance: usize,
    pub horizon_batch: usize,
    pub horizon_batches: usize,
    pub horizon_max_turns: usize,
    pub escape_windows: Vec<usize>,
    pub escape_betas: Vec<f64>,
    pub escape_beta_windows: Vec<usize>,
    pub escape_max_turns: usize,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::finite("logit_base", self.logit_base)?;
        v::count("window", self.window, 1, 10_000)?;
        v::count("turns", self.turns, 2, 100_000)?;
        v::non_negative("beta_base", self.beta_base)?;
        v::non_negative("beta_per_bonus", self.beta_per_bonus)?;
        v::non_negative("thinking_beta", self.thinking_beta)?;
        v::probability("feedback", self.feedback)?;
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
        v::count("injected_turns", self.injected_turns, 1, self.turns - 1)?;
        v::list_len("horizon_step_accuracies", &self.horizon_step_accuracies, 1, 50)?;
        v::each("horizon_step_accuracies", &self.horizon_step_accuracies, |k, p| {
            v::in_range(k, *p, 0.5, 0.9999)
        })?;
        v::increasing("horizon_step_accuracies", &self.horizon_step_accuracies)?;
        v::in_range("horizon_success", self.horizon_success, 0.01, 0.99)?;
        v::count("horizon_tolerance", self.horizon_tolerance, 1, 100)?;
        v::count("horizon_batch", self.horizon_batch, 1, 4096)?;
        v::count("horizon_batches", self.horizon_batches, 2, 100_000)?;
        v::count("horizon_max_turns", self.horizon_max_turns, 1, 1_000_000)?;
        windows("escape_windows", &self.escape_windows)?;
        v::list_len("escape_betas", &self.escape_betas, 1, 100)?;
        v::each("escape_betas", &self.escape_betas, |k, b| v::non_negative(k, *b))?;
        v::increasing("escape_betas", &self.escape_betas)?;
        windows("escape_beta_windows", &self.escape_beta_windows)?;
        v::count("escape_max_turns", self.escape_max_turns, 1, 100_000_000)?;
        Ok(())
    }
}

/// At least two increasing windows of 2 turns or more (a lifetime's growth is
/// measured between the first and the last).
fn windows(key: &str, w: &[usize]) -> Result<(), Invalid> {
    v::list_len(key, w, 2, 50)?;
    v::each(key, w, |k, w| v::count(k, *w, 2, 10_000))?;
    let as_f64: Vec<f64> = w.iter().map(|&w| w as f64).collect();
    v::increasing(key, &as_f64)
}

/// The three ways a model of each scale is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Copies its context: `β = beta_base + beta_per_bonus·s`; its errors feed back.
    NonThinking,
    /// Re-derives its state: `β = thinking_beta`.
    Thinking,
    /// Non-thinking, but an oracle corrects each of its turns before it enters the context.
    OpenLoop,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::NonThinking, Mode::Thinking, Mode::OpenLoop];

    pub fn name(self) -> &'static str {
        match self {
            Mode::NonThinking => "non-thinking",
            Mode::Thinking => "thinking",
            Mode::OpenLoop => "open-loop",
        }
    }
}

impl Params {
    /// β of a model of `scale` in `mode`.
    pub fn beta(&self, scale: &Scale, mode: Mode) -> f64 {
        match mode {
            Mode::Thinking => self.thinking_beta,
            Mode::NonThinking | Mode::OpenLoop => self.beta_base + self.beta_per_bonus * scale.bonus,
        }
    }

    /// The probability that a wrong turn of the model enters its context as wrong.
    pub fn feedback(&self, mode: Mode) -> f64 {
        match mode {
            Mode::OpenLoop => 0.0,
            Mode::NonThinking | Mode::Thinking => self.feedback,
        }
    }
}

impl Model for ContextAccumulation {
    type Params = Params;
    const ID: &'static str = "context_accumulation";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        model::simulate(p, run)
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        figure::figure(p, summary)
    }
}
