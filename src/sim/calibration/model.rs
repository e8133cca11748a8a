//! The simulation of `calibration`: question banks, the policy and its spoken
//! confidence, REINFORCE with Adam, and the evaluation metrics (see the module doc of
//! `super` for the model and its assumptions).

use super::Params;
use crate::ops;
use crate::rng::{sigmoid, Stream};
use crate::sim::{Observations, Replicate, Runner};

/// Candidate answers per question: the policy's scratch buffers are fixed arrays.
pub(super) const MAX_ANSWERS: usize = 16;
/// Responses per question per step (RLOO needs at least two).
pub(super) const MAX_GROUP: usize = 32;
/// Internal certainties are log-odds clipped to ±30 (σ(30) rounds to 1 in any case).
const LOGIT_CLIP: f64 = 30.0;
/// Equal-width confidence bins for ECE and the reliability diagram.
pub(super) const BINS: usize = 10;

/// How a response is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Rule {
    /// RLVR: `1[correct]`.
    Binary,
    /// RLCR: `1[correct] − (q − 1[correct])²`.
    Brier,
    /// `1[correct] + c ln q + (1 − c) ln(1 − q)`; "I don't know" scores 0.
    Log,
}

/// The arms: the untrained model and one per reward rule.
pub(super) const ARMS: [(&str, Option<Rule>); 4] = [
    ("base", None),
    ("rlvr", Some(Rule::Binary)),
    ("rlcr", Some(Rule::Brier)),
    ("log_score", Some(Rule::Log)),
];

/// The rules of panel (d), by name.
pub(super) const RULES: [(&str, Rule); 3] = [("binary", Rule::Binary), ("brier", Rule::Brier), ("log", Rule::Log)];

/// Reward of a right (`c = 1`) or wrong answer stated with confidence `q` under `rule`.
pub(super) fn rule_reward(rule: Rule, c: f64, q: f64) -> f64 {
    match rule {
        Rule::Binary => c,
        Rule::Brier => c - (q - c) * (q - c),
        Rule::Log => c + c * ops::log(q) + (1.0 - c) * ops::log(1.0 - q),
    }
}

/// Exact expected reward of a calibrated answer (`q = p`) that is right with chance `p`.
pub(super) fn expected_rule_reward(rule: Rule, p: f64) -> f64 {
    match rule {
        Rule::Binary => p,
        Rule::Brier => p * p,
        Rule::Log => p + p * ops::log(p) + (1.0 - p) * ops::log(1.0 - p),
    }
}

/// A question bank: `K` logits per question and the index of the right answer.
pub(super) struct Bank {
    k: usize,
    z: Vec<f64>,
    correct: Vec<usize>,
}

impl Bank {
    pub(super) fn draw(n: usize, k: usize, spread: f64, rng: &mut Stream) -> Self {
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
pub(super) fn softmax_weights(z: &[f64], tau: f64, out: &mut [f64]) -> usize {
    let mut top = 0;
    for j in 1..z.len() {
        if z[j] > z[top] {
            top = j;
        }
    }
    for j in 0..z.len() {
        out[j] = ops::exp(tau * (z[j] - z[top]));
    }
    top
}

/// `logit π(a)` from the weights `exp(τ (z_j − max z))`: `ln w_a − ln Σ_{j≠a} w_j`,
/// clipped to ±30, and its derivative with respect to `ln τ`,
/// `τ (z_a − Σ_{j≠a} w_j z_j / Σ_{j≠a} w_j)` (0 where clipped).
pub(super) fn certainty_logit(weights: &[f64], z: &[f64], tau: f64, a: usize) -> (f64, f64) {
    let (mut others, mut others_z) = (0.0, 0.0);
    for (j, (w, zj)) in weights.iter().zip(z).enumerate() {
        if j != a {
            others += w;
            others_z += w * zj;
        }
    }
    let raw = ops::log(weights[a]) - ops::log(others);
    if !(-LOGIT_CLIP..=LOGIT_CLIP).contains(&raw) {
        return (raw.clamp(-LOGIT_CLIP, LOGIT_CLIP), 0.0);
    }
    (raw, tau * (z[a] - others_z / others))
}

/// How confidence is spoken: `levels` steps from 0 to 1 (0: a real number), clamped
/// to `[1 − cap, cap]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    levels: usize,
    cap: f64,
}

/// A spoken confidence: its value, its rank for AUROC, its bin, and whether it sits
/// at the top of the scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Spoken {
    pub q: f64,
    pub score: f64,
    pub bin: usize,
    pub at_cap: bool,
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

