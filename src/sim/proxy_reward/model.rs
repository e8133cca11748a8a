//! The simulation: the policy over answers, one training run of one arm, and what a run
//! records. The mechanism and the assumptions are described in the module doc (`mod.rs`),
//! and so is how the training loop is kept fast ("Speed").

use super::Params;
use crate::ops;
use crate::rng::{Stream, Words};
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

/// Problems as drawn from the prior: `k` logits per problem (row-major, the template's
/// without the shared bias) and how much of the shared skill reaches each.
#[derive(Clone)]
pub struct Drawn {
    pub k: usize,
    theta: Vec<f64>,
    /// Per problem: `x_i = 1 − c + c·σ(ease_i)` with `c = reach_contrast`.
    transfer: Vec<f64>,
}

impl Drawn {
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
        Drawn { k, theta, transfer }
    }

    pub fn problems(&self) -> usize {
        self.transfer.len()
    }

    #[cfg(test)]
    pub fn transfer(&self) -> &[f64] {
        &self.transfer
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.theta[i * self.k..(i + 1) * self.k]
    }

    /// The logits `z` of problem `i` under the shared parameters `s` into `z[..k]`;
    /// returns their maximum.
    fn logits(&self, i: usize, s: Shared, z: &mut [f64]) -> f64 {
        z[..self.k].copy_from_slice(self.row(i));
        z[0] += s.skill * self.transfer[i];
        z[self.k - 1] += s.template_bias;
        z[..self.k].iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
    }
}

/// Held-out problems (test and validation): never trained per problem, so only `w` and
/// `b` move their answers. What does not move is computed once: the wrong answers' total
/// weight `Σ exp θ_a` and the template's `exp θ_T`; a probability then costs one `exp`
/// (the right answer's), the shared `exp b` being computed once per evaluation.
pub struct HeldOut {
    drawn: Drawn,
    wrong: Vec<f64>,
    template: Vec<f64>,
}

/// Totals outside `[TINY, HUGE]` (or not finite) are recomputed the direct way, with
/// the largest logit subtracted; inside, no weight can overflow.
const TINY: f64 = 3.054936363499605e-151; // 2⁻⁵⁰⁰
const HUGE: f64 = 3.273390607896142e150; // 2⁵⁰⁰

impl HeldOut {
    pub fn new(drawn: Drawn) -> Self {
        let k = drawn.k;
        let (mut wrong, mut template) = (Vec::new(), Vec::new());
        for i in 0..drawn.problems() {
            let row = drawn.row(i);
            wrong.push(row[1..k - 1].iter().map(|&t| ops::exp(t)).sum());
            template.push(ops::exp(row[k - 1]));
        }
        HeldOut { drawn, wrong, template }
    }

    pub fn problems(&self) -> usize {
        self.drawn.problems()
    }

    /// Calls `f(i, P(right), P(template))` for every problem `i` in order under `s`.
    /// The right answers' `exp`s are taken a block at a time by `ops::exp_batch`
    /// (AVX2 where the CPU has it; the same bits).
    #[inline]
    fn for_each_rate(&self, s: Shared, mut f: impl FnMut(usize, f64, f64)) {
        const BLOCK: usize = 64;
        let exp_b = ops::exp(s.template_bias);
        let (k, n) = (self.drawn.k, self.problems());
        let mut right = [0.0; BLOCK];
        for i0 in (0..n).step_by(BLOCK) {
            let len = BLOCK.min(n - i0);
            let right = &mut right[..len];
            let theta = self.drawn.theta[i0 * k..].iter().step_by(k);
            for ((r, t), x) in right.iter_mut().zip(theta).zip(&self.drawn.transfer[i0..]) {
                *r = t + s.skill * x;
            }
            ops::exp_batch(right);
            for (j, &right) in right.iter().enumerate() {
                let i = i0 + j;
                let template = self.template[i] * exp_b;
                let total = right + self.wrong[i] + template;
                if total > TINY && total < HUGE {
                    f(i, right / total, template / total);
                } else {
                    let (r, t) = self.rates_direct(i, s);
                    f(i, r, t);
                }
            }
        }
    }

    #[cold]
    fn rates_direct(&self, i: usize, s: Shared) -> (f64, f64) {
        let k = self.drawn.k;
        let mut z = [0.0; MAX_ANSWERS];
        let max = self.drawn.logits(i, s, &mut z);
        let mut total = 0.0;
        for v in &mut z[..k] {
            *v = ops::exp(*v - max);
            total += *v;
        }
        (z[0] / total, z[k - 1] / total)
    }

    /// Exact mean probability of the right answer and of the template over the
    /// problems under the shared parameters `s`.
    pub fn exact_rates(&self, s: Shared) -> (f64, f64) {
        let (mut right, mut template) = (0.0, 0.0);
        self.for_each_rate(s, |_, r, t| {
            right += r;
            template += t;
        });
        let n = self.problems() as f64;
        (right / n, template / n)
    }

    /// The share of right answers among `draws` samples of each problem under `s`:
    /// sample `g` of problem `i` is right if its 32-bit uniform is below
    /// `P(right)·2³²`.
    pub fn sampled_accuracy(&self, s: Shared, draws: usize, rng: &mut Words, uniforms: &mut Vec<u32>) -> f64 {
        uniforms.resize(self.problems() * draws, 0);
        fill_uniforms(rng, uniforms);
        let mut right = 0u64;
        self.for_each_rate(s, |i, r, _| {
            let threshold = threshold(r);
            let u = &uniforms[i * draws..(i + 1) * draws];
            right += u.iter().map(|&u| u64::from(u < threshold)).sum::<u64>();
        });
        right as f64 / (self.problems() * draws) as f64
    }
}

/// `x·2³²` as an integer threshold for 32-bit uniforms (saturating at 2³² − 1).
#[inline(always)]
fn threshold(x: f64) -> u32 {
    (x * 4_294_967_296.0) as u32
}

/// Fills `out` with 32-bit uniforms: each `u64` of the stream gives two, its low half
/// first (a last odd one uses a whole draw).
pub fn fill_uniforms(rng: &mut Words, out: &mut [u32]) {
    rng.fill_u32(out);
}

/// Counts per answer of one draw per uniform in `uniforms` from unnormalised `weights`,
/// by inverse CDF: a 32-bit uniform `u` picks the first answer `a` with
/// `u < cum_a·2³²/total` (the last answer if none). The training step (`step_rows`)
/// applies the same rule to all problems at once.
pub fn count_draws(weights: &[f64], uniforms: &[u32], counts: &mut [u32]) {
    let total: f64 = weights.iter().sum();
    let scale = 4_294_967_296.0 / total;
    counts.fill(0);
    let last = weights.len() - 1;
    for &u in uniforms {
        let mut cum = 0.0;
        let mut pick = last;
        for (a, w) in weights[..last].iter().enumerate() {
            cum += w;
            if f64::from(u) < cum * scale {
                pick = a;
                break;
            }
        }
        counts[pick] += 1;
    }
}

/// The plurality answer of `counts`, ties broken uniformly at random by the 32-bit
/// uniform `tie`: the `⌊tie·m/2³²⌋`-th of the `m` tied answers (Lemire's multiply-shift,
/// as `Stream::below`). `tie` is drawn whether or not there is a tie, so the stream
/// never depends on the data.
pub fn plurality(counts: &[u32], tie: u32) -> usize {
    let top = counts.iter().copied().max().unwrap_or(0);
    let tied = counts.iter().filter(|&&c| c == top).count() as u64;
    let nth = ((u64::from(tie) * tied) >> 32) as usize;
    counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == top)
        .nth(nth)
        .map_or(0, |(a, _)| a)
}

