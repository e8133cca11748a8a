//! `proxy_reward`: a self-consistency reward drifts from correctness and collapses into
//! confident wrongness.
//!
//! Anchors: Shafayat et al. 2025, "Can Large Reasoning Models Self-Train?" (SRT),
//! arXiv:2505.21444: RL against a majority-vote self-reward first tracks RL against the
//! ground truth, then collapses suddenly while the self-reward keeps rising; the
//! collapsed model answers with a prompt-independent template; early stopping on a
//! labelled validation set avoids the collapse, a fixed teacher (labels frozen from the
//! initial model) avoids the runaway but loses 6–10 points against ground truth.
//! Zuo et al. 2025, "TTRL: Test-Time Reinforcement Learning", arXiv:2504.16084: the
//! majority label is right on only 37% of problems, yet 92% of the per-sample rewards
//! equal the true reward ("lucky hits": a wrong sample that disagrees with a wrong
//! majority still gets the right reward, 0).
//!
//! # Model
//!
//! A run trains one policy on `problems` problems. Problem `i` has `K = wrong_answers + 2`
//! candidate answers: index 0 is right, `1..=wrong_answers` are wrong, and the last is the
//! *template*, one answer that is the same string for every prompt (SRT's collapsed
//! model). The policy is a softmax over logits
//!
//! ```text
//! z_i,0 = θ_i,0 + x_i·w        (the right answer: per-problem logit + shared skill w)
//! z_i,a = θ_i,a                (a wrong answer)
//! z_i,T = θ_i,T + b            (the template: per-problem logit + shared template bias b)
//! ```
//!
//! At start `θ_i,0 = ease_i ~ N(ease_mean, ease_sd)` (problems range from easy to
//! hopeless) and the skill reaches problem `i` with weight `x_i = σ(ease_i)`: a general
//! skill helps where the model is nearly competent and barely where it is lost, whereas
//! the template, being prompt-independent, adds `b` to every problem alike. This
//! asymmetry of reach is the one structural assumption behind the collapse;
//! `θ_i,a ~ N(0, wrong_sd)`, `θ_i,T = template_logit` (the template is a modest, slightly
//! favoured guess, e.g. "0"), `w = b = 0`. Each step samples `G` (`samples`) answers per
//! problem and rewards them by the arm's rule. Group-baseline REINFORCE (advantage
//! `A_g = r_g − mean_g r`) moves every logit by `lr · Σ_{g: a_g = a} A_g / G` (the
//! `−π_a Σ A_g` term vanishes because advantages sum to zero). The per-problem logits
//! learn at `lr_problem`; `w` and `b` learn from the mean of that gradient over all
//! problems at `lr_skill` and `lr_template` (the skill's gradient weighted by `x_i`): a
//! shared behaviour is pushed by every prompt. The spec's constants: 64 problems, 6
//! wrong answers (K = 8), G = 8, initial accuracy ≈ 0.28 (a hard training set, as in
//! SRT's DAPO runs), template at 23% of answers at start, slightly above each wrong
//! answer; per-problem learning 25× slower than shared learning (RL mostly moves
//! behaviours shared across prompts).
//!
//! Under the self-consistency reward (`1` if a sample equals the plurality of its group)
//! nothing is scheduled, and the collapse emerges from two facts. On easy problems the
//! plurality is right and self-consistency agrees with correctness, so early on it
//! tracks ground-truth RL. On hard problems answers are dispersed, and the template,
//! only slightly favoured, wins the plurality far more often than its share: each such
//! win rewards the *shared* bias `b`, which raises the template on every problem, and
//! punishes the right answer's samples there, which lowers the shared skill `w`
//! everywhere. Both move the next problems past their tipping point, where the template
//! becomes their plurality: a runaway. The proxy keeps rising (an all-template model
//! agrees with itself perfectly) while accuracy collapses.
//!
//! # Arms
//! - `ground_truth`: reward `1[a = right]`.
//! - `self_consistency`: reward `1[a = plurality of the G samples]` (ties broken at random).
//! - `early_stopping`: self-consistency, but every `eval_every` steps the accuracy on
//!   `validation_problems` held-out problems (which share `w` and `b`, not trained per
//!   problem) is estimated from `validation_samples` answers each; after `patience`
//!   evaluations in a row more than `tolerance` below the best, training stops and the
//!   best checkpoint is restored.
//! - `fixed_teacher`: reward `1[a = label_i]`, the label frozen at step 0 as the plurality
//!   of `teacher_samples` answers of the initial model.
//!
//! # Metrics (every `record_every` steps, measured on the samples of that step)
//! `accuracy` (mean over problems of π_i,0, the true accuracy), `proxy_reward` (mean
//! self-consistency reward of the samples, measured in every arm), `template_rate` (mean
//! π_i,T), `label_accuracy` (share of problems whose plurality is right),
//! `reward_accuracy` (share of samples whose self-consistency reward equals their true
//! reward), `correlation` (Pearson correlation of per-sample proxy and true reward over
//! the last `correlation_window` steps; 0 when either is constant, i.e. carries no
//! information), `entropy` (mean policy entropy over problems, divided by ln K).
//!
//! # Streams
//! One condition, `runs`, so the four arms of a replicate share their problems (paired
//! comparison). Purposes: `problems`, `validation_problems`, `teacher`, `train/<arm>`,
//! `validation/<arm>`.

