//! The simulation of `calibration`: question banks, the policy and its spoken
//! confidence, REINFORCE with Adam, and the evaluation (see the module doc of `super`
//! for the model, its assumptions, and why each shortcut below is exact).

use super::draws::{SigmaTable, Ziggurat};
use super::scale::{rule_reward, Scale, Speaker};
use super::tally::{Tally, METRICS};
use super::Params;
use crate::ops;
use crate::rng::Stream;
use crate::sim::{Observations, Replicate, Runner};

/// Candidate answers per question: the per-question scratch buffers are fixed arrays.
pub(super) const MAX_ANSWERS: usize = 16;
/// Responses per question per step (RLOO needs at least two).
pub(super) const MAX_GROUP: usize = 32;
/// Internal certainties are log-odds clipped to ±30 (σ(30) rounds to 1 in any case).
const LOGIT_CLIP: f64 = 30.0;
/// A weight below e⁻⁴⁰ (< 2⁻⁵⁷) of one it is added to changes no bit of the sum: it is
/// not computed.
const NEGLIGIBLE: f64 = -40.0;
/// Equal-width confidence bins for ECE and the reliability diagram.
pub(super) const BINS: usize = 10;

/// How a response is scored (the discriminant indexes the reward tables).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Rule {
    /// RLVR: `1[correct]`.
    Binary = 0,
    /// RLCR: `1[correct] − (q − 1[correct])²`.
    Brier = 1,
    /// `1[correct] + c ln q + (1 − c) ln(1 − q)`; "I don't know" scores 0.
    Log = 2,
}

/// The arms: the untrained model and one per reward rule.
pub(super) const ARMS: [(&str, Option<Rule>); 4] = [
    ("base", None),
    ("rlvr", Some(Rule::Binary)),
    ("rlcr", Some(Rule::Brier)),
    ("log_score", Some(Rule::Log)),
];

/// The rules of panel (h), by name.
pub(super) const RULES: [(&str, Rule); 3] = [("binary", Rule::Binary), ("brier", Rule::Brier), ("log", Rule::Log)];

/// Exact expected reward of a calibrated answer (`q = p`) that is right with chance `p`.
pub(super) fn expected_rule_reward(rule: Rule, p: f64) -> f64 {
    match rule {
        Rule::Binary => p,
        Rule::Brier => p * p,
        Rule::Log => p + p * ops::log(p) + (1.0 - p) * ops::log(1.0 - p),
    }
}

/// A question bank in rank order. Answers are exchangeable, so a question is stored as
/// its answers sorted by logit: the gaps `d_r = z_(r) − z_(0) ≤ 0` of ranks
/// `r = 1 … K − 1` to the top answer (rank 0, `d_0 = 0`), and the rank of the right one.
pub(super) struct Bank {
    k: usize,
    gaps: Vec<f64>,
    /// `d_r − d_1` of ranks `r = 2 … K − 1` (the shared view's exponents over `τ_s`).
    rel: Vec<f64>,
    right: Vec<u8>,
}

impl Bank {
    pub(super) fn draw(n: usize, k: usize, spread: f64, rng: &mut Stream) -> Self {
        let mut gaps = Vec::with_capacity(n * (k - 1));
        let mut right = Vec::with_capacity(n);
        let mut z = [0.0; MAX_ANSWERS];
        let zig = Ziggurat::get();
        for _ in 0..n {
            for zj in &mut z[..k] {
                *zj = spread * zig.normal(rng);
            }
            z[..k].sort_unstable_by(|a, b| b.total_cmp(a));
            let start = gaps.len();
            gaps.extend(z[1..k].iter().map(|zr| zr - z[0]));
            // The right answer ~ softmax(z): the inverse CDF from the top (each weight
            // below the runner-up's).
            let rank = draw_rank(
                rng.uniform(),
                &gaps[start..],
                1.0,
                (k - 1) as f64,
                &mut Answers::default(),
            );
            right.push(rank as u8);
        }
        let rel = gaps
            .chunks_exact(k - 1)
            .flat_map(|g| g[1..].iter().map(move |d| d - g[0]))
            .collect();
        Bank { k, gaps, rel, right }
    }

    fn len(&self) -> usize {
        self.right.len()
    }

    /// `d_r − d_1` of ranks 2 … K − 1 of question `i`.
    fn rel(&self, i: usize) -> &[f64] {
        let m = self.k - 2;
        &self.rel[i * m..(i + 1) * m]
    }

    /// The gaps of ranks 1 … K − 1 and the rank of the right answer.
    fn question(&self, i: usize) -> (&[f64], usize) {
        let m = self.k - 1;
        (&self.gaps[i * m..(i + 1) * m], self.right[i] as usize)
    }
}

/// The gap of rank `r` (0 for the top answer).
fn gap(gaps: &[f64], r: usize) -> f64 {
    if r == 0 {
        0.0
    } else {
        gaps[r - 1]
    }
}

/// Indices of the five trained scalars.
const LOG_TAU: usize = 0;
const LOG_W: usize = 1;
const B: usize = 2;
const ETA0: usize = 3;
const ETA1: usize = 4;
const N_PARAMS: usize = 5;

/// The policy's five scalars in the form the loops use at one step: decisiveness
/// `τ = e^κ`, the shared representation's `τ_s = e^{γκ}`, readout `(w, b)`,
/// abstention head `(η₀, η₁)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heads {
    tau: f64,
    tau_s: f64,
    w: f64,
    b: f64,
    eta0: f64,
    eta1: f64,
    /// `τ ≥ τ_s`: the answers are at least as sharp as the shared representation, so
    /// the top answer's chance is at least `σ(u)` (see [`choose`]).
    squeeze: bool,
}

impl Heads {
    fn new(theta: &[f64; N_PARAMS], coupling: f64) -> Self {
        let tau = ops::exp(theta[LOG_TAU]);
        let tau_s = ops::exp(coupling * theta[LOG_TAU]);
        Heads {
            tau,
            tau_s,
            w: ops::exp(theta[LOG_W]),
            b: theta[B],
            eta0: theta[ETA0],
            eta1: theta[ETA1],
            squeeze: tau >= tau_s,
        }
    }
}

/// One question seen through the shared representation, `e_r = exp(τ_s d_r)` (the top's
/// is 1): the certainty logit `u = logit π_s(top) = −ln Σ_{r≥1} e_r` of the top answer,
/// computed relative to the runner-up, `u = −τ_s d_1 − ln Σ_{r≥1} e_r/e_1`, so it costs
/// K − 2 `exp`s and one `log` (none of either for K = 2).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SharedView {
    tau_s: f64,
    /// `Σ_{r≥1} e_r / e_1` and `Σ_{r≥1} e_r d_r / e_1` (negligible terms left out).
    sum: f64,
    sum_d: f64,
    /// `u`, clipped to ±30.
    pub u: f64,
    clipped: bool,
}

