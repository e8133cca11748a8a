//! A table-driven `exp` for exponents ≤ 0 (a softmax's, logits minus their maximum),
//! in plain IEEE `+`, `−`, `×` and integer operations (Rust never fuses a multiply and
//! an add), so the same bits on every machine and at every vector width, and cheaper
//! than [`crate::ops::exp_portable`] (a degree-5 polynomial instead of degree 13).
//! Written for offline_correction's softmax, which calls [`exp_nonpositive`] inside its
//! own AVX2 kernel and counts each as one `exp[t]`; [`exp_batch`] is the same over a
//! slice, what `make bench` times for the cost of an `exp[t]`.
//!
//! `exp(x) = 2^(i/64) · 2^q · exp(r)` with `k = round(x · 64/ln 2) = 64q + i` and
//! `r = x − k·ln 2/64` (|r| ≤ ln 2/128, computed with fdlibm's two-part ln 2 so
//! `k·ln2_hi/64` is exact), `2^(i/64)` from a table of the nearest doubles, and
//! `exp(r) − 1` by its Taylor polynomial to degree 5 (the remainder is below 0.2 ulp).
//! Its test bounds the distance to `libm::exp` at 1 ulp over [−708, 0]; below −708
//! (where exp is under 4·10⁻³⁰⁸) it is 0, as the portable exp.

use crate::ops::{self, Op};

/// `2^(j/64)` for j = 0..64: each the double nearest (rounded from 60 digits).
const TWO_POW_J64: [f64; 64] = {
    const BITS: [u64; 64] = [
        0x3FF0_0000_0000_0000,
        0x3FF0_2C9A_3E77_8061,
        0x3FF0_59B0_D315_8574,
        0x3FF0_8745_1875_9BC8,
        0x3FF0_B558_6CF9_890F,
        0x3FF0_E3EC_32D3_D1A2,
        0x3FF1_1301_D012_5B51,
        0x3FF1_429A_AEA9_2DE0,
        0x3FF1_72B8_3C7D_517B,
        0x3FF1_A35B_EB6F_CB75,
        0x3FF1_D487_3168_B9AA,
        0x3FF2_063B_8862_8CD6,
        0x3FF2_387A_6E75_6238,
        0x3FF2_6B45_65E2_7CDD,
        0x3FF2_9E9D_F51F_DEE1,
        0x3FF2_D285_A6E4_030B,
        0x3FF3_06FE_0A31_B715,
        0x3FF3_3C08_B264_16FF,
        0x3FF3_71A7_373A_A9CB,
        0x3FF3_A7DB_34E5_9FF7,
        0x3FF3_DEA6_4C12_3422,
        0x3FF4_160A_21F7_2E2A,
        0x3FF4_4E08_6061_892D,
        0x3FF4_86A2_B5C1_3CD0,
        0x3FF4_BFDA_D536_2A27,
        0x3FF4_F9B2_769D_2CA7,
        0x3FF5_342B_569D_4F82,
        0x3FF5_6F47_36B5_27DA,
        0x3FF5_AB07_DD48_5429,
        0x3FF5_E76F_15AD_2148,
        0x3FF6_247E_B03A_5585,
        0x3FF6_6238_8255_2225,
        0x3FF6_A09E_667F_3BCD,
        0x3FF6_DFB2_3C65_1A2F,
        0x3FF7_1F75_E8EC_5F74,
        0x3FF7_5FEB_5642_67C9,
        0x3FF7_A114_73EB_0187,
        0x3FF7_E2F3_36CF_4E62,
        0x3FF8_2589_994C_CE13,
        0x3FF8_68D9_9B44_92ED,
        0x3FF8_ACE5_422A_A0DB,
        0x3FF8_F1AE_9915_7736,
        0x3FF9_3737_B0CD_C5E5,
        0x3FF9_7D82_9FDE_4E50,
        0x3FF9_C491_82A3_F090,
        0x3FFA_0C66_7B5D_E565,
        0x3FFA_5503_B23E_255D,
        0x3FFA_9E6B_5579_FDBF,
        0x3FFA_E89F_995A_D3AD,
        0x3FFB_33A2_B84F_15FB,
        0x3FFB_7F76_F2FB_5E47,
        0x3FFB_CC1E_904B_C1D2,
        0x3FFC_199B_DD85_529C,
        0x3FFC_67F1_2E57_D14B,
        0x3FFC_B720_DCEF_9069,
        0x3FFD_072D_4A07_897C,
        0x3FFD_5818_DCFB_A487,
        0x3FFD_A9E6_03DB_3285,
        0x3FFD_FC97_337B_9B5F,
        0x3FFE_502E_E78B_3FF6,
        0x3FFE_A4AF_A2A4_90DA,
        0x3FFE_FA1B_EE61_5A27,
        0x3FFF_5076_5B6E_4540,
        0x3FFF_A7C1_819E_90D8,
    ];
    let mut t = [0.0; 64];
    let mut j = 0;
    while j < 64 {
        t[j] = f64::from_bits(BITS[j]);
        j += 1;
    }
    t
};

