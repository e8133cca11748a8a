//! `offline_correction`: correction learned from offline traces misses the model's own errors.
//!
//! Anchor: Kumar et al. 2024, "Training Language Models to Self-Correct via
//! Reinforcement Learning" (SCoRe), arXiv:2409.12917. A model answers, then is asked to
//! correct itself. Supervised fine-tuning on pre-collected correction traces (Pair-SFT,
//! STaR) barely improves the second attempt: the traces show errors the model does not
//! make (distribution mismatch), and with correct→correct pairs the learned corrector
//! collapses into not editing at all. Multi-turn online RL on the model's own first
//! attempts (SCoRe, reward shaped by α(r2 − r1)) learns to correct. On MATH with Gemini
//! 1.5 Flash (their Table): base 52.6 → 41.4 (Δ −11.2, i→c 4.6, c→i 15.8); STaR Δ +0.4;
//! Pair-SFT Δ +1.8; Pair-SFT with correct→correct pairs Δ 0, no edits; SCoRe 60.0 → 64.4
//! (Δ +4.4, i→c 5.8, c→i 1.4).
//!
//! # Model
//!
//! A *first attempt* is right, or wrong with an error *mode* `e ∈ 1..M` and a *salience*
//! `σ`. A population of first attempts has an accuracy, mode weights and a salience
//! range (σ uniform in it). Two populations:
//! - the deployed model's **own** attempts (`own_*`): its errors are subtle (small σ)
//!   and fall mostly in some modes;
//! - the **foreign** attempts in the offline traces (`foreign_*`), written by another
//!   process: blatant errors (large σ) in other modes.
//!
//! The mismatch knob `λ` mixes them: each offline trace's first attempt is foreign with
//! probability λ and the model's own with probability 1 − λ (λ = 0: the traces are
//! exactly the model's own attempts).
//!
//! The corrector never sees the mode. It sees a *symptom* `x ∈ R^M`:
//! `x = σ·g·onehot(e) + η·N(0, I)` for a wrong attempt and `η·N(0, I)` for a right one
//! (`g` = `symptom_gain`, `η` = `symptom_noise`). Its policy is a softmax linear in
//! `(1, x)` over `M + 1` actions: *keep* the first attempt, or *fix_j* (rewrite the part
//! of the answer where error mode j would be). `fix_e` repairs an error of mode e with
//! probability `φ` (`fix_success`); any other fix leaves a wrong attempt wrong; any fix
//! of a right attempt breaks it with probability `ψ` (`break_chance`). Keep changes
//! nothing. So turn 2 is right with probability 1 (right, keep), 1 − ψ (right, fix),
//! φ (wrong e, fix_e), 0 otherwise.
//!
//! The first attempt is never trained (Acc@t1 is the same for every arm); what the arms
//! learn is the corrector. Training samples actions at temperature 1; at deployment
//! every corrector samples at `deploy_temperature` (below 1: close to, but smoother
//! than, greedy decoding). Deployment metrics are exact expectations over that sampling
//! and the fix outcome for each drawn problem, so their only noise is the problems and
//! the training.
//!
//! # Arms (each is *trained*; none is assigned an outcome)
//! - `base`: the untrained corrector, edit-happy: keep has logit `base_keep_bias` below
//!   the fixes (which have logit 0), and every symptom weight is drawn from
//!   N(0, `base_gain`²) per replicate: it edits almost always and has not learned which
//!   symptom calls for which fix, so it breaks more right answers than it repairs.
//! - `pair_sft`: from `base`, minibatch SGD on cross-entropy over a fixed set of
//!   `traces` offline first attempts, using the wrong ones only, each paired with its
//!   correction: target `fix_e` (SCoRe's Pair-SFT: incorrect → correct pairs).
//! - `pair_sft_plus`: the same on every trace, the right ones paired with *keep*
//!   (Pair-SFT with correct → correct pairs).
//! - `star`: from `base`, the base corrector samples (temperature 1) corrections of
//!   `traces` of its *own* first attempts; the successful corrections (wrong at turn 1,
//!   right at turn 2) are kept and it is fine-tuned on them with the same SGD (STaR).
//!   The filter keeps the problems where the base's random wiring happened to point at
//!   the right fix, so STaR learns that wiring back: on-distribution, but it amplifies
//!   what the base already did.
//! - `online_rl`: from `base`, REINFORCE on the model's own first attempts (a pool of
//!   `rl_pool`, resampled every step), actions sampled from the current policy, reward
//!   `r2 + α(r2 − r1)` (SCoRe's shaping). With the first attempt frozen, r1 does not
//!   depend on the action: the shaped reward is `(1 + α)·r2` minus a per-problem
//!   constant, so it rewards *changes* (0 for keeping a right answer, +1 for a fix, −1
//!   for a break, each times 1 + α). The advantage is divided by `1 + α` (so `rl_rate`
//!   is the step size for a unit change) and a running mean of the reward is the baseline.
//!
//! Nothing here says "SFT fails". The effect emerges: cross-entropy on blatant foreign
//! errors learns the foreign mode prior and a symptom read-out that needs loud symptoms;
//! on the model's own subtle errors the symptom is weak, so the learned corrector falls
//! back on its prior (foreign modes: the wrong fix) or, with keep pairs, on keep
//! (in the traces a quiet symptom always meant a right answer). Online RL sees the
//! model's own errors and learns their prior and how to read their weak symptoms.
//! At λ = 0 the traces are the model's own errors, and SFT learns nearly what RL learns.
//!
//! # Metrics (on `eval_problems` fresh own first attempts per replicate)
//! `acc_t1`, `acc_t2`, `delta` = acc_t2 − acc_t1, `i_to_c` (share of all problems wrong at
//! t1 and right at t2), `c_to_i` (right, then wrong), so delta = i_to_c − c_to_i;
//! `edit_rate` (share of problems where the corrector does not keep: turn 2 differs
//! from turn 1); `action_entropy` (entropy of the actions chosen over all problems,
//! keep included, i.e. of the mean action distribution, divided by ln(M + 1):
//! 0 = one rote action for every problem, 1 = all actions equally often);
//! `rl_gain` (online_rl's delta minus pair_sft's, paired by replicate).
//! During `pair_sft` training, every `record_every` steps: `fix_rate_offline` (share of
//! the wrong first attempts in the fixed trace set that the corrector turns right) and
//! `fix_rate_own` (the same on the wrong first attempts of the model's own eval set),
//! each over the first `curve_attempts` wrong attempts of its set (to bound the cost).
//! The λ sweep: `delta_sweep` of pair_sft for each λ of `lambdas`; online RL never reads
//! the traces, so its delta (from the main condition) is drawn at every λ.
//!
//! # Streams
//! Conditions `main` (every arm, at λ = `lambda`; the arms of a replicate share its
//! eval set, base corrector and traces, so `rl_gain` is paired) and `sweep/<λ>`.
//! Purposes: `eval`, `base`, `traces`, `sft/pair`, `sft/plus`, `star/attempts`,
//! `star/actions`, `sft/star`, `rl/pool`, `rl`. Symptoms use both normals of each
//! Box–Muller pair (`push_normals`).
//!
//! # Constants
//! `MAX_MODES` = 16 bounds M (and so the symptom and policy sizes) for validation;
//! `KEEP` = 0 is keep's action index (fix_j is j + 1); panel layout constants are
//! widths of grouped bars in category units.