impl SharedView {
    /// One question's view, computed alone (the reference the batched [`views`] equals
    /// bit for bit).
    #[cfg(test)]
    pub(super) fn new(gaps: &[f64], tau_s: f64) -> Self {
        let d1 = gaps[0];
        let (mut sum, mut sum_d) = (1.0, d1);
        for &d in &gaps[1..] {
            let x = tau_s * (d - d1);
            if x < NEGLIGIBLE {
                break;
            }
            let e = ops::exp(x);
            sum += e;
            sum_d += e * d;
        }
        let ln_sum = if sum == 1.0 { 0.0 } else { ops::log(sum) };
        Self::from_sums(tau_s, d1, sum, sum_d, ln_sum)
    }

    /// The view from its sums and `ln Σ e_r/e_1` (0 when the sum is 1).
    #[inline(always)]
    fn from_sums(tau_s: f64, d1: f64, sum: f64, sum_d: f64, ln_sum: f64) -> Self {
        // u ≥ −ln(K − 1): only the upper clip can bind.
        let raw = -tau_s * d1 - ln_sum;
        SharedView {
            tau_s,
            sum,
            sum_d,
            u: raw.min(LOGIT_CLIP),
            clipped: raw > LOGIT_CLIP,
        }
    }

    /// `∂u/∂ln τ_s = −τ_s Σ e_r d_r / Σ e_r` (0 where clipped).
    fn top_slope(&self) -> f64 {
        if self.clipped {
            0.0
        } else {
            -self.tau_s * self.sum_d / self.sum
        }
    }

    /// The certainty logit `ℓ_a = τ_s d_a − ln Σ_{r≠a} e_r` of the answer of rank
    /// `a ≥ 1` and its slope `τ_s (d_a − Σ_{r≠a} e_r d_r / Σ_{r≠a} e_r)`, clipped at −30
    /// (slope 0). `ℓ_a ≤ τ_s d_a` (the top's weight 1 is among the others), so below
    /// −30 nothing needs computing.
    #[cfg(test)]
    pub(super) fn other(&self, gaps: &[f64], a: usize) -> (f64, f64) {
        let e_rel: Vec<f64> = gaps[1..].iter().map(|d| ops::exp(self.tau_s * (d - gaps[0]))).collect();
        self.other_given(gaps, a, &e_rel, ops::exp(self.tau_s * gaps[0]))
    }

    /// [`SharedView::other`] given the question's `e_rel = exp(τ_s (d_r − d_1))` of
    /// ranks `r ≥ 2` as [`views`] computed them and `e1 = exp(τ_s d_1)` (the same bits
    /// as computing them here).
    fn other_given(&self, gaps: &[f64], a: usize, e_rel: &[f64], e1: f64) -> (f64, f64) {
        let d = gaps[a - 1];
        let x = self.tau_s * d;
        if x < -LOGIT_CLIP {
            return (-LOGIT_CLIP, 0.0);
        }
        // Here τ_s (d_a − d_1) > −30: rank a's weight is in the sums.
        let rel = if a == 1 { 1.0 } else { e_rel[a - 2] };
        let others = 1.0 + e1 * (self.sum - rel);
        let raw = x - ops::log(others);
        if raw < -LOGIT_CLIP {
            return (-LOGIT_CLIP, 0.0);
        }
        let others_d = e1 * (self.sum_d - rel * d);
        (raw, self.tau_s * (d - others_d / others))
    }

    /// `(ℓ, ∂ℓ/∂ln τ_s)` of the answer of rank `a` (`e_rel`, `e1` as in
    /// [`SharedView::other_given`]).
    fn certainty(&self, gaps: &[f64], a: usize, e_rel: &[f64], e1: f64) -> (f64, f64) {
        if a == 0 {
            (self.u, self.top_slope())
        } else {
            self.other_given(gaps, a, e_rel, e1)
        }
    }
}

/// One question seen by the answer head: weights `f_r = exp(τ d_r)` of ranks ≥ 1 (the
/// top's is 1), up to the first negligible one.
pub(super) struct AnswerView {
    f: [f64; MAX_ANSWERS],
    n: usize,
    total: f64,
}

impl AnswerView {
    /// `f1`: the runner-up's weight if already computed.
    pub(super) fn new(gaps: &[f64], tau: f64, f1: Option<f64>) -> Self {
        let (mut f, mut n, mut total) = ([0.0; MAX_ANSWERS], 0, 1.0);
        for (i, &d) in gaps.iter().enumerate() {
            let x = tau * d;
            if x < NEGLIGIBLE {
                break;
            }
            f[i] = match f1 {
                Some(f1) if i == 0 => f1,
                _ => ops::exp(x),
            };
            total += f[i];
            n = i + 1;
        }
        AnswerView { f, n, total }
    }

    /// The rank drawn from `softmax(τ z)` for a uniform `u`: inverse CDF from the top.
    pub(super) fn sample(&self, u: f64) -> usize {
        let mut target = u * self.total;
        if target < 1.0 {
            return 0;
        }
        target -= 1.0;
        for (i, &f) in self.f[..self.n].iter().enumerate() {
            if target < f {
                return i + 1;
            }
            target -= f;
        }
        self.n
    }

    /// `E_π d = Σ f_r d_r / Σ f_r`.
    fn mean_gap(&self, gaps: &[f64]) -> f64 {
        let mut s = 0.0;
        for (f, d) in self.f[..self.n].iter().zip(gaps) {
            s += f * d;
        }
        s / self.total
    }
}

/// The answer head's weights of one question, computed as far as a draw needs them:
/// first none, then the runner-up's `f_1`, then all.
#[derive(Default)]
struct Answers {
    f1: Option<f64>,
    all: Option<AnswerView>,
}

impl Answers {
    fn all(&mut self, gaps: &[f64], tau: f64) -> &AnswerView {
        let f1 = self.f1;
        self.all.get_or_insert_with(|| AnswerView::new(gaps, tau, f1))
    }
}

/// Relative widening of the bounds below: far more than the rounding of the sums they
/// bound, far less than any probability that matters.
const BOUND_MARGIN: f64 = 1e-12;

