//! `calibration`: binary rewards breed confident guessing; a Brier term restores calibration.
//!
//! Anchor: Damani et al. 2025, "Beyond Binary Rewards: Training LMs to Reason About
//! Their Uncertainty" (RLCR), arXiv:2507.16806. RL with a binary correctness reward
//! (RLVR) raises accuracy but wrecks calibration: the model states high confidence
//! whether it is right or not. RLCR adds the Brier score of the verbalised confidence
//! `q` to the reward, `1[correct] − (q − 1[correct])²`; for a bounded proper scoring
//! rule the expected reward peaks at the likeliest answer *and* `q` equal to its chance
//! of being right, so accuracy and calibration are optimised together. The unbounded log
//! score is excluded: it can pay more to abstain than to answer. On HotpotQA: ECE 0.37
//! (RLVR) against 0.03 (RLCR), accuracy 63.0 against 62.1, AUROC 0.50 against 0.69,
//! Brier 0.37 against 0.21.
//!
//! # Model
//!
//! *Questions.* Each question has `K` (`answers`) candidate answers. The model's
//! internal evidence about them is a vector of logits `z`, each `belief_spread · N(0,1)`;
//! the right answer is drawn from `softmax(z)`. So the untrained model's beliefs are
//! calibrated by construction: the answer it believes with probability `p` is right
//! with probability `p`. A fixed bank of `train_questions` questions is trained on and a
//! held-out bank of `test_questions` is evaluated on (one data set, many seeds).
//!
//! *Policy.* Five scalar parameters, trained by policy gradient:
//! - the *decisiveness* `τ = e^κ` (start 1): answers are sampled from `softmax(τ z)`.
//!   Raising `τ` sharpens every answer distribution at once, the way RL collapses a
//!   language model's entropy; it moves accuracy from the sampled `E Σ p²` toward the
//!   greedy `E max p`. It is learned on the log scale, as a temperature usually is;
//! - the *confidence readout* `(w = e^ω, b)` (start 1, 0): the verbalised confidence
//!   reads the model's internal certainty in the answer it gave, `ℓ = logit π_τ(a)`, as
//!   `q = σ(w ℓ + b + s ε)`, `ε ~ N(0,1)` with `s` = `confidence_noise` (the exploration
//!   of the confidence "tokens"), spoken as a whole percentage from 1% to 99%. At the
//!   start `q = π(a) = p(a)`: the base model is calibrated. The slope stays positive
//!   (more certain never means less confident) and, on the log scale, can follow `1/τ`;
//! - the *abstention head* `(η₀, η₁)`: before answering, the model says "I don't know"
//!   with probability `σ(η₀ + η₁ u)`, `u` the internal certainty of its top answer
//!   (start `η₀` = `initial_abstain_logit`, `η₁ = 0`). An abstention is never correct
//!   and states confidence 0. Every arm has it; only the log score makes it pay.
//!
//! The heads read `ℓ` and `u` as features of the internal state (no gradient flows
//! back through them into `τ`). Each step samples `batch` training questions and
//! `group` responses to each, and every parameter gets the REINFORCE gradient of its
//! own head's log-probability times an advantage, averaged over the responses:
//! - answer and abstention heads (`τ (z_a − E_π z)` for `κ`, `(1[abstain] − σ)(1, u)`
//!   for `η`): the reward minus the mean reward of the other responses to the same
//!   question (RLOO);
//! - confidence head (`ε / s · (w ℓ, 1)` for `(ω, b)`): the reward at the stated
//!   confidence minus the reward the same answer would get at the noise-free confidence
//!   `σ(w ℓ + b)` (a self-critical baseline: it depends on the question and answer only,
//!   so the estimate stays unbiased, and `1[correct]` cancels). Under the binary reward
//!   this advantage is exactly 0: the readout is never trained.
//!
//! Updates use Adam (β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸, the usual defaults; step sizes
//! `decisiveness_lr` for `κ`, `readout_lr` for `(ω, b)`, `abstain_lr` for `η`). The
//! exploration noise `s` is kept small because the policy optimises its reward *under*
//! the noise: a noisy Brier-trained readout learns a slightly too steep slope.
//!
//! # Mechanism
//! The binary reward favours sharpening (the likeliest answer is right more often), so
//! `τ` grows and `ℓ` grows with it. The reward does not depend on `q`, so the readout
//! gets no signal and keeps reading the sharpened certainty as if it were a chance of
//! being right: confidence climbs toward 99% everywhere while accuracy stops at `E max p`.
//! The Brier term rewards `q` = chance of being right, so under RLCR the readout learns
//! to undo the sharpening (`w` falls roughly as `1/τ`) while the same sharpening buys
//! the same accuracy. Under the log score a calibrated answer with chance `p` earns
//! `p − H(p)` (nats), below the 0 of "I don't know" for `p` under about 0.65: the model
//! learns to abstain on questions where guessing would pay under the other rules.
//! Nothing in the model sets a confidence or an accuracy: both emerge from the
//! rewards. The ablation trains every arm's readout on the Brier score
//! (`brier_readout_everywhere = true`) while the answers keep their own reward: RLVR
//! still sharpens, and stays calibrated.
//!
//! # Metrics (per recorded step, one sampled response per test question)
//! accuracy; ECE over 10 equal-width confidence bins; Brier score `mean (q − c)²`;
//! AUROC of `q` for right against wrong responses (ties count one half, so a constant
//! confidence scores 0.5); mean confidence; abstention rate; and the decisiveness `τ`
//! and readout slope `w`. At the last step, a reliability diagram per bin. Separately,
//! for panel (d), the reward of a calibrated answer (`q = p`) with chance `p` under each
//! rule, simulated over `rule_samples` answers, beside its exact expectation
//! `p`, `p²`, `p − H(p)`. All metrics count an abstention as a wrong answer stated
//! with confidence 0 (so abstentions lower accuracy and, being always wrong at the
//! lowest confidence, raise AUROC).
//!
//! # Streams
//! Conditions `dataset` (purpose `questions`), `train/<arm>` (purposes `train`,
//! `eval`), `rules/<p>` (purpose `outcomes`).

