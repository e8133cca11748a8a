//! Up to 64 labels' draws at once, one random bit per label per step.
//!
//! A label's `uniform() < p` (`crate::rng::Stream::uniform`: k · 2⁻⁵³ with k uniform on
//! 53 bits) compares k with the threshold t = ⌈p · 2⁵³⌉, most significant bit first:
//! the first bit where k and t differ decides, and every later bit is irrelevant. So
//! 64 labels that share p are compared together, one bit level at a time: one raw
//! `u64` draw supplies the next bit of all 64 ks, a label is decided at the first level
//! where its bit differs from t's, and the draws stop once every label is decided. A
//! label is then true with probability exactly t / 2⁵³, the same as
//! `uniform() < p`, and labels are independent; the cost is about log₂(64) + 1.3 ≈ 7.3
//! draws for 64 labels instead of 64, whatever p is. [`categorical3`] compares the same
//! k with two thresholds (a label's one uniform against cumulative probabilities: three
//! outcomes), about one draw more.

use crate::rng::Stream;

/// Bits of a uniform draw (`Stream::uniform` has 53).
const BITS: u32 = 53;

/// The threshold t = ⌈p · 2⁵³⌉ (clamped to [0, 2⁵³]) with `uniform() < p` ⟺ k < t.
#[inline]
pub fn threshold(p: f64) -> u64 {
    debug_assert!(!p.is_nan());
    if p <= 0.0 {
        0
    } else if p >= 1.0 {
        ALL
    } else {
        // p · 2⁵³ is exact (a power-of-two scaling) and below 2⁵³, so truncating it to
        // an integer is exact too; its ceiling is one more unless it is an integer.
        // (Through i64: the values are below 2⁵³, where the signed conversions give the
        // same numbers as the unsigned ones, in one instruction each instead of several.)
        let scaled = p * (1u64 << BITS) as f64;
        let t = scaled as i64;
        (t + i64::from((t as f64) < scaled)) as u64
    }
}

/// The subset of `lanes` (a bit mask of labels) whose label is true, each independently
/// with probability `p`, as if each drew `rng.uniform() < p`.
#[inline]
pub fn bernoulli(rng: &mut Stream, lanes: u64, p: f64) -> u64 {
    let t = threshold(p);
    if lanes == 0 || t == 0 {
        0
    } else if t == ALL {
        lanes
    } else {
        below_one(rng, lanes, t)
    }
}

/// Each lane's k (53 uniform bits) against two thresholds `t_low` ≤ `t_high` (from
/// [`threshold`]): returns the lanes with k < `t_low` and the lanes with k < `t_high`,
/// as if each lane drew one `uniform()` and compared it with two cumulative
/// probabilities. A threshold of 0 or 2⁵³ (or equal to the other) needs no draws.
#[inline]
pub fn categorical3(rng: &mut Stream, lanes: u64, t_low: u64, t_high: u64) -> (u64, u64) {
    debug_assert!(t_low <= t_high && t_high <= ALL);
    let settled = |t: u64| if t == ALL { lanes } else { 0 };
    let low_settled = t_low == 0 || t_low == ALL;
    let high_settled = t_high == 0 || t_high == ALL || t_high == t_low;
    match (low_settled, high_settled) {
        (true, true) => (settled(t_low), settled(t_high)),
        (false, true) => {
            let low = below_one(rng, lanes, t_low);
            (low, if t_high == t_low { low } else { settled(t_high) })
        }
        (true, false) => (settled(t_low), below_one(rng, lanes, t_high)),
        (false, false) => below_two(rng, lanes, t_low, t_high),
    }
}

/// 2⁵³: the threshold of probability 1.
const ALL: u64 = 1 << BITS;

/// The lanes of `open` whose k falls below `t` (0 < t < 2⁵³).
#[inline]
fn below_one(rng: &mut Stream, open: u64, t: u64) -> u64 {
    let mut k = Comparison::new(open, t);
    while k.open != 0 {
        k.next_bit(rng.next_u64());
    }
    k.below
}

/// [`below_one`] for two thresholds at once, with the same bits of each lane's k.
#[inline]
fn below_two(rng: &mut Stream, lanes: u64, t_low: u64, t_high: u64) -> (u64, u64) {
    let (mut low, mut high) = (Comparison::new(lanes, t_low), Comparison::new(lanes, t_high));
    while low.open | high.open != 0 {
        let r = rng.next_u64();
        low.next_bit(r);
        high.next_bit(r);
    }
    (low.below, high.below)
}

/// 64 lanes' k compared with a threshold t bit by bit, from the most significant.
struct Comparison {
    /// t's bits not yet compared, the next one in the sign bit.
    rest: u64,
    /// Lanes whose k equals t so far.
    open: u64,
    /// Lanes whose k has fallen below t.
    below: u64,
}

impl Comparison {
    #[inline(always)]
    fn new(lanes: u64, t: u64) -> Self {
        Comparison {
            rest: t << (64 - BITS),
            open: lanes,
            below: 0,
        }
    }