use super::{Model, Observations, Replicate, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};
use crate::rng::Stream;
use crate::spec::validate::{self as v, Invalid, Validate};
use serde::Deserialize;

pub struct OfflineCorrection;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub own_accuracy: f64,
    pub own_mode_weights: Vec<f64>,
    pub own_salience: [f64; 2],
    pub foreign_accuracy: f64,
    pub foreign_mode_weights: Vec<f64>,
    pub foreign_salience: [f64; 2],
    pub symptom_gain: f64,
    pub symptom_noise: f64,
    pub fix_success: f64,
    pub break_chance: f64,
    pub base_keep_bias: f64,
    pub base_gain: f64,
    pub lambda: f64,
    pub lambdas: Vec<f64>,
    pub traces: usize,
    pub star_attempts: usize,
    pub sft_steps: usize,
    pub sft_batch: usize,
    pub sft_rate: f64,
    pub record_every: usize,
    pub curve_attempts: usize,
    pub rl_pool: usize,
    pub rl_steps: usize,
    pub rl_batch: usize,
    pub rl_rate: f64,
    pub alpha: f64,
    pub baseline_decay: f64,
    pub eval_problems: usize,
    pub deploy_temperature: f64,
}

/// Most error modes a spec may ask for (the symptom and policy sizes follow).
const MAX_MODES: usize = 16;