use super::{Model, Observations, Replicate, Runner};
use crate::analysis::{Row, Summary};
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};
use crate::rng::{sigmoid, Stream};
use crate::spec::validate::{self as v, Invalid, Validate};
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
    pub readout_lr: f64,
    pub abstain_lr: f64,
    pub confidence_noise: f64,
    pub initial_abstain_logit: f64,
    pub brier_readout_everywhere: bool,
    pub rule_probabilities: Vec<f64>,
    pub rule_samples: usize,
}

/// Candidate answers per question: the policy's scratch buffers are fixed arrays.
const MAX_ANSWERS: usize = 16;
/// Responses per question per step (RLOO needs at least two).
const MAX_GROUP: usize = 32;
/// Internal certainties are log-odds clipped to ±30 (σ(30) rounds to 1 in any case).
const LOGIT_CLIP: f64 = 30.0;
/// Confidence is spoken in whole percentages; levels 1..=99 for answers, 0 for "I don't know".
const LEVELS: usize = 100;
/// Equal-width confidence bins for ECE and the reliability diagram.
const BINS: usize = 10;

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
        if self.steps % self.record_every != 0 {
            return Err(Invalid {
                key: "record_every".into(),
                problem: format!("must divide steps ({}) so the last step is recorded", self.steps),
            });
        }
        v::in_range("decisiveness_lr", self.decisiveness_lr, 0.0, 10.0)?;
        v::in_range("readout_lr", self.readout_lr, 0.0, 10.0)?;
        v::in_range("abstain_lr", self.abstain_lr, 0.0, 10.0)?;
        v::in_range("confidence_noise", self.confidence_noise, 0.01, 10.0)?;
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

/// How a response is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// RLVR: `1[correct]`.
    Binary,
    /// RLCR: `1[correct] − (q − 1[correct])²`.
    Brier,
    /// `1[correct] + c ln q + (1 − c) ln(1 − q)`; "I don't know" scores 0.
    Log,
}

/// The arms: the untrained model and one per reward rule.
const ARMS: [(&str, Option<Rule>); 4] = [
    ("base", None),
    ("rlvr", Some(Rule::Binary)),
    ("rlcr", Some(Rule::Brier)),
    ("log_score", Some(Rule::Log)),
];

