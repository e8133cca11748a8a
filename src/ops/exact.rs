//! `exp` and `log` over whole slices with the *same bits as `libm`* (0 ulp), so the
//! loops that compute many of them at once can vectorise without changing a single
//! number of the figure.
//!
//! `libm::exp` and `libm::log` are fdlibm's `e_exp.c` and `e_log.c`: a reduction, a
//! short polynomial and one division, in plain IEEE-754 `+`, `−`, `×`, `/` — all
//! correctly rounded, so any program doing the same operations on the same values in
//! the same order gets the same bits. [`exp_one`] and [`log_one`] are those operations
//! written without branches: fdlibm's branches on the high word become comparisons of
//! `|x|` with the doubles whose high word is the threshold (the same test), both arms
//! are computed and one is selected (a select is exact), the truncation `(int)` becomes
//! the nearest integer by adding and subtracting 1.5·2⁵² (exact) corrected by one
//! toward zero, and `scalbn(y, k)` is a multiplication by `2ᵏ` built from its exponent
//! bits (exact while `2ᵏ` and the result are normal). Rust never fuses a multiply and an
//! add (no `mul_add` here; DESIGN.md §2), so the compiler may run the loop in vectors
//! of any width and each lane still does libm's operations.
//!
//! Domains: [`exp_one`] for `x` in [−708, 709], [`log_one`] for positive normal finite
//! `x`. The batch functions send anything else (never met by `calibration`) to `libm`
//! itself, so they equal `libm` on every input. On x86-64 with AVX2 (detected at run
//! time) the loops are compiled for 4-lane vectors instead of SSE2's 2: the same
//! operations per element, so the same bits (the tests compare both paths with `libm`).
//!
//! Counted by `count-ops` as one `exp[=]` or `log[=]` per element, each with its own
//! single-core cost in the bound (`benches/stages.rs`).

use crate::ops::{self, Op};

// fdlibm's constants, by their bits (the tests check every result against libm).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INV_LN2: f64 = f64::from_bits(0x3ff7_1547_652b_82fe);
const P1: f64 = f64::from_bits(0x3fc5_5555_5555_553e);
const P2: f64 = f64::from_bits(0xbf66_c16c_16be_bd93);
const P3: f64 = f64::from_bits(0x3f11_566a_af25_de2c);
const P4: f64 = f64::from_bits(0xbebb_bd41_c5d2_6bf1);
const P5: f64 = f64::from_bits(0x3e66_3769_72be_a4d0);
/// 1.5·2⁵²: adding and subtracting it rounds a double below 2⁵¹ to an integer.
const SHIFT: f64 = 6_755_399_441_055_744.0;

const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

/// The domain of [`exp_one`].
const EXP_LO: f64 = -708.0;
const EXP_HI: f64 = 709.0;

/// `libm::exp(x)` bit for bit, for `x` in [−708, 709], without branches.
#[inline(always)]
pub fn exp_one(x: f64) -> f64 {
    let ax = x.abs();
    let neg = x < 0.0;
    // fdlibm: k = (int)(x/ln 2 ± ½), truncated toward zero.
    let v = INV_LN2 * x + if neg { -0.5 } else { 0.5 };
    let nearest = (v + SHIFT) - SHIFT;
    let trunc = if neg {
        if nearest < v {
            nearest + 1.0
        } else {
            nearest
        }
    } else if nearest > v {
        nearest - 1.0
    } else {
        nearest
    };
    // fdlibm: |x| ≥ 1.5 ln 2 (high word ≥ 0x3ff0a2b2): k as above; |x| > ½ ln 2 (high
    // word > 0x3fd62e42): k = ±1; else k = 0 (hi = x, lo = 0: the same as below with
    // k = 0, x − 0·LN2_HI = x).
    let k = if ax >= f64::from_bits(0x3ff0_a2b2_0000_0000) {
        trunc
    } else if ax >= f64::from_bits(0x3fd6_2e43_0000_0000) {
        if neg {
            -1.0
        } else {
            1.0
        }
    } else {
        0.0
    };
    let hi = x - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // scalbn(y, k) = y · 2ᵏ, 2ᵏ from its exponent bits (k in [−1021, 1023] here).
    let k_int = (k + SHIFT).to_bits().wrapping_sub(SHIFT.to_bits());
    let scaled = y * f64::from_bits(k_int.wrapping_add(1023) << 52);
    // fdlibm: |x| ≤ 2⁻²⁸ (high word ≤ 0x3e300000) returns 1 + x.
    if ax >= f64::from_bits(0x3e30_0001_0000_0000) {
        scaled
    } else {
        1.0 + x
    }
}

/// `libm::log(x)` bit for bit, for positive normal finite `x`, without branches.
#[inline(always)]
pub fn log_one(x: f64) -> f64 {
    // fdlibm: reduce x to m in [√2/2, √2) and k, x = m·2ᵏ, on the high word.
    let bits = x.to_bits().wrapping_add((0x3ff0_0000 - 0x3fe6_a09e) << 32);
    let biased = bits >> 52; // k + 1023
    let k = f64::from_bits(0x4330_0000_0000_0000 | biased) - (4_503_599_627_370_496.0 + 1023.0);
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff).wrapping_add(0x3fe6_a09e << 32));
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI
}

/// Elements per pass: a chunk is checked against the branch-free domain first (one
/// vectorised pass), then computed branch-free, or, if any element is outside, element
/// by element with `libm` for those.
const CHUNK: usize = 64;