fn salience_range(key: &str, r: &[f64; 2]) -> Result<(), Invalid> {
    v::probability(&format!("{key}[0]"), r[0])?;
    v::probability(&format!("{key}[1]"), r[1])?;
    if r[0] > r[1] {
        return Err(Invalid {
            key: key.into(),
            problem: format!("must be [low, high] with low ≤ high, got [{}, {}]", r[0], r[1]),
        });
    }
    Ok(())
}

fn mode_weights(key: &str, w: &[f64], modes: usize) -> Result<(), Invalid> {
    v::list_len(key, w, modes, modes)?;
    v::each(key, w, |k, x| v::in_range(k, *x, 0.0, 1e6))?;
    if w.iter().sum::<f64>() <= 0.0 {
        return Err(Invalid {
            key: key.into(),
            problem: "must have a positive sum".into(),
        });
    }
    Ok(())
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::list_len("own_mode_weights", &self.own_mode_weights, 2, MAX_MODES)?;
        let m = self.own_mode_weights.len();
        v::in_range("own_accuracy", self.own_accuracy, 0.05, 0.95)?;
        mode_weights("own_mode_weights", &self.own_mode_weights, m)?;
        salience_range("own_salience", &self.own_salience)?;
        v::in_range("foreign_accuracy", self.foreign_accuracy, 0.05, 0.95)?;
        mode_weights("foreign_mode_weights", &self.foreign_mode_weights, m)?;
        salience_range("foreign_salience", &self.foreign_salience)?;
        v::in_range("symptom_gain", self.symptom_gain, 0.0, 100.0)?;
        v::in_range("symptom_noise", self.symptom_noise, 0.01, 100.0)?;
        v::probability("fix_success", self.fix_success)?;
        v::probability("break_chance", self.break_chance)?;
        v::in_range("base_keep_bias", self.base_keep_bias, -20.0, 20.0)?;
        v::in_range("base_gain", self.base_gain, -20.0, 20.0)?;
        v::probability("lambda", self.lambda)?;
        v::list_len("lambdas", &self.lambdas, 2, 21)?;
        v::each("lambdas", &self.lambdas, |k, l| v::probability(k, *l))?;
        v::increasing("lambdas", &self.lambdas)?;
        v::count("traces", self.traces, 200, 100_000)?;
        v::count("star_attempts", self.star_attempts, 1, 100_000)?;
        v::count("sft_steps", self.sft_steps, 1, 1_000_000)?;
        v::count("sft_batch", self.sft_batch, 1, 4096)?;
        v::in_range("sft_rate", self.sft_rate, 0.0, 100.0)?;
        v::count("record_every", self.record_every, 1, self.sft_steps)?;
        v::count("curve_attempts", self.curve_attempts, 1, 100_000)?;
        v::count("rl_pool", self.rl_pool, 1, 100_000)?;
        v::count("rl_steps", self.rl_steps, 1, 1_000_000)?;
        v::count("rl_batch", self.rl_batch, 1, 4096)?;
        v::in_range("rl_rate", self.rl_rate, 0.0, 100.0)?;
        v::in_range("alpha", self.alpha, 0.0, 1000.0)?;
        v::probability("baseline_decay", self.baseline_decay)?;
        v::count("eval_problems", self.eval_problems, 10, 1_000_000)?;
        v::in_range("deploy_temperature", self.deploy_temperature, 0.05, 10.0)?;
        Ok(())
    }
}

/// Where first attempts come from: accuracy, error-mode weights, salience range.
struct Population<'a> {
    accuracy: f64,
    modes: &'a [f64],
    salience: [f64; 2],
}

impl Params {
    fn modes(&self) -> usize {
        self.own_mode_weights.len()
    }

    fn own(&self) -> Population<'_> {
        Population {
            accuracy: self.own_accuracy,
            modes: &self.own_mode_weights,
            salience: self.own_salience,
        }
    }

    fn foreign(&self) -> Population<'_> {
        Population {
            accuracy: self.foreign_accuracy,
            modes: &self.foreign_mode_weights,
            salience: self.foreign_salience,
        }
    }
}

/// The action index of keep; fix_j is action `j + 1`.
const KEEP: usize = 0;