/// The policy being trained, stored answer-major (`[a·n + i]`, so that one answer of
/// many problems is contiguous): per-problem logits `θ`, the shared parameters, and a
/// cache of the unnormalised probabilities of the answers whose logits move only by
/// training steps (see "Speed" in the module doc).
#[derive(Clone)]
pub struct Policy {
    k: usize,
    n: usize,
    theta: Vec<f64>,
    /// `cache[a·n + i] = exp(ℓ_i,a)`, `ℓ_i,a = θ_i,a (+ b for the template) − r_i`, for
    /// the wrong answers and the template (`a ≥ 1`; row 0 unused).
    cache: Vec<f64>,
    /// The reference `r_i` of problem `i`'s cache: its largest logit when last rebased.
    reference: Vec<f64>,
    pub shared: Shared,
}

impl Policy {
    pub fn new(drawn: &Drawn) -> Self {
        let (k, n) = (drawn.k, drawn.problems());
        let mut theta = vec![0.0; k * n];
        for i in 0..n {
            for (a, &t) in drawn.row(i).iter().enumerate() {
                theta[a * n + i] = t;
            }
        }
        let mut policy = Policy {
            k,
            n,
            theta,
            cache: vec![0.0; k * n],
            reference: vec![0.0; n],
            shared: Shared::default(),
        };
        for i in 0..n {
            policy.rebase(i, drawn.transfer[i]);
        }
        policy
    }

    /// Recomputes problem `i`'s cache from `θ` with `r_i` its current largest logit
    /// (`x` its reach).
    #[cold]
    fn rebase(&mut self, i: usize, x: f64) {
        let (k, n) = (self.k, self.n);
        let mut z = [0.0; MAX_ANSWERS];
        for (a, z) in z[..k].iter_mut().enumerate() {
            *z = self.theta[a * n + i];
        }
        z[0] += self.shared.skill * x;
        z[k - 1] += self.shared.template_bias;
        let r = z[..k].iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        self.reference[i] = r;
        for (a, &z) in z[..k].iter().enumerate().skip(1) {
            self.cache[a * n + i] = ops::exp(z - r);
        }
    }

    /// Problem `i`'s probabilities computed the direct way, `exp(z − max z)`
    /// normalised (for tests).
    #[cfg(test)]
    pub fn direct_probabilities(&self, i: usize, x: f64) -> Vec<f64> {
        let mut copy = self.clone();
        copy.rebase(i, x);
        let mut w = vec![0.0; self.k];
        copy.weights(i, x, &mut w);
        let total: f64 = w.iter().sum();
        w.iter().map(|v| v / total).collect()
    }

    /// Problem `i`'s probabilities from the cache (for tests).
    #[cfg(test)]
    pub fn probabilities(&self, i: usize, x: f64) -> Vec<f64> {
        let mut w = vec![0.0; self.k];
        self.weights(i, x, &mut w);
        let total: f64 = w.iter().sum();
        w.iter().map(|v| v / total).collect()
    }

    /// `ℓ_i,0`: the right answer's logit relative to the cache's reference.
    #[inline(always)]
    fn right_exponent(&self, i: usize, x: f64) -> f64 {
        self.theta[i] + self.shared.skill * x - self.reference[i]
    }

    /// Problem `i`'s unnormalised probabilities into `weights[..k]` (rebasing a copy
    /// first if they are out of range).
    fn weights(&self, i: usize, x: f64, weights: &mut [f64]) {
        let (k, n) = (self.k, self.n);
        weights[0] = right_weight(self.right_exponent(i, x));
        for (a, w) in weights[..k].iter_mut().enumerate().skip(1) {
            *w = self.cache[a * n + i];
        }
        let total: f64 = weights[..k].iter().sum();
        if !(total > TINY && total < HUGE) {
            let mut copy = self.clone();
            copy.rebase(i, x);
            copy.weights(i, x, weights);
        }
    }

    /// After the shared bias moved by `delta`, moves every template weight of the
    /// cache by `exp(delta)`.
    pub fn shift_template(&mut self, delta: f64) {
        let f = ops::exp(delta);
        for e in &mut self.cache[(self.k - 1) * self.n..] {
            *e *= f;
        }
    }
}

/// `exp` of the right answer's exponent `ℓ_i,0`: the portable exp of `ops::exp_batch`
/// (within 2 ulp of libm), the same function wherever the right answer's weight is
/// needed, so the batched step and the scalar paths agree bit for bit.
#[inline(always)]
fn right_weight(exponent: f64) -> f64 {
    ops::tally(ops::Op::ExpBatch);
    ops::exp_portable(exponent)
}

/// The step of a per-problem logit, `j·(lr_problem/G²)`, and its `exp`, for every
/// integer `j` an update can produce (`−G² ≤ j ≤ G²/4`).
pub struct Steps {
    offset: i32,
    /// `lr_problem/G²`.
    unit: f64,
    g2: f64,
    factor: Vec<f64>,
}

impl Steps {
    pub fn new(p: &Params) -> Self {
        Steps::new_for(p.samples, p.lr_problem)
    }

    fn new_for(samples: usize, lr_problem: f64) -> Self {
        let g = samples as i32;
        let g2 = g * g;
        let mut steps = Steps {
            offset: g2,
            unit: lr_problem / f64::from(g2),
            g2: f64::from(g2),
            factor: Vec::new(),
        };
        steps.factor = (-g2..=g2 / 4).map(|j| ops::exp(steps.step(j))).collect();
        steps
    }

    #[inline(always)]
    fn step(&self, j: i32) -> f64 {
        f64::from(j) * self.unit
    }
}

/// Problems whose sample counts `step_rows` accumulates together (two AVX2 vectors of
/// `i32`); the rows of the counting pass are padded to a multiple of it.
const CHUNK: usize = 16;

/// `n` rounded up to a whole number of chunks.
fn padded(n: usize) -> usize {
    n.div_ceil(CHUNK) * CHUNK
}

/// The largest 32-bit uniform, `2³² − 1`.
const MAX_U32: f64 = 4_294_967_295.0;

/// The threshold `⌈x⌉` (`x ≥ 0`) clamped to `2³² − 1`, biased as the uniforms
/// (`biased`): a whole number `y` in [0, 2³² − 1] to an `i32` by adding `1.5·2⁵² − 2³¹`
/// (exact, a whole number below 2⁵³) and taking the low 32 bits of the significand,
/// `y − 2³¹` modulo 2³². (One addition of the constant instead of subtracting 2³¹ and
/// then adding 1.5·2⁵²: both are exact, so the same value, the same bits; tested.)
#[inline(always)]
pub fn biased_threshold(x: f64) -> i32 {
    (x.ceil().min(MAX_U32) + THRESHOLD_BIAS).to_bits() as i32
}

/// `1.5·2⁵² − 2³¹`: added to a whole number `y` in [0, 2³² − 1], the low 32 bits of the
/// sum's significand are `y − 2³¹` modulo 2³² (`biased_threshold`).
const THRESHOLD_BIAS: f64 = 6_755_399_441_055_744.0 - 2_147_483_648.0;

