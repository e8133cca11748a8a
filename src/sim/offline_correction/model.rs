//! The simulation: populations of first attempts, the corrector, its training, and
//! deployment. The module doc of `offline_correction` says what each piece stands for.

use super::{Params, MAX_MODES};
use crate::ops;
use crate::ops::table::exp_nonpositive;
use crate::rng::Stream;
use crate::sim::Replicate;

/// Where first attempts come from: accuracy, error-mode weights, salience range [lo, hi].
pub(super) struct Population<'a> {
    pub accuracy: f64,
    pub modes: &'a [f64],
    pub salience: [f64; 2],
}

impl Params {
    pub(super) fn modes(&self) -> usize {
        self.own_mode_weights.len()
    }

    pub(super) fn own(&self) -> Population<'_> {
        Population {
            accuracy: self.own_accuracy,
            modes: &self.own_mode_weights,
            salience: clipped(self.own_salience, self.own_salience_width),
        }
    }

    pub(super) fn foreign(&self) -> Population<'_> {
        Population {
            accuracy: self.foreign_accuracy,
            modes: &self.foreign_mode_weights,
            salience: clipped(self.foreign_salience, self.foreign_salience_width),
        }
    }
}

/// The salience range `mean ± width`, clipped to [0, 1].
fn clipped(mean: f64, width: f64) -> [f64; 2] {
    [(mean - width).max(0.0), (mean + width).min(1.0)]
}

/// Rows per block of [`Policy::probabilities_batch`]: the lanes its loops run across.
const BLOCK: usize = 16;

/// The action index of keep; fix_j is action `j + 1`.
pub(super) const KEEP: usize = 0;

/// A set of first attempts: `error[i]` is 0 for a right attempt and `e + 1` for an
/// error of mode e; `x[i·M .. (i+1)·M]` is its symptom.
pub(super) struct Attempts {
    m: usize,
    pub error: Vec<usize>,
    x: Vec<f64>,
}

impl Attempts {
    pub fn len(&self) -> usize {
        self.error.len()
    }

    #[cfg(test)]
    pub fn symptom(&self, i: usize) -> &[f64] {
        &self.x[i * self.m..(i + 1) * self.m]
    }

    /// Every index, in order.
    pub fn indices(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }

    /// `n` attempts, each from the foreign population where `foreign` (which may
    /// draw) says so and from the model's own otherwise. Every draw is made in the
    /// recipe's order, attempt by attempt (whether foreign, right or which mode, the
    /// salience, then the symptom's polar points); the points become normals after
    /// the last attempt is drawn, so that their logs are one batch ([`PolarPoints`]).
    fn drawn(p: &Params, n: usize, rng: &mut Stream, mut foreign: impl FnMut(&mut Stream) -> bool) -> Self {
        let m = p.modes();
        let (own_pop, foreign_pop) = (p.own(), p.foreign());
        let mut error = Vec::with_capacity(n);
        let mut signal = Vec::with_capacity(n);
        let mut points = PolarPoints::with_capacity(n * m.div_ceil(2));
        for _ in 0..n {
            let pop = if foreign(rng) { &foreign_pop } else { &own_pop };
            let (e, s) = first_attempt(p, pop, rng);
            error.push(e);
            signal.push(s);
            for _ in 0..m.div_ceil(2) {
                points.draw(rng);
            }
        }
        let normals = points.normals();
        let mut x = Vec::with_capacity(n * m);
        for ((&e, &s), z) in error.iter().zip(&signal).zip(normals.chunks_exact(m.div_ceil(2))) {
            let start = x.len();
            x.extend(z.as_flattened()[..m].iter().map(|z| z * p.symptom_noise));
            if e != 0 {
                x[start + e - 1] += s;
            }
        }
        Attempts { m, error, x }
    }

    /// `n` attempts of the model's own.
    pub fn own(p: &Params, n: usize, rng: &mut Stream) -> Self {
        Attempts::drawn(p, n, rng, |_| false)
    }

    /// `n` offline trace attempts: foreign with probability λ, the model's own otherwise.
    pub fn traces(p: &Params, lambda: f64, n: usize, rng: &mut Stream) -> Self {
        Attempts::drawn(p, n, rng, |rng| rng.bernoulli(lambda))
    }
}

/// A first attempt drawn from `pop`: its error (0 if right, e + 1 for mode e) and its
/// symptom's signal on that mode's channel (σ·g; 0 if right).
fn first_attempt(p: &Params, pop: &Population, rng: &mut Stream) -> (usize, f64) {
    if rng.bernoulli(pop.accuracy) {
        return (0, 0.0);
    }
    let error = rng.categorical(pop.modes) + 1;
    let [lo, hi] = pop.salience;
    (error, (lo + (hi - lo) * rng.uniform()) * p.symptom_gain)
}

/// Standard normals by Marsaglia's polar method, both of each pair: one raw draw gives
/// a point (u, v) of the square (−1, 1)² (its two 32-bit halves, each
/// `(k + ½)·2⁻³¹ − 1`, so never 0 and symmetric about 0); a point outside the unit disc
/// is rejected, and an accepted one gives `u·f, v·f` with `f = sqrt(−2 ln s / s)`,
/// `s = u² + v²`: two independent N(0, 1), one `log` and one `sqrt` per pair, no sin or
/// cos, 4/π draws per pair on average. The points are drawn first and turned into
/// normals together, their logs by [`ops::exact::log_batch`] (libm's bits, so the same
/// normals as one `log` at a time).
pub(super) struct PolarPoints {
    uv: Vec<[f64; 2]>,
    s: Vec<f64>,
}

impl PolarPoints {
    pub fn with_capacity(n: usize) -> Self {
        PolarPoints {
            uv: Vec::with_capacity(n),
            s: Vec::with_capacity(n),
        }
    }

