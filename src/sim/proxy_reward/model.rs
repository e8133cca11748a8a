//! The simulation: the policy over answers, one training run of one arm, and what a run
//! records. The mechanism and the assumptions are described in the module doc (`mod.rs`).

use super::Params;
use crate::ops;
use crate::rng::Stream;
use crate::sim::Replicate;

/// Upper bounds that let the inner loop use fixed-size stack buffers.
pub const MAX_ANSWERS: usize = 32;
pub const MAX_SAMPLES: usize = 256;

/// The four training rewards, in legend order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    GroundTruth,
    SelfConsistency,
    EarlyStopping,
    FixedTeacher,
}

pub const ARMS: [Arm; 4] = [
    Arm::GroundTruth,
    Arm::SelfConsistency,
    Arm::EarlyStopping,
    Arm::FixedTeacher,
];

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::GroundTruth => "ground_truth",
            Arm::SelfConsistency => "self_consistency",
            Arm::EarlyStopping => "early_stopping",
            Arm::FixedTeacher => "fixed_teacher",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Arm::GroundTruth => "ground truth",
            Arm::SelfConsistency => "self-consistency",
            Arm::EarlyStopping => "early stopping",
            Arm::FixedTeacher => "fixed teacher",
        }
    }
}

/// The metrics recorded per arm and step, in storage order.
pub const METRICS: [&str; 9] = [
    "accuracy",
    "test_accuracy",
    "proxy_reward",
    "template_rate",
    "test_template_rate",
    "label_accuracy",
    "reward_accuracy",
    "correlation",
    "entropy",
];
pub const ACCURACY: usize = 0;
pub const TEST_ACCURACY: usize = 1;
pub const PROXY: usize = 2;
pub const TEMPLATE: usize = 3;
pub const TEST_TEMPLATE: usize = 4;
pub const LABEL: usize = 5;
pub const REWARD_ACC: usize = 6;
pub const CORRELATION: usize = 7;
pub const ENTROPY: usize = 8;

/// The shared parameters: skill `w` on the right answer, template bias `b`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shared {
    pub skill: f64,
    pub template_bias: f64,
}

/// Per-problem logits `θ` (row-major, `k` answers per problem) and the shared parameters.
#[derive(Clone)]
pub struct Policy {
    pub k: usize,
    theta: Vec<f64>,
    /// Per problem: how much of the shared skill reaches it,
    /// `x_i = 1 − c + c·σ(ease_i)` with `c = reach_contrast`.
    transfer: Vec<f64>,
    pub shared: Shared,
}

impl Policy {
    /// Draws `n` problems from the prior described in the module doc.
    pub fn initial(p: &Params, n: usize, rng: &mut Stream) -> Self {
        let k = p.wrong_answers + 2;
        let mut theta = Vec::with_capacity(n * k);
        let mut transfer = Vec::with_capacity(n);
        for _ in 0..n {
            let ease = p.ease_mean + p.ease_sd * rng.normal();
            theta.push(ease);
            transfer.push(1.0 - p.reach_contrast + p.reach_contrast * crate::rng::sigmoid(ease));
            for _ in 0..p.wrong_answers {
                theta.push(p.wrong_sd * rng.normal());
            }
            theta.push(p.template_logit);
        }
        Policy {
            k,
            theta,
            transfer,
            shared: Shared::default(),
        }
    }

    pub fn template(&self) -> usize {
        self.k - 1
    }

    pub fn problems(&self) -> usize {
        self.theta.len() / self.k
    }

    /// Unnormalised probabilities `exp(z − max z)` of problem `i` under the shared
    /// parameters `s` into `weights`; returns their sum.
    #[inline]
    pub fn weights(&self, i: usize, s: Shared, weights: &mut [f64]) -> f64 {
        let row = &self.theta[i * self.k..(i + 1) * self.k];
        let t = self.k - 1;
        let mut max = f64::NEG_INFINITY;
        for (a, (w, th)) in weights.iter_mut().zip(row).enumerate() {
            let z =
                th + if a == 0 { s.skill * self.transfer[i] } else { 0.0 } + if a == t { s.template_bias } else { 0.0 };
            *w = z;
            max = max.max(z);
        }
        let mut total = 0.0;
        for w in weights.iter_mut() {
            *w = ops::exp(*w - max);
            total += *w;
        }
        total
    }