use super::{Model, Observations, Replicate, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};
use crate::rng::Stream;
use crate::spec::validate::{self as v, Invalid, Validate};
use serde::Deserialize;

pub struct ProxyReward;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub problems: usize,
    pub wrong_answers: usize,
    pub samples: usize,
    pub steps: usize,
    pub record_every: usize,
    pub ease_mean: f64,
    pub ease_sd: f64,
    pub wrong_sd: f64,
    pub template_logit: f64,
    pub lr_problem: f64,
    pub lr_skill: f64,
    pub lr_template: f64,
    pub validation_problems: usize,
    pub validation_samples: usize,
    pub eval_every: usize,
    pub patience: usize,
    pub tolerance: f64,
    pub teacher_samples: usize,
    pub correlation_window: usize,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::count("problems", self.problems, 1, 4096)?;
        v::count("wrong_answers", self.wrong_answers, 1, MAX_ANSWERS - 2)?;
        v::count("samples", self.samples, 2, MAX_SAMPLES)?;
        v::count("steps", self.steps, 1, 100_000)?;
        v::count("record_every", self.record_every, 1, self.steps)?;
        v::in_range("ease_mean", self.ease_mean, -20.0, 20.0)?;
        v::in_range("ease_sd", self.ease_sd, 0.0, 10.0)?;
        v::in_range("wrong_sd", self.wrong_sd, 0.0, 10.0)?;
        v::in_range("template_logit", self.template_logit, -20.0, 20.0)?;
        v::in_range("lr_problem", self.lr_problem, 0.0, 100.0)?;
        v::in_range("lr_skill", self.lr_skill, 0.0, 100.0)?;
        v::in_range("lr_template", self.lr_template, 0.0, 100.0)?;
        v::count("validation_problems", self.validation_problems, 1, 4096)?;
        v::count("validation_samples", self.validation_samples, 1, 1024)?;
        v::count("eval_every", self.eval_every, 1, self.steps)?;
        v::count("patience", self.patience, 1, 10_000)?;
        v::probability("tolerance", self.tolerance)?;
        v::count("teacher_samples", self.teacher_samples, 1, 4096)?;
        v::count("correlation_window", self.correlation_window, 1, self.steps + 1)?;
        Ok(())
    }
}

/// Upper bounds that let the inner loop use fixed-size stack buffers.
const MAX_ANSWERS: usize = 32;
const MAX_SAMPLES: usize = 256;

/// The four training rewards, in legend order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arm {
    GroundTruth,
    SelfConsistency,
    EarlyStopping,
    FixedTeacher,
}

const ARMS: [Arm; 4] = [
    Arm::GroundTruth,
    Arm::SelfConsistency,
    Arm::EarlyStopping,
    Arm::FixedTeacher,
];

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Arm::GroundTruth => "ground_truth",
            Arm::SelfConsistency => "self_consistency",
            Arm::EarlyStopping => "early_stopping",
            Arm::FixedTeacher => "fixed_teacher",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Arm::GroundTruth => "ground truth",
            Arm::SelfConsistency => "self-consistency",
            Arm::EarlyStopping => "early stopping",
            Arm::FixedTeacher => "fixed teacher",
        }
    }
}

/// The metrics recorded per arm, in storage order.
const METRICS: [&str; 7] = [
    "accuracy",
    "proxy_reward",
    "template_rate",
    "label_accuracy",
    "reward_accuracy",
    "correlation",
    "entropy",
];
const ACCURACY: usize = 0;
const PROXY: usize = 1;
const TEMPLATE: usize = 2;
const LABEL: usize = 3;
const REWARD_ACC: usize = 4;
const CORRELATION: usize = 5;
const ENTROPY: usize = 6;

/// The shared parameters: skill `w` on the right answer, template bias `b`.
#[derive(Clone, Copy, Default)]
struct Shared {
    skill: f64,
    template_bias: f64,
}