/// Reward of a right (`c = 1`) or wrong answer stated with confidence `q` under `rule`.
fn rule_reward(rule: Rule, c: f64, q: f64) -> f64 {
    match rule {
        Rule::Binary => c,
        Rule::Brier => c - (q - c) * (q - c),
        Rule::Log => c + c * libm::log(q) + (1.0 - c) * libm::log(1.0 - q),
    }
}

/// Exact expected reward of a calibrated answer (`q = p`) that is right with chance `p`.
fn expected_rule_reward(rule: Rule, p: f64) -> f64 {
    match rule {
        Rule::Binary => p,
        Rule::Brier => p * p,
        Rule::Log => p + p * libm::log(p) + (1.0 - p) * libm::log(1.0 - p),
    }
}

/// The question banks: `K` logits per question and the index of the right answer.
struct Bank {
    k: usize,
    z: Vec<f64>,
    correct: Vec<usize>,
}

impl Bank {
    fn draw(n: usize, k: usize, spread: f64, rng: &mut Stream) -> Self {
        let mut z = Vec::with_capacity(n * k);
        let mut correct = Vec::with_capacity(n);
        let mut p = [0.0; MAX_ANSWERS];
        for _ in 0..n {
            let row = z.len();
            for _ in 0..k {
                z.push(spread * rng.normal());
            }
            softmax_weights(&z[row..], 1.0, &mut p[..k]);
            correct.push(rng.categorical(&p[..k]));
        }
        Bank { k, z, correct }
    }

    fn len(&self) -> usize {
        self.correct.len()
    }

    fn question(&self, i: usize) -> (&[f64], usize) {
        (&self.z[i * self.k..(i + 1) * self.k], self.correct[i])
    }
}

/// Unnormalised `exp(τ (z_j − max z))` into `out`; returns the index of the top answer.
fn softmax_weights(z: &[f64], tau: f64, out: &mut [f64]) -> usize {
    let mut top = 0;
    for j in 1..z.len() {
        if z[j] > z[top] {
            top = j;
        }
    }
    for j in 0..z.len() {
        out[j] = libm::exp(tau * (z[j] - z[top]));
    }
    top
}

/// `logit π(a)` from unnormalised weights: `ln w_a − ln Σ_{j≠a} w_j`, clipped.
fn certainty_logit(weights: &[f64], a: usize) -> f64 {
    let mut others = 0.0;
    for (j, w) in weights.iter().enumerate() {
        if j != a {
            others += w;
        }
    }
    (libm::log(weights[a]) - libm::log(others)).clamp(-LOGIT_CLIP, LOGIT_CLIP)
}

/// Indices of the five trained scalars.
const LOG_TAU: usize = 0;
const LOG_W: usize = 1;
const B: usize = 2;
const ETA0: usize = 3;
const ETA1: usize = 4;
const N_PARAMS: usize = 5;

/// The policy's parameters: decisiveness, readout slope and offset, abstention head.
#[derive(Debug, Clone, Copy)]
struct Policy {
    theta: [f64; N_PARAMS],
}

/// One sampled response and what its gradient needs.
#[derive(Debug, Clone, Copy, Default)]
struct Response {
    abstained: bool,
    correct: bool,
    /// Stated confidence in percent (0 for "I don't know").
    level: usize,
    /// `τ (z_a − E_π z)`: the score of the answer with respect to `ln τ`.
    score_log_tau: f64,
    /// Certainty logit of the given answer, read by the confidence head.
    ell: f64,
    /// Confidence exploration draw.
    eps: f64,
    /// The level the confidence head would state without exploration noise.
    greedy_level: usize,
    /// Certainty logit of the top answer, read by the abstention head.
    u: f64,
    p_abstain: f64,
}

impl Response {
    fn confidence(&self) -> f64 {
        self.level as f64 / LEVELS as f64
    }

    /// The confidence head's advantage: the confidence part of the reward at the stated
    /// confidence minus the same at the noise-free one (a self-critical baseline, a
    /// function of the question and answer only, so the estimate stays unbiased).
    /// `1[correct]` cancels: the answer fixed it before the confidence was drawn.
    fn confidence_advantage(&self, rule: Rule) -> f64 {
        if self.abstained {
            return 0.0;
        }
        let greedy = self.greedy_level as f64 / LEVELS as f64;
        rule_reward(rule, self.c(), self.confidence()) - rule_reward(rule, self.c(), greedy)
    }