/// `biased_threshold(cum[i]·scale[i])` into `threshold[i]` for every `i` of `cum`,
/// eight at a time: the same product, `ceil` (round toward +∞), `min` (the constant
/// second, as `f64::min` compiles) and addition, the low 32 bits of each of two
/// vectors of four gathered into one of eight by a shuffle and a permute (instead of
/// the compiler's two extractions and shuffles per four). Returns whether any product
/// is above `2³² − 1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn thresholds_avx2(cum: &[f64], scale: &[f64], threshold: &mut [i32]) -> bool {
    use std::arch::x86_64::*;
    let n = cum.len();
    assert!(scale.len() >= n && threshold.len() >= n);
    let whole = n - n % 8;
    let (max, bias) = (_mm256_set1_pd(MAX_U32), _mm256_set1_pd(THRESHOLD_BIAS));
    let mut above = _mm256_setzero_pd();
    for i in (0..whole).step_by(8) {
        // SAFETY: the 8 elements at `i` of `cum`, `scale` and `threshold` are inside
        // them (`i + 8 ≤ whole ≤ n`, asserted lengths).
        unsafe {
            let x0 = _mm256_mul_pd(
                _mm256_loadu_pd(cum.as_ptr().add(i)),
                _mm256_loadu_pd(scale.as_ptr().add(i)),
            );
            let x1 = _mm256_mul_pd(
                _mm256_loadu_pd(cum.as_ptr().add(i + 4)),
                _mm256_loadu_pd(scale.as_ptr().add(i + 4)),
            );
            above = _mm256_or_pd(above, _mm256_cmp_pd::<_CMP_GT_OQ>(x0, max));
            above = _mm256_or_pd(above, _mm256_cmp_pd::<_CMP_GT_OQ>(x1, max));
            let t0 = _mm256_add_pd(_mm256_min_pd(_mm256_ceil_pd(x0), max), bias);
            let t1 = _mm256_add_pd(_mm256_min_pd(_mm256_ceil_pd(x1), max), bias);
            // Low halves: [t0₀ t0₁ t1₀ t1₁ | t0₂ t0₃ t1₂ t1₃], then in order.
            let low = _mm256_shuffle_ps::<0b10_00_10_00>(_mm256_castpd_ps(t0), _mm256_castpd_ps(t1));
            let t = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_castps_si256(low));
            _mm256_storeu_si256(threshold.as_mut_ptr().add(i).cast(), t);
        }
    }
    let mut full = _mm256_movemask_pd(above) != 0;
    for ((t, c), scale) in threshold[whole..n].iter_mut().zip(&cum[whole..]).zip(&scale[whole..]) {
        let x = c * scale;
        full |= x > MAX_U32;
        *t = biased_threshold(x);
    }
    full
}

/// For tests: `thresholds_avx2` where the CPU has AVX2 (`None` elsewhere).
#[cfg(test)]
pub fn thresholds_vectorised(cum: &[f64], scale: &[f64]) -> Option<(Vec<i32>, bool)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let mut threshold = vec![0; cum.len()];
        // SAFETY: the CPU supports AVX2 (checked just above).
        let full = unsafe { thresholds_avx2(cum, scale, &mut threshold) };
        return Some((threshold, full));
    }
    None
}

/// A 32-bit uniform `u` as the `i32` `u − 2³¹` (flipping the top bit): the signed
/// order of these is the unsigned order of the uniforms.
#[inline(always)]
fn biased(u: u32) -> i32 {
    (u ^ 0x8000_0000) as i32
}

/// `biased` of eight uniforms at once (AVX2 intrinsics: call only where the
/// processor has AVX2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn biased_avx2(u: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_xor_si256(u, _mm256_set1_epi32(i32::MIN))
}

/// Per-step scratch of `step_rows`, answer-major like the policy (`[a·n + i]`).
struct Scratch {
    right: Vec<f64>,
    wl: Vec<f64>,
    /// Per problem, on record steps: `π_0`, `π_T` and the entropy's term `H/ln K`.
    right_share: Vec<f64>,
    template_share: Vec<f64>,
    entropy_term: Vec<f64>,
    scale: Vec<f64>,
    cum: Vec<f64>,
    /// Rows of `padded(n)`: `⌈cum_a·2³²/total⌉` clamped to `2³² − 1`, biased as the
    /// uniforms; and how many of a problem's uniforms fall below it.
    threshold: Vec<i32>,
    below: Vec<i32>,
    /// Per answer: whether some problem's threshold exceeds `2³² − 1` (every uniform
    /// is below it).
    full: Vec<bool>,
    /// Rows (answers) of `padded(n)`: the counts and the REINFORCE steps `j`; and per
    /// problem (`padded(n)` long) the top count, the plurality and the target.
    counts: Vec<i32>,
    j: Vec<i32>,
    top: Vec<i32>,
    plur: Vec<i32>,
    target: Vec<i32>,
    /// Per problem, for the portable `vote_rows` only.
    tied: Vec<u32>,
    seen: Vec<u32>,
    nth: Vec<u32>,
    c_target: Vec<i32>,
}

impl Scratch {
    fn new(k: usize, n: usize) -> Self {
        Scratch {
            right: vec![0.0; n],
            wl: vec![0.0; n],
            right_share: vec![0.0; n],
            template_share: vec![0.0; n],
            entropy_term: vec![0.0; n],
            scale: vec![0.0; n],
            cum: vec![0.0; k * n],
            threshold: vec![0; k * padded(n)],
            below: vec![0; k * padded(n)],
            full: vec![false; k],
            counts: vec![0; k * padded(n)],
            top: vec![0; padded(n)],
            tied: vec![0; n],
            seen: vec![0; n],
            nth: vec![0; n],
            plur: vec![0; padded(n)],
            target: vec![0; padded(n)],
            c_target: vec![0; n],
            j: vec![0; k * padded(n)],
        }
    }
}

/// What a step needs besides the policy.
struct StepInput<'a> {
    arm: Arm,
    record: bool,
    train: bool,
    g: usize,
    /// The problems' reach `x_i`.
    transfer: &'a [f64],
    labels: &'a [usize],
    /// The `G` rows of `n` sample uniforms, then at least `CHUNK` more (the counting
    /// passes may read a whole chunk past the last problem; those lanes are never used).
    samples: &'a [u32],
    /// `n` tie-break uniforms.
    ties: &'a [u32],
    steps: &'a Steps,
}

/// What a step sums over its problems (in problem order).
#[derive(Default)]
struct StepSums {
    tally: StepTally,
    accuracy: f64,
    template: f64,
    entropy: f64,
    grad_skill: f64,
    grad_template: i64,
}

/// One training step of every problem. On x86-64 with AVX2 (detected at run time) the
/// same code is compiled for wider vectors: the same operations on the same values in
/// the same order (no fused multiply-add, no reassociation), so the same bits.
fn step_rows(policy: &mut Policy, input: &StepInput, scratch: &mut Scratch, ln_k: f64, sums: &mut StepSums) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && !generic_only() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { step_rows_avx2(policy, input, scratch, ln_k, sums) };
        return;
    }
    step_rows_generic::<false>(policy, input, scratch, ln_k, sums);
}

/// Tests can force the portable path, to compare it with the AVX2 one.
#[cfg(test)]
pub static GENERIC_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(test)]
fn generic_only() -> bool {
    GENERIC_ONLY.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(not(test))]