    /// Speaks the confidence whose log-odds is `logit`.
    pub(super) fn speak(&self, logit: f64) -> Spoken {
        let raw = sigmoid(logit);
        if self.levels == 0 {
            // A real number: ranks keep every difference of the log-odds (no ties).
            let q = raw.clamp(1.0 - self.cap, self.cap);
            return Spoken {
                q,
                score: logit,
                bin: ((q * BINS as f64) as usize).min(BINS - 1),
                at_cap: raw >= self.cap,
            };
        }
        let (lo, hi) = self.level_range();
        let level = (libm::round(raw * self.levels as f64) as usize).clamp(lo, hi);
        Spoken {
            q: level as f64 / self.levels as f64,
            score: level as f64,
            bin: (level * BINS / self.levels).min(BINS - 1),
            at_cap: level == hi,
        }
    }
}

/// Indices of the five trained scalars.
const LOG_TAU: usize = 0;
const LOG_W: usize = 1;
const B: usize = 2;
const ETA0: usize = 3;
const ETA1: usize = 4;
const N_PARAMS: usize = 5;

/// The policy's parameters (decisiveness, readout slope and offset, abstention head)
/// and the fixed knobs that shape a response.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    theta: [f64; N_PARAMS],
    coupling: f64,
    noise: f64,
    scale: Scale,
}

/// One sampled response and what its gradient needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Response {
    pub abstained: bool,
    pub correct: bool,
    /// What was said: the stated confidence (0 for "I don't know").
    pub spoken: Spoken,
    /// The confidence the head would state without exploration noise.
    pub greedy_q: f64,
    /// `τ (z_a − E_π z)`: the score of the answer with respect to `κ = ln τ`.
    score_log_tau: f64,
    /// `∂m/∂(κ, ω, b)` of the confidence log-odds `m = w ℓ + b`.
    conf_grad: [f64; 3],
    /// Confidence exploration draw.
    eps: f64,
    /// Certainty logit of the top answer, read by the abstention head.
    u: f64,
    p_abstain: f64,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            abstained: false,
            correct: false,
            spoken: Spoken {
                q: 0.0,
                score: f64::NEG_INFINITY,
                bin: 0,
                at_cap: false,
            },
            greedy_q: 0.0,
            score_log_tau: 0.0,
            conf_grad: [0.0; 3],
            eps: 0.0,
            u: 0.0,
            p_abstain: 0.0,
        }
    }
}

impl Response {
    fn c(&self) -> f64 {
        self.correct as u8 as f64
    }

    /// The confidence head's advantage: the confidence part of the reward at the stated
    /// confidence minus the same at the noise-free one (a self-critical baseline, a
    /// function of the question and answer only, so the estimate stays unbiased).
    /// `1[correct]` cancels: the answer fixed it before the confidence was drawn.
    fn confidence_advantage(&self, rule: Rule) -> f64 {
        if self.abstained {
            return 0.0;
        }
        rule_reward(rule, self.c(), self.spoken.q) - rule_reward(rule, self.c(), self.greedy_q)
    }

    fn reward(&self, rule: Rule) -> f64 {
        if self.abstained {
            // Never correct, confidence 0: 0 under all three rules.
            0.0
        } else {
            rule_reward(rule, self.c(), self.spoken.q)
        }
    }
}

impl Policy {
    pub(super) fn initial(p: &Params) -> Self {
        let mut theta = [0.0; N_PARAMS];
        theta[ETA0] = p.initial_abstain_logit;
        Policy {
            theta,
            coupling: p.coupling,
            noise: p.confidence_noise,
            scale: Scale::new(p.confidence_levels, p.confidence_cap),
        }
    }

    /// The decisiveness `τ` of the answer head.
    pub(super) fn decisiveness(&self) -> f64 {
        ops::exp(self.theta[LOG_TAU])
    }