/// Per-problem logits `θ` (row-major, `k` answers per problem) and the shared parameters.
#[derive(Clone)]
struct Policy {
    k: usize,
    theta: Vec<f64>,
    /// Per problem: how much of the shared skill reaches it, `x_i = σ(ease_i)`.
    transfer: Vec<f64>,
    shared: Shared,
}

impl Policy {
    /// Draws `n` problems from the prior described in the module doc.
    fn initial(p: &Params, n: usize, rng: &mut Stream) -> Self {
        let k = p.wrong_answers + 2;
        let mut theta = Vec::with_capacity(n * k);
        let mut transfer = Vec::with_capacity(n);
        for _ in 0..n {
            let ease = p.ease_mean + p.ease_sd * rng.normal();
            theta.push(ease);
            transfer.push(crate::rng::sigmoid(ease));
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

    fn template(&self) -> usize {
        self.k - 1
    }

    fn problems(&self) -> usize {
        self.theta.len() / self.k
    }

    /// Unnormalised probabilities `exp(z − max z)` of problem `i` under the shared
    /// parameters `s` into `weights`; returns their sum.
    #[inline]
    fn weights(&self, i: usize, s: Shared, weights: &mut [f64]) -> f64 {
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
            *w = libm::exp(*w - max);
            total += *w;
        }
        total
    }
}

/// Draws `g` answers from unnormalised `weights` and counts them per answer.
#[inline]
fn sample_counts(weights: &[f64], total: f64, g: usize, rng: &mut Stream, counts: &mut [u32]) {
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
fn plurality(counts: &[u32], rng: &mut Stream) -> usize {
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
struct CoSums {
    n: f64,
    p: f64,
    t: f64,
    pt: f64,
}

impl CoSums {
    fn add(&mut self, o: CoSums) {
        self.n += o.n;
        self.p += o.p;
        self.t += o.t;
        self.pt += o.pt;
    }

    /// Pearson correlation; 0 when either reward is constant (it carries no information).
    fn correlation(&self) -> f64 {
        if self.n == 0.0 {
            return 0.0;
        }
        let (mp, mt) = (self.p / self.n, self.t / self.n);
        let var = mp * (1.0 - mp) * mt * (1.0 - mt);
        if var <= 1e-12 {
            return 0.0;
        }
        (self.pt / self.n - mp * mt) / libm::sqrt(var)
    }
}

/// Running sums over a step: what the metrics are made of.
#[derive(Default)]
struct StepTally {
    accuracy: f64,
    template: f64,
    entropy: f64,
    label_right: f64,
    reward_agree: f64,
    co: CoSums,
}

/// The training loop of one arm; returns its metrics `[metric][record]`.
struct Trainer<'a> {
    p: &'a Params,
    arm: Arm,
    policy: Policy,
    labels: &'a [usize],
}

impl Trainer<'_> {
    fn run(mut self, validation: &Policy, rep: &Replicate, out: &mut [Vec<f64>]) {
        let p = self.p;
        let mut rng = rep.stream(&format!("train/{}", self.arm.name()));
        let mut val_rng = rep.stream(&format!("validation/{}", self.arm.name()));
        let k = self.policy.k;
        let t_idx = self.policy.template();
        let g = p.samples;
        let ln_k = libm::log(k as f64);
        let mut weights = [0.0f64; MAX_ANSWERS];
        let mut counts = [0u32; MAX_ANSWERS];
        let mut window = vec![CoSums::default(); p.correlation_window];
        let mut stopped = false;
        let mut best = (f64::NEG_INFINITY, self.policy.clone());
        let mut bad_evals = 0;
        for step in 0..=p.steps {
            if self.arm == Arm::EarlyStopping && !stopped && step % p.eval_every == 0 {
                let acc = validation_accuracy(self.policy.shared, validation, p.validation_samples, &mut val_rng);
                if acc > best.0 {
                    best.0 = acc;
                    best.1.clone_from(&self.policy);
                    bad_evals = 0;
                } else if acc < best.0 - p.tolerance {
                    bad_evals += 1;
                    if bad_evals >= p.patience {
                        self.policy.clone_from(&best.1);
                        stopped = true;
                    }
                } else {
                    bad_evals = 0;
                }
            }
            let record = step % p.record_every == 0;
            let train = step < p.steps && !stopped;
            let mut tally = StepTally::default();
            let (mut grad_skill, mut grad_template) = (0.0, 0.0);
            for i in 0..p.problems {
                let w = &mut weights[..k];
                let c = &mut counts[..k];
                let total = self.policy.weights(i, self.policy.shared, w);
                sample_counts(w, total, g, &mut rng, c);
                let plur = plurality(c, &mut rng);
                tally_problem(&mut tally, c, plur, g);
                if record {
                    tally_policy(&mut tally, w, total, t_idx, ln_k);
                }
                if train {
                    let target = match self.arm {
                        Arm::GroundTruth => 0,
                        Arm::SelfConsistency | Arm::EarlyStopping => plur,
                        Arm::FixedTeacher => self.labels[i],
                    };
                    let (gs, gt) = self.update_problem(i, c, target);
                    grad_skill += gs * self.policy.transfer[i];
                    grad_template += gt;
                }
            }
            if train {
                let n = p.problems as f64;
                self.policy.shared.skill += p.lr_skill * grad_skill / n;
                self.policy.shared.template_bias += p.lr_template * grad_template / n;
            }
            window[step % p.correlation_window] = tally.co;
            if record {
                let r = step / p.record_every;
                let n = p.problems as f64;
                let mut co = CoSums::default();
                for s in &window {
                    co.add(*s);
                }
                out[ACCURACY][r] = tally.accuracy / n;
                out[PROXY][r] = tally.co.p / tally.co.n;
                out[TEMPLATE][r] = tally.template / n;
                out[LABEL][r] = tally.label_right / n;
                out[REWARD_ACC][r] = tally.reward_agree / tally.co.n;
                out[CORRELATION][r] = co.correlation();
                out[ENTROPY][r] = tally.entropy / n;
            }
        }
    }

    /// REINFORCE with the group-mean baseline for problem `i`, whose samples were
    /// `counts` and whose rewarded answer is `target`. The reward depends on the answer
    /// only, so `Σ_{g: a_g = a} A_g = c_a (1[a = target] − c_target / G)`. Updates the
    /// per-problem logits and returns this problem's gradient on `w` and `b`.
    #[inline]
    fn update_problem(&mut self, i: usize, counts: &[u32], target: usize) -> (f64, f64) {
        let g = self.p.samples as f64;
        let mean_reward = counts[target] as f64 / g;
        let k = self.policy.k;
        let row = &mut self.policy.theta[i * k..(i + 1) * k];
        let mut grads = (0.0, 0.0);
        for (a, (th, &c)) in row.iter_mut().zip(counts).enumerate() {
            if c == 0 {
                continue;
            }
            let reward = if a == target { 1.0 } else { 0.0 };
            let grad = c as f64 * (reward - mean_reward) / g;
            *th += self.p.lr_problem * grad;
            if a == 0 {
                grads.0 = grad;
            }
            if a == k - 1 {
                grads.1 = grad;
            }
        }
        grads
    }
}

/// Sample-based metrics of one problem: its plurality `plur` among `g` samples `counts`.
#[inline]
fn tally_problem(t: &mut StepTally, counts: &[u32], plur: usize, g: usize) {
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
            h -= pi * libm::log(pi);
        }
    }
    t.entropy += h / ln_k;
}