    fn c(&self) -> f64 {
        self.correct as u8 as f64
    }

    fn reward(&self, rule: Rule) -> f64 {
        if self.abstained {
            // Never correct, confidence 0: 0 under all three rules.
            0.0
        } else {
            rule_reward(rule, self.c(), self.confidence())
        }
    }
}

impl Policy {
    fn initial(p: &Params) -> Self {
        let mut theta = [0.0; N_PARAMS];
        theta[ETA0] = p.initial_abstain_logit;
        Policy { theta }
    }

    /// Samples "I don't know" or an answer with its stated confidence.
    fn respond(&self, z: &[f64], right: usize, noise: f64, rng: &mut Stream) -> Response {
        let t = &self.theta;
        let mut weights = [0.0; MAX_ANSWERS];
        let weights = &mut weights[..z.len()];
        let tau = libm::exp(t[LOG_TAU]);
        let top = softmax_weights(z, tau, weights);
        let u = certainty_logit(weights, top);
        let p_abstain = sigmoid(t[ETA0] + t[ETA1] * u);
        if rng.uniform() < p_abstain {
            return Response {
                abstained: true,
                u,
                p_abstain,
                ..Response::default()
            };
        }
        let a = rng.categorical(weights);
        let ell = certainty_logit(weights, a);
        let (mut total, mut mean_z) = (0.0, 0.0);
        for (w, zj) in weights.iter().zip(z) {
            total += w;
            mean_z += w * zj;
        }
        let eps = rng.normal();
        let m = libm::exp(t[LOG_W]) * ell + t[B];
        Response {
            abstained: false,
            correct: a == right,
            level: spoken_level(m + noise * eps),
            greedy_level: spoken_level(m),
            score_log_tau: tau * (z[a] - mean_z / total),
            ell,
            eps,
            u,
            p_abstain,
        }
    }
}

/// Confidence in whole percent from its log-odds: 1..=99 (never certain either way).
fn spoken_level(logit: f64) -> usize {
    (libm::round(sigmoid(logit) * LEVELS as f64) as usize).clamp(1, LEVELS - 1)
}

/// Adam (ascent) over the five parameters with per-parameter step sizes.
struct Adam {
    lr: [f64; N_PARAMS],
    m: [f64; N_PARAMS],
    v: [f64; N_PARAMS],
    t: i32,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn new(p: &Params) -> Self {
        let (d, r, a) = (p.decisiveness_lr, p.readout_lr, p.abstain_lr);
        Adam {
            lr: [d, r, r, a, a],
            m: [0.0; N_PARAMS],
            v: [0.0; N_PARAMS],
            t: 0,
        }
    }

    fn ascend(&mut self, theta: &mut [f64; N_PARAMS], grad: &[f64; N_PARAMS]) {
        self.t += 1;
        let c1 = 1.0 - libm::pow(Self::BETA1, self.t as f64);
        let c2 = 1.0 - libm::pow(Self::BETA2, self.t as f64);
        for i in 0..N_PARAMS {
            self.m[i] = Self::BETA1 * self.m[i] + (1.0 - Self::BETA1) * grad[i];
            self.v[i] = Self::BETA2 * self.v[i] + (1.0 - Self::BETA2) * grad[i] * grad[i];
            theta[i] += self.lr[i] * (self.m[i] / c1) / (libm::sqrt(self.v[i] / c2) + Self::EPS);
        }
    }
}

/// Adds one response's REINFORCE terms: `adv` for the answer and abstention heads,
/// `adv_conf` for the confidence head.
fn accumulate(grad: &mut [f64; N_PARAMS], theta: &[f64; N_PARAMS], r: &Response, adv: f64, adv_conf: f64, noise: f64) {
    let abstain_score = r.abstained as u8 as f64 - r.p_abstain;
    grad[ETA0] += adv * abstain_score;
    grad[ETA1] += adv * abstain_score * r.u;
    if !r.abstained {
        grad[LOG_TAU] += adv * r.score_log_tau;
        let conf_score = r.eps / noise;
        grad[LOG_W] += adv_conf * conf_score * libm::exp(theta[LOG_W]) * r.ell;
        grad[B] += adv_conf * conf_score;
    }
}