#[inline(always)]
fn generic_only() -> bool {
    false
}

/// For tests: one untrained step of `policy` on `uniforms` (`G·n` samples in rows of
/// `n`, then `n` ties): each problem's counts and plurality.
#[cfg(test)]
pub fn sample_step(policy: &mut Policy, transfer: &[f64], g: usize, uniforms: &[u32]) -> (Vec<Vec<i32>>, Vec<i32>) {
    let (k, n) = (policy.k, policy.n);
    let mut samples = uniforms[..n * g].to_vec();
    samples.resize(n * g + CHUNK, 0);
    let steps = Steps::new_for(g, 0.1);
    let input = StepInput {
        arm: Arm::SelfConsistency,
        record: false,
        train: false,
        g,
        transfer,
        labels: &[],
        samples: &samples,
        ties: &uniforms[n * g..],
        steps: &steps,
    };
    let mut scratch = Scratch::new(k, n);
    step_rows(policy, &input, &mut scratch, 1.0, &mut StepSums::default());
    let np = padded(n);
    let counts = (0..n)
        .map(|i| (0..k).map(|a| scratch.counts[a * np + i]).collect())
        .collect();
    scratch.plur.truncate(n);
    (counts, scratch.plur)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn step_rows_avx2(
    policy: &mut Policy,
    input: &StepInput,
    scratch: &mut Scratch,
    ln_k: f64,
    sums: &mut StepSums,
) {
    step_rows_generic::<true>(policy, input, scratch, ln_k, sums);
}

/// The step as passes over whole rows (one answer of every problem), each a simple
/// loop the compiler vectorises: weights, `G` samples per problem, plurality, tallies,
/// metrics on record steps, and the REINFORCE update.
#[inline(always)]
fn step_rows_generic<const AVX2: bool>(
    policy: &mut Policy,
    input: &StepInput,
    s: &mut Scratch,
    ln_k: f64,
    sums: &mut StepSums,
) {
    let (k, n, g) = (policy.k, policy.n, input.g);
    let x = &input.transfer[..n];
    // The right answer's weight: the one `exp` per problem and step, as
    // `ops::exp_batch` (inlined here so that the AVX2 copy vectorises it too).
    for (i, r) in s.right.iter_mut().enumerate() {
        *r = policy.right_exponent(i, x[i]);
    }
    for r in s.right.iter_mut() {
        ops::tally(ops::Op::ExpBatch);
        *r = ops::exp_portable(*r);
    }
    // Cumulative weights; a total out of [2⁻⁵⁰⁰, 2⁵⁰⁰] rebases its problem first.
    loop {
        s.cum[..n].copy_from_slice(&s.right);
        for a in 1..k {
            let (done, row) = s.cum.split_at_mut(a * n);
            let previous = &done[(a - 1) * n..];
            let e = &policy.cache[a * n..(a + 1) * n];
            for ((c, p), e) in row[..n].iter_mut().zip(previous).zip(e) {
                *c = p + e;
            }
        }
        let total = &s.cum[(k - 1) * n..];
        // (Every total tested, without an early exit, so that the test vectorises.)
        if total.iter().fold(true, |ok, t| ok & (*t > TINY) & (*t < HUGE)) {
            break;
        }
        for (i, &x) in x.iter().enumerate() {
            let t = s.cum[(k - 1) * n + i];
            if !(t > TINY && t < HUGE) {
                policy.rebase(i, x);
                s.right[i] = right_weight(policy.right_exponent(i, x));
            }
        }
    }
    // Thresholds `cum_a·2³²/total` of answers 0..k−1, and below_a: how many of a
    // problem's G uniforms fall under answer a's threshold. In integers: for a whole
    // `u` and `t ≥ 0`, `u < t` exactly when `u < ⌈t⌉`; a threshold above 2³² − 1 has
    // every uniform below it (`full`). So the counts are those of the `f64` comparison.
    let np = padded(n);
    {
        let (cum, total) = s.cum.split_at(n * (k - 1));
        for (scale, total) in s.scale.iter_mut().zip(total) {
            *scale = 4_294_967_296.0 / total;
        }
        for a in 0..k - 1 {
            let row = &mut s.threshold[a * np..(a + 1) * np];
            // Whether any threshold of the row is above 2³² − 1 (the rows that have one
            // are fixed up after counting, from the same `x`).
            #[cfg(target_arch = "x86_64")]
            if AVX2 {
                // SAFETY: AVX2 is only true in `step_rows_avx2`, which runs where the CPU
                // has it.
                s.full[a] = unsafe { thresholds_avx2(&cum[a * n..(a + 1) * n], &s.scale, row) };
                continue;
            }
            let mut full = false;
            for (t, (c, scale)) in row.iter_mut().zip(cum[a * n..(a + 1) * n].iter().zip(&s.scale)) {
                let x = c * scale;
                full |= x > MAX_U32;
                *t = biased_threshold(x);
            }
            s.full[a] = full;
        }
    }
    // In chunks of CHUNK problems, so that the counts stay in registers over the G
    // uniforms (padding lanes count too, and are never read). With AVX2, answers are
    // counted ROWS_AT_ONCE at a time, eight problems a vector: the same comparisons.
    #[allow(unused_mut)]
    let mut first = 0;
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        while first + ROWS_AT_ONCE < k {
            // SAFETY: AVX2 is only true in `step_rows_avx2`, which runs where the CPU
            // has it; the bounds are asserted inside.
            unsafe { count_rows_avx2::<ROWS_AT_ONCE>(&s.threshold, &mut s.below, first, np, input.samples, n, g) };
            first += ROWS_AT_ONCE;
        }
    }
    for a in first..k - 1 {
        let rows = s.threshold[a * np..(a + 1) * np]
            .as_chunks::<CHUNK>()
            .0
            .iter()
            .zip(s.below[a * np..(a + 1) * np].as_chunks_mut::<CHUNK>().0);
        for (c, (t, b)) in rows.enumerate() {
            b.copy_from_slice(&count_below::<AVX2>(t, &input.samples[c * CHUNK..], n, g));
        }
    }
    for a in 0..k - 1 {
        if s.full[a] {
            let row = s.cum[a * n..(a + 1) * n].iter().zip(&s.scale);
            for (b, (c, scale)) in s.below[a * np..(a + 1) * np].iter_mut().zip(row) {
                if c * scale > MAX_U32 {
                    *b = g as i32;
                }
            }
        }
    }
    // Counts, plurality and, when training, each answer's REINFORCE step `j`: one pass
    // over blocks of eight problems with AVX2, whole rows otherwise (`vote`).
    let plurality_target = matches!(input.arm, Arm::SelfConsistency | Arm::EarlyStopping);
    match input.arm {
        Arm::GroundTruth => s.target.fill(0),
        Arm::SelfConsistency | Arm::EarlyStopping => {}
        Arm::FixedTeacher => {
            for (t, l) in s.target.iter_mut().zip(input.labels) {
                *t = *l as i32;
            }
        }
    }
    let vote = Vote {
        k,
        n,
        g,
        ties: &input.ties[..n],
        plurality_target,
        train: input.train,
    };
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: AVX2 is only true in `step_rows_avx2`, which runs where the CPU has it.
        sums.tally = unsafe { vote_avx2(&vote, s) };
    }
    if !AVX2 {
        vote_rows(&vote, s);
        for ((top, right), plur) in s.top[..n].iter().zip(&s.counts[..n]).zip(&s.plur) {
            sums.tally.problem(*top as u64, *right as u64, *plur == 0, g as u64);
        }
    }
    if input.record {
        let t = k - 1;
        let (theta, cache, r) = (&policy.theta, &policy.cache, &policy.reference);
        let shared = policy.shared;
        // H = −Σ π ln π = ln total − Σ_a w_a ℓ_a / total, with ℓ_a = ln w_a known;
        // Σ_a w_a ℓ_a summed answer by answer (a row at a time), in the same order.
        let wl = &mut s.wl;
        let first = s.right.iter().zip(&theta[..n]).zip(r).zip(x);
        for (w, (((right, th), r), x)) in wl.iter_mut().zip(first) {
            *w = right * (th - r + shared.skill * x);
        }
        for a in 1..k {
            let row = cache[a * n..(a + 1) * n].iter().zip(&theta[a * n..(a + 1) * n]).zip(r);
            for (w, ((c, th), r)) in wl.iter_mut().zip(row) {
                *w += c * (th - r);
            }
        }
        for (w, c) in wl.iter_mut().zip(&cache[t * n..(t + 1) * n]) {
            *w += c * shared.template_bias;
        }
        // Each problem's terms in whole-row passes (the divisions vectorise, the `log`s
        // are independent calls), then summed in problem order.
        let total = &s.cum[t * n..(t + 1) * n];
        for (e, total) in s.entropy_term.iter_mut().zip(total) {
            *e = ops::log(*total);
        }
        for ((e, w), total) in s.entropy_term.iter_mut().zip(wl.iter()).zip(total) {
            *e = (*e - w / total) / ln_k;
        }
        for ((share, right), total) in s.right_share.iter_mut().zip(&s.right).zip(total) {
            *share = right / total;
        }
        let template = &cache[t * n..(t + 1) * n];
        for ((share, c), total) in s.template_share.iter_mut().zip(template).zip(total) {
            *share = c / total;
        }
        for i in 0..n {
            sums.accuracy += s.right_share[i];
            sums.template += s.template_share[i];
            sums.entropy += s.entropy_term[i];
        }
    }
    if input.train {
        // Each logit moves by its step `j·lr_problem/G²` (see `Steps`).
        let steps = input.steps;
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: AVX2 is only true in `step_rows_avx2`, which runs where the CPU has it.
            sums.grad_skill = unsafe { update_avx2(policy, &s.j, x, steps) };
        }
        if !AVX2 {
            for a in 0..k {
                let j = &s.j[a * np..a * np + n];
                for (t, j) in policy.theta[a * n..(a + 1) * n].iter_mut().zip(j) {
                    *t += steps.step(*j);
                }
                if a > 0 {
                    apply_factors(&mut policy.cache[a * n..(a + 1) * n], j, steps);
                }
            }
            for (j, x) in s.j[..n].iter().zip(x) {
                sums.grad_skill += f64::from(*j) * x;
            }
        }
        let template = &s.j[(k - 1) * np..(k - 1) * np + n];
        sums.grad_template = template.iter().map(|&j| i64::from(j)).sum::<i64>();
    }
}