    /// Compares the next bit of every open lane's k (the bits of `r`) with t's: a lane
    /// whose bit is 0 where t has a 1 falls below t; a lane stays open while its bit
    /// equals t's (branch-free: t's bits are unpredictable). Once t's bits left are
    /// all 0, an open k can no longer fall below it, and the comparison closes.
    #[inline(always)]
    fn next_bit(&mut self, r: u64) {
        let t_bit = ones_if_top_bit(self.rest);
        self.rest <<= 1;
        self.below |= self.open & !r & t_bit;
        self.open &= !(r ^ t_bit);
        if self.rest == 0 {
            self.open = 0;
        }
    }
}

/// All ones if the top bit of `x` is set, else 0.
#[inline(always)]
fn ones_if_top_bit(x: u64) -> u64 {
    ((x as i64) >> 63) as u64
}

/// How many of `m` labels (m ≤ 64) are events of probability `p` (Binomial(m, p)), by
/// inversion with one `uniform()`: cheap when events are rare (m·p small), since
/// P(none) = (1 − p)^m (by repeated squaring) is then almost always enough.
#[inline]
pub fn rare_count(rng: &mut Stream, m: usize, p: f64) -> usize {
    let q = 1.0 - p;
    let none = power(q, m);
    let u = rng.uniform();
    if u < none {
        return 0;
    }
    let ratio = p / q;
    let (mut k, mut pmf, mut cdf) = (0, none, none);
    while k < m {
        pmf *= (m - k) as f64 / (k + 1) as f64 * ratio;
        k += 1;
        cdf += pmf;
        if u < cdf {
            return k;
        }
    }
    m
}

/// x^n by repeated squaring (products in a fixed order: the same bits everywhere).
#[inline]
fn power(x: f64, mut n: usize) -> f64 {
    if n == 64 {
        // The loop below for n = 64 (six squarings, then 1 · x⁶⁴), unrolled: the same bits.
        let mut square = x;
        for _ in 0..6 {
            square *= square;
        }
        return square;
    }
    let (mut result, mut square) = (1.0, x);
    while n > 0 {
        if n & 1 == 1 {
            result *= square;
        }
        square *= square;
        n >>= 1;
    }
    result
}