/// One policy-gradient step on `batch` questions with `group` responses each.
fn train_step(p: &Params, bank: &Bank, rule: Rule, policy: &mut Policy, adam: &mut Adam, rng: &mut Stream) {
    let g = p.group;
    let conf_rule = if p.brier_readout_everywhere { Rule::Brier } else { rule };
    let mut responses = [Response::default(); MAX_GROUP];
    let mut rewards = [0.0; MAX_GROUP];
    let mut grad = [0.0; N_PARAMS];
    for _ in 0..p.batch {
        let (z, right) = bank.question(rng.below(bank.len()));
        let mut sum = 0.0;
        for i in 0..g {
            responses[i] = policy.respond(z, right, p.confidence_noise, rng);
            rewards[i] = responses[i].reward(rule);
            sum += rewards[i];
        }
        let others = (g - 1) as f64;
        for i in 0..g {
            let adv = rewards[i] - (sum - rewards[i]) / others;
            let adv_conf = responses[i].confidence_advantage(conf_rule);
            accumulate(
                &mut grad,
                &policy.theta,
                &responses[i],
                adv,
                adv_conf,
                p.confidence_noise,
            );
        }
    }
    let n = (p.batch * g) as f64;
    for x in &mut grad {
        *x /= n;
    }
    adam.ascend(&mut policy.theta, &grad);
}

/// Counts over one evaluation pass, from which every metric is computed.
#[derive(Debug, Clone)]
struct Tally {
    n: usize,
    correct: usize,
    abstained: usize,
    brier: f64,
    confidence: f64,
    /// Responses per confidence level, right and wrong (for AUROC).
    right_at: [u32; LEVELS],
    wrong_at: [u32; LEVELS],
    /// Per bin: responses, right ones, summed confidence.
    bin_n: [u32; BINS],
    bin_right: [u32; BINS],
    bin_conf: [f64; BINS],
}

/// Metrics recorded per step, in this order.
const METRICS: [&str; 8] = [
    "accuracy",
    "ece",
    "brier",
    "auroc",
    "confidence",
    "abstention",
    "decisiveness",
    "readout_slope",
];

impl Tally {
    fn new() -> Self {
        Tally {
            n: 0,
            correct: 0,
            abstained: 0,
            brier: 0.0,
            confidence: 0.0,
            right_at: [0; LEVELS],
            wrong_at: [0; LEVELS],
            bin_n: [0; BINS],
            bin_right: [0; BINS],
            bin_conf: [0.0; BINS],
        }
    }

    fn add(&mut self, r: &Response) {
        let (q, c) = (r.confidence(), r.c());
        self.n += 1;
        self.correct += r.correct as usize;
        self.abstained += r.abstained as usize;
        self.brier += (q - c) * (q - c);
        self.confidence += q;
        if r.correct {
            self.right_at[r.level] += 1;
        } else {
            self.wrong_at[r.level] += 1;
        }
        let bin = (r.level * BINS / LEVELS).min(BINS - 1);
        self.bin_n[bin] += 1;
        self.bin_right[bin] += r.correct as u32;
        self.bin_conf[bin] += q;
    }

    /// Σ_bins (n_b / n) |accuracy_b − confidence_b|.
    fn ece(&self) -> f64 {
        let mut sum = 0.0;
        for b in 0..BINS {
            sum += (self.bin_right[b] as f64 - self.bin_conf[b]).abs();
        }
        sum / self.n as f64
    }

    /// P(q of a right response > q of a wrong one) + ½ P(tie); 0.5 if either is absent.
    fn auroc(&self) -> f64 {
        let (mut pairs, mut wrong_below) = (0.0, 0.0);
        for l in 0..LEVELS {
            let (r, w) = (self.right_at[l] as f64, self.wrong_at[l] as f64);
            pairs += r * (wrong_below + 0.5 * w);
            wrong_below += w;
        }
        let right = self.correct as f64;
        let wrong = (self.n - self.correct) as f64;
        if right == 0.0 || wrong == 0.0 {
            0.5
        } else {
            pairs / (right * wrong)
        }
    }

    fn metrics(&self, policy: &Policy) -> [f64; 8] {
        let n = self.n as f64;
        [
            self.correct as f64 / n,
            self.ece(),
            self.brier / n,
            self.auroc(),
            self.confidence / n,
            self.abstained as f64 / n,
            libm::exp(policy.theta[LOG_TAU]),
            libm::exp(policy.theta[LOG_W]),
        ]
    }
}