/// The REINFORCE update of a training step with AVX2, four problems at a time through
/// every answer (rows of `padded(n)` in `j`): each logit plus its step, each cached
/// weight times its table factor (four loads from the table), and the skill's gradient `Σ j_i,0·x_i`
/// summed in problem order as the blocks go, so that this chain of dependent additions
/// overlaps the rest of the work instead of waiting for it. The same operations on the
/// same values in the same order per element and per sum, so the same bits as the
/// portable row-by-row update (tested).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_avx2(policy: &mut Policy, j: &[i32], x: &[f64], steps: &Steps) -> f64 {
    use std::arch::x86_64::*;
    let (k, n) = (policy.k, policy.n);
    let np = padded(n);
    assert!(j.len() >= k * np && x.len() >= n);
    assert!(policy.theta.len() >= k * n && policy.cache.len() >= k * n);
    let factor = &steps.factor[..];
    // Indices clamped into the table (they are in it: `Steps`), so no read outside it.
    let (low, high) = (_mm_set1_epi32(0), _mm_set1_epi32(factor.len() as i32 - 1));
    let (offset, unit) = (_mm_set1_epi32(steps.offset), _mm256_set1_pd(steps.unit));
    let whole = n - n % 4;
    let mut grad = 0.0;
    for i in (0..whole).step_by(4) {
        for a in 0..k {
            // SAFETY: the 4 elements at `a·np + i` of `j` and at `a·n + i` of `theta` and
            // `cache` are inside them (asserted above, `i + 4 ≤ n ≤ np`).
            unsafe {
                let ja = _mm_loadu_si128(j.as_ptr().add(a * np + i).cast());
                let t = policy.theta.as_mut_ptr().add(a * n + i);
                let step = _mm256_mul_pd(_mm256_cvtepi32_pd(ja), unit);
                _mm256_storeu_pd(t, _mm256_add_pd(_mm256_loadu_pd(t), step));
                if a > 0 {
                    let index = _mm_min_epi32(_mm_max_epi32(_mm_add_epi32(ja, offset), low), high);
                    // Four loads, not `_mm256_i32gather_pd`: the gather was slower
                    // here (the run about 1% longer). The index is clamped, so in range.
                    let at = |l: i32| factor[l as usize];
                    let f = _mm256_set_pd(
                        at(_mm_extract_epi32::<3>(index)),
                        at(_mm_extract_epi32::<2>(index)),
                        at(_mm_extract_epi32::<1>(index)),
                        at(_mm_extract_epi32::<0>(index)),
                    );
                    let e = policy.cache.as_mut_ptr().add(a * n + i);
                    _mm256_storeu_pd(e, _mm256_mul_pd(_mm256_loadu_pd(e), f));
                }
            }
        }
        for (j, x) in j[i..i + 4].iter().zip(&x[i..i + 4]) {
            grad += f64::from(*j) * x;
        }
    }
    for i in whole..n {
        for a in 0..k {
            let ja = j[a * np + i];
            policy.theta[a * n + i] += steps.step(ja);
            if a > 0 {
                apply_factors(&mut policy.cache[a * n + i..a * n + i + 1], &[ja], steps);
            }
        }
        grad += f64::from(j[i]) * x[i];
    }
    grad
}

/// What `vote_rows` and `vote_avx2` need besides the scratch: `k` answers, `n`
/// problems, `G` samples, the tie uniforms, whether the target is the plurality (else
/// it is in `Scratch::target`), and whether to compute the REINFORCE steps `j`.
struct Vote<'a> {
    k: usize,
    n: usize,
    g: usize,
    ties: &'a [u32],
    plurality_target: bool,
    train: bool,
}

