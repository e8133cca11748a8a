//! The costly operations of a simulation, and their counts for the speed bound.
//!
//! A simulation's time is bounded below by what it must do: the random draws it
//! takes (one ChaCha8 `u64` each, `crate::rng`) and the transcendental functions it
//! evaluates (`exp`, `log`, `pow`, `sin`/`cos`, `sqrt`, here with `libm` so the bits
//! are the same on every platform, DESIGN.md §2). Models call these through this
//! module so that `make bench` can count them: built with the cargo feature
//! `count-ops`, every call adds one to a global counter of its kind; built without it
//! (every normal build), [`tally`] is empty and each function is exactly its `libm`
//! call, so counting costs nothing on the hot path.
//!
//! `benches/bound.rs` multiplies the counts of one run by the single-core cost of each
//! operation measured in isolation; that sum is the figure's bound, and `make bench`
//! prints time / bound.

/// The kinds of counted operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// One 64-bit output of a ChaCha8 stream.
    Draw,
    Exp,
    Log,
    Pow,
    /// One `sin` or one `cos`.
    Trig,
    Sqrt,
    /// One element of [`exp_batch`]: the portable exp, vectorised over a slice.
    ExpBatch,
    /// One element of [`exact::exp_batch`]: libm's exp bit for bit, vectorised.
    ExpExact,
    /// One element of [`exact::log_batch`]: libm's log bit for bit, vectorised.
    LogExact,
    /// One [`table::exp_nonpositive`]: a table-driven exp of an exponent ≤ 0, within 1
    /// ulp of libm, vectorised.
    ExpTable,
}

/// The number of kinds of [`Op`].
pub const KINDS: usize = 10;

impl Op {
    pub const ALL: [Op; KINDS] = [
        Op::Draw,
        Op::Exp,
        Op::Log,
        Op::Pow,
        Op::Trig,
        Op::Sqrt,
        Op::ExpBatch,
        Op::ExpExact,
        Op::LogExact,
        Op::ExpTable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Draw => "draw",
            Op::Exp => "exp",
            Op::Log => "log",
            Op::Pow => "pow",
            Op::Trig => "sin/cos",
            Op::Sqrt => "sqrt",
            Op::ExpBatch => "exp[]",
            Op::ExpExact => "exp[=]",
            Op::LogExact => "log[=]",
            Op::ExpTable => "exp[t]",
        }
    }
}

pub mod exact;
pub mod table;

#[cfg(feature = "count-ops")]
mod counter {
    use super::Op;
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTS: [AtomicU64; super::KINDS] = [const { AtomicU64::new(0) }; super::KINDS];

    #[inline]
    pub fn tally(op: Op) {
        COUNTS[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn take() -> [u64; super::KINDS] {
        std::array::from_fn(|i| COUNTS[i].swap(0, Ordering::Relaxed))
    }
}

/// Counts one `op` (a no-op unless built with the feature `count-ops`).
#[inline(always)]
pub fn tally(_op: Op) {
    #[cfg(feature = "count-ops")]
    counter::tally(_op);
}

/// The counts since the last call, in the order of [`Op::ALL`], and resets them;
/// `None` unless built with the feature `count-ops`.
pub fn take_counts() -> Option<[u64; KINDS]> {
    #[cfg(feature = "count-ops")]
    return Some(counter::take());
    #[cfg(not(feature = "count-ops"))]
    None
}

#[inline]
pub fn exp(x: f64) -> f64 {
    tally(Op::Exp);
    libm::exp(x)
}

#[inline]
pub fn log(x: f64) -> f64 {
    tally(Op::Log);
    libm::log(x)
}

#[inline]
pub fn pow(x: f64, y: f64) -> f64 {
    tally(Op::Pow);
    libm::pow(x, y)
}

#[inline]
pub fn sin(x: f64) -> f64 {
    tally(Op::Trig);
    libm::sin(x)
}

#[inline]
pub fn cos(x: f64) -> f64 {
    tally(Op::Trig);
    libm::cos(x)
}

#[inline]
pub fn sqrt(x: f64) -> f64 {
    tally(Op::Sqrt);
    libm::sqrt(x)
}

/// The logistic function (one `exp`).
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + exp(-x))
}

/// `exp` of every element of `xs`, in place: [`exp_portable`] in a loop the compiler
/// vectorises (each lane does the same operations in the same order, so the bits do
/// not depend on the vector width, i.e. on `target-cpu`). On an x86-64 processor
/// with AVX2 (detected at run time) the loop runs compiled for AVX2, 4 lanes a vector
/// instead of SSE2's 2: the same bits, at the speed a model's own AVX2 kernel gets
/// (proxy_reward's inlines [`exp_portable`]), so the bound prices `exp[]` at that
/// speed.
pub fn exp_batch(xs: &mut [f64]) {
    #[cfg(feature = "count-ops")]
    for _ in 0..xs.len() {
        tally(Op::ExpBatch);
    }
    map_batch(xs, exp_portable);
}