    /// Draws points until one falls inside the unit disc, and keeps it.
    pub fn draw(&mut self, rng: &mut Stream) {
        const HALF: f64 = 1.0 / (1u64 << 32) as f64;
        loop {
            let bits = rng.next_u64();
            let u = ((bits >> 32) as f64 + 0.5) * (2.0 * HALF) - 1.0;
            let v = ((bits & 0xFFFF_FFFF) as f64 + 0.5) * (2.0 * HALF) - 1.0;
            let s = u * u + v * v;
            if s < 1.0 {
                self.uv.push([u, v]);
                self.s.push(s);
                return;
            }
        }
    }

    /// The pair of normals of each point, in the order drawn. The square roots are
    /// `f64::sqrt` (correctly rounded, as `ops::sqrt`'s libm one: the same bits) in a
    /// loop that vectorises, each counted as one `ops::sqrt`.
    pub fn normals(self) -> Vec<[f64; 2]> {
        let mut ln = self.s.clone();
        ops::exact::log_batch(&mut ln);
        for _ in 0..ln.len() {
            ops::tally(ops::Op::Sqrt);
        }
        let factors = ln.iter().zip(&self.s).map(|(ln, s)| (-2.0 * ln / s).sqrt());
        self.uv.iter().zip(factors).map(|([u, v], f)| [u * f, v * f]).collect()
    }
}

/// Probability that turn 2 is right after `action` on a first attempt with `error`.
#[inline]
pub(super) fn p_right_after(p: &Params, error: usize, action: usize) -> f64 {
    match (error, action) {
        (0, KEEP) => 1.0,
        (0, _) => 1.0 - p.break_chance,
        (e, a) if e == a => p.fix_success,
        _ => 0.0,
    }
}

/// The corrector: a softmax over keep and the M fixes, linear in `(1, x)`.
///
/// Held input-major, the actions in lanes padded to a multiple of 4
/// ([`Policy::stride`] = P): `theta[j·P + k]` is action k's weight on input j, where
/// input 0 is the constant 1 (so the first P entries are the biases) and input
/// 1 + i is x_i. The pad lanes k ≥ M + 1 hold a bias of −∞ and weights 0, so their
/// logit is −∞, their exponential and probability 0, and their gradient 0: they
/// never change, and never reach an output.
#[derive(Clone)]
pub(super) struct Policy {
    m: usize,
    stride: usize,
    theta: Vec<f64>,
}

/// Lanes of a row of actions: `actions` rounded up to a multiple of 4 (an AVX2 vector).
fn stride_for(actions: usize) -> usize {
    actions.div_ceil(4) * 4
}

/// Calls the kernel `f::<W, P>` compiled for `m` modes: W = m + 1 actions in
/// P = [`stride_for`]`(W)` lanes (2..=`MAX_MODES` modes), so every loop has a fixed
/// length, unrolls, and runs across the action lanes.
macro_rules! by_modes {
    ($m:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $m {
            2 => $f::<3, 4>($($arg),*),
            3 => $f::<4, 4>($($arg),*),
            4 => $f::<5, 8>($($arg),*),
            5 => $f::<6, 8>($($arg),*),
            6 => $f::<7, 8>($($arg),*),
            7 => $f::<8, 8>($($arg),*),
            8 => $f::<9, 12>($($arg),*),
            9 => $f::<10, 12>($($arg),*),
            10 => $f::<11, 12>($($arg),*),
            11 => $f::<12, 12>($($arg),*),
            12 => $f::<13, 16>($($arg),*),
            13 => $f::<14, 16>($($arg),*),
            14 => $f::<15, 16>($($arg),*),
            15 => $f::<16, 16>($($arg),*),
            16 => $f::<17, 20>($($arg),*),
            m => unreachable!("{m} modes: the spec allows 2..={MAX_MODES}"),
        }
    };
}

impl Policy {
    /// The untrained, edit-happy corrector: keep's bias `base_keep_bias` below the
    /// fixes', every symptom weight drawn from N(0, base_gain²) (it has not learned
    /// which symptom calls for which fix).
    pub fn base(p: &Params, rng: &mut Stream) -> Self {
        let m = p.modes();
        let w = m + 1;
        let stride = stride_for(w);
        let mut theta = vec![0.0; w * stride];
        theta[w..stride].fill(f64::NEG_INFINITY);
        theta[KEEP] = p.base_keep_bias;
        // Action by action, its weights in order (the order of the draws).
        for k in 0..w {
            for j in 0..m {
                theta[(1 + j) * stride + k] = p.base_gain * rng.normal();
            }
        }
        Policy { m, stride, theta }
    }

    pub fn actions(&self) -> usize {
        self.m + 1
    }

    /// Lanes of a row of probabilities (the actions, then zeros to a multiple of 4).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Action k's weight on input j (input 0 is the constant 1: the bias).
    #[cfg(test)]
    fn weight(&self, k: usize, j: usize) -> f64 {
        self.theta[j * self.stride + k]
    }

    #[cfg(test)]
    fn set_weight(&mut self, k: usize, j: usize, value: f64) {
        self.theta[j * self.stride + k] = value;
    }