/// The rank drawn from `softmax(τ z)` for a uniform `u` (the inverse CDF from the top),
/// knowing `tail ≥ Σ_{r≥1} f_r / f_1`: from `f_1` alone when the bounds
/// `1 + f_1 ≤ S ≤ 1 + f_1 · tail` on the total decide it (the top or the runner-up),
/// else from every weight.
#[inline(always)]
fn draw_rank(u: f64, gaps: &[f64], tau: f64, tail: f64, answers: &mut Answers) -> usize {
    let f1 = *answers.f1.get_or_insert_with(|| ops::exp(tau * gaps[0]));
    draw_rank_within(u, RankBounds::new(f1, tail), gaps, tau, answers)
}

/// The widened bounds of [`draw_rank`] on a question's total weight, computed once per
/// question for all its responses (the same expressions, so the same bits).
#[derive(Debug, Clone, Copy)]
struct RankBounds {
    s_hi: f64,
    s_lo: f64,
}

impl RankBounds {
    #[inline(always)]
    fn new(f1: f64, tail: f64) -> Self {
        RankBounds {
            s_hi: (1.0 + f1 * tail) * (1.0 + BOUND_MARGIN),
            s_lo: (1.0 + f1) * (1.0 - BOUND_MARGIN),
        }
    }
}

/// [`draw_rank`] given its bounds.
#[inline(always)]
fn draw_rank_within(u: f64, b: RankBounds, gaps: &[f64], tau: f64, answers: &mut Answers) -> usize {
    let us = u * b.s_hi;
    if us < 1.0 {
        return 0;
    }
    if u * b.s_lo >= 1.0 && us < b.s_lo {
        return 1;
    }
    answers.all(gaps, tau).sample(u)
}

/// The tables the loops read: σ brackets, the ziggurat, the spoken scale.
#[derive(Clone, Copy)]
struct Tables<'a> {
    sigma: &'static SigmaTable,
    zig: &'static Ziggurat,
    speaker: &'a Speaker,
}

impl<'a> Tables<'a> {
    fn new(speaker: &'a Speaker) -> Self {
        Tables {
            sigma: SigmaTable::get(),
            zig: Ziggurat::get(),
            speaker,
        }
    }

    /// The rank of the answer for a uniform `u`: the inverse CDF from the top, `rank =
    /// min {j : u S < Σ_{r≤j} f_r}` with `S = Σ f_r`, decided from bounds on `S` while
    /// they suffice. When `τ ≥ τ_s` the answer head is at least as sharp as the shared
    /// representation, so for every rank `r ≥ 1`, `f_r ≤ f_1 e_r/e_1`
    /// (`d_r ≤ d_1 ≤ 0`): `1 + f_1 ≤ S ≤ 1 + f_1 Σ e_r/e_1 ≤ 1 + Σ e_r`.
    /// - No weight: `u < σ(u_top) = 1 / (1 + Σ e_r)` (a table's lower bound of it)
    ///   gives the top.
    /// - `f_1` alone (one `exp`): `u (1 + f_1 Σ e_r/e_1) < 1` gives the top;
    ///   `u (1 + f_1) ≥ 1` and `u (1 + f_1 Σ e_r/e_1) < 1 + f_1` give the runner-up.
    /// - Otherwise every weight.
    ///
    /// Each bound is widened by `BOUND_MARGIN`, so the rank is the one the inverse CDF
    /// over all the weights gives. `(u_top, sum)` is the question's shared view: its
    /// `u` and `Σ e_r/e_1`.
    #[inline(always)]
    fn choose(&self, h: &Heads, (u_top, sum): (f64, f64), gaps: &[f64], answers: &mut Answers, u: f64) -> usize {
        if !h.squeeze {
            return answers.all(gaps, h.tau).sample(u);
        }
        if u < self.sigma.lower_bound(u_top) {
            return 0;
        }
        draw_rank(u, gaps, h.tau, sum, answers)
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

/// The confidence head on one (question, answer): certainty logit, its slope, the
/// log-odds `m = w ℓ + b`, and the reward of the noise-free spoken confidence under the
/// confidence's rule (the answer is right or not with its rank, so this is fixed per
/// question and answer; computed only where the readout trains).
#[derive(Debug, Clone, Copy, Default)]
struct Confidence {
    ell: f64,
    dell: f64,
    m: f64,
    greedy_reward: f64,
}

/// One sampled response during training.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sampled {
    pub abstained: bool,
    pub rank: usize,
    pub reward: f64,
    /// The confidence head's advantage (reward at the stated confidence minus at the
    /// noise-free one), its exploration draw, and `(∂ℓ/∂ln τ_s, ℓ)` of the answer.
    pub adv_conf: f64,
    pub eps: f64,
    pub slopes: [f64; 2],
}

/// One training question's constants at a step: the abstention coin's log-odds and
/// table bracket, the table's lower bound on `σ(u)`, and the rank bounds.
#[derive(Debug, Clone, Copy)]
struct QuestionBounds {
    x_abstain: f64,
    coin: (f64, f64),
    top: f64,
    rank: RankBounds,
}

/// A training run's step, and what it needs besides the policy.
struct Trainer<'a> {
    p: &'a Params,
    bank: &'a Bank,
    t: Tables<'a>,
    rule: Rule,
    conf_rule: Rule,
    /// Whether the spoken confidence reaches the reward or the readout's gradient.
    speaks: bool,
    /// Whether the readout gets a gradient (exploration on, a rule that scores `q`).
    trains_readout: bool,
    /// The step's questions and their shared views.
    batch: Vec<usize>,
    views: Vec<SharedView>,
    scratch: ViewScratch,
    /// Per question of the step: `f_1 = exp(τ d_1)` and `e_1 = exp(τ_s d_1)`.
    fe: Vec<f64>,
}

impl<'a> Trainer<'a> {
    fn new(p: &'a Params, bank: &'a Bank, t: Tables<'a>, rule: Rule) -> Self {
        let conf_rule = if p.brier_readout_everywhere { Rule::Brier } else { rule };
        // Under the binary rule the confidence advantage is c − c = 0.
        let trains_readout = p.confidence_noise > 0.0 && conf_rule != Rule::Binary;
        Trainer {
            p,
            bank,
            t,
            rule,
            conf_rule,
            speaks: rule != Rule::Binary || trains_readout,
            trains_readout,
            batch: Vec::with_capacity(p.batch),
            views: Vec::with_capacity(p.batch),
            scratch: ViewScratch::default(),
            fe: Vec::with_capacity(2 * p.batch),
        }
    }