    /// Exact mean probability of the right answer and of the template over the problems,
    /// under the shared parameters `s` (for held-out problems: never trained per problem).
    pub fn exact_rates(&self, s: Shared) -> (f64, f64) {
        let mut weights = [0.0f64; MAX_ANSWERS];
        let (mut right, mut template) = (0.0, 0.0);
        for i in 0..self.problems() {
            let total = self.weights(i, s, &mut weights[..self.k]);
            right += weights[0] / total;
            template += weights[self.k - 1] / total;
        }
        let n = self.problems() as f64;
        (right / n, template / n)
    }
}

/// Draws `g` answers from unnormalised `weights` and counts them per answer.
#[inline]
pub fn sample_counts(weights: &[f64], total: f64, g: usize, rng: &mut Stream, counts: &mut [u32]) {
    counts.fill(0);
    let last = weights.len() - 1;
    for _ in 0..g {
        let mut target = rng.uniform() * total;
        let mut pick = last;
        for (a, w) in weights.iter().enumerate() {
            if target < *w {
                pick = a;
                break;
            }
            target -= w;
        }
        counts[pick] += 1;
    }
}

/// The plurality answer of `counts`, ties broken uniformly at random (a draw is made
/// only when there is a tie).
#[inline]
pub fn plurality(counts: &[u32], rng: &mut Stream) -> usize {
    let top = counts.iter().copied().max().unwrap_or(0);
    let tied = counts.iter().filter(|&&c| c == top).count();
    let nth = if tied > 1 { rng.below(tied) } else { 0 };
    counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == top)
        .nth(nth)
        .map_or(0, |(a, _)| a)
}

/// Per-sample sums of proxy reward `p` and true reward `t` over one step, for the
/// Pearson correlation of two binary variables.
#[derive(Clone, Copy, Default)]
pub struct CoSums {
    pub n: f64,
    pub p: f64,
    pub t: f64,
    pub pt: f64,
}

impl CoSums {
    fn add(&mut self, o: CoSums) {
        self.n += o.n;
        self.p += o.p;
        self.t += o.t;
        self.pt += o.pt;
    }

    /// Pearson correlation; 0 when either reward is constant (it carries no information).
    pub fn correlation(&self) -> f64 {
        if self.n == 0.0 {
            return 0.0;
        }
        let (mp, mt) = (self.p / self.n, self.t / self.n);
        let var = mp * (1.0 - mp) * mt * (1.0 - mt);
        if var <= 1e-12 {
            return 0.0;
        }
        (self.pt / self.n - mp * mt) / ops::sqrt(var)
    }
}

/// Running sums over a step: what the metrics are made of.
#[derive(Default)]
pub struct StepTally {
    accuracy: f64,
    template: f64,
    entropy: f64,
    pub label_right: f64,
    pub reward_agree: f64,
    co: CoSums,
}

/// What one training run of one arm recorded: `values[metric][record]`.
pub struct Trace {
    pub values: Vec<Vec<f64>>,
}

/// The data one replicate trains on: training problems, held-out test and validation
/// problems (which share only `w` and `b` with the trained policy), and the teacher's
/// frozen labels.
pub struct Problems {
    pub train: Policy,
    pub test: Policy,
    pub validation: Policy,
    pub labels: Vec<usize>,
}

impl Problems {
    pub fn draw(p: &Params, rep: &Replicate) -> Self {
        let train = Policy::initial(p, p.problems, &mut rep.stream("problems"));
        let test = Policy::initial(p, p.test_problems, &mut rep.stream("test_problems"));
        let validation = Policy::initial(p, p.validation_problems, &mut rep.stream("validation_problems"));
        let labels = teacher_labels(p, &train, &mut rep.stream("teacher"));
        Problems {
            train,
            test,
            validation,
            labels,
        }
    }

    /// Share of training problems whose frozen label (the initial model's plurality) is
    /// the template: where the template already wins before any training.
    pub fn template_labels(&self) -> f64 {
        let t = self.train.template();
        self.labels.iter().filter(|&&l| l == t).count() as f64 / self.labels.len() as f64
    }
}