/// The mask of the first `n` lanes (n ≤ 64).
#[inline]
pub fn first(n: usize) -> u64 {
    debug_assert!(n <= 64);
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_the_uniform_comparison() {
        // uniform() < p ⟺ k < t for every k: check at the boundary k = t − 1, t.
        for p in [1e-12, 0.3, 0.5, 0.7, 0.99, 1.0 - 1e-12, 0.1 + 0.2] {
            let t = threshold(p);
            let u = |k: u64| k as f64 * (1.0 / (1u64 << BITS) as f64);
            assert!(u(t - 1) < p && u(t) >= p, "{p}");
        }
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), 1 << BITS);
    }

    #[test]
    fn lane_shares_match_p_and_lanes_are_independent() {
        let mut rng = Stream::new(1, "lanes", 0, "t");
        let n = 20_000;
        for p in [0.0, 1e-3, 0.3, 0.5, 0.75, 0.999, 1.0] {
            let (mut ones, mut both, mut outside) = (0u64, 0u64, 0u64);
            let lanes = first(48);
            for _ in 0..n {
                let m = bernoulli(&mut rng, lanes, p);
                outside |= m & !lanes;
                ones += u64::from(m.count_ones());
                both += u64::from((m & (m >> 1) & first(47)).count_ones());
            }
            assert_eq!(outside, 0);
            let share = ones as f64 / (48 * n) as f64;
            let pair = both as f64 / (47 * n) as f64;
            let sd = (p * (1.0 - p) / (48 * n) as f64).sqrt();
            assert!((share - p).abs() <= 5.0 * sd + 1e-12, "{p}: {share}");
            // Neighbouring lanes are both true with probability p².
            assert!((pair - p * p).abs() <= 0.01, "{p}: {pair}");
        }
    }

    #[test]
    fn categorical_lanes_match_their_cumulative_probabilities() {
        let mut rng = Stream::new(4, "lanes", 0, "t");
        let n = 20_000;
        let cases = [
            (0.3, 0.8),
            (0.999, 1.0),
            (0.0, 0.25),
            (0.5, 0.5),
            (0.9, 0.9999),
            (1.0, 1.0),
        ];
        for (low, high) in cases {
            let (mut a, mut b) = (0u64, 0u64);
            for _ in 0..n {
                let (l, h) = categorical3(&mut rng, u64::MAX, threshold(low), threshold(high));
                assert_eq!(l & !h, 0, "below the low threshold is below the high one");
                a += u64::from(l.count_ones());
                b += u64::from(h.count_ones());
            }
            for (count, p) in [(a, low), (b, high)] {
                let share = count as f64 / (64 * n) as f64;
                let sd = (p * (1.0 - p) / (64 * n) as f64).sqrt();
                assert!((share - p).abs() <= 5.0 * sd + 1e-12, "{low} {high}: {share} vs {p}");
            }
        }
    }

    #[test]
    fn rare_counts_are_binomial() {
        let mut rng = Stream::new(5, "lanes", 0, "t");
        let n = 100_000;
        for (m, p) in [(64, 0.001), (64, 0.02), (17, 0.1), (64, 0.5)] {
            let (mut sum, mut sq, mut zero) = (0.0, 0.0, 0);
            for _ in 0..n {
                let k = rare_count(&mut rng, m, p);
                assert!(k <= m);
                sum += k as f64;
                sq += (k * k) as f64;
                zero += usize::from(k == 0);
            }
            let mean = sum / n as f64;
            let var = sq / n as f64 - mean * mean;
            let (m_f, q) = (m as f64, 1.0 - p);
            assert!(
                (mean - m_f * p).abs() < 5.0 * (m_f * p * q / n as f64).sqrt() + 1e-9,
                "{m} {p}: {mean}"
            );
            assert!((var - m_f * p * q).abs() < 0.05 * m_f * p * q + 1e-3, "{m} {p}: {var}");
            let none = power(q, m);
            assert!((zero as f64 / n as f64 - none).abs() < 5.0 * (none * (1.0 - none) / n as f64).sqrt() + 1e-9);
        }
    }

    /// The bit-level comparison as first written (bit index and `trailing_zeros` stop),
    /// kept to show the shift-register loops give the same lanes from the same draws.
    fn below_two_reference(rng: &mut Stream, lanes: u64, t_low: u64, t_high: u64) -> (u64, u64) {
        let (stop_low, stop_high) = (t_low.trailing_zeros(), t_high.trailing_zeros());
        let (mut below_low, mut below_high) = (0u64, 0u64);
        let (mut open_low, mut open_high) = (lanes, lanes);
        let mut bit = BITS;
        while open_low | open_high != 0 {
            bit -= 1;
            let r = rng.next_u64();
            let b = 0u64.wrapping_sub(t_low >> bit & 1);
            below_low |= open_low & !r & b;
            open_low &= !(r ^ b) & 0u64.wrapping_sub(u64::from(bit > stop_low));
            let b = 0u64.wrapping_sub(t_high >> bit & 1);
            below_high |= open_high & !r & b;
            open_high &= !(r ^ b) & 0u64.wrapping_sub(u64::from(bit > stop_high));
        }
        (below_low, below_high)
    }

    fn below_one_reference(rng: &mut Stream, mut open: u64, t: u64) -> u64 {
        let stop = t.trailing_zeros();
        let mut below = 0u64;
        let mut bit = BITS;
        while open != 0 && bit > stop {
            bit -= 1;
            let r = rng.next_u64();
            let t_bit = 0u64.wrapping_sub(t >> bit & 1);
            below |= open & !r & t_bit;
            open &= !(r ^ t_bit);
        }
        below
    }

    #[test]
    fn shift_register_loops_match_the_reference_draw_for_draw() {
        let mut pick = Stream::new(6, "lanes", 0, "thresholds");
        let (mut a, mut b) = (Stream::new(6, "lanes", 0, "t"), Stream::new(6, "lanes", 0, "t"));
        for i in 0..20_000 {
            // Thresholds of every kind: random, with few set bits (early stops), tiny.
            let raw = |s: &mut Stream| match i % 4 {
                0 => s.next_u64() % ALL,
                1 => (s.next_u64() % ALL) & !((1u64 << (s.next_u64() % 53)) - 1),
                2 => 1 + s.next_u64() % 1000,
                _ => ALL - 1 - s.next_u64() % 1000,
            };
            let (x, y) = (raw(&mut pick).max(1), raw(&mut pick).max(1));
            let (low, high) = (x.min(y), x.max(y));
            let lanes = first(1 + (pick.next_u64() % 64) as usize);
            assert_eq!(below_one(&mut a, lanes, low), below_one_reference(&mut b, lanes, low));
            if low < high {
                assert_eq!(
                    below_two(&mut a, lanes, low, high),
                    below_two_reference(&mut b, lanes, low, high)
                );
            }
            assert_eq!(a.next_u64(), b.next_u64(), "the same number of draws");
        }
        for n in [0, 1, 2, 3, 17, 63, 64, 65, 100] {
            let mut slow = 1.0;
            for _ in 0..n {
                slow *= 0.999_f64;
            }
            // Repeated squaring is exact in structure, not equal to the product in bits;
            // n = 64 must equal the general loop.
            assert!((power(0.999, n) - slow).abs() < 1e-12);
        }
        let general = |x: f64| {
            let (mut result, mut square, mut n) = (1.0, x, 64usize);
            while n > 0 {
                if n & 1 == 1 {
                    result *= square;
                }
                square *= square;
                n >>= 1;
            }
            result
        };
        for x in [0.5, 0.999, 0.987_654_321, 1.0 - 1e-9] {
            assert_eq!(power(x, 64).to_bits(), general(x).to_bits());
        }
    }

    #[test]
    fn draws_stop_once_every_lane_is_decided() {
        // p = 1/2: t = 2⁵², one bit level decides every lane.
        let mut a = Stream::new(2, "lanes", 0, "t");
        let mut b = Stream::new(2, "lanes", 0, "t");
        let m = bernoulli(&mut a, u64::MAX, 0.5);
        assert_eq!(m, !b.next_u64());
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
