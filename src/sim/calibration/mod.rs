//! `calibration`: binary rewards breed confident guessing; a Brier term restores calibration.
//!
//! Anchor: Damani et al. 2025, "Beyond Binary Rewards: Training LMs to Reason About
//! Their Uncertainty" (RLCR), arXiv:2507.16806. RL with a binary correctness reward
//! (RLVR) raises accuracy but wrecks calibration: the model states high confidence
//! whether it is right or not. RLCR adds the Brier score of the verbalised confidence
//! `q` to the reward, `1[correct] − (q − 1[correct])²`; for a bounded proper scoring
//! rule the expected reward peaks at the likeliest answer *and* `q` equal to its chance
//! of being right. The unbounded log score is excluded: it can pay more to abstain than
//! to answer. On HotpotQA: ECE 0.37 (RLVR) against 0.03 (RLCR), accuracy 63.0 against
//! 62.1, AUROC 0.50 against 0.69, Brier 0.37 against 0.21.
//!
//! # Model
//!
//! *Questions.* Each question has `K` (`answers`) candidate answers. The model's
//! internal evidence about them is a vector of logits `z`, each `belief_spread · N(0,1)`;
//! the right answer is drawn from `softmax(z)`, so the untrained model's beliefs are
//! calibrated (assumption). Every replicate draws its own training bank
//! (`train_questions`) and held-out bank (`test_questions`), so the intervals include
//! the variability of the data set; the arms of one replicate share its banks.
//!
//! *Policy.* Five scalars, trained by policy gradient:
//! - the *decisiveness* `τ = e^κ` (start 1): answers are sampled from `softmax(τ z)`.
//!   Raising `τ` sharpens every answer distribution at once, the way RL collapses a
//!   language model's entropy; it moves accuracy from the sampled `E Σ p²` toward the
//!   greedy `E max p`;
//! - the *confidence readout* `(w = e^ω, b)` (start 1, 0). The verbalised confidence
//!   shares weights with the answer head: it reads the model's certainty in the answer
//!   it gave from a *shared representation* that carries the share `coupling` (γ) of
//!   the sharpening, `ℓ = logit softmax(τ^γ z)(a)`, and states
//!   `q = σ(w ℓ + b + s ε)`, `ε ~ N(0,1)`, `s` = `confidence_noise` (the exploration of
//!   the confidence "tokens"). The spoken scale has `confidence_levels` steps (100:
//!   whole percent; 0: a real number) and is clamped to `[1 − cap, cap]`
//!   (`confidence_cap`). At the start `q = p(a)`: the base model is calibrated.
//!   `γ = 0`: sharpening stays in the answer head; `γ = 1`: the readout sees all of it;
//! - the *abstention head* `(η₀, η₁)`: the model says "I don't know" with probability
//!   `σ(η₀ + η₁ u)`, `u` the shared certainty of its top answer (start
//!   `η₀` = `initial_abstain_logit`, `η₁ = 0`). An abstention is never correct and states
//!   confidence 0; it scores 0 under every rule.
//!
//! Each step samples `batch` training questions and `group` responses to each; every
//! parameter gets the REINFORCE gradient of the log-probability of what was sampled
//! times an advantage, averaged over the responses (Adam, β = 0.9/0.999, step sizes
//! `decisiveness_lr` for κ, `readout_lr` for (ω, b), `abstain_lr` for η):
//! - the answer and abstention heads: the reward minus the mean reward of the other
//!   responses to the same question (RLOO);
//! - the stated confidence (score `ε/s · ∂m/∂θ`, `m = w ℓ + b`): the reward at the
//!   stated confidence minus the reward the same answer would get at the noise-free one
//!   (a self-critical baseline; `1[correct]` cancels). Because `ℓ` reads the shared
//!   representation, this gradient reaches κ too, with weight γ: under RLCR the
//!   calibration term pulls the answers' sharpening back, so accuracy *can* be traded
//!   for calibration. The abstention head reads `u` without a gradient into κ.
//!
//! # Mechanism
//! The binary reward pays for sharpening (the likeliest answer is right more often;
//! premise), so κ grows. It does not depend on `q`, so under RLVR the confidence gets no
//! gradient at all (premise): nothing pulls the readout back while the share γ of the
//! sharpening leaks into what it reads. How overconfident RLVR ends is an outcome of how
//! far training sharpens and of γ. The Brier term rewards `q` = chance of being right: it
//! trains the readout to undo the leak (`w` falls as `τ^γ` rises), and the same gradient
//! pulls on κ; RLCR keeps its accuracy when the readout absorbs the correction. With the
//! readout frozen, RLCR can only calibrate by un-sharpening its answers, and pays
//! accuracy. Spoken on a bounded scale, RLVR's sharpened confidences pile up at the cap,
//! where ties rank nothing: its AUROC falls toward 0.5 (on a real-valued scale the ranks,
//! and the AUROC, survive). The readout learns only from the exploration `s` of the
//! spoken confidence: below the scale's step it never hears a different reward. Under the
//! log score a calibrated answer with chance `p` earns `p − H(p)`, below the 0 of
//! "I don't know" for `p` under about 0.65, so the model learns to abstain (premise: it
//! follows from the rule).
//!
//! # Metrics (per recorded step, one sampled response per test question)
//! accuracy; ECE over 10 equal-width confidence bins; Brier score `mean (q − c)²`;
//! AUROC of the spoken confidence for right against wrong responses (ties count one
//! half); mean confidence; abstention rate; the share of responses stated at the cap;
//! the decisiveness `τ` and the readout slope `w`. At the last step, a reliability
//! diagram per bin. Separately, for panel (h), the reward of a calibrated answer
//! (`q = p`) with chance `p` under each rule, simulated over `rule_samples` answers,
//! beside its exact expectation `p`, `p²`, `p − H(p)`. All metrics count an abstention
//! as a wrong answer stated with confidence 0.
//!
//! # Streams
//! Condition `run` (purposes `questions`, `train/<arm>`, `eval/<arm>`), `rules/<p>`
//! (purpose `outcomes`). In `questions`, per question: `K` normals, then one uniform
//! for the right answer. In `train/<arm>`, per step: the `batch` question indices, then
//! per response one draw split into two 32-bit uniforms (abstain?, which answer) and,
//! if the spoken confidence matters, one normal. In `eval/<arm>`, per test question in
//! order: the same pair, then one normal if it answered. Normals are ziggurat draws
//! (`draws.rs`): one 64-bit draw, more on the rare rejection.
//!
//! # Speed (issue 18)
//! The simulation is dominated by its `exp`s and `log`s; each shortcut below either
//! computes the same quantity exactly with fewer of them or draws the same
//! distribution with fewer draws. The figure's numbers changed when they were
//! introduced (different draws, same model), and every claim and knock-out was
//! re-checked at 20 seeds.
//! - *Rank order.* Answers are exchangeable, so a bank stores each question's logits
//!   sorted, as gaps `d_r ≤ 0` to the top answer, whose weight `exp(τ·0) = 1` needs no
//!   `exp`. Samplers draw by the inverse CDF from the top, in rank order.
//! - *Certainties relative to the runner-up.* `u = −ln Σ_{r≥1} e^{τ_s d_r}` is computed
//!   as `−τ_s d_1 − ln Σ_{r≥1} e^{τ_s (d_r − d_1)}`: K − 2 `exp`s and one `log` per
//!   question (none for K = 2); a term below e⁻⁴⁰ of the sum it joins is not computed
//!   (it changes no bit). A non-top answer's certainty reuses the sums; below the clip
//!   (−30) it is known without computing. Per-step quantities (`τ`, `τ_s`, `w`) are
//!   computed once per step, per-question ones once per question for its `group`
//!   responses; every evaluation computes its questions' views in one loop, and the
//!   step-0 views, the same for every arm, once per replicate.
//! - *Answers from bounds.* With `τ ≥ τ_s` (sharpening on, `γ ≤ 1`) the answer head is
//!   at least as sharp as the shared view, so `π(top) ≥ σ(u)`, and each weight
//!   `f_r = e^{τ d_r} ≤ f_1 e^{τ_s (d_r − d_1)}`. The inverse CDF is decided from these
//!   bounds on the total (widened by 10⁻¹²) while they suffice: the top with no
//!   weight, the top or the runner-up from `f_1` alone; only otherwise are all weights
//!   computed. Same rank as the full inverse CDF.
//! - *Coins from a table.* "I don't know" with probability σ(x) is decided from a
//!   table bracketing σ on a 1/64 grid; σ is computed only for a uniform inside the
//!   bracket (< 0.4% of draws). The abstention probability itself is never needed for
//!   the gradient: RLOO advantages sum to zero over a group, so the abstention head's
//!   score `Σ adv (1[abstained] − p)` is `Σ_{abstained} adv`, and the answer head's
//!   `Σ_{answered} adv (d_a − E_π d)` needs `E_π d` (all weights) only when a response
//!   in the group abstained.
//! - *Spoken levels from thresholds.* `round(σ(x) · levels)` is the count of the
//!   thresholds `logit((j − ½)/levels)` below `x` (`scale.rs`, a grid lookup and one
//!   comparison); rewards per level are tables (no `log` for the log score).
//! - *Counts, not lists.* On a discrete scale an evaluation counts right and wrong
//!   responses per level; ECE, Brier and AUROC (ties and all) are sums over levels,
//!   with no sort (`tally.rs`).
//! - *Cheaper draws.* Two 32-bit uniforms per 64-bit draw (2⁻³² resolution for a coin
//!   and a choice among K); normals by the ziggurat (one draw, no transcendental call
//!   99% of the time) instead of Box–Muller (two draws, `log`, `sqrt`, `cos`).
//! - *Only what is read.* Under the binary rule (RLVR) the confidence never reaches
//!   the reward or a gradient, so its training responses draw no noise and speak no
//!   confidence.
//! - *libm in batches* (no number changed). `crate::ops::exact` writes fdlibm's `exp` and
//!   `log` (what `libm` runs) without branches, so a loop of them vectorises (AVX2 where
//!   the CPU has it, detected at run time) and still returns libm's bits for every
//!   input (tested bit for bit against `libm`, on both paths and at every length).
//!   The shared views of a batch of questions (every test question at an evaluation,
//!   the step's training questions) take their `exp`s in one batch and their `log`s in
//!   another; an evaluation first takes its draws in stream order (no draw depends on
//!   an `exp`), then the runner-up weights `f_1` the bounds still need, then the
//!   certainties of answers below the top, each in a batch; a training step takes
//!   the runner-up weights `f_1 = exp(τ d_1)` and `e_1 = exp(τ_s d_1)` of all its
//!   questions in one batch (some go unused: a batch element costs less than a third of
//!   a `libm` call). A non-top answer's
//!   certainty reuses its view's `exp(τ_s (d_a − d_1))` instead of recomputing it, and
//!   in training each answer's confidence head is computed once per question (it was,
//!   for the top answer). The figure's bytes are unchanged.
//! - *Per question, not per response* (second round; no number changed). A training
//!   question's abstention-coin bracket, the table's lower bound on `σ(u)` and the
//!   widened rank bounds `(1 + f_1 Σ e_r/e_1)(1 + 10⁻¹²)`, `(1 + f_1)(1 − 10⁻¹²)` are
//!   computed once for its `group` responses (the same expressions on the same values;
//!   the coin outside the table is the bracket `(−∞, ∞)`, so σ is computed there as
//!   before). The reward of the noise-free confidence is fixed by the answer's rank, so
//!   it is cached with that answer's head (only where the readout trains; it was only
//!   read there), and when the confidence is trained on the reward's own rule the
//!   spoken reward is one table lookup, not two. The shared views' sums for K = 4 run
//!   an unrolled loop over ranks (the same additions in the same order), the views are
//!   built by zipping their buffers (no bounds checks), and an evaluation pushes its
//!   per-question buffers instead of zero-filling and then writing them. Callgrind:
//!   5.19 G → 4.81 G instructions for `run calibration` at one thread. Tried and
//!   dropped: the evaluation's full answer weights in one `exact` batch (fewer `libm`
//!   calls, more instructions, no faster).
//! - *An evaluation's views as arrays* (third round; no number changed). An evaluation
//!   reads of each test question's shared view only `u` and `Σ e_r/e_1`, so it builds
//!   them as two arrays over all its questions (`TestViews`), not a struct per question
//!   with the training step's `∂u/∂ln τ_s` sums: each stage is one loop without
//!   branches (a negligible term is added as 0, which changes no bit of a sum ≥ 1).
//!   Callgrind: 4.81 G → 4.48 G instructions for `run calibration` at one thread.
//!   Tried and dropped: the training step in stages over all its responses (draws,
//!   then open ranks and `E_π d` from one batch of weights, then the certainties' `log`s
//!   in one batch, then rewards): 4.81 G → 5.32 G instructions and ~30 ms slower (the
//!   per-response loop was already tight; the scalar `exp`s and `log`s it removed cost
//!   less than the extra passes); the bank's ranks with batched `exp`s: no change.