/// `exp(x)` for `x ≤ 0` (0 below −708; NaN stays NaN).
#[inline(always)]
pub fn exp_nonpositive(x: f64) -> f64 {
    /// 64/ln 2 (log2(e) times a power of two: exact).
    const INV_STEP: f64 = std::f64::consts::LOG2_E * 64.0;
    /// ln 2/64 in two parts (fdlibm's, divided by a power of two: exact); the high
    /// part has 21 zero bits, so `k · STEP_HI` is exact for |k| < 2²¹.
    const STEP_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000) / 64.0;
    const STEP_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76) / 64.0;
    /// 1.5·2⁵²: adding it rounds to an integer, which then sits in the low bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    /// 1/n! for n = 2..=5.
    const C: [f64; 4] = [1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0];
    let underflow = x < -708.0;
    let x = if x < -708.0 { -708.0 } else { x };
    let t = x * INV_STEP + SHIFT;
    let k = t - SHIFT;
    let k_int = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let r = (x - k * STEP_HI) - k * STEP_LO;
    let table = TWO_POW_J64[(k_int & 63) as usize];
    // 2^floor(k/64): k ≥ −65 371 on the domain, so k + 1023·64 is positive and a
    // logical shift floors it.
    let scale = f64::from_bits(((k_int + 1023 * 64) as u64 >> 6) << 52);
    let q = r + r * r * (C[0] + r * (C[1] + r * (C[2] + r * C[3])));
    let e = (table + table * q) * scale;
    if underflow {
        0.0
    } else {
        e
    }
}

/// [`exp_nonpositive`] of every element of `xs`, in place, counted as one `exp[t]`
/// each; compiled for AVX2 where the processor has it (detected at run time), as the
/// softmax kernel that calls [`exp_nonpositive`] is: the same bits.
pub fn exp_batch(xs: &mut [f64]) {
    for _ in 0..xs.len() {
        ops::tally(Op::ExpTable);
    }
    ops::map_batch(xs, exp_nonpositive);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    /// Distance in units in the last place (both positive and finite).
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn table_holds_the_powers_of_two() {
        for (j, &t) in TWO_POW_J64.iter().enumerate() {
            assert!(ulps(t, libm::exp2(j as f64 / 64.0)) <= 1, "j {j}");
        }
    }

    #[test]
    fn within_one_ulp_of_libm_on_nonpositive_inputs() {
        let mut rng = Stream::new(1, "exp", 0, "t");
        let mut worst = 0;
        for _ in 0..1_000_000 {
            for x in [
                -708.0 * rng.uniform(),
                -20.0 * rng.uniform(),
                -rng.uniform(),
                -1e-3 * rng.uniform(),
            ] {
                worst = worst.max(ulps(exp_nonpositive(x), libm::exp(x)));
            }
        }
        for x in [
            0.0,
            -0.0,
            -1e-300,
            -708.0,
            -707.9,
            -700.0,
            -1.0,
            -0.5,
            -std::f64::consts::LN_2,
        ] {
            worst = worst.max(ulps(exp_nonpositive(x), libm::exp(x)));
        }
        assert!(worst <= 1, "worst {worst} ulp");
        for x in [-708.5, -745.2, -1e4, f64::NEG_INFINITY] {
            assert_eq!(exp_nonpositive(x), 0.0);
        }
        assert!(exp_nonpositive(f64::NAN).is_nan());
    }

    #[test]
    fn the_batch_is_the_scalar_on_both_paths() {
        let xs: Vec<f64> = (0..37).map(|i| -0.37 * i as f64).collect();
        let (mut batch, mut portable) = (xs.clone(), xs.clone());
        exp_batch(&mut batch);
        ops::map_batch_portable(&mut portable, exp_nonpositive);
        for ((x, b), p) in xs.iter().zip(&batch).zip(&portable) {
            assert_eq!(b.to_bits(), exp_nonpositive(*x).to_bits());
            assert_eq!(p.to_bits(), b.to_bits());
        }
    }
}