/// A set of first attempts: `error[i]` is 0 for a right attempt and `e + 1` for an
/// error of mode e; `x[i·M .. (i+1)·M]` is its symptom.
struct Attempts {
    m: usize,
    error: Vec<usize>,
    x: Vec<f64>,
}

impl Attempts {
    fn with_capacity(m: usize, n: usize) -> Self {
        Attempts {
            m,
            error: Vec::with_capacity(n),
            x: Vec::with_capacity(n * m),
        }
    }

    fn len(&self) -> usize {
        self.error.len()
    }

    fn symptom(&self, i: usize) -> &[f64] {
        &self.x[i * self.m..(i + 1) * self.m]
    }

    /// Draws one attempt from `pop` and appends it.
    fn push_drawn(&mut self, pop: &Population, p: &Params, rng: &mut Stream) {
        let error = if rng.bernoulli(pop.accuracy) {
            0
        } else {
            rng.categorical(pop.modes) + 1
        };
        let signal = if error == 0 {
            0.0
        } else {
            let [lo, hi] = pop.salience;
            (lo + (hi - lo) * rng.uniform()) * p.symptom_gain
        };
        let start = self.x.len();
        push_normals(&mut self.x, self.m, rng);
        for (j, x) in self.x[start..].iter_mut().enumerate() {
            *x *= p.symptom_noise;
            if error == j + 1 {
                *x += signal;
            }
        }
        self.error.push(error);
    }

    /// `n` attempts of the model's own.
    fn own(p: &Params, n: usize, rng: &mut Stream) -> Self {
        let mut a = Attempts::with_capacity(p.modes(), n);
        let pop = p.own();
        for _ in 0..n {
            a.push_drawn(&pop, p, rng);
        }
        a
    }

    /// `n` offline trace attempts: foreign with probability λ, the model's own otherwise.
    fn traces(p: &Params, lambda: f64, n: usize, rng: &mut Stream) -> Self {
        let mut a = Attempts::with_capacity(p.modes(), n);
        let (own, foreign) = (p.own(), p.foreign());
        for _ in 0..n {
            let pop = if rng.bernoulli(lambda) { &foreign } else { &own };
            a.push_drawn(pop, p, rng);
        }
        a
    }
}

/// Appends `n` standard normals, both of each Box–Muller pair (with `libm`): the
/// symptoms are most of the draws, and `Stream::normal` discards half of its pair.
fn push_normals(out: &mut Vec<f64>, n: usize, rng: &mut Stream) {
    let mut left = n;
    while left > 0 {
        let r = libm::sqrt(-2.0 * libm::log(rng.uniform_open0()));
        let angle = 2.0 * std::f64::consts::PI * rng.uniform();
        out.push(r * libm::cos(angle));
        if left > 1 {
            out.push(r * libm::sin(angle));
        }
        left = left.saturating_sub(2);
    }
}

/// Probability that turn 2 is right after `action` on a first attempt with `error`.
#[inline]
fn p_right_after(p: &Params, error: usize, action: usize) -> f64 {
    match (error, action) {
        (0, KEEP) => 1.0,
        (0, _) => 1.0 - p.break_chance,
        (e, a) if e == a => p.fix_success,
        _ => 0.0,
    }
}

/// The corrector: a softmax over keep and the M fixes, linear in `(1, x)`.
/// `theta[k·(M+1)]` is action k's bias, `theta[k·(M+1) + 1 + j]` its weight on x_j.
#[derive(Clone)]
struct Policy {
    m: usize,
    theta: Vec<f64>,
}

impl Policy {
    /// The untrained, edit-happy corrector: keep's bias `base_keep_bias` below the
    /// fixes', every symptom weight drawn from N(0, base_gain²) (it has not learned
    /// which symptom calls for which fix).
    fn base(p: &Params, rng: &mut Stream) -> Self {
        let m = p.modes();
        let w = m + 1;
        let mut theta = vec![0.0; w * w];
        theta[0] = p.base_keep_bias;
        for k in 0..w {
            for j in 0..m {
                theta[k * w + 1 + j] = p.base_gain * rng.normal();
            }
        }
        Policy { m, theta }
    }

    fn actions(&self) -> usize {
        self.m + 1
    }

    #[inline]
    fn logits(&self, x: &[f64], out: &mut [f64]) {
        let w = self.m + 1;
        for (k, o) in out.iter_mut().enumerate() {
            let row = &self.theta[k * w..(k + 1) * w];
            let mut z = row[0];
            for j in 0..self.m {
                z += row[1 + j] * x[j];
            }
            *o = z;
        }
    }