    /// Samples "I don't know" or an answer with its stated confidence.
    pub(super) fn respond(&self, z: &[f64], right: usize, rng: &mut Stream) -> Response {
        let t = &self.theta;
        let k = z.len();
        let (mut answer_w, mut shared_w) = ([0.0; MAX_ANSWERS], [0.0; MAX_ANSWERS]);
        let tau = ops::exp(t[LOG_TAU]);
        // The representation the readout shares with the answer head carries the
        // share `coupling` of the sharpening (on the log scale).
        let tau_shared = ops::exp(self.coupling * t[LOG_TAU]);
        let top = softmax_weights(z, tau, &mut answer_w[..k]);
        softmax_weights(z, tau_shared, &mut shared_w[..k]);
        let (u, _) = certainty_logit(&shared_w[..k], z, tau_shared, top);
        let p_abstain = sigmoid(t[ETA0] + t[ETA1] * u);
        if rng.uniform() < p_abstain {
            return Response {
                abstained: true,
                u,
                p_abstain,
                ..Response::default()
            };
        }
        let a = rng.categorical(&answer_w[..k]);
        let (ell, dell) = certainty_logit(&shared_w[..k], z, tau_shared, a);
        let (mut total, mut mean_z) = (0.0, 0.0);
        for (w, zj) in answer_w[..k].iter().zip(z) {
            total += w;
            mean_z += w * zj;
        }
        let eps = rng.normal();
        let w = ops::exp(t[LOG_W]);
        let m = w * ell + t[B];
        Response {
            abstained: false,
            correct: a == right,
            spoken: self.scale.speak(m + self.noise * eps),
            greedy_q: self.scale.speak(m).q,
            score_log_tau: tau * (z[a] - mean_z / total),
            conf_grad: [w * self.coupling * dell, w * ell, 1.0],
            eps,
            u,
            p_abstain,
        }
    }
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
        let c1 = 1.0 - ops::pow(Self::BETA1, self.t as f64);
        let c2 = 1.0 - ops::pow(Self::BETA2, self.t as f64);
        for i in 0..N_PARAMS {
            self.m[i] = Self::BETA1 * self.m[i] + (1.0 - Self::BETA1) * grad[i];
            self.v[i] = Self::BETA2 * self.v[i] + (1.0 - Self::BETA2) * grad[i] * grad[i];
            theta[i] += self.lr[i] * (self.m[i] / c1) / (ops::sqrt(self.v[i] / c2) + Self::EPS);
        }
    }
}