    /// One policy-gradient step on `batch` questions with `group` responses each: the
    /// questions are drawn first and seen through the shared representation in one
    /// loop (its `exp`s and `log`s back to back), then answered.
    fn step(&mut self, theta: &mut [f64; N_PARAMS], adam: &mut Adam, rng: &mut Stream) {
        let p = self.p;
        let h = Heads::new(theta, p.coupling);
        let n = self.bank.len();
        self.batch.clear();
        self.batch.extend((0..p.batch).map(|_| rng.below(n)));
        views(self.bank, &self.batch, h.tau_s, &mut self.views, &mut self.scratch);
        // The runner-up's weight in the answer head and in the shared view, for every
        // question of the step in one batch (libm's bits; `exact`).
        self.fe.clear();
        for &i in &self.batch {
            let d1 = self.bank.question(i).0[0];
            self.fe.extend([h.tau * d1, h.tau_s * d1]);
        }
        ops::exact::exp_batch(&mut self.fe);
        let mut grad = [0.0; N_PARAMS];
        // Σ adv (d_a − E_π d) over answered responses: the answer head's score, / τ.
        let mut answer_score = 0.0;
        let mut group = [Sampled::default(); MAX_GROUP];
        let m = self.bank.k - 2;
        let mut heads = [Confidence::default(); MAX_ANSWERS];
        for (b, (&i, &view)) in self.batch.iter().zip(&self.views).enumerate() {
            let (gaps, right) = self.bank.question(i);
            let e_rel = &self.scratch.e[b * m..(b + 1) * m];
            let x_abstain = h.eta0 + h.eta1 * view.u;
            let (f1, e1) = (self.fe[2 * b], self.fe[2 * b + 1]);
            // What `SigmaTable::below` and `Tables::choose` read, once per question.
            let q = QuestionBounds {
                x_abstain,
                coin: self.t.sigma.bracket(x_abstain),
                top: self.t.sigma.lower_bound(view.u),
                rank: RankBounds::new(f1, view.sum),
            };
            let mut answers = Answers {
                f1: Some(f1),
                all: None,
            };
            let mut known = 0u32;
            for s in &mut group[..p.group] {
                *s = self.respond(
                    &h,
                    (&view, e_rel, e1),
                    gaps,
                    right,
                    q,
                    &mut answers,
                    (&mut heads, &mut known),
                    rng,
                );
            }
            let (abstain_adv, score) = rloo(&group[..p.group], gaps);
            answer_score += score.answer;
            if self.trains_readout {
                // Score of the stated log-odds m + s ε with respect to m: ε / s.
                let [dell, ell] = score.confidence.map(|x| x / p.confidence_noise);
                grad[LOG_TAU] += dell * h.w * p.coupling;
                grad[LOG_W] += ell * h.w;
                grad[B] += score.confidence_offset / p.confidence_noise;
            }
            if abstain_adv != 0.0 {
                // RLOO advantages sum to zero over the group, so the abstention head's
                // score Σ adv (1[abstained] − p) is Σ_{abstained} adv, and the answered
                // responses' Σ adv is −abstain_adv: the E_π d term needs the weights.
                grad[ETA0] += abstain_adv;
                grad[ETA1] += abstain_adv * view.u;
                answer_score += abstain_adv * answers.all(gaps, h.tau).mean_gap(gaps);
            }
        }
        grad[LOG_TAU] += h.tau * answer_score;
        let n = (p.batch * p.group) as f64;
        for x in &mut grad {
            *x /= n;
        }
        adam.ascend(theta, &grad);
    }

    /// Samples "I don't know" or an answer with its stated confidence; each answer's
    /// confidence head is computed once per question (`heads`, by rank, those in the
    /// bit mask `known` computed for this question).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn respond(
        &self,
        h: &Heads,
        (view, e_rel, e1): (&SharedView, &[f64], f64),
        gaps: &[f64],
        right: usize,
        q: QuestionBounds,
        answers: &mut Answers,
        (heads, known): (&mut [Confidence; MAX_ANSWERS], &mut u32),
        rng: &mut Stream,
    ) -> Sampled {
        // The high half of the draw speaks the answer, the low half tosses the coin.
        let (u_answer, u_abstain) = rng.uniform_pair();
        if SigmaTable::below_in(u_abstain, q.coin, q.x_abstain) {
            // Never correct, confidence 0: reward 0 under all three rules.
            return Sampled {
                abstained: true,
                ..Sampled::default()
            };
        }
        // `Tables::choose` with the question's bounds.
        let rank = if !h.squeeze {
            answers.all(gaps, h.tau).sample(u_answer)
        } else if u_answer < q.top {
            0
        } else {
            draw_rank_within(u_answer, q.rank, gaps, h.tau, answers)
        };
        let correct = rank == right;
        if !self.speaks {
            return Sampled {
                rank,
                reward: correct as u8 as f64,
                ..Sampled::default()
            };
        }
        let head = || {
            let (ell, dell) = view.certainty(gaps, rank, e_rel, e1);
            let m = h.w * ell + h.b;
            let greedy_reward = if self.trains_readout {
                self.t.speaker.reward(self.conf_rule, correct, self.t.speaker.speak(m))
            } else {
                0.0
            };
            Confidence {
                ell,
                dell,
                m,
                greedy_reward,
            }
        };
        let c = if *known & (1 << rank) != 0 {
            heads[rank]
        } else {
            heads[rank] = head();
            *known |= 1 << rank;
            heads[rank]
        };
        let noise = self.p.confidence_noise;
        let eps = if noise > 0.0 { self.t.zig.normal(rng) } else { 0.0 };
        let speaker = self.t.speaker;
        let spoken = speaker.speak(c.m + noise * eps);
        let reward = speaker.reward(self.rule, correct, spoken);
        let adv_conf = if self.trains_readout {
            // The same table entry (or the same `rule_reward`) when the rules agree.
            let at_spoken = if self.conf_rule == self.rule {
                reward
            } else {
                speaker.reward(self.conf_rule, correct, spoken)
            };
            at_spoken - c.greedy_reward
        } else {
            0.0
        };
        Sampled {
            abstained: false,
            rank,
            reward,
            adv_conf,
            eps,
            slopes: [c.dell, c.ell],
        }
    }
}

/// Sums over one question's answered responses of the REINFORCE terms.
#[derive(Debug, Default, PartialEq)]
pub(super) struct GroupScore {
    /// `Σ adv d_a`.
    pub answer: f64,
    /// `Σ adv_conf ε · (∂ℓ/∂ln τ_s, ℓ)` and `Σ adv_conf ε`.
    pub confidence: [f64; 2],
    pub confidence_offset: f64,
}