    /// Softmax probabilities of the actions for symptom `x`, into `out`.
    #[inline]
    fn probabilities(&self, x: &[f64], out: &mut [f64]) {
        self.probabilities_at(x, 1.0, out);
    }

    /// Softmax probabilities at sampling temperature `temperature`.
    #[inline]
    fn probabilities_at(&self, x: &[f64], temperature: f64, out: &mut [f64]) {
        self.logits(x, out);
        let max = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for o in out.iter_mut() {
            *o = libm::exp((*o - max) / temperature);
            total += *o;
        }
        for o in out.iter_mut() {
            *o /= total;
        }
    }

    /// Adds `scale · (onehot(action) − probs) ⊗ (1, x)` to `grad`: the gradient of
    /// `scale · log π(action | x)`.
    #[inline]
    fn add_log_prob_gradient(&self, x: &[f64], probs: &[f64], action: usize, scale: f64, grad: &mut [f64]) {
        let w = self.m + 1;
        for (k, pk) in probs.iter().enumerate() {
            let d = scale * (if k == action { 1.0 } else { 0.0 } - pk);
            let row = &mut grad[k * w..(k + 1) * w];
            row[0] += d;
            for j in 0..self.m {
                row[1 + j] += d * x[j];
            }
        }
    }

    fn step(&mut self, grad: &mut [f64], rate: f64) {
        for (t, g) in self.theta.iter_mut().zip(grad.iter_mut()) {
            *t += rate * *g;
            *g = 0.0;
        }
    }
}

/// A (symptom index, target action) correction pair for supervised fine-tuning.
type Pair = (usize, usize);

/// Minibatch SGD on cross-entropy over `pairs` (sampled with replacement), calling
/// `record(step, policy)` at step 0 and every `record_every` steps.
fn fine_tune(
    p: &Params,
    policy: &mut Policy,
    attempts: &Attempts,
    pairs: &[Pair],
    rng: &mut Stream,
    mut record: impl FnMut(usize, &Policy),
) {
    record(0, policy);
    let mut probs = vec![0.0; policy.actions()];
    let mut grad = vec![0.0; policy.theta.len()];
    for step in 1..=p.sft_steps {
        if !pairs.is_empty() {
            for _ in 0..p.sft_batch {
                let (i, target) = pairs[rng.below(pairs.len())];
                let x = attempts.symptom(i);
                policy.probabilities(x, &mut probs);
                policy.add_log_prob_gradient(x, &probs, target, 1.0, &mut grad);
            }
            policy.step(&mut grad, p.sft_rate / p.sft_batch as f64);
        }
        if step % p.record_every == 0 {
            record(step, policy);
        }
    }
}

/// Pair-SFT's pairs: each wrong trace with its correction `fix_e`; with `keep_pairs`,
/// each right trace with keep too.
fn correction_pairs(traces: &Attempts, keep_pairs: bool) -> Vec<Pair> {
    (0..traces.len())
        .filter_map(|i| match traces.error[i] {
            0 if keep_pairs => Some((i, KEEP)),
            0 => None,
            e => Some((i, e)),
        })
        .collect()
}

/// STaR's pairs: the base corrector's sampled corrections of its own attempts that
/// turned a wrong first attempt right.
fn star_pairs(p: &Params, base: &Policy, own: &Attempts, rng: &mut Stream) -> Vec<Pair> {
    let mut probs = vec![0.0; base.actions()];
    let mut pairs = Vec::new();
    for i in 0..own.len() {
        base.probabilities(own.symptom(i), &mut probs);
        let action = rng.categorical(&probs);
        let right = rng.bernoulli(p_right_after(p, own.error[i], action));
        if own.error[i] != 0 && right {
            pairs.push((i, action));
        }
    }
    pairs
}