/// One sampled response to every test question.
fn evaluate(p: &Params, bank: &Bank, policy: &Policy, rng: &mut Stream) -> Tally {
    let mut tally = Tally::new();
    for i in 0..bank.len() {
        let (z, right) = bank.question(i);
        tally.add(&policy.respond(z, right, p.confidence_noise, rng));
    }
    tally
}

/// What one training run reports: metrics at each recorded step and the final tally.
struct RunResult {
    records: Vec<[f64; 8]>,
    last: Tally,
}

fn train_run(p: &Params, train: &Bank, test: &Bank, rule: Option<Rule>, rep: Replicate) -> RunResult {
    let mut rng = rep.stream("train");
    let mut eval_rng = rep.stream("eval");
    let mut policy = Policy::initial(p);
    let mut adam = Adam::new(p);
    let n_records = p.steps / p.record_every + 1;
    let mut records = Vec::with_capacity(n_records);
    let mut last = evaluate(p, test, &policy, &mut eval_rng);
    records.push(last.metrics(&policy));
    let Some(rule) = rule else {
        // The untrained model does not change: its one evaluation stands for every step.
        let first = records[0];
        records.resize(n_records, first);
        return RunResult { records, last };
    };
    for step in 1..=p.steps {
        train_step(p, train, rule, &mut policy, &mut adam, &mut rng);
        if step % p.record_every == 0 {
            last = evaluate(p, test, &policy, &mut eval_rng);
            records.push(last.metrics(&policy));
        }
    }
    RunResult { records, last }
}

fn training(p: &Params, run: &Runner, out: &mut Observations) {
    let (train, test) = &run.shared("dataset", |rep| {
        let mut rng = rep.stream("questions");
        let train = Bank::draw(p.train_questions, p.answers, p.belief_spread, &mut rng);
        let test = Bank::draw(p.test_questions, p.answers, p.belief_spread, &mut rng);
        (train, test)
    });
    for (arm, rule) in ARMS {
        let runs = run.replicates(&format!("train/{arm}"), run.count(), |rep| {
            train_run(p, train, test, rule, rep)
        });
        for (i, r) in runs.iter() {
            for (k, values) in r.records.iter().enumerate() {
                let step = (k * p.record_every) as f64;
                for (metric, value) in METRICS.iter().zip(values) {
                    out.push(arm, metric, step, i, *value);
                }
            }
        }
        for (i, r) in runs.iter() {
            push_reliability(arm, i, &r.last, out);
        }
    }
}

/// Per bin at the last step: share of responses, and (if any) accuracy and mean confidence.
fn push_reliability(arm: &str, rep: u64, t: &Tally, out: &mut Observations) {
    for b in 0..BINS {
        let x = (b as f64 + 0.5) / BINS as f64;
        out.push(arm, "bin_share", x, rep, t.bin_n[b] as f64 / t.n as f64);
        if t.bin_n[b] > 0 {
            let n = t.bin_n[b] as f64;
            out.push(arm, "bin_accuracy", x, rep, t.bin_right[b] as f64 / n);
            out.push(arm, "bin_confidence", x, rep, t.bin_conf[b] / n);
        }
    }
}

const RULES: [(&str, Rule); 3] = [("binary", Rule::Binary), ("brier", Rule::Brier), ("log", Rule::Log)];

/// Panel (d): simulated mean reward of calibrated answers beside the exact curves.
fn rule_curves(p: &Params, run: &Runner, out: &mut Observations) {
    for &prob in &p.rule_probabilities {
        let means = run.replicates(&format!("rules/{prob}"), run.count(), |rep| {
            let mut rng = rep.stream("outcomes");
            let mut sums = [0.0; 3];
            for _ in 0..p.rule_samples {
                let c = rng.bernoulli(prob) as u8 as f64;
                for (s, (_, rule)) in sums.iter_mut().zip(RULES) {
                    *s += rule_reward(rule, c, prob);
                }
            }
            sums.map(|s| s / p.rule_samples as f64)
        });
        for (i, m) in means.iter() {
            for ((name, _), v) in RULES.iter().zip(m) {
                out.push(name, "expected_reward", prob, i, *v);
            }
        }
    }
    const GRID: usize = 98;
    for (name, rule) in RULES {
        for i in 0..=GRID {
            let prob = 0.01 + 0.98 * i as f64 / GRID as f64;
            out.push_exact(
                &format!("{name}_exact"),
                "expected_reward",
                prob,
                expected_rule_reward(rule, prob),
            );
        }
    }
}