#[inline(always)]
fn batch(xs: &mut [f64], one: impl Fn(f64) -> f64, inside: impl Fn(f64) -> bool, libm_fn: impl Fn(f64) -> f64) {
    for chunk in xs.chunks_mut(CHUNK) {
        // A non-short-circuit AND (not `all`), so the check vectorises too.
        if chunk.iter().fold(true, |all, &x| all & inside(x)) {
            for x in chunk.iter_mut() {
                *x = one(*x);
            }
        } else {
            for x in chunk.iter_mut() {
                *x = if inside(*x) { one(*x) } else { libm_fn(*x) };
            }
        }
    }
}

fn exp_inside(x: f64) -> bool {
    (EXP_LO..=EXP_HI).contains(&x)
}

fn log_inside(x: f64) -> bool {
    x.is_normal() && x > 0.0
}

#[inline(always)]
fn exp_portable_loop(xs: &mut [f64]) {
    batch(xs, exp_one, exp_inside, libm::exp);
}

#[inline(always)]
fn log_portable_loop(xs: &mut [f64]) {
    batch(xs, log_one, log_inside, libm::log);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn exp_avx2_loop(xs: &mut [f64]) {
    exp_portable_loop(xs);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn log_avx2_loop(xs: &mut [f64]) {
    log_portable_loop(xs);
}

/// Tests can force the portable path, to compare it with the AVX2 one.
#[cfg(test)]
static PORTABLE_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[inline(always)]
fn use_avx2() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// One `op` per element (nothing unless built with `count-ops`).
#[inline(always)]
fn count(op: Op, n: usize) {
    for _ in 0..n {
        ops::tally(op);
    }
}

/// `libm::exp` of every element of `xs`, in place, bit for bit.
pub fn exp_batch(xs: &mut [f64]) {
    count(Op::ExpExact, xs.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: the processor has AVX2, checked just above.
        unsafe { exp_avx2_loop(xs) };
        return;
    }
    exp_portable_loop(xs);
}

/// `libm::log` of every element of `xs`, in place, bit for bit.
pub fn log_batch(xs: &mut [f64]) {
    count(Op::LogExact, xs.len());
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: the processor has AVX2, checked just above.
        unsafe { log_avx2_loop(xs) };
        return;
    }
    log_portable_loop(xs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    /// Inputs: uniform over wide ranges, dense where the model lives, tiny ones near
    /// fdlibm's thresholds, and special values.
    fn exp_inputs() -> Vec<f64> {
        let mut rng = Stream::new(1, "exact", 0, "exp");
        let mut xs = Vec::new();
        for _ in 0..400_000 {
            let u = rng.uniform();
            xs.push(-708.0 + 1417.0 * u);
            xs.push(-45.0 + 50.0 * rng.uniform());
            xs.push(2.0 * rng.uniform() - 1.0);
            xs.push((rng.uniform() - 0.5) * 1e-7);
            xs.push((rng.uniform() - 0.5) * 4e-8);
        }
        for t in [0x3ff0_a2b2u64, 0x3fd6_2e42, 0x3fd6_2e43, 0x3e30_0000, 0x3e30_0001] {
            for low in [0u64, 1, 0xffff_ffff] {
                let b = (t << 32) | low;
                xs.push(f64::from_bits(b));
                xs.push(-f64::from_bits(b));
            }
        }
        xs.extend([
            0.0, -0.0, 1.0, -1.0, -708.0, 709.0, -708.5, -745.2, -800.0, 709.9, 1e-300, -1e-300,
        ]);
        xs.extend([f64::INFINITY, f64::NEG_INFINITY]);
        xs
    }

    fn log_inputs() -> Vec<f64> {
        let mut rng = Stream::new(1, "exact", 0, "log");
        let mut xs = Vec::new();
        for _ in 0..400_000 {
            xs.push(1.0 + 15.0 * rng.uniform());
            xs.push(rng.uniform_open0());
            xs.push(f64::from_bits(rng.next_u64() >> 2).max(f64::MIN_POSITIVE));
            xs.push(1.0 + (rng.uniform() - 0.5) * 1e-6);
        }
        for t in [0x3fe6_a09eu64, 0x3fe6_a09f, 0x3ff6_a09e, 0x3ff6_a09f] {
            for low in [0u64, 1, 0x667f_3bcd, 0xffff_ffff] {
                xs.push(f64::from_bits((t << 32) | low));
            }
        }
        xs.extend([
            1.0,
            2.0,
            0.5,
            3.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            1e-310,
            0.0,
            -1.0,
            f64::INFINITY,
        ]);
        xs
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn the_scalar_forms_are_libm_bit_for_bit_in_their_domains() {
        for x in exp_inputs().into_iter().filter(|&x| exp_inside(x)) {
            assert!(same(exp_one(x), libm::exp(x)), "exp({x:e})");
        }
        for x in log_inputs().into_iter().filter(|&x| log_inside(x)) {
            assert!(same(log_one(x), libm::log(x)), "log({x:e})");
        }
    }

    #[test]
    fn the_batches_are_libm_bit_for_bit_on_both_paths_at_every_length() {
        for portable in [false, true] {
            PORTABLE_ONLY.store(portable, std::sync::atomic::Ordering::Relaxed);
            for (inputs, batch_fn, libm_fn) in [
                (exp_inputs(), exp_batch as fn(&mut [f64]), libm::exp as fn(f64) -> f64),
                (log_inputs(), log_batch, libm::log),
            ] {
                let mut out = inputs.clone();
                batch_fn(&mut out);
                for (x, y) in inputs.iter().zip(&out) {
                    assert!(same(*y, libm_fn(*x)), "portable {portable}: {x:e}");
                }
                // Vector bodies and scalar tails.
                for n in 0..40 {
                    let mut out = inputs[..n].to_vec();
                    batch_fn(&mut out);
                    for (x, y) in inputs.iter().zip(&out) {
                        assert!(same(*y, libm_fn(*x)), "portable {portable}, length {n}: {x:e}");
                    }
                }
            }
        }
        PORTABLE_ONLY.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}