/// REINFORCE on the model's own first attempts with reward `r2 + α(r2 − r1)`.
fn online_rl(p: &Params, policy: &mut Policy, pool: &Attempts, rng: &mut Stream) {
    let mut probs = vec![0.0; policy.actions()];
    let mut grad = vec![0.0; policy.theta.len()];
    let mut baseline = 0.0;
    for _ in 0..p.rl_steps {
        let mut batch_reward = 0.0;
        for _ in 0..p.rl_batch {
            let i = rng.below(pool.len());
            let x = pool.symptom(i);
            policy.probabilities(x, &mut probs);
            let action = rng.categorical(&probs);
            let r1 = (pool.error[i] == 0) as u8 as f64;
            let r2 = rng.bernoulli(p_right_after(p, pool.error[i], action)) as u8 as f64;
            let reward = r2 + p.alpha * (r2 - r1);
            let advantage = (reward - baseline) / (1.0 + p.alpha);
            policy.add_log_prob_gradient(x, &probs, action, advantage, &mut grad);
            batch_reward += reward;
        }
        policy.step(&mut grad, p.rl_rate / p.rl_batch as f64);
        baseline = p.baseline_decay * baseline + (1.0 - p.baseline_decay) * batch_reward / p.rl_batch as f64;
    }
}

/// The anchor's metrics of a corrector deployed greedily on `eval`.
#[derive(Clone, Copy, Default)]
struct Deployed {
    acc_t1: f64,
    acc_t2: f64,
    i_to_c: f64,
    c_to_i: f64,
    edit_rate: f64,
    entropy: f64,
}

fn deploy(p: &Params, policy: &Policy, eval: &Attempts) -> Deployed {
    let mut probs = vec![0.0; policy.actions()];
    let mut chosen = vec![0.0; policy.actions()];
    let mut d = Deployed::default();
    for i in 0..eval.len() {
        policy.probabilities_at(eval.symptom(i), p.deploy_temperature, &mut probs);
        let error = eval.error[i];
        let mut after = 0.0;
        for (a, pa) in probs.iter().enumerate() {
            chosen[a] += pa;
            after += pa * p_right_after(p, error, a);
        }
        if error == 0 {
            d.acc_t1 += 1.0;
            d.c_to_i += 1.0 - after;
        } else {
            d.i_to_c += after;
        }
        d.acc_t2 += after;
    }
    let n = eval.len() as f64;
    d.acc_t1 /= n;
    d.acc_t2 /= n;
    d.i_to_c /= n;
    d.c_to_i /= n;
    d.edit_rate = 1.0 - chosen[KEEP] / n;
    d.entropy = normalised_entropy(&chosen);
    d
}

/// Entropy of the distribution proportional to `weights`, divided by ln(number of actions).
fn normalised_entropy(weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    let mut h = 0.0;
    for &w in weights {
        if w > 0.0 {
            let q = w / total;
            h -= q * libm::log(q);
        }
    }
    h / libm::log(weights.len() as f64)
}

/// Share of the first `curve_attempts` wrong attempts in `set` that the corrector
/// turns right (expected over its sampled action and the fix outcome).
fn fix_rate(p: &Params, policy: &Policy, set: &Attempts) -> f64 {
    let mut probs = vec![0.0; policy.actions()];
    let (mut fixed, mut wrong) = (0.0, 0usize);
    for i in 0..set.len() {
        let e = set.error[i];
        if e != 0 && wrong < p.curve_attempts {
            wrong += 1;
            policy.probabilities_at(set.symptom(i), p.deploy_temperature, &mut probs);
            fixed += probs[e] * p.fix_success;
        }
    }
    fixed / wrong.max(1) as f64
}

/// The arms, in the order of the panels.
const ARMS: [&str; 5] = ["base", "pair_sft", "pair_sft_plus", "star", "online_rl"];
const ARM_LABELS: [&str; 5] = ["base", "SFT", "SFT+", "STaR", "RL"];

/// The category axis: short labels under the bars, their meaning in the axis label.
const CORRECTOR_AXIS: &str = "corrector (SFT: Pair-SFT, +: with keep pairs)";

/// One replicate of the main condition: every arm, and pair_sft's training curve.
struct MainRun {
    arms: [Deployed; 5],
    /// (step, fix rate on the offline wrong attempts, fix rate on own wrong attempts).
    curve: Vec<(usize, f64, f64)>,
}