/// RLOO over one question's responses: each response's advantage is its reward minus
/// the mean reward of the others. Returns `Σ_{abstained} adv` and the answered
/// responses' sums.
pub(super) fn rloo(group: &[Sampled], gaps: &[f64]) -> (f64, GroupScore) {
    let total: f64 = group.iter().map(|s| s.reward).sum();
    let others = (group.len() - 1) as f64;
    let mut abstain_adv = 0.0;
    let mut score = GroupScore::default();
    for s in group {
        let adv = s.reward - (total - s.reward) / others;
        if s.abstained {
            abstain_adv += adv;
            continue;
        }
        score.answer += adv * gap(gaps, s.rank);
        if s.adv_conf != 0.0 {
            let c = s.adv_conf * s.eps;
            score.confidence[0] += c * s.slopes[0];
            score.confidence[1] += c * s.slopes[1];
            score.confidence_offset += c;
        }
    }
    (abstain_adv, score)
}

/// Buffers of [`views`]: the exponentials and the sums whose logs are taken.
#[derive(Default)]
pub(super) struct ViewScratch {
    e: Vec<f64>,
    ln: Vec<f64>,
    sums: Vec<f64>,
    sums_d: Vec<f64>,
}

/// The questions `which` of `bank` seen through the shared representation at `τ_s`,
/// into `out`: [`SharedView::new`] of each, bit for bit, but with every `exp` of them
/// in one batch and every `log` in another ([`exact`]: libm's bits, vectorised).
/// Exponents below the negligible cut are computed too, and left out of the sums as
/// `SharedView::new` leaves them out.
fn views(bank: &Bank, which: &[usize], tau_s: f64, out: &mut Vec<SharedView>, s: &mut ViewScratch) {
    let (m, k1) = (bank.k - 2, bank.k - 1);
    let n = which.len();
    s.e.clear();
    s.e.resize(n * m, 0.0);
    for (e, &i) in s.e.chunks_exact_mut(m.max(1)).zip(which) {
        for (e, r) in e.iter_mut().zip(bank.rel(i)) {
            *e = r * tau_s;
        }
    }
    ops::exact::exp_batch(&mut s.e);
    // Σ e_r/e_1 and Σ e_r d_r/e_1 per question, in rank order as `SharedView::new`.
    s.sums.clear();
    s.sums_d.clear();
    match m {
        // The figure's K = 4 with the loop over ranks unrolled (the same operations).
        2 => view_sums::<2>(bank, which, tau_s, s),
        _ => {
            for (b, &i) in which.iter().enumerate() {
                let d = &bank.gaps[i * k1..(i + 1) * k1];
                let rel = &bank.rel[i * m..(i + 1) * m];
                let e = &s.e[b * m..(b + 1) * m];
                let (sum, sum_d) = view_sum(d, rel, e, tau_s);
                s.sums.push(sum);
                s.sums_d.push(sum_d);
            }
        }
    }
    s.ln.clear();
    s.ln.extend_from_slice(&s.sums);
    ops::exact::log_batch(&mut s.ln);
    out.clear();
    out.extend(
        which
            .iter()
            .zip(&s.sums)
            .zip(&s.sums_d)
            .zip(&s.ln)
            .map(|(((&i, &sum), &sum_d), &ln)| {
                let ln_sum = if sum == 1.0 { 0.0 } else { ln };
                SharedView::from_sums(tau_s, bank.gaps[i * k1], sum, sum_d, ln_sum)
            }),
    );
}

/// One question's `(Σ e_r/e_1, Σ e_r d_r/e_1)` from its gaps `d`, `rel = d_r − d_1` and
/// `e = exp(τ_s rel)` of ranks ≥ 2, in rank order, negligible terms left out.
#[inline(always)]
fn view_sum(d: &[f64], rel: &[f64], e: &[f64], tau_s: f64) -> (f64, f64) {
    let (mut sum, mut sum_d) = (1.0, d[0]);
    for ((&r, &e), &d) in rel.iter().zip(e).zip(&d[1..]) {
        if r * tau_s >= NEGLIGIBLE {
            sum += e;
            sum_d += e * d;
        }
    }
    (sum, sum_d)
}

/// The sums of [`views`] for `K − 2 = M` known at compile time ([`view_sum`] of each
/// question, unrolled).
fn view_sums<const M: usize>(bank: &Bank, which: &[usize], tau_s: f64, s: &mut ViewScratch) {
    let k1 = M + 1;
    let mut one = |(i, e): (usize, &[f64; M])| {
        let d: &[f64] = &bank.gaps[i * k1..][..k1];
        let rel: &[f64; M] = &bank.rel.as_chunks::<M>().0[i];
        let (sum, sum_d) = view_sum(d, rel, e, tau_s);
        s.sums.push(sum);
        s.sums_d.push(sum_d);
    };
    let e = std::mem::take(&mut s.e);
    which.iter().copied().zip(e.as_chunks::<M>().0).for_each(&mut one);
    s.e = e;
}

/// Every test question seen through the shared representation at `τ_s`, as an
/// evaluation reads it: the certainty `u` of the top answer and `Σ e_r/e_1`, one array
/// each, and `e = exp(τ_s (d_r − d_1))` of ranks `r ≥ 2`, question by question. The
/// same bits as [`SharedView::new`] (tested), in loops over all the questions without
/// branches: a negligible term is added as 0 (the sum is at least 1, so that changes
/// no bit), `∂u/∂ln τ_s` and its sum (training only) are not computed.
#[derive(Default)]
pub(super) struct TestViews {
    pub u: Vec<f64>,
    sum: Vec<f64>,
    e: Vec<f64>,
}

impl TestViews {
    fn compute(&mut self, bank: &Bank, tau_s: f64) {
        let (m, k1) = (bank.k - 2, bank.k - 1);
        self.e.clear();
        self.e.extend(bank.rel.iter().map(|r| r * tau_s));
        ops::exact::exp_batch(&mut self.e);
        self.sum.clear();
        match m {
            // The figure's K = 4 with the loop over ranks unrolled (the same operations).
            2 => self.sums::<2>(bank, tau_s),
            _ => {
                let sums = bank.rel.chunks_exact(m.max(1)).zip(self.e.chunks_exact(m.max(1)));
                self.sum
                    .extend(sums.take(bank.len()).map(|(rel, e)| view_sum_only(rel, e, tau_s)));
                self.sum.resize(bank.len(), 1.0);
            }
        }
        self.u.clear();
        self.u.extend_from_slice(&self.sum);
        ops::exact::log_batch(&mut self.u);
        for ((u, &sum), gaps) in self.u.iter_mut().zip(&self.sum).zip(bank.gaps.chunks_exact(k1)) {
            let ln_sum = if sum == 1.0 { 0.0 } else { *u };
            // As `SharedView::from_sums`: only the upper clip can bind.
            *u = (-tau_s * gaps[0] - ln_sum).min(LOGIT_CLIP);
        }
    }