/// Adds one response's REINFORCE terms: `adv` for the answer and abstention heads,
/// `adv_conf` for the confidence head (whose gradient also reaches `κ` through the
/// shared representation, in proportion to `coupling`).
fn accumulate(grad: &mut [f64; N_PARAMS], r: &Response, adv: f64, adv_conf: f64, noise: f64) {
    let abstain_score = r.abstained as u8 as f64 - r.p_abstain;
    grad[ETA0] += adv * abstain_score;
    grad[ETA1] += adv * abstain_score * r.u;
    if r.abstained {
        return;
    }
    grad[LOG_TAU] += adv * r.score_log_tau;
    if noise > 0.0 {
        // Score of the stated confidence's log-odds m + s ε with respect to m.
        let conf_score = adv_conf * r.eps / noise;
        grad[LOG_TAU] += conf_score * r.conf_grad[0];
        grad[LOG_W] += conf_score * r.conf_grad[1];
        grad[B] += conf_score * r.conf_grad[2];
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
            responses[i] = policy.respond(z, right, rng);
            rewards[i] = responses[i].reward(rule);
            sum += rewards[i];
        }
        let others = (g - 1) as f64;
        for i in 0..g {
            let adv = rewards[i] - (sum - rewards[i]) / others;
            let adv_conf = responses[i].confidence_advantage(conf_rule);
            accumulate(&mut grad, &responses[i], adv, adv_conf, p.confidence_noise);
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
pub(super) struct Tally {
    n: usize,
    correct: usize,
    abstained: usize,
    at_cap: usize,
    brier: f64,
    confidence: f64,
    /// (rank score, right?) per response, in evaluation order (for AUROC).
    scores: Vec<(f64, bool)>,
    /// Per bin: responses, right ones, summed confidence.
    pub bin_n: [u32; BINS],
    pub bin_right: [u32; BINS],
    pub bin_conf: [f64; BINS],
}

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

impl Tally {
    pub(super) fn new() -> Self {
        Tally {
            n: 0,
            correct: 0,
            abstained: 0,
            at_cap: 0,
            brier: 0.0,
            confidence: 0.0,
            scores: Vec::new(),
            bin_n: [0; BINS],
            bin_right: [0; BINS],
            bin_conf: [0.0; BINS],
        }
    }

    pub(super) fn add(&mut self, r: &Response) {
        let (q, c) = (r.spoken.q, r.c());
        self.n += 1;
        self.correct += r.correct as usize;
        self.abstained += r.abstained as usize;
        self.at_cap += r.spoken.at_cap as usize;
        self.brier += (q - c) * (q - c);
        self.confidence += q;
        self.scores.push((r.spoken.score, r.correct));
        let bin = r.spoken.bin;
        self.bin_n[bin] += 1;
        self.bin_right[bin] += r.correct as u32;
        self.bin_conf[bin] += q;
    }

    pub(super) fn n(&self) -> usize {
        self.n
    }

    /// Σ_bins (n_b / n) |accuracy_b − confidence_b|.
    pub(super) fn ece(&self) -> f64 {
        let mut sum = 0.0;
        for b in 0..BINS {
            sum += (self.bin_right[b] as f64 - self.bin_conf[b]).abs();
        }
        sum / self.n as f64
    }

    /// P(score of a right response > score of a wrong one) + ½ P(tie); 0.5 if either
    /// is absent. Responses are sorted by score; each group of equal scores counts
    /// its right responses against the wrong ones below it and half the wrong ones in it.
    pub(super) fn auroc(&self) -> f64 {
        let mut sorted = self.scores.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut pairs, mut wrong_below) = (0.0, 0.0);
        let mut i = 0;
        while i < sorted.len() {
            let (mut right, mut wrong) = (0.0, 0.0);
            let mut j = i;
            while j < sorted.len() && sorted[j].0 == sorted[i].0 {
                if sorted[j].1 {
                    right += 1.0;
                } else {
                    wrong += 1.0;
                }
                j += 1;
            }
            pairs += right * (wrong_below + 0.5 * wrong);
            wrong_below += wrong;
            i = j;
        }
        let right = self.correct as f64;
        let wrong = (self.n - self.correct) as f64;
        if right == 0.0 || wrong == 0.0 {
            0.5
        } else {
            pairs / (right * wrong)
        }
    }

    fn metrics(&self, policy: &Policy) -> [f64; 9] {
        let n = self.n as f64;
        [
            self.correct as f64 / n,
            self.ece(),
            self.brier / n,
            self.auroc(),
            self.confidence / n,
            self.abstained as f64 / n,
            self.at_cap as f64 / n,
            policy.decisiveness(),
            ops::exp(policy.theta[LOG_W]),
        ]
    }
}

/// One sampled response to every test question.
fn evaluate(bank: &Bank, policy: &Policy, rng: &mut Stream) -> Tally {
    let mut tally = Tally::new();
    for i in 0..bank.len() {
        let (z, right) = bank.question(i);
        tally.add(&policy.respond(z, right, rng));
    }
    tally
}

/// What one training run reports: metrics at each recorded step and the final tally.
pub(super) struct RunResult {
    pub records: Vec<[f64; 9]>,
    pub last: Tally,
}

/// Trains one arm on `train` and evaluates it on `test` every `record_every` steps.
pub(super) fn train_run(
    p: &Params,
    train: &Bank,
    test: &Bank,
    rule: Option<Rule>,
    mut rng: Stream,
    mut eval_rng: Stream,
) -> RunResult {
    let mut policy = Policy::initial(p);
    let mut adam = Adam::new(p);
    let n_records = p.steps / p.record_every + 1;
    let mut records = Vec::with_capacity(n_records);
    let mut last = evaluate(test, &policy, &mut eval_rng);
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
            last = evaluate(test, &policy, &mut eval_rng);
            records.push(last.metrics(&policy));
        }
    }
    RunResult { records, last }
}

/// One replicate: its own training and test banks (so the intervals include the
/// variability of the data set), and every arm trained and evaluated on them.
fn replicate(p: &Params, rep: Replicate) -> Vec<RunResult> {
    let mut rng = rep.stream("questions");
    let train = Bank::draw(p.train_questions, p.answers, p.belief_spread, &mut rng);
    let test = Bank::draw(p.test_questions, p.answers, p.belief_spread, &mut rng);
    ARMS.iter()
        .map(|(arm, rule)| {
            let (t, e) = (rep.stream(&format!("train/{arm}")), rep.stream(&format!("eval/{arm}")));
            train_run(p, &train, &test, *rule, t, e)
        })
        .collect()
}

/// Every arm's training curves and its reliability diagram at the last step.
pub(super) fn training(p: &Params, run: &Runner, out: &mut Observations) {
    let runs = run.replicates("run", run.count(), |rep| replicate(p, rep));
    for (k, (arm, _)) in ARMS.iter().enumerate() {
        for (i, arms) in runs.iter() {
            for (r, values) in arms[k].records.iter().enumerate() {
                let step = (r * p.record_every) as f64;
                for (metric, value) in METRICS.iter().zip(values) {
                    out.push(arm, metric, step, i, *value);
                }
            }
        }
        for (i, arms) in runs.iter() {
            push_reliability(arm, i, &arms[k].last, out);
        }
    }
}