mod draws;
mod figure;
mod model;
mod scale;
mod tally;

use super::{Model, Observations, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::Figure;
use crate::spec::validate::{self as v, Invalid, Validate};
use model::{MAX_ANSWERS, MAX_GROUP};
use serde::Deserialize;

pub struct Calibration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub answers: usize,
    pub belief_spread: f64,
    pub train_questions: usize,
    pub test_questions: usize,
    pub steps: usize,
    pub batch: usize,
    pub group: usize,
    pub record_every: usize,
    pub decisiveness_lr: f64,
    pub coupling: f64,
    pub readout_lr: f64,
    pub abstain_lr: f64,
    pub confidence_noise: f64,
    pub confidence_levels: usize,
    pub confidence_cap: f64,
    pub initial_abstain_logit: f64,
    pub brier_readout_everywhere: bool,
    pub rule_probabilities: Vec<f64>,
    pub rule_samples: usize,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::count("answers", self.answers, 2, MAX_ANSWERS)?;
        v::in_range("belief_spread", self.belief_spread, 0.0, 20.0)?;
        v::count("train_questions", self.train_questions, 1, 1_000_000)?;
        v::count("test_questions", self.test_questions, 1, 1_000_000)?;
        v::count("steps", self.steps, 1, 100_000)?;
        v::count("batch", self.batch, 1, 100_000)?;
        v::count("group", self.group, 2, MAX_GROUP)?;
        v::count("record_every", self.record_every, 1, self.steps)?;
        if !self.steps.is_multiple_of(self.record_every) {
            return Err(Invalid {
                key: "record_every".into(),
                problem: format!("must divide steps ({}) so the last step is recorded", self.steps),
            });
        }
        v::in_range("decisiveness_lr", self.decisiveness_lr, 0.0, 10.0)?;
        v::probability("coupling", self.coupling)?;
        v::in_range("readout_lr", self.readout_lr, 0.0, 10.0)?;
        v::in_range("abstain_lr", self.abstain_lr, 0.0, 10.0)?;
        v::in_range("confidence_noise", self.confidence_noise, 0.0, 10.0)?;
        if self.confidence_levels != 0 {
            v::count("confidence_levels", self.confidence_levels, 2, 1_000_000)?;
        }
        v::in_range("confidence_cap", self.confidence_cap, 0.5, 1.0 - 1e-12)?;
        let (lo, hi) = scale::Scale::new(self.confidence_levels, self.confidence_cap).level_range();
        if self.confidence_levels != 0 && lo >= hi {
            return Err(Invalid {
                key: "confidence_cap".into(),
                problem: format!(
                    "leaves no step between 1 − cap and cap on a scale of {} levels",
                    self.confidence_levels
                ),
            });
        }
        v::in_range("initial_abstain_logit", self.initial_abstain_logit, -30.0, 30.0)?;
        v::list_len("rule_probabilities", &self.rule_probabilities, 1, 100)?;
        v::each("rule_probabilities", &self.rule_probabilities, |k, p| {
            v::in_range(k, *p, 0.01, 0.99)
        })?;
        v::increasing("rule_probabilities", &self.rule_probabilities)?;
        v::count("rule_samples", self.rule_samples, 1, 1_000_000)?;
        Ok(())
    }
}