/// `f` of every element of `xs`, in place, in one loop (`f` inlined, so it
/// vectorises); on an x86-64 processor with AVX2 (detected at run time) the loop is
/// compiled for AVX2. Each element gets the same operations either way, so the same
/// bits when `f` is plain IEEE arithmetic without `mul_add`.
#[inline(always)]
pub(crate) fn map_batch<F: Fn(f64) -> f64>(xs: &mut [f64], f: F) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        unsafe { map_batch_avx2(xs, f) };
        return;
    }
    map_batch_portable(xs, f);
}

/// [`map_batch`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn map_batch_avx2<F: Fn(f64) -> f64>(xs: &mut [f64], f: F) {
    map_batch_portable(xs, f);
}

/// [`map_batch`] for any processor (inlined into the AVX2 copy).
#[inline(always)]
pub(crate) fn map_batch_portable<F: Fn(f64) -> f64>(xs: &mut [f64], f: F) {
    for x in xs.iter_mut() {
        *x = f(*x);
    }
}

/// `exp(x)` in plain IEEE-754 additions and multiplications, so the same bits on every
/// machine and every `target-cpu` (Rust never fuses a multiply and an add unless asked
/// with `mul_add`), and branch-free, so a loop over a slice vectorises.
///
/// Method (Cody and Waite, as in fdlibm): `x = k·ln 2 + r` with `k` the nearest
/// integer to `x/ln 2` (by adding and subtracting 1.5·2⁵², exact) and `ln 2` split in
/// a high part with 21 trailing zero bits (so `k·LN2_HI` is exact) and a low part;
/// then `exp(r)` for `|r| ≤ ln 2 / 2` by its Taylor series to degree 13 (truncation
/// below 4·10⁻¹⁸ relative) in Horner form, and `2ᵏ` built from its exponent bits.
/// Within 2 ulp of libm's `exp` for `x` in [−708, 709] (tested on 2·10⁶ points);
/// below −708 it returns 0 (libm: a subnormal under 3.3·10⁻³⁰⁸), above 709 +∞ is not
/// reached (clamped to 709: models take exp of logits minus their maximum, ≤ 0).
#[inline(always)]
pub fn exp_portable(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000); // 0.693147180369123816490
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76); // 1.90821492927058770002e-10
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²: adding it rounds to an integer
                                                // 1/n! for n = 2..=13.
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let underflow = x < -708.0;
    let x = x.clamp(-708.0, 709.0);
    let t = x * LOG2_E + SHIFT;
    let k = t - SHIFT;
    // The integer k sits in the low bits of t's significand.
    let k_int = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = C[11];
    for c in C[..11].iter().rev() {
        p = p * r + c;
    }
    // exp(r) = 1 + r + r²·p(r), the 1 added last to keep its rounding error small.
    let e = 1.0 + (r + r * r * p);
    let scale = f64::from_bits(((k_int + 1023) as u64) << 52);
    if underflow {
        0.0
    } else {
        e * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite positive doubles.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn portable_exp_is_within_2_ulp_of_libm() {
        let mut worst = (0, 0.0);
        let mut check = |x: f64| {
            let d = ulps(exp_portable(x), libm::exp(x));
            if d > worst.0 {
                worst = (d, x);
            }
        };
        // Dense where models live (logit differences), and over the whole range.
        for i in 0..1_000_000 {
            check(-40.0 + 45.0 * (i as f64 + 0.5) / 1e6);
        }
        for i in 0..1_000_000 {
            check(-708.0 + 1417.0 * (i as f64 + 0.5) / 1e6);
        }
        for x in [
            0.0,
            -0.0,
            1e-300,
            -1e-300,
            1.0,
            -1.0,
            0.5 * std::f64::consts::LN_2,
            -708.0,
            709.0,
        ] {
            check(x);
        }
        assert!(worst.0 <= 2, "{} ulp at x = {}", worst.0, worst.1);
        assert_eq!(exp_portable(0.0), 1.0);
        assert_eq!(exp_portable(-1000.0), 0.0);
    }

    #[test]
    fn the_batch_is_the_scalar_at_every_length() {
        // Vector bodies and scalar tails must agree bit for bit.
        for n in 0..37 {
            let xs: Vec<f64> = (0..n).map(|i| -3.7 + 0.61 * i as f64).collect();
            let mut batch = xs.clone();
            exp_batch(&mut batch);
            let mut portable = xs.clone();
            map_batch_portable(&mut portable, exp_portable);
            for ((x, e), p) in xs.iter().zip(&batch).zip(&portable) {
                assert_eq!(e.to_bits(), exp_portable(*x).to_bits());
                assert_eq!(p.to_bits(), e.to_bits(), "the portable loop and the AVX2 one");
            }
        }
    }
}