impl Model for Calibration {
    type Params = Params;
    const ID: &'static str = "calibration";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let mut out = Observations::default();
        training(p, run, &mut out);
        rule_curves(p, run, &mut out);
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        Ok(Figure::column_width(
            1180,
            vec![
                panel_accuracy(p, summary)?,
                panel_ece(p, summary)?,
                panel_reliability(summary)?,
                panel_rules(summary)?,
                panel_bin_share(summary)?,
                panel_auroc(p, summary)?,
            ],
        ))
    }
}

/// Arm, legend label, palette colour.
const STYLE: [(&str, &str, usize); 4] = [
    ("base", "base", 6),
    ("rlvr", "RLVR", 1),
    ("rlcr", "RLCR", 0),
    ("log_score", "log score", 2),
];

fn per_arm(s: &Summary, metric: &str) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for (arm, label, color) in STYLE {
        let mark = if arm == "base" { Mark::Dashed } else { Mark::Line };
        out.push(Series::new(label, color, mark, s.expect_series(arm, metric)?));
    }
    Ok(out)
}

fn step_axis(p: &Params) -> Axis {
    Axis::linear("training step", 0.0, p.steps as f64)
}

fn panel_accuracy(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = per_arm(s, "accuracy")?;
    for (arm, label, color) in [("rlvr", "RLVR conf.", 1), ("rlcr", "RLCR conf.", 0)] {
        let mut conf = Series::new(label, color, Mark::Dotted, s.expect_series(arm, "confidence")?);
        conf.band = false;
        series.push(conf);
    }
    Ok(Panel {
        title: "(a) Accuracy; dotted: mean confidence".into(),
        x: step_axis(p),
        y: Axis::linear("accuracy / confidence", 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

fn panel_ece(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(b) Calibration error".into(),
        x: step_axis(p),
        y: Axis::linear("ECE (10 bins)", 0.0, 0.4),
        series: per_arm(s, "ece")?,
        legend_columns: 4,
    })
}

/// Bin accuracy placed at the bin's mean confidence (both averaged over replicates).
fn reliability_rows(s: &Summary, arm: &str) -> Result<Vec<Row>> {
    let acc = s.expect_series(arm, "bin_accuracy")?;
    let conf = s.expect_series(arm, "bin_confidence")?;
    Ok(acc
        .iter()
        .zip(conf.iter())
        .map(|(a, c)| Row { x: c.mean, ..*a })
        .collect())
}

fn panel_reliability(s: &Summary) -> Result<Panel> {
    let mut series = vec![Series::exact("calibrated", 6, Mark::Dashed, [(0.0, 0.0), (1.0, 1.0)])];
    for (arm, label, color) in STYLE.iter().take(3) {
        series.push(Series::new(label, *color, Mark::Points, reliability_rows(s, arm)?));
    }
    Ok(Panel {
        title: "(c) Reliability at the last step".into(),
        x: Axis::linear("stated confidence (bin mean)", 0.0, 1.0),
        y: Axis::linear("accuracy in bin", 0.0, 1.0),
        series,
        legend_columns: 4,
    })
}

fn panel_bin_share(s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (k, (arm, label, color)) in STYLE.iter().take(3).enumerate() {
        let bars = Series::new(
            label,
            *color,
            Mark::Bars { width: 0.028 },
            s.expect_series(arm, "bin_share")?,
        );
        series.push(bars.nudged((k as f64 - 1.0) * 0.03));
    }
    Ok(Panel {
        title: "(e) Answers per confidence bin of (c)".into(),
        x: Axis::linear("stated confidence (bin)", 0.0, 1.0),
        y: Axis::linear("share of responses", 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

fn panel_rules(s: &Summary) -> Result<Panel> {
    let mut series = vec![Series::exact("I don't know", 6, Mark::Dotted, [(0.0, 0.0), (1.0, 0.0)])];
    for ((name, _), (label, color)) in RULES
        .iter()
        .zip([("p (binary)", 1), ("p² (Brier)", 0), ("p − H(p) (log)", 2)])
    {
        let mut exact = Series::new(
            label,
            color,
            Mark::Line,
            s.expect_series(&format!("{name}_exact"), "expected_reward")?,
        );
        exact.band = false;
        series.push(exact);
        series.push(Series::new(
            "",
            color,
            Mark::Points,
            s.expect_series(name, "expected_reward")?,
        ));
    }
    Ok(Panel {
        title: "(d) Expected reward of a calibrated answer".into(),
        x: Axis::linear("chance p that the answer is right", 0.0, 1.0),
        y: Axis::linear("expected reward", -0.4, 1.0),
        series,
        legend_columns: 2,
    })
}

fn panel_auroc(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(f) Confidence separates right from wrong".into(),
        x: step_axis(p),
        y: Axis::linear("AUROC of confidence", 0.4, 1.0),
        series: per_arm(s, "auroc")?,
        legend_columns: 4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brier_reward_of_calibrated_answer_is_p_squared() {
        for p in [0.1, 0.5, 0.9] {
            let e = p * rule_reward(Rule::Brier, 1.0, p) + (1.0 - p) * rule_reward(Rule::Brier, 0.0, p);
            assert!((e - expected_rule_reward(Rule::Brier, p)).abs() < 1e-12);
        }
        // The log score pays less than "I don't know" (0) at p = 0.5.
        assert!(expected_rule_reward(Rule::Log, 0.5) < 0.0);
    }

    #[test]
    fn certainty_logit_is_logit_of_softmax() {
        let mut w = [0.0; 3];
        softmax_weights(&[0.0, 1.0, -1.0], 2.0, &mut w);
        let total: f64 = w.iter().sum();
        let p = w[1] / total;
        assert!((certainty_logit(&w, 1) - libm::log(p / (1.0 - p))).abs() < 1e-12);
    }

    /// Mean over replicates of `metric` for `arm` at step `x`.
    fn mean_of(obs: &Observations, arm: &str, metric: &str, x: f64) -> f64 {
        let key = obs.keys.iter().position(|(a, m)| a == arm && m == metric).unwrap() as u32;
        let v: Vec<f64> = (0..obs.len())
            .filter(|&i| obs.key[i] == key && obs.x[i] == x)
            .map(|i| obs.value[i])
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn small_params() -> Params {
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
            readout_lr: 0.05,
            abstain_lr: 0.05,
            confidence_noise: 0.1,
            initial_abstain_logit: -3.5,
            brier_readout_everywhere: false,
            rule_probabilities: vec![0.5],
            rule_samples: 10,
        }
    }

    /// The second ablation of the issue: without sharpening, the binary reward leaves
    /// the model as calibrated as it started (and no more accurate).
    #[test]
    fn no_sharpening_keeps_rlvr_calibrated() {
        let sharp = small_params();
        let flat = Params {
            decisiveness_lr: 0.0,
            ..small_params()
        };
        let run = Runner::new(1, 8, None);
        let (with, without) = (Calibration::simulate(&sharp, &run), Calibration::simulate(&flat, &run));
        let last = sharp.steps as f64;
        assert!(mean_of(&with, "rlvr", "ece", last) > mean_of(&with, "rlvr", "ece", 0.0) + 0.15);
        let (start, end) = (
            mean_of(&without, "rlvr", "ece", 0.0),
            mean_of(&without, "rlvr", "ece", last),
        );
        assert!((end - start).abs() < 0.02, "ECE {start} → {end}");
        assert_eq!(mean_of(&without, "rlvr", "decisiveness", last), 1.0);
    }

    #[test]
    fn auroc_and_ece_of_known_tallies() {
        let mut t = Tally::new();
        let r = |correct, level| Response {
            correct,
            level,
            ..Response::default()
        };
        for resp in [r(true, 90), r(false, 10), r(true, 50), r(false, 50)] {
            t.add(&resp);
        }
        // Pairs: (90 > 10), (90 > 50), (50 > 10), (50 = 50): (3 + 0.5) / 4.
        assert!((t.auroc() - 0.875).abs() < 1e-12);
        // Bins: 0.9 → |1 − 0.9|, 0.1 → |0 − 0.1|, 0.5 → |1 − 1.0|: 0.2 / 4.
        assert!((t.ece() - 0.05).abs() < 1e-12);
    }
}