/// The share of right answers among `draws` samples of each validation problem under
/// the shared parameters `shared` (validation problems keep their initial per-problem
/// logits: they are never trained on).
fn validation_accuracy(shared: Shared, validation: &Policy, draws: usize, rng: &mut Stream) -> f64 {
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

/// Frozen labels: the plurality of `teacher_samples` answers of the initial policy.
fn teacher_labels(p: &Params, policy: &Policy, rng: &mut Stream) -> Vec<usize> {
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

/// The number of recorded steps: 0, record_every, 2·record_every, … ≤ steps.
fn records(p: &Params) -> usize {
    p.steps / p.record_every + 1
}

/// One replicate: the same problems trained under every arm. Returns `[arm][metric][record]`.
fn replicate(p: &Params, rep: Replicate) -> Vec<Vec<Vec<f64>>> {
    let mut rng = rep.stream("problems");
    let policy = Policy::initial(p, p.problems, &mut rng);
    let validation = Policy::initial(p, p.validation_problems, &mut rep.stream("validation_problems"));
    let labels = teacher_labels(p, &policy, &mut rep.stream("teacher"));
    ARMS.iter()
        .map(|&arm| {
            let mut out = vec![vec![0.0; records(p)]; METRICS.len()];
            let trainer = Trainer {
                p,
                arm,
                policy: policy.clone(),
                labels: &labels,
            };
            trainer.run(&validation, &rep, &mut out);
            out
        })
        .collect()
}

impl Model for ProxyReward {
    type Params = Params;
    const ID: &'static str = "proxy_reward";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let runs = run.replicates("runs", run.count(), |rep| replicate(p, rep));
        let mut out = Observations::default();
        for (a, arm) in ARMS.iter().enumerate() {
            for (m, metric) in METRICS.iter().enumerate() {
                for (i, r) in runs.iter() {
                    for (j, value) in r[a][m].iter().enumerate() {
                        out.push(arm.name(), metric, (j * p.record_every) as f64, i, *value);
                    }
                }
            }
        }
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        Ok(Figure::column_width(
            820,
            vec![
                panel_accuracy(p, summary)?,
                panel_proxy(p, summary)?,
                panel_correlation(p, summary)?,
                panel_template(p, summary)?,
            ],
        ))
    }
}

fn step_axis(p: &Params) -> Axis {
    Axis::linear("training step", 0.0, p.steps as f64)
}

fn panel_accuracy(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        series.push(Series::new(
            arm.label(),
            i,
            Mark::Line,
            s.expect_series(arm.name(), "accuracy")?,
        ));
    }
    Ok(Panel {
        title: "(a) True accuracy by training reward".into(),
        x: step_axis(p),
        y: Axis::linear("true accuracy", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

fn panel_proxy(p: &Params, s: &Summary) -> Result<Panel> {
    let sc = Arm::SelfConsistency.name();
    let mut label = Series::new(
        "label accuracy",
        4,
        Mark::Dotted,
        s.expect_series(sc, "label_accuracy")?,
    );
    label.band = false;
    let mut reward = Series::new(
        "reward accuracy",
        5,
        Mark::Dotted,
        s.expect_series(sc, "reward_accuracy")?,
    );
    reward.band = false;
    Ok(Panel {
        title: "(b) Self-consistency: proxy vs truth".into(),
        x: step_axis(p),
        y: Axis::linear("reward / accuracy", 0.0, 1.0),
        series: vec![
            Series::new("proxy reward", 1, Mark::Line, s.expect_series(sc, "proxy_reward")?),
            Series::new("true accuracy", 6, Mark::Dashed, s.expect_series(sc, "accuracy")?),
            label,
            reward,
        ],
        legend_columns: 2,
    })
}

fn panel_correlation(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        series.push(Series::new(
            arm.label(),
            i,
            Mark::Line,
            s.expect_series(arm.name(), "correlation")?,
        ));
    }
    Ok(Panel {
        title: "(c) Proxy–truth reward correlation".into(),
        x: step_axis(p),
        y: Axis::linear(&format!("correlation, last {} steps", p.correlation_window), -0.6, 1.0),
        series,
        legend_columns: 2,
    })
}

fn panel_template(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, arm) in [Arm::GroundTruth, Arm::SelfConsistency].iter().enumerate() {
        series.push(Series::new(
            &format!("{} template", arm.label()),
            i,
            Mark::Line,
            s.expect_series(arm.name(), "template_rate")?,
        ));
        series.push(Series::new(
            &format!("{} entropy", arm.label()),
            i,
            Mark::Dashed,
            s.expect_series(arm.name(), "entropy")?,
        ));
    }
    Ok(Panel {
        title: "(d) Template rate and policy entropy".into(),
        x: step_axis(p),
        y: Axis::linear("template rate; entropy / ln K", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_of_identical_and_constant_rewards() {
        let same = CoSums {
            n: 4.0,
            p: 2.0,
            t: 2.0,
            pt: 2.0,
        };
        assert!((same.correlation() - 1.0).abs() < 1e-12);
        let opposite = CoSums {
            n: 4.0,
            p: 2.0,
            t: 2.0,
            pt: 0.0,
        };
        assert!((opposite.correlation() + 1.0).abs() < 1e-12);
        let constant = CoSums {
            n: 4.0,
            p: 4.0,
            t: 1.0,
            pt: 1.0,
        };
        assert_eq!(constant.correlation(), 0.0);
    }

    #[test]
    fn plurality_picks_the_top_count_and_breaks_ties_among_the_tied() {
        let mut rng = Stream::new(1, "t", 0, "p");
        assert_eq!(plurality(&[1, 3, 0, 2], &mut rng), 1);
        for _ in 0..50 {
            let a = plurality(&[2, 0, 2, 1], &mut rng);
            assert!(a == 0 || a == 2);
        }
    }

    #[test]
    fn lucky_hits_count_as_reward_agreement() {
        // Plurality wrong (answer 2, 3 samples), 1 right sample, 4 other wrong samples:
        // 4 samples get proxy 0 = truth 0.
        let mut t = StepTally::default();
        tally_problem(&mut t, &[1, 2, 3, 2], 2, 8);
        assert_eq!(t.reward_agree, 4.0);
        assert_eq!(t.label_right, 0.0);
    }
}