    /// Softmax probabilities at sampling temperature `temperature` of the symptoms
    /// of `set` at the indices `rows`, one row of `out` ([`Policy::stride`] wide: the
    /// actions, then zeros) each.
    ///
    /// Per row, exactly the scalar recipe: each logit is its bias plus its weights
    /// times `x` summed in order; the exponent of each term is
    /// `(logit − max)/temperature` (the largest logit's is 0, and exp(0) = 1 exactly;
    /// at temperature 1 the division is skipped, x / 1 = x); the terms are
    /// [`exp_nonpositive`] of those, summed in order, each then multiplied by the
    /// sum's reciprocal. A block of [`BLOCK`] rows is computed with its rows in the
    /// vector lanes (see `softmax_rows`), its exponentials as one loop; no lane ever
    /// mixes with another, so each row's bits are those of the row alone, at any
    /// vector width. On an x86-64 processor with AVX2 the same code runs compiled for
    /// AVX2 (4 lanes a vector instead of SSE2's 2): the same IEEE operations in the
    /// same order per element (Rust never fuses a multiply and an add), so the same
    /// bits; only the speed depends on the machine.
    pub fn probabilities_batch(&self, set: &Attempts, rows: &[usize], temperature: f64, out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            unsafe { self.probabilities_batch_avx2(set, rows, temperature, out) };
            return;
        }
        self.probabilities_batch_portable(set, rows, temperature, out);
    }

    /// [`Policy::probabilities_batch`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn probabilities_batch_avx2(&self, set: &Attempts, rows: &[usize], temperature: f64, out: &mut [f64]) {
        self.probabilities_batch_portable(set, rows, temperature, out);
    }

    /// [`Policy::probabilities_batch`] for any processor (inlined into the AVX2 copy).
    #[inline(always)]
    fn probabilities_batch_portable(&self, set: &Attempts, rows: &[usize], temperature: f64, out: &mut [f64]) {
        assert_eq!(set.m, self.m, "symptoms have M channels");
        by_modes!(self.m, softmax_rows(&self.theta, &set.x, rows, temperature, out));
    }

    /// One gradient step on a batch: `theta += rate · Σ_b scale_b · (onehot(a_b) −
    /// probs_b) ⊗ (1, x_b)`, the gradient of `Σ_b scale_b · log π(a_b | x_b)`, for
    /// the symptoms of `set` at `rows`, their rows `probs` of
    /// [`Policy::probabilities_batch`], `actions` and `scales`. Each element of the gradient is
    /// summed over the rows in order from 0, `d = scale · (1[k = a] − probs[k])` on a
    /// bias and `d · x_j` on a weight, then added to theta times `rate`: the scalar
    /// recipe's operations, run across the action lanes (and compiled for AVX2 where
    /// the processor has it, the same bits).
    pub fn gradient_step(&mut self, set: &Attempts, batch: Batch, rate: f64) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            unsafe { self.gradient_step_avx2(set, batch, rate) };
            return;
        }
        self.gradient_step_portable(set, batch, rate);
    }

    /// [`Policy::gradient_step`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn gradient_step_avx2(&mut self, set: &Attempts, batch: Batch, rate: f64) {
        self.gradient_step_portable(set, batch, rate);
    }

    /// [`Policy::gradient_step`] for any processor (inlined into the AVX2 copy).
    #[inline(always)]
    fn gradient_step_portable(&mut self, set: &Attempts, batch: Batch, rate: f64) {
        assert_eq!(set.m, self.m, "symptoms have M channels");
        by_modes!(self.m, gradient_rows(&mut self.theta, &set.x, batch, rate));
    }
}

/// A minibatch of [`Policy::gradient_step`]: the indices of its rows in a set of
/// attempts, their softmax rows `probs` ([`Policy::stride`] wide), the action taken
/// on each and each row's weight.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub rows: &'a [usize],
    pub probs: &'a [f64],
    pub actions: &'a [usize],
    pub scales: &'a [f64],
}

/// [`Policy::probabilities_batch`] for `W` actions in `P` lanes.
///
/// A block of [`BLOCK`] rows is computed with its rows in the vector lanes (each
/// action's logits, exponents and probabilities of the block are one array of
/// `BLOCK`): every step of the row recipe is then an operation between arrays, the
/// maximum and the sum run over the actions in order per lane (no lane ever mixes
/// with another), and the probabilities are written back one row of `P` each. A
/// short last block computes its missing rows from stale symptoms and drops them.
#[inline(always)]
fn softmax_rows<const W: usize, const P: usize>(
    theta: &[f64],
    x: &[f64],
    rows: &[usize],
    temperature: f64,
    out: &mut [f64],
) {
    let m = W - 1;
    let rows_of_theta = theta.as_chunks::<P>().0;
    let theta: [[f64; P]; W] = std::array::from_fn(|j| rows_of_theta[j]);
    let (mut xs, mut z) = ([[0.0; BLOCK]; W], [[0.0; BLOCK]; W]);
    for (block, out) in rows.chunks(BLOCK).zip(out.chunks_mut(BLOCK * P)) {
        block_symptoms(x, m, block, &mut xs);
        block_logits(&theta, &xs, &mut z);
        exponents_block(&mut z, temperature);
        // One vectorised loop (inlined, so the AVX2 copy runs it in AVX2), counted as
        // `ops::table::exp_batch`'s elements; only the block's own rows are counted.
        for _ in 0..block.len() * W {
            ops::tally(ops::Op::ExpTable);
        }
        for t in z.as_flattened_mut() {
            *t = exp_nonpositive(*t);
        }
        normalised_rows::<W, P>(&z, out);
    }
}

/// The symptoms of a block's rows into `xs`, input-major (`xs[j][r]` is row r's x_j;
/// rows past the block's end keep their old values). Input 0 (the constant 1) is
/// unused.
#[inline(always)]
fn block_symptoms<const W: usize>(x: &[f64], m: usize, block: &[usize], xs: &mut [[f64; BLOCK]; W]) {
    for (r, &i) in block.iter().enumerate() {
        for (j, &xj) in x[i * m..(i + 1) * m].iter().enumerate() {
            xs[1 + j][r] = xj;
        }
    }
}

/// Each action's logits of a block's rows into `z`: its bias plus its weights times
/// the symptom, summed in input order (the scalar sum's order).
#[inline(always)]
fn block_logits<const W: usize, const P: usize>(
    theta: &[[f64; P]; W],
    xs: &[[f64; BLOCK]; W],
    z: &mut [[f64; BLOCK]; W],
) {
    for (k, zk) in z.iter_mut().enumerate() {
        *zk = [theta[0][k]; BLOCK];
        for j in 1..W {
            let w = theta[j][k];
            for (zr, xr) in zk.iter_mut().zip(&xs[j]) {
                *zr += w * xr;
            }
        }
    }
}