impl Model for Calibration {
    type Params = Params;
    const ID: &'static str = "calibration";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let mut out = Observations::default();
        model::training(p, run, &mut out);
        model::rule_curves(p, run, &mut out);
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        figure::build(p, summary)
    }
}

/// Small runs of the whole model: each knock-out removes its effect.
#[cfg(test)]
mod tests {
    use super::*;

    /// Mean over replicates of `metric` for `arm` at step `x`.
    fn mean_of(obs: &Observations, arm: &str, metric: &str, x: f64) -> f64 {
        let key = obs.keys.iter().position(|(a, m)| a == arm && m == metric).unwrap() as u32;
        let v: Vec<f64> = (0..obs.len())
            .filter(|&i| obs.key[i] == key && obs.x[i] == x)
            .map(|i| obs.value[i])
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn small() -> Params {
        Params {
            answers: 4,
            belief_spread: 1.6,
            train_questions: 1024,
            test_questions: 1024,
            steps: 100,
            batch: 32,
            group: 4,
            record_every: 50,
            decisiveness_lr: 0.06,
            coupling: 1.0,
            readout_lr: 0.05,
            abstain_lr: 0.05,
            confidence_noise: 0.1,
            confidence_levels: 100,
            confidence_cap: 0.99,
            initial_abstain_logit: -3.5,
            brier_readout_everywhere: false,
            rule_probabilities: vec![0.5],
            rule_samples: 10,
        }
    }

    fn run(p: &Params) -> Observations {
        Calibration::simulate(p, &Runner::new(1, 6, None))
    }

    fn rise(obs: &Observations, arm: &str, metric: &str, p: &Params) -> f64 {
        mean_of(obs, arm, metric, p.steps as f64) - mean_of(obs, arm, metric, 0.0)
    }

    #[test]
    fn coupling_carries_rlvr_overconfidence() {
        let coupled = small();
        let apart = Params {
            coupling: 0.0,
            ..small()
        };
        let (with, without) = (run(&coupled), run(&apart));
        assert!(rise(&with, "rlvr", "ece", &coupled) > 0.15);
        // Without the coupling RLVR still sharpens (and gains accuracy)...
        assert!(mean_of(&without, "rlvr", "decisiveness", apart.steps as f64) > 2.0);
        assert!(rise(&without, "rlvr", "accuracy", &apart) > 0.05);
        // ...but its confidence reads unsharpened beliefs and stays calibrated.
        assert!(rise(&without, "rlvr", "ece", &apart).abs() < 0.03);
    }

    #[test]
    fn no_sharpening_keeps_rlvr_calibrated() {
        let flat = Params {
            decisiveness_lr: 0.0,
            ..small()
        };
        let obs = run(&flat);
        assert!(rise(&obs, "rlvr", "ece", &flat).abs() < 0.03);
        assert_eq!(mean_of(&obs, "rlvr", "decisiveness", flat.steps as f64), 1.0);
    }

    #[test]
    fn without_exploration_the_readout_never_learns() {
        let deaf = Params {
            confidence_noise: 0.0,
            ..small()
        };
        let obs = run(&deaf);
        assert_eq!(mean_of(&obs, "rlcr", "readout_slope", deaf.steps as f64), 1.0);
        assert!(mean_of(&obs, "rlcr", "ece", deaf.steps as f64) > 0.15);
    }

    #[test]
    fn a_frozen_readout_makes_rlcr_pay_accuracy() {
        let frozen = Params {
            readout_lr: 0.0,
            ..small()
        };
        let (free, stuck) = (run(&small()), run(&frozen));
        let last = frozen.steps as f64;
        let gap = |o: &Observations| mean_of(o, "rlvr", "accuracy", last) - mean_of(o, "rlcr", "accuracy", last);
        // At this small size the free gap is sampling noise of about ±0.015.
        assert!(gap(&free).abs() < 0.02, "free readout gap {}", gap(&free));
        assert!(gap(&stuck) > 0.02, "frozen readout gap {}", gap(&stuck));
        assert!(
            gap(&stuck) > gap(&free) + 0.01,
            "frozen {} vs free {}",
            gap(&stuck),
            gap(&free)
        );
        assert_eq!(mean_of(&stuck, "rlcr", "readout_slope", last), 1.0);
    }

    #[test]
    fn a_real_valued_scale_keeps_rlvr_ranking() {
        let real = Params {
            confidence_levels: 0,
            confidence_cap: 1.0 - 1e-9,
            ..small()
        };
        let (percent, real_obs) = (run(&small()), run(&real));
        let last = real.steps as f64;
        let gap = |o: &Observations| mean_of(o, "rlcr", "auroc", last) - mean_of(o, "rlvr", "auroc", last);
        assert!(gap(&percent) > 0.05, "percent scale gap {}", gap(&percent));
        assert!(gap(&real_obs).abs() < 0.03, "real scale gap {}", gap(&real_obs));
    }
}