/// The number of recorded steps: 0, record_every, 2·record_every, … ≤ steps.
pub fn records(p: &Params) -> usize {
    p.steps / p.record_every + 1
}

/// One training run of `arm` on `problems`, with streams `train/<arm>` and
/// `validation/<arm>` of `rep` (and `teacher/<arm>` when the teacher relabels).
pub fn train(p: &Params, arm: Arm, problems: &Problems, rep: &Replicate) -> Trace {
    let mut rng = rep.stream(&format!("train/{}", arm.name()));
    let mut val_rng = rep.stream(&format!("validation/{}", arm.name()));
    let mut teacher_rng = rep.stream(&format!("teacher/{}", arm.name()));
    let mut policy = problems.train.clone();
    let mut labels = problems.labels.clone();
    let mut values = vec![vec![0.0; records(p)]; METRICS.len()];
    let k = policy.k;
    let t_idx = policy.template();
    let g = p.samples;
    let ln_k = ops::log(k as f64);
    let mut weights = [0.0f64; MAX_ANSWERS];
    let mut counts = [0u32; MAX_ANSWERS];
    let mut window = vec![CoSums::default(); p.correlation_window];
    let mut stopped = false;
    let mut best = (f64::NEG_INFINITY, policy.clone());
    let mut bad_evals = 0;
    for step in 0..=p.steps {
        if arm == Arm::EarlyStopping && !stopped && step % p.eval_every == 0 {
            let acc = validation_accuracy(policy.shared, &problems.validation, p.validation_samples, &mut val_rng);
            if acc > best.0 {
                best.0 = acc;
                best.1.clone_from(&policy);
                bad_evals = 0;
            } else if acc < best.0 - p.tolerance {
                bad_evals += 1;
                if bad_evals >= p.patience {
                    policy.clone_from(&best.1);
                    stopped = true;
                }
            } else {
                bad_evals = 0;
            }
        }
        if arm == Arm::FixedTeacher && p.teacher_refresh > 0 && step > 0 && step % p.teacher_refresh == 0 {
            labels = teacher_labels(p, &policy, &mut teacher_rng);
        }
        let record = step % p.record_every == 0;
        let train = step < p.steps && !stopped;
        let mut tally = StepTally::default();
        let (mut grad_skill, mut grad_template) = (0.0, 0.0);
        for (i, &label) in labels.iter().enumerate() {
            let w = &mut weights[..k];
            let c = &mut counts[..k];
            let total = policy.weights(i, policy.shared, w);
            sample_counts(w, total, g, &mut rng, c);
            let plur = plurality(c, &mut rng);
            tally_problem(&mut tally, c, plur, g);
            if record {
                tally_policy(&mut tally, w, total, t_idx, ln_k);
            }
            if train {
                let target = match arm {
                    Arm::GroundTruth => 0,
                    Arm::SelfConsistency | Arm::EarlyStopping => plur,
                    Arm::FixedTeacher => label,
                };
                let (gs, gt) = update_problem(p, &mut policy, i, c, target);
                grad_skill += gs * policy.transfer[i];
                grad_template += gt;
            }
        }
        if train {
            let n = p.problems as f64;
            policy.shared.skill += p.lr_skill * grad_skill / n;
            policy.shared.template_bias += p.lr_template * grad_template / n;
        }
        window[step % p.correlation_window] = tally.co;
        if record {
            let r = step / p.record_every;
            let n = p.problems as f64;
            let mut co = CoSums::default();
            for s in &window {
                co.add(*s);
            }
            let (test_acc, test_template) = problems.test.exact_rates(policy.shared);
            values[ACCURACY][r] = tally.accuracy / n;
            values[TEST_ACCURACY][r] = test_acc;
            values[PROXY][r] = tally.co.p / tally.co.n;
            values[TEMPLATE][r] = tally.template / n;
            values[TEST_TEMPLATE][r] = test_template;
            values[LABEL][r] = tally.label_right / n;
            values[REWARD_ACC][r] = tally.reward_agree / tally.co.n;
            values[CORRELATION][r] = co.correlation();
            values[ENTROPY][r] = tally.entropy / n;
        }
    }
    Trace { values }
}