/// Logits to exponents in place: each row's `(logit − max)/temperature`, its maximum
/// found over the actions in order (at temperature 1 the division is skipped).
#[inline(always)]
fn exponents_block<const W: usize>(z: &mut [[f64; BLOCK]; W], temperature: f64) {
    let mut max = [f64::NEG_INFINITY; BLOCK];
    for zk in z.iter() {
        for (mr, l) in max.iter_mut().zip(zk) {
            *mr = if *l > *mr { *l } else { *mr };
        }
    }
    for zk in z.iter_mut() {
        for (l, mr) in zk.iter_mut().zip(&max) {
            *l -= mr;
        }
    }
    if temperature != 1.0 {
        for l in z.as_flattened_mut() {
            *l /= temperature;
        }
    }
}

/// Each row's terms divided by their sum (summed over the actions in order, then
/// one reciprocal a row), written as rows of `P`: the actions, then zeros.
#[inline(always)]
fn normalised_rows<const W: usize, const P: usize>(e: &[[f64; BLOCK]; W], out: &mut [f64]) {
    let mut total = e[0];
    for ek in &e[1..] {
        for (tr, er) in total.iter_mut().zip(ek) {
            *tr += er;
        }
    }
    let inv = total.map(|t| 1.0 / t);
    for (r, row) in out.chunks_exact_mut(P).enumerate() {
        for k in 0..P {
            row[k] = if k < W { e[k][r] * inv[r] } else { 0.0 };
        }
    }
}

/// [`Policy::gradient_step`] for `W` actions in `P` lanes; `batch` is (rows, probs,
/// actions, scales).
#[inline(always)]
fn gradient_rows<const W: usize, const P: usize>(theta: &mut [f64], x: &[f64], batch: Batch, rate: f64) {
    let m = W - 1;
    let Batch {
        rows,
        probs,
        actions,
        scales,
    } = batch;
    let mut g = [[0.0; P]; W];
    // Four action lanes (one AVX2 vector) at a time, so that the W accumulators stay
    // in registers; each element is still summed over the rows in order from 0.
    for lanes in (0..P).step_by(4) {
        let mut acc = [[0.0; 4]; W];
        for (((&i, probs), &action), &scale) in rows.iter().zip(probs.chunks_exact(P)).zip(actions).zip(scales) {
            let probs: &[f64; 4] = &probs.as_chunks::<4>().0[lanes / 4];
            let x = &x[i * m..(i + 1) * m];
            let mut d = [0.0; 4];
            for (l, (dl, pl)) in d.iter_mut().zip(probs).enumerate() {
                *dl = scale * (if lanes + l == action { 1.0 } else { 0.0 } - pl);
            }
            for l in 0..4 {
                acc[0][l] += d[l];
            }
            for j in 1..W {
                let xj = x[j - 1];
                for l in 0..4 {
                    acc[j][l] += d[l] * xj;
                }
            }
        }
        for (gj, accj) in g.iter_mut().zip(&acc) {
            gj[lanes..lanes + 4].copy_from_slice(accj);
        }
    }
    for (t, gk) in theta.iter_mut().zip(g.as_flattened()) {
        *t += rate * gk;
    }
}

/// A (symptom index, target action) correction pair for supervised fine-tuning.
pub(super) type Pair = (usize, usize);

/// Minibatch SGD on cross-entropy over `pairs` (sampled with replacement), calling
/// `record(step, policy)` at step 0 and every `record_every` steps.
pub(super) fn fine_tune(
    p: &Params,
    policy: &mut Policy,
    attempts: &Attempts,
    pairs: &[Pair],
    rng: &mut Stream,
    mut record: impl FnMut(usize, &Policy),
) {
    record(0, policy);
    let s = policy.stride();
    let (mut rows, mut targets) = (vec![0; p.sft_batch], vec![KEEP; p.sft_batch]);
    let ones = vec![1.0; p.sft_batch];
    let mut probs = vec![0.0; p.sft_batch * s];
    for step in 1..=p.sft_steps {
        if !pairs.is_empty() {
            for (i, target) in rows.iter_mut().zip(targets.iter_mut()) {
                (*i, *target) = pairs[rng.below(pairs.len())];
            }
            policy.probabilities_batch(attempts, &rows, 1.0, &mut probs);
            let rate = p.sft_rate / p.sft_batch as f64;
            let batch = Batch {
                rows: &rows,
                probs: &probs,
                actions: &targets,
                scales: &ones,
            };
            policy.gradient_step(attempts, batch, rate);
        }
        if step % p.record_every == 0 {
            record(step, policy);
        }
    }
}

/// Pair-SFT's pairs: each wrong trace with its correction `fix_e`; with `keep_pairs`,
/// each right trace with keep too.
pub(super) fn correction_pairs(traces: &Attempts, keep_pairs: bool) -> Vec<Pair> {
    (0..traces.len())
        .filter_map(|i| match traces.error[i] {
            0 if keep_pairs => Some((i, KEEP)),
            0 => None,
            e => Some((i, e)),
        })
        .collect()
}

/// An action drawn from a row of probabilities: [`Stream::categorical`] exactly (the
/// same uniform draw, the same sum in order, the same running subtractions, so the
/// same action), but the first index whose running target falls below its
/// probability is read from a mask instead of by an early exit, so that no branch
/// depends on the drawn action (a misprediction on most draws in training loops).
fn sampled_action(rng: &mut Stream, probs: &[f64]) -> usize {
    let total: f64 = probs.iter().sum();
    let mut target = rng.uniform() * total;
    let mut below = 0u32;
    for (i, pi) in probs.iter().enumerate() {
        below |= u32::from(target < *pi) << i;
        target -= pi;
    }
    if below == 0 {
        probs.len() - 1
    } else {
        below.trailing_zeros() as usize
    }
}

/// STaR's pairs: the base corrector's sampled corrections of its own attempts that
/// turned a wrong first attempt right.
fn star_pairs(p: &Params, base: &Policy, own: &Attempts, rng: &mut Stream) -> Vec<Pair> {
    let (w, s) = (base.actions(), base.stride());
    let mut all = vec![0.0; own.len() * s];
    base.probabilities_batch(own, &own.indices(), 1.0, &mut all);
    let mut pairs = Vec::new();
    for (i, probs) in all.chunks_exact(s).enumerate() {
        let action = sampled_action(rng, &probs[..w]);
        let right = rng.bernoulli(p_right_after(p, own.error[i], action));
        if own.error[i] != 0 && right {
            pairs.push((i, action));
        }
    }
    pairs
}