/// Per bin at the last step: share of responses, and (if any) accuracy and mean confidence.
fn push_reliability(arm: &str, rep: u64, t: &Tally, out: &mut Observations) {
    for b in 0..BINS {
        let x = (b as f64 + 0.5) / BINS as f64;
        out.push(arm, "bin_share", x, rep, t.bin_n[b] as f64 / t.n() as f64);
        if t.bin_n[b] > 0 {
            let n = t.bin_n[b] as f64;
            out.push(arm, "bin_accuracy", x, rep, t.bin_right[b] as f64 / n);
            out.push(arm, "bin_confidence", x, rep, t.bin_conf[b] / n);
        }
    }
}

/// Panel (d): simulated mean reward of calibrated answers beside the exact curves.
pub(super) fn rule_curves(p: &Params, run: &Runner, out: &mut Observations) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brier_reward_of_calibrated_answer_is_p_squared() {
        for p in [0.1, 0.5, 0.9] {
            let e = p * rule_reward(Rule::Brier, 1.0, p) + (1.0 - p) * rule_reward(Rule::Brier, 0.0, p);
            assert!((e - expected_rule_reward(Rule::Brier, p)).abs() < 1e-12);
        }
        // The log score pays less than "I don't know" (0) at p = 0.5, more at p = 0.7.
        assert!(expected_rule_reward(Rule::Log, 0.5) < 0.0);
        assert!(expected_rule_reward(Rule::Log, 0.7) > 0.0);
    }

    #[test]
    fn certainty_logit_and_its_slope() {
        let z = [0.0, 1.0, -1.0];
        let logit_at = |tau: f64| {
            let mut w = [0.0; 3];
            softmax_weights(&z, tau, &mut w);
            certainty_logit(&w, &z, tau, 1)
        };
        let (ell, slope) = logit_at(2.0);
        let mut w = [0.0; 3];
        softmax_weights(&z, 2.0, &mut w);
        let p = w[1] / w.iter().sum::<f64>();
        assert!((ell - ops::log(p / (1.0 - p))).abs() < 1e-12);
        // d ℓ / d ln τ against a central difference.
        let h = 1e-6;
        let numeric = (logit_at(2.0 * ops::exp(h)).0 - logit_at(2.0 * ops::exp(-h)).0) / (2.0 * h);
        assert!((slope - numeric).abs() < 1e-6, "{slope} vs {numeric}");
        // Clipped: no slope.
        assert_eq!(logit_at(100.0).1, 0.0);
    }

    #[test]
    fn the_scale_rounds_clamps_and_ranks() {
        let percent = Scale::new(100, 0.99);
        assert_eq!(percent.level_range(), (1, 99));
        let top = percent.speak(10.0);
        assert_eq!((top.q, top.bin, top.at_cap), (0.99, 9, true));
        // Two different certainties above the cap tie on the spoken scale...
        assert_eq!(percent.speak(6.0).score, percent.speak(9.0).score);
        let low = percent.speak(-10.0);
        assert_eq!((low.q, low.bin, low.at_cap), (0.01, 0, false));
        assert_eq!(percent.speak(0.0).q, 0.5);
        // ...and keep their order on a real-valued scale.
        let real = Scale::new(0, 1.0 - 1e-9);
        assert!(real.speak(6.0).score < real.speak(9.0).score);
        assert!(!real.speak(9.0).at_cap);
        assert_eq!(real.speak(0.3).bin, 5);
    }

    #[test]
    fn auroc_and_ece_of_known_tallies() {
        let percent = Scale::new(100, 0.99);
        let mut t = Tally::new();
        let r = |correct, logit: f64| Response {
            correct,
            spoken: percent.speak(logit),
            ..Response::default()
        };
        // Levels 90, 10, 50, 50.
        let (l90, l10) = (ops::log(9.0), -ops::log(9.0));
        for resp in [r(true, l90), r(false, l10), r(true, 0.0), r(false, 0.0)] {
            t.add(&resp);
        }
        // Pairs: (90 > 10), (90 > 50), (50 > 10), (50 = 50): (3 + 0.5) / 4.
        assert!((t.auroc() - 0.875).abs() < 1e-12);
        // Bins: 0.9 → |1 − 0.9|, 0.1 → |0 − 0.1|, 0.5 → |1 − 1.0|: 0.2 / 4.
        assert!((t.ece() - 0.05).abs() < 1e-12);
        // An abstention ranks below every answer.
        t.add(&Response {
            abstained: true,
            ..Response::default()
        });
        assert!((t.auroc() - (3.5 + 2.0) / 6.0).abs() < 1e-12);
    }
}