fn main_run(p: &Params, rep: Replicate) -> MainRun {
    let eval = Attempts::own(p, p.eval_problems, &mut rep.stream("eval"));
    let traces = Attempts::traces(p, p.lambda, p.traces, &mut rep.stream("traces"));
    let base = Policy::base(p, &mut rep.stream("base"));

    let mut pair = base.clone();
    let mut curve = Vec::new();
    fine_tune(
        p,
        &mut pair,
        &traces,
        &correction_pairs(&traces, false),
        &mut rep.stream("sft/pair"),
        |step, policy| curve.push((step, fix_rate(p, policy, &traces), fix_rate(p, policy, &eval))),
    );

    let mut plus = base.clone();
    let plus_pairs = correction_pairs(&traces, true);
    fine_tune(
        p,
        &mut plus,
        &traces,
        &plus_pairs,
        &mut rep.stream("sft/plus"),
        |_, _| {},
    );

    let star_own = Attempts::own(p, p.star_attempts, &mut rep.stream("star/attempts"));
    let pairs = star_pairs(p, &base, &star_own, &mut rep.stream("star/actions"));
    let mut star = base.clone();
    fine_tune(p, &mut star, &star_own, &pairs, &mut rep.stream("sft/star"), |_, _| {});

    let pool = Attempts::own(p, p.rl_pool, &mut rep.stream("rl/pool"));
    let mut rl = base.clone();
    online_rl(p, &mut rl, &pool, &mut rep.stream("rl"));

    MainRun {
        arms: [&base, &pair, &plus, &star, &rl].map(|policy| deploy(p, policy, &eval)),
        curve,
    }
}

/// pair_sft's delta at mismatch `lambda` (one replicate of `sweep/<λ>`).
fn sweep_run(p: &Params, lambda: f64, rep: Replicate) -> f64 {
    let eval = Attempts::own(p, p.eval_problems, &mut rep.stream("eval"));
    let traces = Attempts::traces(p, lambda, p.traces, &mut rep.stream("traces"));
    let mut pair = Policy::base(p, &mut rep.stream("base"));
    let pairs = correction_pairs(&traces, false);
    fine_tune(p, &mut pair, &traces, &pairs, &mut rep.stream("sft/pair"), |_, _| {});
    let d = deploy(p, &pair, &eval);
    d.acc_t2 - d.acc_t1
}

fn push_deployed(out: &mut Observations, arm: &str, x: f64, i: u64, d: &Deployed) {
    for (metric, value) in [
        ("acc_t1", d.acc_t1),
        ("acc_t2", d.acc_t2),
        ("delta", d.acc_t2 - d.acc_t1),
        ("i_to_c", d.i_to_c),
        ("c_to_i", d.c_to_i),
        ("edit_rate", d.edit_rate),
        ("action_entropy", d.entropy),
    ] {
        out.push(arm, metric, x, i, value);
    }
}

impl Model for OfflineCorrection {
    type Params = Params;
    const ID: &'static str = "offline_correction";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let mut out = Observations::default();
        let main = run.replicates("main", run.count(), |rep| main_run(p, rep));
        for (a, arm) in ARMS.iter().enumerate() {
            for (i, r) in main.iter() {
                push_deployed(&mut out, arm, p.lambda, i, &r.arms[a]);
            }
        }
        for (i, r) in main.iter() {
            let (sft, rl) = (&r.arms[1], &r.arms[4]);
            let gain = (rl.acc_t2 - rl.acc_t1) - (sft.acc_t2 - sft.acc_t1);
            out.push("online_rl_vs_pair_sft", "rl_gain", p.lambda, i, gain);
        }
        for (metric, pick) in [("fix_rate_offline", 1), ("fix_rate_own", 2)] {
            for (i, r) in main.iter() {
                for &(step, offline, own) in &r.curve {
                    let v = if pick == 1 { offline } else { own };
                    out.push("pair_sft", metric, step as f64, i, v);
                }
            }
        }
        for &lambda in &p.lambdas {
            let deltas = run.replicates(&format!("sweep/{lambda}"), run.count(), |rep| sweep_run(p, lambda, rep));
            for (i, d) in deltas.iter() {
                out.push("pair_sft", "delta_sweep", lambda, i, *d);
            }
            for (i, r) in main.iter() {
                let rl = &r.arms[4];
                out.push("online_rl", "delta_sweep", lambda, i, rl.acc_t2 - rl.acc_t1);
            }
        }
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        Ok(Figure::column_width(
            840,
            vec![
                panel_accuracy(summary)?,
                panel_sweep(p, summary)?,
                panel_training(p, summary)?,
                panel_collapse(summary)?,
            ],
        ))
    }
}