    fn sums<const M: usize>(&mut self, bank: &Bank, tau_s: f64) {
        let sums = bank.rel.as_chunks::<M>().0.iter().zip(self.e.as_chunks::<M>().0);
        self.sum.extend(sums.map(|(rel, e)| view_sum_only(rel, e, tau_s)));
    }
}

/// `Σ e_r/e_1` of [`view_sum`], a negligible term added as 0.
#[inline(always)]
fn view_sum_only(rel: &[f64], e: &[f64], tau_s: f64) -> f64 {
    let mut sum = 1.0;
    for (&r, &e) in rel.iter().zip(e) {
        sum += if r * tau_s >= NEGLIGIBLE { e } else { 0.0 };
    }
    sum
}

/// Buffers of [`evaluate`].
#[derive(Default)]
struct EvalScratch {
    /// Per test question: its rank, or [`ABSTAINED`], or [`PENDING`] (needs `f_1`).
    rank: Vec<usize>,
    u: Vec<f64>,
    eps: Vec<f64>,
    /// Questions whose rank needs `f_1`, or whose answer's certainty needs `e_1`, and
    /// those exponents (then their exponentials).
    which: Vec<usize>,
    x: Vec<f64>,
    /// Per answered question of rank ≥ 1 (in `which`): the sum of the other weights,
    /// then its log.
    others: Vec<f64>,
    ell: Vec<f64>,
}

const ABSTAINED: usize = usize::MAX;
const PENDING: usize = usize::MAX - 1;

/// One sampled response to every test question, given its `views` at `h`'s `τ_s` and
/// the exponentials `e_rel` those views computed (`exp(τ_s (d_r − d_1))`, ranks
/// `r ≥ 2`, question by question).
///
/// The same draws, answers and confidences as answering question by question (the
/// draws are taken in the streams' order first; no draw depends on an `exp`), with the
/// `exp`s and `log`s the answers and their certainties need computed in batches
/// ([`exact`]: libm's bits): the runner-up's weight `f_1` where the bounds do not
/// decide the rank from the table alone, then `e_1 = exp(τ_s d_1)` and the log of
/// the other weights for each answer below the top ([`SharedView::other`]; its
/// `exp(τ_s (d_a − d_1))` is the view's own).
fn evaluate(
    bank: &Bank,
    views: &TestViews,
    h: &Heads,
    t: Tables,
    noise: f64,
    rng: &mut Stream,
    sc: &mut EvalScratch,
) -> Tally {
    let (k1, m) = (bank.k - 1, bank.k - 2);
    let gaps_of = |i: usize| &bank.gaps[i * k1..(i + 1) * k1];
    let e_rel = &views.e;
    for v in [&mut sc.u, &mut sc.eps] {
        v.clear();
    }
    sc.rank.clear();
    sc.which.clear();
    sc.x.clear();
    // The draws, in order; ranks the table decides.
    for (i, (&u_top, &sum)) in views.u.iter().zip(&views.sum).enumerate() {
        // The high half of the draw speaks the answer, the low half tosses the coin.
        let (u_answer, u_abstain) = rng.uniform_pair();
        let rank = if t.sigma.below(u_abstain, h.eta0 + h.eta1 * u_top) {
            ABSTAINED
        } else if !h.squeeze {
            t.choose(h, (u_top, sum), gaps_of(i), &mut Answers::default(), u_answer)
        } else if u_answer < t.sigma.lower_bound(u_top) {
            0
        } else {
            sc.which.push(i);
            sc.x.push(h.tau * gaps_of(i)[0]);
            PENDING
        };
        sc.eps.push(if rank != ABSTAINED && noise > 0.0 {
            t.zig.normal(rng)
        } else {
            0.0
        });
        sc.rank.push(rank);
        sc.u.push(u_answer);
    }
    // Ranks that need the runner-up's weight f_1 = exp(τ d_1) (`Tables::choose`).
    ops::exact::exp_batch(&mut sc.x);
    for (&i, &f1) in sc.which.iter().zip(&sc.x) {
        let mut answers = Answers {
            f1: Some(f1),
            all: None,
        };
        sc.rank[i] = draw_rank(sc.u[i], gaps_of(i), h.tau, views.sum[i], &mut answers);
    }
    // Certainties of answers below the top that are not clipped: e_1, then the log.
    sc.which.clear();
    sc.x.clear();
    for (i, &rank) in sc.rank.iter().enumerate() {
        if rank != ABSTAINED && rank >= 1 && h.tau_s * gaps_of(i)[rank - 1] >= -LOGIT_CLIP {
            sc.which.push(i);
            sc.x.push(h.tau_s * gaps_of(i)[0]);
        }
    }
    ops::exact::exp_batch(&mut sc.x);
    sc.others.clear();
    for (&i, &e1) in sc.which.iter().zip(&sc.x) {
        let a = sc.rank[i];
        let rel = if a == 1 { 1.0 } else { e_rel[i * m + a - 2] };
        sc.others.push(1.0 + e1 * (views.sum[i] - rel));
    }
    ops::exact::log_batch(&mut sc.others);
    sc.ell.clear();
    sc.ell.resize(views.u.len(), -LOGIT_CLIP);
    for (&i, &ln) in sc.which.iter().zip(&sc.others) {
        let raw = h.tau_s * gaps_of(i)[sc.rank[i] - 1] - ln;
        sc.ell[i] = if raw < -LOGIT_CLIP { -LOGIT_CLIP } else { raw };
    }
    // The tally, question by question.
    let mut tally = Tally::new(t.speaker);
    for (i, &u_top) in views.u.iter().enumerate() {
        let rank = sc.rank[i];
        if rank == ABSTAINED {
            tally.abstain();
            continue;
        }
        let ell = if rank == 0 { u_top } else { sc.ell[i] };
        let x = h.w * ell + h.b + noise * sc.eps[i];
        let right = rank == bank.right[i] as usize;
        if t.speaker.is_real() {
            tally.add(t.speaker.speak(x), right);
        } else {
            tally.add_level(t.speaker.level(x), right);
        }
    }
    tally
}

/// What one training run reports: metrics at each recorded step and the final tally.
pub(super) struct RunResult {
    pub records: Vec<[f64; 9]>,
    pub last: Tally,
}

/// The parameters every arm starts from.
fn initial_theta(p: &Params) -> [f64; N_PARAMS] {
    let mut theta = [0.0; N_PARAMS];
    theta[ETA0] = p.initial_abstain_logit;
    theta
}