/// REINFORCE on the model's own first attempts with reward r2 (1 if turn 2 is right).
/// The first attempt's reward r1 is the per-problem baseline (it does not depend on the
/// action, so the gradient stays unbiased), plus a running mean of r2 − r1.
pub(super) fn online_rl(p: &Params, policy: &mut Policy, pool: &Attempts, rng: &mut Stream) {
    let (w, s) = (policy.actions(), policy.stride());
    let mut batch = vec![0; p.rl_batch];
    let (mut actions, mut scales) = (vec![KEEP; p.rl_batch], vec![0.0; p.rl_batch]);
    let mut probs = vec![0.0; p.rl_batch * s];
    let mut baseline = 0.0;
    for _ in 0..p.rl_steps {
        let mut batch_reward = 0.0;
        for i in batch.iter_mut() {
            *i = rng.below(pool.len());
        }
        policy.probabilities_batch(pool, &batch, 1.0, &mut probs);
        // Each problem's action and outcome in turn; the gradient needs only the
        // action and the scale r2 − r1 − baseline (the policy is fixed in a step).
        let chosen = actions.iter_mut().zip(scales.iter_mut());
        for ((&i, probs), (a, scale)) in batch.iter().zip(probs.chunks_exact(s)).zip(chosen) {
            let action = sampled_action(rng, &probs[..w]);
            let r1 = (pool.error[i] == 0) as u8 as f64;
            let r2 = rng.bernoulli(p_right_after(p, pool.error[i], action)) as u8 as f64;
            (*a, *scale) = (action, r2 - r1 - baseline);
            batch_reward += r2 - r1;
        }
        let rate = p.rl_rate / p.rl_batch as f64;
        let step = Batch {
            rows: &batch,
            probs: &probs,
            actions: &actions,
            scales: &scales,
        };
        policy.gradient_step(pool, step, rate);
        baseline = p.baseline_decay * baseline + (1.0 - p.baseline_decay) * batch_reward / p.rl_batch as f64;
    }
}

/// The anchor's metrics of a corrector deployed on `eval`.
#[derive(Clone, Copy, Default)]
pub(super) struct Deployed {
    pub acc_t1: f64,
    pub acc_t2: f64,
    pub i_to_c: f64,
    pub c_to_i: f64,
    pub edit_rate: f64,
    pub entropy: f64,
}

impl Deployed {
    pub fn delta(&self) -> f64 {
        self.acc_t2 - self.acc_t1
    }

    /// Share of the wrong first attempts turned right.
    pub fn fix_rate(&self) -> f64 {
        self.i_to_c / (1.0 - self.acc_t1).max(1e-12)
    }
}