/// One bar per arm of `metric`, at category x = arm index + `dx`.
fn bars(s: &Summary, metric: &str, label: &str, color: usize, width: f64, dx: f64) -> Result<Series> {
    let mut rows = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        let row = s.expect_series(arm, metric)?[0];
        rows.push(crate::analysis::Row { x: i as f64, ..row });
    }
    Ok(Series::new(label, color, Mark::Bars { width }, rows).nudged(dx))
}

fn panel_accuracy(s: &Summary) -> Result<Panel> {
    let w = 0.2;
    Ok(Panel {
        title: "(a) Accuracy at turn 1 and turn 2".into(),
        x: Axis::categories(CORRECTOR_AXIS, &ARM_LABELS),
        y: Axis::linear("share of problems", 0.0, 0.7),
        series: vec![
            bars(s, "acc_t1", "Acc@t1", 5, w, -1.5 * w)?,
            bars(s, "acc_t2", "Acc@t2", 0, w, -0.5 * w)?,
            bars(s, "i_to_c", "Δi→c (fixed)", 2, w, 0.5 * w)?,
            bars(s, "c_to_i", "Δc→i (broken)", 1, w, 1.5 * w)?,
        ],
        legend_columns: 2,
    })
}

fn panel_sweep(p: &Params, s: &Summary) -> Result<Panel> {
    let (lo, hi) = (p.lambdas[0], *p.lambdas.last().unwrap_or(&1.0));
    let mut zero = Series::exact("no change", 6, Mark::Dashed, [(lo, 0.0), (hi, 0.0)]);
    zero.band = false;
    let sft = s.expect_series("pair_sft", "delta_sweep")?;
    let rl = s.expect_series("online_rl", "delta_sweep")?;
    let (ymin, ymax) = sft
        .iter()
        .chain(rl.iter())
        .fold((0.0_f64, 0.0_f64), |(a, b), r| (a.min(r.lo), b.max(r.hi)));
    let pad = 0.1 * (ymax - ymin).max(0.01);
    Ok(Panel {
        title: "(b) Self-correction gain vs. mismatch".into(),
        x: Axis::linear("mismatch λ (share of foreign traces)", lo, hi),
        y: Axis::linear("Δ(t1,t2) = Acc@t2 − Acc@t1", ymin - pad, ymax + pad),
        series: vec![
            zero,
            Series::new("Pair-SFT", 1, Mark::Line, sft),
            Series::new("online RL (reads no traces)", 0, Mark::Line, rl),
        ],
        legend_columns: 2,
    })
}

fn panel_training(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(c) Pair-SFT training: whose errors it fixes".into(),
        x: Axis::linear("Pair-SFT step", 0.0, p.sft_steps as f64),
        y: Axis::linear("fix rate of wrong first attempts", 0.0, 1.0),
        series: vec![
            Series::new(
                "offline traces' attempts",
                3,
                Mark::Line,
                s.expect_series("pair_sft", "fix_rate_offline")?,
            ),
            Series::new(
                "model's own attempts",
                0,
                Mark::Line,
                s.expect_series("pair_sft", "fix_rate_own")?,
            ),
        ],
        legend_columns: 1,
    })
}

fn panel_collapse(s: &Summary) -> Result<Panel> {
    let w = 0.34;
    Ok(Panel {
        title: "(d) Collapse: edits and action diversity".into(),
        x: Axis::categories(CORRECTOR_AXIS, &ARM_LABELS),
        y: Axis::linear("share", 0.0, 1.0),
        series: vec![
            bars(s, "edit_rate", "edit rate (turn 2 ≠ turn 1)", 4, w, -0.5 * w)?,
            bars(s, "action_entropy", "action entropy / ln(M+1)", 5, w, 0.5 * w)?,
        ],
        legend_columns: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_normals_have_unit_moments() {
        let mut rng = Stream::new(1, "normals", 0, "t");
        let mut xs = Vec::new();
        for _ in 0..40_000 {
            push_normals(&mut xs, 5, &mut rng);
        }
        assert_eq!(xs.len(), 200_000);
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
    }

    #[test]
    fn entropy_is_zero_for_one_action_and_one_for_uniform() {
        assert_eq!(normalised_entropy(&[10.0, 0.0, 0.0]), 0.0);
        assert!((normalised_entropy(&[5.0, 5.0, 5.0, 5.0]) - 1.0).abs() < 1e-12);
    }
}