/// Trains one arm on `train` and evaluates it on `test` every `record_every` steps;
/// `views0` are the test questions seen by the initial policy (every arm's step 0).
pub(super) fn train_run(
    p: &Params,
    (train, test, views0): (&Bank, &Bank, &TestViews),
    speaker: &Speaker,
    rule: Option<Rule>,
    mut rng: Stream,
    mut eval_rng: Stream,
) -> RunResult {
    let mut theta = initial_theta(p);
    let mut adam = Adam::new(p);
    let n_records = p.steps / p.record_every + 1;
    let mut records = Vec::with_capacity(n_records);
    let tables = Tables::new(speaker);
    let mut eval_scratch = EvalScratch::default();
    let mut record = |theta: &[f64; N_PARAMS], views: &TestViews, eval_rng: &mut Stream| {
        let h = Heads::new(theta, p.coupling);
        let tally = evaluate(test, views, &h, tables, p.confidence_noise, eval_rng, &mut eval_scratch);
        (tally.metrics(speaker, h.tau, h.w), tally)
    };
    let (first, mut last) = record(&theta, views0, &mut eval_rng);
    records.push(first);
    let Some(rule) = rule else {
        // The untrained model does not change: its one evaluation stands for every step.
        records.resize(n_records, first);
        return RunResult { records, last };
    };
    let mut trainer = Trainer::new(p, train, tables, rule);
    let mut test_views = TestViews::default();
    for step in 1..=p.steps {
        trainer.step(&mut theta, &mut adam, &mut rng);
        if step % p.record_every == 0 {
            test_views.compute(test, Heads::new(&theta, p.coupling).tau_s);
            let (metrics, tally) = record(&theta, &test_views, &mut eval_rng);
            records.push(metrics);
            last = tally;
        }
    }
    RunResult { records, last }
}

/// One replicate: its own training and test banks (so the intervals include the
/// variability of the data set), and every arm trained and evaluated on them.
fn replicate(p: &Params, speaker: &Speaker, rep: Replicate) -> Vec<RunResult> {
    let mut rng = rep.stream("questions");
    let train = Bank::draw(p.train_questions, p.answers, p.belief_spread, &mut rng);
    let test = Bank::draw(p.test_questions, p.answers, p.belief_spread, &mut rng);
    // Every arm starts from the same policy: its step-0 views are computed once.
    let mut views0 = TestViews::default();
    views0.compute(&test, Heads::new(&initial_theta(p), p.coupling).tau_s);
    ARMS.iter()
        .map(|(arm, rule)| {
            let (t, e) = (rep.stream(&format!("train/{arm}")), rep.stream(&format!("eval/{arm}")));
            train_run(p, (&train, &test, &views0), speaker, *rule, t, e)
        })
        .collect()
}

/// Every arm's training curves and its reliability diagram at the last step.
pub(super) fn training(p: &Params, run: &Runner, out: &mut Observations) {
    let speaker = Speaker::new(Scale::new(p.confidence_levels, p.confidence_cap));
    let runs = run.replicates("run", run.count(), |rep| replicate(p, &speaker, rep));
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
            push_reliability(arm, i, &arms[k].last, &speaker, out);
        }
    }
}

/// Per bin at the last step: share of responses, and (if any) accuracy and mean confidence.
fn push_reliability(arm: &str, rep: u64, t: &Tally, speaker: &Speaker, out: &mut Observations) {
    let bins = t.reliability(speaker);
    for b in 0..BINS {
        let x = (b as f64 + 0.5) / BINS as f64;
        out.push(arm, "bin_share", x, rep, bins.n[b] as f64 / t.n() as f64);
        if bins.n[b] > 0 {
            let n = bins.n[b] as f64;
            out.push(arm, "bin_accuracy", x, rep, bins.right[b] as f64 / n);
            out.push(arm, "bin_confidence", x, rep, bins.confidence[b] / n);
        }
    }
}