/// REINFORCE with the group-mean baseline for problem `i`, whose samples were `counts`
/// and whose rewarded answer is `target`. The reward depends on the answer only, so
/// `Σ_{g: a_g = a} A_g = c_a (1[a = target] − c_target / G)`. Updates the per-problem
/// logits and returns this problem's gradient on `w` (before the reach `x_i`) and `b`.
#[inline]
pub fn update_problem(p: &Params, policy: &mut Policy, i: usize, counts: &[u32], target: usize) -> (f64, f64) {
    let g = p.samples as f64;
    let mean_reward = counts[target] as f64 / g;
    let k = policy.k;
    let row = &mut policy.theta[i * k..(i + 1) * k];
    let mut grads = (0.0, 0.0);
    for (a, (th, &c)) in row.iter_mut().zip(counts).enumerate() {
        if c == 0 {
            continue;
        }
        let reward = if a == target { 1.0 } else { 0.0 };
        let grad = c as f64 * (reward - mean_reward) / g;
        *th += p.lr_problem * grad;
        if a == 0 {
            grads.0 = grad;
        }
        if a == k - 1 {
            grads.1 = grad;
        }
    }
    grads
}

/// Sample-based metrics of one problem: its plurality `plur` among `g` samples `counts`.
#[inline]
pub fn tally_problem(t: &mut StepTally, counts: &[u32], plur: usize, g: usize) {
    let (c_plur, c_right) = (counts[plur] as f64, counts[0] as f64);
    let g = g as f64;
    if plur == 0 {
        // Proxy and true reward agree on every sample.
        t.label_right += 1.0;
        t.reward_agree += g;
        t.co.pt += c_right;
    } else {
        // Samples equal to the wrong plurality (proxy 1, truth 0) and right samples
        // (proxy 0, truth 1) disagree; every other sample is a "lucky hit" (0 = 0).
        t.reward_agree += g - c_plur - c_right;
    }
    t.co.n += g;
    t.co.p += c_plur;
    t.co.t += c_right;
}

/// Policy metrics of one problem from its unnormalised `weights` (`exp(z − max)`).
#[inline]
fn tally_policy(t: &mut StepTally, weights: &[f64], total: f64, template: usize, ln_k: f64) {
    t.accuracy += weights[0] / total;
    t.template += weights[template] / total;
    // H = −Σ π ln π with π = w / total.
    let mut h = 0.0;
    for &w in weights {
        if w > 0.0 {
            let pi = w / total;
            h -= pi * ops::log(pi);
        }
    }
    t.entropy += h / ln_k;
}

/// The share of right answers among `draws` samples of each validation problem under
/// the shared parameters `shared` (validation problems keep their initial per-problem
/// logits: they are never trained on).
pub fn validation_accuracy(shared: Shared, validation: &Policy, draws: usize, rng: &mut Stream) -> f64 {
    let k = validation.k;
    let mut weights = [0.0f64; MAX_ANSWERS];
    let mut counts = [0u32; MAX_ANSWERS];
    let mut right = 0u64;
    for i in 0..validation.problems() {
        let total = validation.weights(i, shared, &mut weights[..k]);
        sample_counts(&weights[..k], total, draws, rng, &mut counts[..k]);
        right += counts[0] as u64;
    }
    right as f64 / (validation.problems() * draws) as f64
}

/// The standard error of the validation accuracy at its worst (accuracy 1/2):
/// `sqrt(1/4 / (problems · samples))`. Early stopping's tolerance is held above twice it.
pub fn validation_noise(p: &Params) -> f64 {
    ops::sqrt(0.25 / (p.validation_problems * p.validation_samples) as f64)
}

/// Labels: the plurality of `teacher_samples` answers of `policy` on each problem.
pub fn teacher_labels(p: &Params, policy: &Policy, rng: &mut Stream) -> Vec<usize> {
    let k = policy.k;
    let mut weights = [0.0f64; MAX_ANSWERS];
    let mut counts = [0u32; MAX_ANSWERS];
    (0..policy.problems())
        .map(|i| {
            let total = policy.weights(i, policy.shared, &mut weights[..k]);
            sample_counts(&weights[..k], total, p.teacher_samples, rng, &mut counts[..k]);
            plurality(&counts[..k], rng)
        })
        .collect()
}