/// From the rows of `below` (how many uniforms fall under each answer's threshold; the
/// last row is not read, it is every uniform): each answer's count `c_a`, the top count,
/// the plurality (the `nth` of the tied top answers in answer order, `nth` from the tie
/// uniform as `plurality` takes it) and, when training, `j_a = reinforce_j(c_a, a =
/// target, c_target, G)`. Rows of `padded(n)`, as answer-major whole rows.
fn vote_rows(v: &Vote, s: &mut Scratch) {
    let (k, n, g) = (v.k, v.n, v.g);
    let np = padded(n);
    s.counts[..n].copy_from_slice(&s.below[..n]);
    for a in 1..k {
        let row = &mut s.counts[a * np..a * np + n];
        if a == k - 1 {
            for (c, p) in row.iter_mut().zip(&s.below[(a - 1) * np..]) {
                *c = g as i32 - p;
            }
        } else {
            let previous = s.below[(a - 1) * np..].iter();
            for ((c, b), p) in row.iter_mut().zip(&s.below[a * np..]).zip(previous) {
                *c = b - p;
            }
        }
    }
    // The top count and how many answers have it, in one pass: a larger count starts
    // a new tie of one, an equal one joins it (integers: the same as a maximum, then
    // counting the answers equal to it).
    s.top[..n].copy_from_slice(&s.counts[..n]);
    s.tied[..n].fill(1);
    for a in 1..k {
        let row = s.top[..n].iter_mut().zip(s.tied.iter_mut());
        for ((t, m), c) in row.zip(&s.counts[a * np..a * np + n]) {
            *m = if *c > *t { 1 } else { *m + u32::from(*c == *t) };
            *t = (*t).max(*c);
        }
    }
    for ((nth, tie), tied) in s.nth[..n].iter_mut().zip(v.ties).zip(&s.tied) {
        *nth = ((u64::from(*tie) * u64::from(*tied)) >> 32) as u32;
    }
    s.seen[..n].fill(0);
    s.plur[..n].fill(0);
    for a in 0..k {
        let row = &s.counts[a * np..a * np + n];
        let lanes = s.plur[..n]
            .iter_mut()
            .zip(s.seen.iter_mut())
            .zip(row.iter().zip(&s.top).zip(&s.nth));
        for ((p, seen), ((c, top), nth)) in lanes {
            let is_top = c == top;
            *p = if is_top && *seen == *nth { a as i32 } else { *p };
            *seen += u32::from(is_top);
        }
    }
    if !v.train {
        return;
    }
    if v.plurality_target {
        s.target[..n].copy_from_slice(&s.plur[..n]);
    }
    s.c_target[..n].fill(0);
    for a in 0..k {
        let row = &s.counts[a * np..a * np + n];
        for ((ct, t), c) in s.c_target[..n].iter_mut().zip(&s.target).zip(row) {
            *ct += if *t == a as i32 { *c } else { 0 };
        }
    }
    for a in 0..k {
        let (counts, j) = (&s.counts[a * np..a * np + n], &mut s.j[a * np..a * np + n]);
        for (((j, c), t), ct) in j.iter_mut().zip(counts).zip(&s.target).zip(&s.c_target) {
            *j = reinforce_j(*c, *t == a as i32, *ct, g as i32);
        }
    }
}