/// Panel (h): simulated mean reward of calibrated answers beside the exact curves.
pub(super) fn rule_curves(p: &Params, run: &Runner, out: &mut Observations) {
    for &prob in &p.rule_probabilities {
        // The reward of a wrong and of a right answer stated with q = prob, per rule.
        let reward = RULES.map(|(_, rule)| [rule_reward(rule, 0.0, prob), rule_reward(rule, 1.0, prob)]);
        let means = run.replicates(&format!("rules/{prob}"), run.count(), |rep| {
            let mut rng = rep.stream("outcomes");
            let mut sums = [0.0; 3];
            for _ in 0..p.rule_samples {
                let c = rng.bernoulli(prob) as usize;
                for (s, r) in sums.iter_mut().zip(&reward) {
                    *s += r[c];
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

    /// Softmax of `tau z` over the ranks (top first): the definition.
    fn softmax(gaps: &[f64], tau: f64) -> Vec<f64> {
        let w: Vec<f64> = std::iter::once(0.0)
            .chain(gaps.iter().copied())
            .map(|d| ops::exp(tau * d))
            .collect();
        let total: f64 = w.iter().sum();
        w.iter().map(|x| x / total).collect()
    }

    /// `logit π_s(a) = ln w_a − ln Σ_{j≠a} w_j`, clipped, as the model before the
    /// shortcuts computed it (every weight `w_j = exp(τ_s d_j)`).
    fn certainty_direct(gaps: &[f64], tau_s: f64, a: usize) -> f64 {
        let w: Vec<f64> = std::iter::once(0.0)
            .chain(gaps.iter().copied())
            .map(|d| ops::exp(tau_s * d))
            .collect();
        let others: f64 = w.iter().enumerate().filter(|&(j, _)| j != a).map(|(_, x)| x).sum();
        (ops::log(w[a]) - ops::log(others)).clamp(-LOGIT_CLIP, LOGIT_CLIP)
    }

    #[test]
    fn certainty_logits_and_their_slopes() {
        let questions: [&[f64]; 4] = [
            &[-0.3, -1.0, -2.5],
            &[-1.2],
            &[0.0, -0.1, -7.0],
            &[-0.5, -0.6, -40.0, -90.0],
        ];
        for gaps in questions {
            for tau_s in [0.5, 1.0, 3.0, 12.0] {
                let view = SharedView::new(gaps, tau_s);
                let e_rel: Vec<f64> = gaps[1..].iter().map(|d| ops::exp(tau_s * (d - gaps[0]))).collect();
                for a in 0..=gaps.len() {
                    let (ell, slope) = view.certainty(gaps, a, &e_rel, ops::exp(tau_s * gaps[0]));
                    let direct = certainty_direct(gaps, tau_s, a);
                    assert!(
                        (ell - direct).abs() < 1e-9,
                        "{gaps:?} τ_s {tau_s} a {a}: {ell} vs {direct}"
                    );
                    // d ℓ / d ln τ_s against a central difference (0 where clipped).
                    let h = 1e-6;
                    let up = certainty_direct(gaps, tau_s * ops::exp(h), a);
                    let down = certainty_direct(gaps, tau_s * ops::exp(-h), a);
                    let numeric = (up - down) / (2.0 * h);
                    assert!(
                        (slope - numeric).abs() < 1e-5,
                        "{gaps:?} τ_s {tau_s} a {a}: {slope} vs {numeric}"
                    );
                }
            }
        }
        // Clipped: no slope.
        let view = SharedView::new(&[-10.0, -11.0], 100.0);
        assert_eq!((view.u, view.top_slope()), (LOGIT_CLIP, 0.0));
        assert_eq!(view.other(&[-10.0, -11.0], 2), (-LOGIT_CLIP, 0.0));
    }

    #[test]
    fn batched_views_are_the_single_ones_bit_for_bit() {
        let mut rng = Stream::new(1, "bank", 0, "views");
        for k in [2, 3, 4, 8] {
            let bank = Bank::draw(3000, k, 1.6, &mut rng);
            let which: Vec<usize> = (0..bank.len()).chain([5, 5, 17]).collect();
            let mut out = Vec::new();
            let mut scratch = ViewScratch::default();
            for tau_s in [0.3, 1.0, 2.7, 11.0, 60.0] {
                views(&bank, &which, tau_s, &mut out, &mut scratch);
                for (&i, v) in which.iter().zip(&out) {
                    let one = SharedView::new(bank.question(i).0, tau_s);
                    let bits = |v: &SharedView| [v.tau_s, v.sum, v.sum_d, v.u].map(f64::to_bits);
                    assert_eq!(bits(v), bits(&one), "K {k} τ_s {tau_s} question {i}");
                    assert_eq!(v.clipped, one.clipped);
                }
                let mut tv = TestViews::default();
                tv.compute(&bank, tau_s);
                for i in 0..bank.len() {
                    let one = SharedView::new(bank.question(i).0, tau_s);
                    assert_eq!(
                        [tv.u[i], tv.sum[i]].map(f64::to_bits),
                        [one.u, one.sum].map(f64::to_bits)
                    );
                }
            }
        }
    }

    #[test]
    fn answers_follow_the_softmax_and_the_squeeze_agrees() {
        let questions: [&[f64]; 4] = [
            &[-0.2, -0.9, -1.7],
            &[-0.4],
            &[-0.05, -0.1, -0.15],
            &[-0.3, -50.0, -60.0],
        ];
        for (gaps, tau, tau_s) in questions
            .into_iter()
            .flat_map(|g| [(1.0, 1.0), (2.5, 2.0), (9.0, 4.0), (0.5, 0.7)].map(|(t, s)| (g, t, s)))
        {
            let h = Heads {
                tau,
                tau_s,
                w: 1.0,
                b: 0.0,
                eta0: 0.0,
                eta1: 0.0,
                squeeze: tau >= tau_s,
            };
            let view = SharedView::new(gaps, tau_s);
            let answers = AnswerView::new(gaps, tau, None);
            let speaker = Speaker::new(Scale::new(100, 0.99));
            let t = Tables::new(&speaker);
            let pi = softmax(gaps, tau);
            let n = 100_000;
            let mut counts = vec![0usize; gaps.len() + 1];
            for i in 0..n {
                let u = (i as f64 + 0.5) / n as f64;
                let rank = t.choose(&h, (view.u, view.sum), gaps, &mut Answers::default(), u);
                // The squeeze picks what the full inverse CDF picks.
                assert_eq!(rank, answers.sample(u), "τ {tau} τ_s {tau_s} u {u}");
                counts[rank] += 1;
            }
            for (c, p) in counts.iter().zip(&pi) {
                assert!((*c as f64 / n as f64 - p).abs() < 2e-5, "{counts:?} vs {pi:?}");
            }
        }
    }

    #[test]
    fn the_right_answer_follows_the_untrained_beliefs() {
        // P(right = rank r) = E π(r): the base model is calibrated, rank by rank.
        let mut rng = Stream::new(1, "bank", 0, "t");
        let bank = Bank::draw(200_000, 4, 1.6, &mut rng);
        for r in 0..4 {
            let (mut hits, mut expected) = (0.0, 0.0);
            for i in 0..bank.len() {
                let (gaps, right) = bank.question(i);
                hits += (right == r) as u8 as f64;
                expected += softmax(gaps, 1.0)[r];
            }
            let n = bank.len() as f64;
            let p = expected / n;
            let se = (p * (1.0 - p) / n).sqrt();
            assert!((hits / n - p).abs() < 4.0 * se, "rank {r}: {} vs {p}", hits / n);
        }
    }

    #[test]
    fn the_group_gradient_uses_that_rloo_advantages_sum_to_zero() {
        // The abstention head's Σ adv (1[abstained] − p) and the answer head's
        // Σ_{answered} adv (d_a − E d), summed response by response, against what
        // `rloo` and the step add up.
        let gaps = [-0.4, -1.1, -2.0];
        let (p_abstain, mean_gap) = (0.3, -0.25);
        let group = [
            Sampled {
                abstained: true,
                ..Sampled::default()
            },
            Sampled {
                rank: 0,
                reward: 1.0,
                adv_conf: 0.1,
                eps: 0.5,
                slopes: [0.1, -2.0],
                ..Sampled::default()
            },
            Sampled {
                rank: 2,
                reward: -0.2,
                adv_conf: -0.05,
                eps: -1.0,
                slopes: [0.2, -3.0],
                ..Sampled::default()
            },
            Sampled {
                rank: 1,
                reward: 0.4,
                ..Sampled::default()
            },
        ];
        let (abstain_adv, score) = rloo(&group, &gaps);
        let total: f64 = group.iter().map(|s| s.reward).sum();
        let (mut eta0, mut kappa) = (0.0, 0.0);
        for s in &group {
            let adv = s.reward - (total - s.reward) / 3.0;
            eta0 += adv * (s.abstained as u8 as f64 - p_abstain);
            if !s.abstained {
                kappa += adv * (gap(&gaps, s.rank) - mean_gap);
            }
        }
        assert!((abstain_adv - eta0).abs() < 1e-12);
        assert!((score.answer + abstain_adv * mean_gap - kappa).abs() < 1e-12);
        assert!((score.confidence_offset - (0.1 * 0.5 + 0.05)).abs() < 1e-15);
        assert!((score.confidence[1] - (0.1 * 0.5 * -2.0 + 0.05 * -3.0)).abs() < 1e-15);
    }
}