/// Deploys `policy` at `deploy_temperature` on `eval`: exact expectations over the
/// sampled action and the fix outcome of each problem.
pub(super) fn deploy(p: &Params, policy: &Policy, eval: &Attempts) -> Deployed {
    let (w, s) = (policy.actions(), policy.stride());
    let mut all = vec![0.0; eval.len() * s];
    policy.probabilities_batch(eval, &eval.indices(), p.deploy_temperature, &mut all);
    let mut chosen = vec![0.0; w];
    let mut d = Deployed::default();
    let kept_right = p_right_after(p, 0, KEEP);
    let fixed_right = p_right_after(p, 0, KEEP + 1);
    for (&error, probs) in eval.error.iter().zip(all.chunks_exact(s)) {
        let probs = &probs[..w];
        for (c, pa) in chosen.iter_mut().zip(probs) {
            *c += pa;
        }
        // Σ_a π(a)·P(right | error, a) in order, its zero terms left out (the same sum).
        let after = if error == 0 {
            let mut after = probs[KEEP] * kept_right;
            for pa in &probs[KEEP + 1..] {
                after += pa * fixed_right;
            }
            after
        } else {
            probs[error] * p_right_after(p, error, error)
        };
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
pub(super) fn normalised_entropy(weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    let mut h = 0.0;
    for &w in weights {
        if w > 0.0 {
            let q = w / total;
            h -= q * ops::log(q);
        }
    }
    h / ops::log(weights.len() as f64)
}

/// The first `curve_attempts` wrong attempts of `set`: the ones panel (c)'s fix rate
/// on that set is measured on.
pub(super) fn curve_set(p: &Params, set: &Attempts) -> Vec<usize> {
    (0..set.len())
        .filter(|&i| set.error[i] != 0)
        .take(p.curve_attempts)
        .collect()
}

/// Share of the wrong attempts `wrong` of `set` (from [`curve_set`]) that the corrector
/// turns right at `deploy_temperature` (expected over its action and the fix outcome);
/// `probs` is a buffer of at least `wrong.len()` rows.
pub(super) fn fix_rate(p: &Params, policy: &Policy, set: &Attempts, wrong: &[usize], probs: &mut [f64]) -> f64 {
    let s = policy.stride();
    policy.probabilities_batch(set, wrong, p.deploy_temperature, probs);
    let mut fixed = 0.0;
    for (&i, pr) in wrong.iter().zip(probs.chunks_exact(s)) {
        fixed += pr[set.error[i]] * p.fix_success;
    }
    fixed / wrong.len().max(1) as f64
}

/// The arms of the main condition, in the order of the panels.
pub(super) const ARMS: [&str; 7] = [
    "base",
    "star",
    "pair_sft",
    "pair_sft_plus",
    "pair_sft_own",
    "pair_sft_plus_own",
    "online_rl",
];
pub(super) const PAIR: usize = 2;
pub(super) const PLUS: usize = 3;
pub(super) const OWN: usize = 4;
pub(super) const PLUS_OWN: usize = 5;
pub(super) const RL: usize = 6;

/// Which fix rates a Pair-SFT run records for panel (c) (each costs a softmax per
/// wrong attempt it is measured on, so only the ones the figure draws are computed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Record {
    /// None (Pair-SFT+, and the sweep).
    Nothing,
    /// The fix rate on the model's own wrong attempts (Pair-SFT at λ = 0).
    Own,
    /// Also the fix rate on the trace set's wrong attempts (Pair-SFT at λ).
    OfflineAndOwn,
}

/// One Pair-SFT training curve: the steps recorded, the fix rate on the trace set's
/// wrong attempts at each (empty unless recorded) and on the model's own.
#[derive(Default)]
pub(super) struct Curve {
    pub steps: Vec<usize>,
    pub offline: Vec<f64>,
    pub own: Vec<f64>,
}

/// One replicate: the main condition's arms, and Pair-SFT's and Pair-SFT+'s deployed
/// metrics at each λ of the sweep.
pub(super) struct MainRun {
    pub arms: [Deployed; 7],
    /// Pair-SFT at λ = `lambda` (foreign traces).
    pub curve: Curve,
    /// Pair-SFT at λ = 0 (the model's own attempts as traces).
    pub curve_own: Curve,
    /// `[pair_sft, pair_sft_plus]` per λ of `lambdas`.
    pub sweep: Vec<[Deployed; 2]>,
}

/// Pair-SFT (or, with `keep_pairs`, Pair-SFT+) from `base` on `traces`, recording
/// the fix rates `record` asks for on the traces' and on the model's own wrong attempts.
fn pair_sft(
    p: &Params,
    base: &Policy,
    traces: &Attempts,
    eval: &Attempts,
    keep_pairs: bool,
    record: Record,
    rng: &mut Stream,
) -> (Policy, Curve) {
    let mut pair = base.clone();
    let mut curve = Curve::default();
    let pairs = correction_pairs(traces, keep_pairs);
    let (offline_set, own_set) = match record {
        Record::Nothing => (Vec::new(), Vec::new()),
        Record::Own => (Vec::new(), curve_set(p, eval)),
        Record::OfflineAndOwn => (curve_set(p, traces), curve_set(p, eval)),
    };
    let mut probs = vec![0.0; offline_set.len().max(own_set.len()) * base.stride()];
    let on_record = |step: usize, policy: &Policy| {
        if record != Record::Nothing {
            curve.steps.push(step);
            if record == Record::OfflineAndOwn {
                curve
                    .offline
                    .push(fix_rate(p, policy, traces, &offline_set, &mut probs));
            }
            curve.own.push(fix_rate(p, policy, eval, &own_set, &mut probs));
        }
    };
    fine_tune(p, &mut pair, traces, &pairs, rng, on_record);
    (pair, curve)
}

/// Every arm of one replicate. The arms share the replicate's eval set and base
/// corrector, so differences between arms are paired.
pub(super) fn main_run(p: &Params, rep: Replicate) -> MainRun {
    let eval = Attempts::own(p, p.eval_problems, &mut rep.stream("eval"));
    let base = Policy::base(p, &mut rep.stream("base"));

    let traces = Attempts::traces(p, p.lambda, p.traces, &mut rep.stream("traces"));
    let both = Record::OfflineAndOwn;
    let (pair, curve) = pair_sft(p, &base, &traces, &eval, false, both, &mut rep.stream("sft/pair"));
    let (plus, _) = pair_sft(
        p,
        &base,
        &traces,
        &eval,
        true,
        Record::Nothing,
        &mut rep.stream("sft/plus"),
    );
    let own_traces = Attempts::traces(p, 0.0, p.traces, &mut rep.stream("traces/own"));
    let (own, curve_own) = pair_sft(
        p,
        &base,
        &own_traces,
        &eval,
        false,
        Record::Own,
        &mut rep.stream("sft/pair/own"),
    );
    let (plus_own, _) = pair_sft(
        p,
        &base,
        &own_traces,
        &eval,
        true,
        Record::Nothing,
        &mut rep.stream("sft/plus/own"),
    );

    let star_own = Attempts::own(p, p.star_attempts, &mut rep.stream("star/attempts"));
    let pairs = star_pairs(p, &base, &star_own, &mut rep.stream("star/actions"));
    let mut star = base.clone();
    fine_tune(p, &mut star, &star_own, &pairs, &mut rep.stream("sft/star"), |_, _| {});

    let pool = Attempts::own(p, p.rl_pool, &mut rep.stream("rl/pool"));
    let mut rl = base.clone();
    online_rl(p, &mut rl, &pool, &mut rep.stream("rl"));

    let arms = [&base, &star, &pair, &plus, &own, &plus_own, &rl].map(|policy| deploy(p, policy, &eval));
    // The sweep shares this replicate's eval set and base corrector; its points at
    // λ = `lambda` and λ = 0 are the main arms trained there. The others run inside
    // this replicate (one parallel loop for the whole figure), each on the named
    // streams of its condition `sweep/<λ>`.
    let sweep = p
        .lambdas
        .iter()
        .map(|&lambda| {
            if lambda == p.lambda {
                [arms[PAIR], arms[PLUS]]
            } else if lambda == 0.0 {
                [arms[OWN], arms[PLUS_OWN]]
            } else {
                let condition = format!("sweep/{lambda}");
                let at = Replicate {
                    condition: &condition,
                    ..rep
                };
                sweep_run(p, lambda, &base, &eval, at)
            }
        })
        .collect();
    MainRun {
        arms,
        curve,
        curve_own,
        sweep,
    }
}

/// Pair-SFT's and Pair-SFT+'s deployed metrics at mismatch `lambda` (one replicate of
/// `sweep/<λ>`; both are trained from the main condition's `base` on the same traces
/// and deployed on its `eval`).
pub(super) fn sweep_run(p: &Params, lambda: f64, base: &Policy, eval: &Attempts, rep: Replicate) -> [Deployed; 2] {
    let traces = Attempts::traces(p, lambda, p.traces, &mut rep.stream("traces"));
    let none = Record::Nothing;
    let (pair, _) = pair_sft(p, base, &traces, eval, false, none, &mut rep.stream("sft/pair"));
    let (plus, _) = pair_sft(p, base, &traces, eval, true, none, &mut rep.stream("sft/plus"));
    [deploy(p, &pair, eval), deploy(p, &plus, eval)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's parameters, at a small size.
    fn params() -> Params {
        let text = include_str!("../../../specs/offline_correction.toml");
        let spec: toml::Table = toml::from_str(text).expect("spec parses");
        let mut p: Params = spec["params"].clone().try_into().expect("params parse");
        p.eval_problems = 400;
        p.traces = 400;
        p.star_attempts = 200;
        p.rl_pool = 400;
        p.rl_steps = 500;
        p
    }

    fn replicate(index: u64) -> Replicate<'static> {
        Replicate {
            seed: 7,
            condition: "test",
            index,
        }
    }

    /// Mean of one arm's deployed metric over `n` replicates of the main condition.
    fn mean_over(p: &Params, n: u64, f: impl Fn(&MainRun) -> f64) -> f64 {
        (0..n).map(|i| f(&main_run(p, replicate(i)))).sum::<f64>() / n as f64
    }

    #[test]
    fn paired_normals_have_unit_moments() {
        let mut rng = Stream::new(1, "normals", 0, "t");
        let mut points = PolarPoints::with_capacity(100_000);
        for _ in 0..100_000 {
            points.draw(&mut rng);
        }
        let xs = points.normals().as_flattened().to_vec();
        assert_eq!(xs.len(), 200_000);
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
    }

    #[test]
    fn batched_polar_normals_are_the_one_log_at_a_time_recipe() {
        let mut points = PolarPoints::with_capacity(1000);
        let mut rng = Stream::new(1, "normals", 0, "t");
        for _ in 0..1000 {
            points.draw(&mut rng);
        }
        let expected: Vec<[f64; 2]> = points
            .uv
            .iter()
            .zip(&points.s)
            .map(|(&[u, v], &s)| {
                let f = ops::sqrt(-2.0 * ops::log(s) / s);
                [u * f, v * f]
            })
            .collect();
        let got = points.normals();
        assert!(got
            .as_flattened()
            .iter()
            .zip(expected.as_flattened())
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// The softmax of one row, the plain scalar recipe `probabilities_batch` must match.
    fn softmax_row(policy: &Policy, x: &[f64], temperature: f64) -> Vec<f64> {
        let w = policy.actions();
        let mut z: Vec<f64> = (0..w)
            .map(|k| {
                let mut z = policy.weight(k, 0);
                for (j, xj) in x.iter().enumerate() {
                    z += policy.weight(k, 1 + j) * xj;
                }
                z
            })
            .collect();
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for o in z.iter_mut() {
            *o = exp_nonpositive((*o - max) / temperature);
        }
        let total: f64 = z.iter().sum();
        z.iter().map(|o| o * (1.0 / total)).collect()
    }

    #[test]
    fn batched_softmax_is_the_row_recipe_bit_for_bit() {
        let p = params();
        let set = Attempts::own(&p, 45, &mut Stream::new(1, "t", 0, "eval"));
        let policy = Policy::base(&p, &mut Stream::new(1, "t", 0, "base"));
        let (w, s) = (policy.actions(), policy.stride());
        for n in 0..=set.len() {
            for temperature in [1.0, 0.1] {
                // The dispatched path (AVX2 where the processor has it) and the portable one.
                let rows: Vec<usize> = (0..n).collect();
                let mut out = vec![f64::NAN; n * s];
                policy.probabilities_batch(&set, &rows, temperature, &mut out);
                let mut portable = vec![f64::NAN; n * s];
                policy.probabilities_batch_portable(&set, &rows, temperature, &mut portable);
                for (i, (row, row_portable)) in out.chunks_exact(s).zip(portable.chunks_exact(s)).enumerate() {
                    let expected = softmax_row(&policy, set.symptom(i), temperature);
                    for got in [row, row_portable] {
                        let same = got[..w].iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "n {n}, row {i}, T {temperature}: {got:?} vs {expected:?}");
                        assert!(got[w..].iter().all(|&pad| pad == 0.0), "pad lanes: {got:?}");
                    }
                }
            }
        }
    }

    /// One gradient step by the plain scalar recipe on the action-major layout:
    /// each row adds `d = scale·(1[k = a] − p_k)` to action k's bias and `d·x_j` to
    /// its weights, in row order from a zeroed gradient; theta then gains rate × it.
    fn gradient_step_row_by_row(policy: &Policy, rows: &[(&[f64], &[f64], usize, f64)], rate: f64) -> Vec<f64> {
        let w = policy.actions();
        let mut grad = vec![0.0; w * w];
        for (x, probs, action, scale) in rows {
            for k in 0..w {
                let d = scale * (if k == *action { 1.0 } else { 0.0 } - probs[k]);
                grad[k * w] += d;
                for (j, xj) in x.iter().enumerate() {
                    grad[k * w + 1 + j] += d * xj;
                }
            }
        }
        let mut theta = vec![0.0; w * w];
        for k in 0..w {
            for j in 0..w {
                theta[k * w + j] = policy.weight(k, j) + rate * grad[k * w + j];
            }
        }
        theta
    }

    #[test]
    fn gradient_step_is_the_row_recipe_bit_for_bit() {
        let p = params();
        let set = Attempts::own(&p, 40, &mut Stream::new(1, "t", 0, "eval"));
        let mut rng = Stream::new(1, "t", 0, "actions");
        let base = Policy::base(&p, &mut Stream::new(1, "t", 0, "base"));
        let (w, s) = (base.actions(), base.stride());
        // Rows in a shuffled order, some repeated, as a minibatch draws them.
        let idx: Vec<usize> = (0..set.len()).map(|_| rng.below(set.len())).collect();
        let mut probs = vec![0.0; idx.len() * s];
        base.probabilities_batch(&set, &idx, 1.0, &mut probs);
        let actions: Vec<usize> = idx.iter().map(|_| rng.below(w)).collect();
        let scales: Vec<f64> = idx.iter().map(|_| rng.uniform() - 0.5).collect();
        let rows: Vec<(&[f64], &[f64], usize, f64)> = (0..idx.len())
            .map(|b| (set.symptom(idx[b]), &probs[b * s..b * s + w], actions[b], scales[b]))
            .collect();
        for n in [1, 16, 40] {
            let expected = gradient_step_row_by_row(&base, &rows[..n], 0.37);
            for portable in [false, true] {
                let mut policy = base.clone();
                let batch = Batch {
                    rows: &idx[..n],
                    probs: &probs[..n * s],
                    actions: &actions[..n],
                    scales: &scales[..n],
                };
                if portable {
                    policy.gradient_step_portable(&set, batch, 0.37);
                } else {
                    policy.gradient_step(&set, batch, 0.37);
                }
                for k in 0..s {
                    for j in 0..w {
                        let got = policy.weight(k, j);
                        if k < w {
                            assert_eq!(got.to_bits(), expected[k * w + j].to_bits(), "n {n}, k {k}, j {j}");
                        } else if j == 0 {
                            assert_eq!(got, f64::NEG_INFINITY, "a pad bias stays −∞");
                        } else {
                            assert_eq!(got, 0.0, "a pad weight stays 0");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sampled_action_is_the_streams_categorical() {
        let mut rng = Stream::new(1, "t", 0, "rows");
        for _ in 0..20_000 {
            let w = 2 + rng.below(16);
            let mut row: Vec<f64> = (0..w).map(|_| rng.uniform()).collect();
            // Rows as a softmax gives them: some near 0, some exactly 0 (pad lanes never
            // reach here, but a probability can underflow).
            row[rng.below(w)] *= 1e-12;
            row[rng.below(w)] = 0.0;
            let (mut a, mut b) = (Stream::new(2, "t", 0, "a"), Stream::new(2, "t", 0, "a"));
            for _ in 0..8 {
                assert_eq!(sampled_action(&mut a, &row), b.categorical(&row), "{row:?}");
            }
        }
    }

    #[test]
    fn entropy_is_zero_for_one_action_and_one_for_uniform() {
        assert_eq!(normalised_entropy(&[10.0, 0.0, 0.0]), 0.0);
        assert!((normalised_entropy(&[5.0, 5.0, 5.0, 5.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn turn_two_outcomes_follow_phi_and_psi() {
        let p = params();
        assert_eq!(p_right_after(&p, 0, KEEP), 1.0);
        assert_eq!(p_right_after(&p, 0, 3), 1.0 - p.break_chance);
        assert_eq!(p_right_after(&p, 2, 2), p.fix_success);
        assert_eq!(p_right_after(&p, 2, 1), 0.0);
        assert_eq!(p_right_after(&p, 2, KEEP), 0.0);
    }

    #[test]
    fn traces_come_from_the_population_lambda_names() {
        let p = params();
        let share = |lambda: f64, modes: &[usize]| {
            let t = Attempts::traces(&p, lambda, 20_000, &mut Stream::new(1, "t", 0, "traces"));
            let wrong = t.error.iter().filter(|&&e| e != 0).count() as f64;
            t.error.iter().filter(|&&e| modes.contains(&e)).count() as f64 / wrong
        };
        // Modes 1–3 hold 80% of the model's own errors and 20% of the foreign ones.
        assert!((share(0.0, &[1, 2, 3]) - 0.8).abs() < 0.02);
        assert!((share(1.0, &[1, 2, 3]) - 0.2).abs() < 0.02);
    }

    #[test]
    fn a_corrector_that_always_keeps_changes_nothing() {
        let p = params();
        let eval = Attempts::own(&p, 500, &mut Stream::new(1, "t", 0, "eval"));
        let mut keeper = Policy::base(&p, &mut Stream::new(1, "t", 0, "base"));
        for k in 0..keeper.actions() {
            for j in 0..keeper.actions() {
                keeper.set_weight(k, j, 0.0);
            }
        }
        keeper.set_weight(KEEP, 0, 50.0);
        let d = deploy(&p, &keeper, &eval);
        assert!(d.delta().abs() < 1e-12 && d.edit_rate < 1e-12 && d.c_to_i < 1e-12);
    }

    #[test]
    fn without_a_mismatch_pair_sft_loses_nothing() {
        // Knock-out `no_mismatch` at small size: with λ = 0 the λ arm and the matched
        // arm are trained on the same population, so the fix-rate cost vanishes.
        let mut p = params();
        let cost = |p: &Params| mean_over(p, 6, |r| r.arms[OWN].fix_rate() - r.arms[PAIR].fix_rate());
        assert!(cost(&p) > 0.02, "with the mismatch: {}", cost(&p));
        p.lambda = 0.0;
        assert!(cost(&p).abs() < 0.01, "without: {}", cost(&p));
    }

    #[test]
    fn online_rl_keeps_only_while_editing_has_a_cost() {
        // Knock-out `no_break_chance` at small size: with ψ = 0 editing is free and
        // RL stops keeping.
        let mut p = params();
        let edits = |p: &Params| mean_over(p, 4, |r| r.arms[RL].edit_rate);
        assert!(edits(&p) < 0.6, "with ψ: {}", edits(&p));
        p.break_chance = 0.0;
        assert!(edits(&p) > 0.8, "without: {}", edits(&p));
    }

    #[test]
    fn keep_pairs_collapse_only_under_the_salience_gap() {
        // Knock-out `no_salience_gap` at small size.
        let mut p = params();
        let edits = |p: &Params| mean_over(p, 4, |r| r.arms[PLUS].edit_rate);
        assert!(edits(&p) < 0.15, "with the gap: {}", edits(&p));
        p.foreign_salience = p.own_salience;
        p.foreign_salience_width = p.own_salience_width;
        assert!(edits(&p) > 0.15, "without: {}", edits(&p));
    }
}