/// `vote_rows` eight problems at a time, every answer's count of a block held in
/// registers from the counts to the steps `j`: the same integer operations on the same
/// values (a maximum, then counting the answers equal to it, gives the same top and
/// tie as the one pass; the `nth` is the same 64-bit product), so the same results.
/// Padding lanes (past `n`) are computed from whatever their rows hold and never used.
/// Also returns the step's tally (`StepTally::problem` of every problem, summed in
/// integer vectors: integers, so the same sums in any order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vote_avx2(v: &Vote, s: &mut Scratch) -> StepTally {
    use std::arch::x86_64::*;
    let (k, n, g) = (v.k, v.n, v.g);
    let np = padded(n);
    assert!((2..=MAX_ANSWERS).contains(&k) && v.ties.len() >= n);
    assert!(s.below.len() >= k * np && s.counts.len() >= k * np && s.j.len() >= k * np);
    assert!(s.top.len() >= np && s.plur.len() >= np && s.target.len() >= np);
    let all = _mm256_set1_epi32(g as i32);
    let (zero, one) = (_mm256_setzero_si256(), _mm256_set1_epi32(1));
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // Per lane: plurality right, samples agreeing on both rewards, right samples among
    // the plurality's, top counts, right counts.
    let (mut label, mut agree, mut both, mut proxy, mut truth) = (zero, zero, zero, zero, zero);
    let mut ties = [0u32; 8];
    // Every answer's counts of a block (made once: a fresh 1 KiB array per block was
    // a `memset` call; the first `k` are overwritten by each block before use).
    let mut count = [zero; MAX_ANSWERS];
    for c in (0..np).step_by(8) {
        // The tie uniforms of the block (past `n`: zeros).
        let tie = if c + 8 <= n {
            &v.ties[c..c + 8]
        } else {
            let have = &v.ties[c.min(n)..n];
            ties.fill(0);
            ties[..have.len()].copy_from_slice(have);
            &ties[..8]
        };
        // SAFETY: every load and store is of 8 `i32`s inside a row of `padded(n)` of a
        // scratch buffer (asserted above) or of `tie` (8 long).
        unsafe {
            let mut previous = zero;
            for (a, count) in count[..k - 1].iter_mut().enumerate() {
                let below = _mm256_loadu_si256(s.below.as_ptr().add(a * np + c).cast());
                *count = _mm256_sub_epi32(below, previous);
                previous = below;
            }
            count[k - 1] = _mm256_sub_epi32(all, previous);
            let mut top = count[0];
            for count in &count[1..k] {
                top = _mm256_max_epi32(top, *count);
            }
            // cmpeq is −1 where equal: subtracting it counts one.
            let mut tied = zero;
            for count in &count[..k] {
                tied = _mm256_sub_epi32(tied, _mm256_cmpeq_epi32(*count, top));
            }
            // nth = ⌊tie·tied/2³²⌋: the even lanes' 64-bit products shifted down, the odd
            // lanes' high halves in place.
            let tie = _mm256_loadu_si256(tie.as_ptr().cast());
            let even = _mm256_srli_epi64::<32>(_mm256_mul_epu32(tie, tied));
            let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(tie), _mm256_srli_epi64::<32>(tied));
            let nth = _mm256_blend_epi32::<0b1010_1010>(even, odd);
            let (mut seen, mut plur, mut answer) = (zero, zero, zero);
            for (a, count) in count[..k].iter().enumerate() {
                let is_top = _mm256_cmpeq_epi32(*count, top);
                let hit = _mm256_and_si256(is_top, _mm256_cmpeq_epi32(seen, nth));
                plur = _mm256_blendv_epi8(plur, answer, hit);
                seen = _mm256_sub_epi32(seen, is_top);
                answer = _mm256_add_epi32(answer, one);
                _mm256_storeu_si256(s.counts.as_mut_ptr().add(a * np + c).cast(), *count);
            }
            _mm256_storeu_si256(s.top.as_mut_ptr().add(c).cast(), top);
            _mm256_storeu_si256(s.plur.as_mut_ptr().add(c).cast(), plur);
            // The tally of the block's problems (lanes past `n` masked out).
            let valid = _mm256_cmpgt_epi32(_mm256_set1_epi32((n - c.min(n)) as i32), lane);
            let (top_v, right_v) = (_mm256_and_si256(valid, top), _mm256_and_si256(valid, count[0]));
            let right_plur = _mm256_and_si256(valid, _mm256_cmpeq_epi32(plur, zero));
            label = _mm256_sub_epi32(label, right_plur);
            // A right plurality: all G agree; a wrong one: all but its own and the right.
            let wrong_agree = _mm256_sub_epi32(_mm256_sub_epi32(all, top_v), right_v);
            let agreeing = _mm256_blendv_epi8(wrong_agree, all, right_plur);
            agree = _mm256_add_epi32(agree, _mm256_and_si256(valid, agreeing));
            both = _mm256_add_epi32(both, _mm256_and_si256(right_plur, right_v));
            proxy = _mm256_add_epi32(proxy, top_v);
            truth = _mm256_add_epi32(truth, right_v);
            if !v.train {
                continue;
            }
            // The target's count: the plurality's is the top count.
            let (target, c_target) = if v.plurality_target {
                (plur, top)
            } else {
                let target = _mm256_loadu_si256(s.target.as_ptr().add(c).cast());
                let mut c_target = zero;
                answer = zero;
                for count in &count[..k] {
                    let is_target = _mm256_cmpeq_epi32(target, answer);
                    c_target = _mm256_add_epi32(c_target, _mm256_and_si256(is_target, *count));
                    answer = _mm256_add_epi32(answer, one);
                }
                (target, c_target)
            };
            // j = c·(G·1[a = target] − c_target), as `reinforce_j`. Both factors fit in
            // 16 bits (|·| ≤ G ≤ MAX_SAMPLES), the count's high half is 0, so the
            // 16-bit multiply-add of each 32-bit lane is their product.
            answer = zero;
            for (a, count) in count[..k].iter().enumerate() {
                let is_target = _mm256_cmpeq_epi32(target, answer);
                let factor = _mm256_sub_epi32(_mm256_and_si256(is_target, all), c_target);
                let j = _mm256_madd_epi16(*count, factor);
                _mm256_storeu_si256(s.j.as_mut_ptr().add(a * np + c).cast(), j);
                answer = _mm256_add_epi32(answer, one);
            }
        }
    }
    let total = |v: __m256i| {
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` holds 8 `i32`s.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
        lanes.iter().map(|&x| x as u64).sum::<u64>()
    };
    StepTally {
        n: (n * g) as u64,
        p: total(proxy),
        t: total(truth),
        pt: total(both),
        label_right: total(label),
        reward_agree: total(agree),
    }
}

/// Per lane `l` of a chunk, how many of the `g` rows `u[gi·n..gi·n + CHUNK]` have
/// `u[gi·n + l] < t[l]` (biased `i32`s). With `AVX2` (only from `step_rows_avx2`) as
/// two vectors of eight lanes: the same integer comparisons, so the same counts.
#[inline(always)]
fn count_below<const AVX2: bool>(t: &[i32; CHUNK], u: &[u32], n: usize, g: usize) -> [i32; CHUNK] {
    assert!(g >= 1 && u.len() >= (g - 1) * n + CHUNK, "rows of the chunk");
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: AVX2 is only true in `step_rows_avx2`, which runs where the CPU has
        // it; the rows are inside `u` (asserted above).
        return unsafe { count_below_avx2(t, u, n, g) };
    }
    let mut count = [0i32; CHUNK];
    for gi in 0..g {
        let u = &u[gi * n..gi * n + CHUNK];
        for ((c, u), t) in count.iter_mut().zip(u).zip(t) {
            *c += i32::from(biased(*u) < *t);
        }
    }
    count
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_below_avx2(t: &[i32; CHUNK], u: &[u32], n: usize, g: usize) -> [i32; CHUNK] {
    use std::arch::x86_64::*;
    const _: () = assert!(CHUNK == 16);
    let mut count = [0i32; CHUNK];
    // SAFETY: every load and store is of 8 `i32`s inside `t`, `count`, or a row of
    // `CHUNK` inside `u` (the caller checked `u.len() ≥ (g − 1)·n + CHUNK`).
    unsafe {
        let (t0, t1) = (
            _mm256_loadu_si256(t.as_ptr().cast()),
            _mm256_loadu_si256(t[8..].as_ptr().cast()),
        );
        let (mut c0, mut c1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for gi in 0..g {
            let row = u.as_ptr().add(gi * n);
            let u0 = biased_avx2(_mm256_loadu_si256(row.cast()));
            let u1 = biased_avx2(_mm256_loadu_si256(row.add(8).cast()));
            // t > u: all ones (−1) where u < t; subtracting it counts one.
            c0 = _mm256_sub_epi32(c0, _mm256_cmpgt_epi32(t0, u0));
            c1 = _mm256_sub_epi32(c1, _mm256_cmpgt_epi32(t1, u1));
        }
        _mm256_storeu_si256(count.as_mut_ptr().cast(), c0);
        _mm256_storeu_si256(count[8..].as_mut_ptr().cast(), c1);
    }
    count
}

/// Answers whose counts `count_rows_avx2` takes together (with their thresholds and
/// counts, 14 of the 16 AVX2 registers).
const ROWS_AT_ONCE: usize = 7;

/// `count_below` of answers `first..first + M` over all problems (rows of `np` in
/// `threshold` and `below`), eight problems a vector, the `M` thresholds and counts held
/// in registers over the `g` rows of uniforms: the same integer comparisons on the same
/// values, so the same counts, padding lanes included (they read the next row, as
/// `count_below` does, and are never used).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn count_rows_avx2<const M: usize>(
    threshold: &[i32],
    below: &mut [i32],
    first: usize,
    np: usize,
    u: &[u32],
    n: usize,
    g: usize,
) {
    use std::arch::x86_64::*;
    assert!(np.is_multiple_of(8) && threshold.len() >= (first + M) * np && below.len() >= (first + M) * np);
    assert!(g >= 1 && u.len() >= (g - 1) * n + np, "rows of the chunks");
    for c in (0..np).step_by(8) {
        // SAFETY: every load and store is of 8 `i32`s inside a row of `threshold` or
        // `below` (asserted above), or inside `u` (`(g − 1)·n + c + 8 ≤ (g − 1)·n + np`).
        unsafe {
            let mut t = [_mm256_setzero_si256(); M];
            let mut count = [_mm256_setzero_si256(); M];
            for (m, t) in t.iter_mut().enumerate() {
                *t = _mm256_loadu_si256(threshold.as_ptr().add((first + m) * np + c).cast());
            }
            for gi in 0..g {
                let v = biased_avx2(_mm256_loadu_si256(u.as_ptr().add(gi * n + c).cast()));
                for (count, t) in count.iter_mut().zip(&t) {
                    // t > u: all ones (−1) where u < t; subtracting it counts one.
                    *count = _mm256_sub_epi32(*count, _mm256_cmpgt_epi32(*t, v));
                }
            }
            for (m, count) in count.iter().enumerate() {
                _mm256_storeu_si256(below.as_mut_ptr().add((first + m) * np + c).cast(), *count);
            }
        }
    }
}

/// Multiplies each cached weight `cache[i]` by `exp` of its logit's step, the table
/// entry `steps.factor[j[i] + offset]`.
#[inline(always)]
fn apply_factors(cache: &mut [f64], j: &[i32], steps: &Steps) {
    let (factor, offset) = (&steps.factor[..], steps.offset);
    let last = factor.len() - 1;
    for (e, j) in cache.iter_mut().zip(j) {
        // (The index is clamped so that the compiler sees no panic.)
        *e *= factor[((j + offset).max(0) as usize).min(last)];
    }
}

/// REINFORCE with the group-mean baseline: the reward depends on the answer only, so
/// the advantages of the `c` samples of an answer sum to `c (1[target] − c_target/G)`,
/// which is `j/G²` with the integer `j = c·(G·1[target] − c_target)`. A logit moves by
/// `lr_problem·j/G²`; `j` of the right answer (times `x_i`) and of the template, summed
/// over problems, are the gradients on `w` and `b`.
#[inline(always)]
pub fn reinforce_j(c: i32, is_target: bool, c_target: i32, g: i32) -> i32 {
    c * (if is_target { g } else { 0 } - c_target)
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

/// Sample counts of a step, summed over problems (integers: exact).
#[derive(Default)]
pub struct StepTally {
    /// Samples, their proxy rewards, their true rewards, both.
    pub n: u64,
    pub p: u64,
    pub t: u64,
    pub pt: u64,
    pub label_right: u64,
    pub reward_agree: u64,
}

impl StepTally {
    /// One problem: `g` samples, `c_plur` of them equal to the plurality, `c_right`
    /// right; `right_plur`: the plurality is the right answer.
    #[inline(always)]
    pub fn problem(&mut self, c_plur: u64, c_right: u64, right_plur: bool, g: u64) {
        let right = u64::from(right_plur);
        // A right plurality: proxy and true reward agree on every sample. A wrong one:
        // samples equal to it (proxy 1, truth 0) and right samples (proxy 0, truth 1)
        // disagree; every other sample is a "lucky hit" (0 = 0).
        self.label_right += right;
        self.reward_agree += if right_plur { g } else { g - c_plur - c_right };
        self.pt += right * c_right;
        self.n += g;
        self.p += c_plur;
        self.t += c_right;
    }

    fn co(&self) -> CoSums {
        CoSums {
            n: self.n as f64,
            p: self.p as f64,
            t: self.t as f64,
            pt: self.pt as f64,
        }
    }
}

/// What one training run of one arm recorded: `values[metric][record]`.
pub struct Trace {
    pub values: Vec<Vec<f64>>,
}

/// The data one replicate trains on: training problems, held-out test and validation
/// problems (which share only `w` and `b` with the trained policy), and the teacher's
/// frozen labels.
pub struct Problems {
    pub train: Drawn,
    pub test: HeldOut,
    pub validation: HeldOut,
    pub labels: Vec<usize>,
}

impl Problems {
    pub fn draw(p: &Params, rep: &Replicate) -> Self {
        let train = Drawn::initial(p, p.problems, &mut rep.stream("problems"));
        let test = HeldOut::new(Drawn::initial(p, p.test_problems, &mut rep.stream("test_problems")));
        let validation = HeldOut::new(Drawn::initial(
            p,
            p.validation_problems,
            &mut rep.stream("validation_problems"),
        ));
        let labels = teacher_labels(p, &Policy::new(&train), &train.transfer, &mut rep.words("teacher"));
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
        let t = self.train.k - 1;
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
    let mut rng = rep.words(&format!("train/{}", arm.name()));
    let mut val_rng = rep.words(&format!("validation/{}", arm.name()));
    let mut teacher_rng = rep.words(&format!("teacher/{}", arm.name()));
    let transfer = &problems.train.transfer;
    let mut policy = Policy::new(&problems.train);
    let mut labels = problems.labels.clone();
    let mut values = vec![vec![0.0; records(p)]; METRICS.len()];
    let (n, k, g) = (p.problems, policy.k, p.samples);
    let ln_k = ops::log(k as f64);
    let steps = Steps::new(p);
    let mut scratch = Scratch::new(k, n);
    // Per step: G rows of n sample uniforms, then a row of n tie uniforms, then
    // `CHUNK` unused ones that the counting passes may read (`StepInput::samples`).
    let mut uniforms = vec![0u32; n * (g + 1) + CHUNK];
    let mut val_uniforms = Vec::new();
    let mut window = vec![CoSums::default(); p.correlation_window];
    let mut stopped = false;
    let mut best = (f64::NEG_INFINITY, policy.clone());
    let mut bad_evals = 0;
    for step in 0..=p.steps {
        if arm == Arm::EarlyStopping && !stopped && step % p.eval_every == 0 {
            let acc = problems.validation.sampled_accuracy(
                policy.shared,
                p.validation_samples,
                &mut val_rng,
                &mut val_uniforms,
            );
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
            labels = teacher_labels(p, &policy, transfer, &mut teacher_rng);
        }
        let record = step % p.record_every == 0;
        let train = step < p.steps && !stopped;
        fill_uniforms(&mut rng, &mut uniforms[..n * (g + 1)]);
        let input = StepInput {
            arm,
            record,
            train,
            g,
            transfer,
            labels: &labels,
            samples: &uniforms,
            ties: &uniforms[n * g..n * (g + 1)],
            steps: &steps,
        };
        let mut sums = StepSums::default();
        step_rows(&mut policy, &input, &mut scratch, ln_k, &mut sums);
        if train {
            let n = p.problems as f64;
            policy.shared.skill += p.lr_skill * (sums.grad_skill / steps.g2) / n;
            let delta = p.lr_template * (sums.grad_template as f64 / steps.g2) / n;
            policy.shared.template_bias += delta;
            policy.shift_template(delta);
        }
        let co = sums.tally.co();
        window[step % p.correlation_window] = co;
        if record {
            let r = step / p.record_every;
            let n = p.problems as f64;
            let mut rolling = CoSums::default();
            for s in &window {
                rolling.add(*s);
            }
            let (test_acc, test_template) = problems.test.exact_rates(policy.shared);
            values[ACCURACY][r] = sums.accuracy / n;
            values[TEST_ACCURACY][r] = test_acc;
            values[PROXY][r] = co.p / co.n;
            values[TEMPLATE][r] = sums.template / n;
            values[TEST_TEMPLATE][r] = test_template;
            values[LABEL][r] = sums.tally.label_right as f64 / n;
            values[REWARD_ACC][r] = sums.tally.reward_agree as f64 / co.n;
            values[CORRELATION][r] = rolling.correlation();
            values[ENTROPY][r] = sums.entropy / n;
        }
    }
    Trace { values }
}

/// The standard error of the validation accuracy at its worst (accuracy 1/2):
/// `sqrt(1/4 / (problems · samples))`. Early stopping's tolerance is held above twice it.
pub fn validation_noise(p: &Params) -> f64 {
    ops::sqrt(0.25 / (p.validation_problems * p.validation_samples) as f64)
}

/// Labels: the plurality of `teacher_samples` answers of `policy` on each problem
/// (`transfer`: the problems' reach), from `teacher_samples + 1` 32-bit uniforms per
/// problem (the samples, then the tie-break).
pub fn teacher_labels(p: &Params, policy: &Policy, transfer: &[f64], rng: &mut Words) -> Vec<usize> {
    let (k, draws) = (policy.k, p.teacher_samples);
    let mut uniforms = vec![0u32; transfer.len() * (draws + 1)];
    fill_uniforms(rng, &mut uniforms);
    let mut weights = [0.0; MAX_ANSWERS];
    let mut counts = [0u32; MAX_ANSWERS];
    uniforms
        .chunks_exact(draws + 1)
        .enumerate()
        .map(|(i, u)| {
            policy.weights(i, transfer[i], &mut weights[..k]);
            count_draws(&weights[..k], &u[..draws], &mut counts[..k]);
            plurality(&counts[..k], u[draws])
        })
        .collect()
}
