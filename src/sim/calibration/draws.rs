//! The draws of `calibration`'s hot loops, built on `crate::rng::Stream`'s raw 64-bit
//! draws (two 32-bit uniforms from one draw are `Stream::uniform_pair`): a ziggurat normal (one draw and no
//! transcendental call 99% of the time), and a coin that comes up with probability
//! σ(x), decided from a table of σ almost always. The tables are built once per
//! process; the loops hold a reference to them.
//!
//! Each is a deterministic function of the stream's `u64`s and of `libm` (through
//! `crate::ops`), so the bits are the same on every platform (DESIGN.md §2).

use crate::ops;
use crate::rng::Stream;
use std::sync::OnceLock;

/// Layers of the ziggurat, and its base strip's right edge and the area of each layer
/// (Marsaglia & Tsang 2000, "The Ziggurat Method for Generating Random Variables").
const LAYERS: usize = 256;
const ZIG_R: f64 = 3.654_152_885_361_009;
const ZIG_V: f64 = 0.004_928_673_233_99;

/// Layer `i` is the rectangle `[0, x[i]] × [f[i], f[i + 1]]` under the curve
/// `f(x) = exp(−x²/2)`, of area `ZIG_V`; layer 0 is the base strip `[0, R] × [0, f(R)]`
/// plus the tail beyond `R`, with pseudo-width `x[0] = V / f(R)`.
pub(super) struct Ziggurat {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: OnceLock<Ziggurat> = OnceLock::new();
    TABLE.get_or_init(|| {
        let pdf = |x: f64| ops::exp(-0.5 * x * x);
        let mut x = [0.0; LAYERS + 1];
        x[0] = ZIG_V / pdf(ZIG_R);
        x[1] = ZIG_R;
        for i in 1..LAYERS - 1 {
            x[i + 1] = ops::sqrt(-2.0 * ops::log(ZIG_V / x[i] + pdf(x[i])));
        }
        x[LAYERS] = 0.0;
        Ziggurat { x, f: x.map(pdf) }
    })
}

impl Ziggurat {
    /// The tables (built once per process).
    pub(super) fn get() -> &'static Ziggurat {
        ziggurat()
    }

    /// A standard normal by the ziggurat method: the low 8 bits of a draw pick a layer,
    /// its top 53 bits a signed position in it; inside the layer's inner rectangle (99%
    /// of draws) that position is the answer. Otherwise a wedge test (one `exp`) or the
    /// tail (Marsaglia's exponential rejection, two `log`s) decides, with further draws.
    #[inline(always)]
    pub(super) fn normal(&self, rng: &mut Stream) -> f64 {
        let bits = rng.next_u64();
        let i = (bits & 0xff) as usize;
        // Uniform on [−1, 1) from the top 53 bits (disjoint from the layer's 8).
        let u = (bits >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0;
        let x = u * self.x[i];
        if x.abs() < self.x[i + 1] {
            return x;
        }
        self.edge(rng, i, u, x)
    }

    /// The draw fell outside its layer's inner rectangle: the wedge or the tail, and
    /// further draws if rejected.
    #[cold]
    #[inline(never)]
    fn edge(&self, rng: &mut Stream, mut i: usize, mut u: f64, mut x: f64) -> f64 {
        loop {
            if i == 0 {
                return tail(rng, u < 0.0);
            }
            if self.f[i] + (self.f[i + 1] - self.f[i]) * rng.uniform() < ops::exp(-0.5 * x * x) {
                return x;
            }
            let bits = rng.next_u64();
            i = (bits & 0xff) as usize;
            u = (bits >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0;
            x = u * self.x[i];
            if x.abs() < self.x[i + 1] {
                return x;
            }
        }
    }
}

/// A normal beyond ±`ZIG_R`, by Marsaglia's exponential rejection.
fn tail(rng: &mut Stream, negative: bool) -> f64 {
    loop {
        let x = -ops::log(rng.uniform_open0()) / ZIG_R;
        let y = -ops::log(rng.uniform_open0());
        if y + y >= x * x {
            return if negative { -ZIG_R - x } else { ZIG_R + x };
        }
    }
}

/// σ on a grid of step 2⁻⁶ over [−32, 32]: cell `c` is the `x` whose grid position
/// `(x + 32) · 64` rounds to `c`, so it spans `[g_{c−½}, g_{c+½}]`, `g_t = −32 + t/64`.
const SIGMA_MIN: f64 = -32.0;
const SIGMA_STEPS: f64 = 64.0;
const SIGMA_CELLS: usize = 4096;
/// Widening of each cell's bracket: more than any rounding of `x`'s cell or of σ.
const SIGMA_MARGIN: f64 = 1e-12;

/// `v` rounded to the nearest integer (ties to even), for `|v| < 2⁵¹`: adding
/// 1.5 · 2⁵² leaves the integer in the low bits of the mantissa.
#[inline(always)]
pub(super) fn round_to_bits(v: f64) -> u64 {
    (v + 6_755_399_441_055_744.0).to_bits()
}

/// σ on a grid: `lo[c] ≤ σ(x) ≤ hi[c]` for every `x` in cell `c` (whichever of two
/// cells a tie rounds to).
pub(super) struct SigmaTable {
    lo: Box<[f64; SIGMA_CELLS]>,
    hi: Box<[f64; SIGMA_CELLS]>,
}

impl SigmaTable {
    /// The table (built once per process).
    pub(super) fn get() -> &'static SigmaTable {
        static TABLE: OnceLock<SigmaTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let at = |t: f64| ops::sigmoid(SIGMA_MIN + t / SIGMA_STEPS);
            let mut table = SigmaTable {
                lo: Box::new([0.0; SIGMA_CELLS]),
                hi: Box::new([0.0; SIGMA_CELLS]),
            };
            for c in 0..SIGMA_CELLS {
                table.lo[c] = at(c as f64 - 0.5) - SIGMA_MARGIN;
                table.hi[c] = at(c as f64 + 0.5) + SIGMA_MARGIN;
            }
            table
        })
    }

    /// The cell of `x`, if it has one.
    #[inline(always)]
    fn cell(x: f64) -> Option<usize> {
        let pos = (x - SIGMA_MIN) * SIGMA_STEPS;
        // Also false for NaN.
        let inside = pos > -0.5 && pos < SIGMA_CELLS as f64 - 0.5;
        inside.then_some(round_to_bits(pos) as usize & (SIGMA_CELLS - 1))
    }

    /// Whether `u < σ(x)`: a coin that comes up with probability σ(x) for a uniform
    /// `u`. The table brackets σ(x) within its cell (width ≤ 1/256); only when `u` falls
    /// inside the bracket (at most 0.4% of the time) is σ(x) computed. Same answer as
    /// `u < σ(x)` up to rounding at the 10⁻¹² level.
    #[inline(always)]
    pub(super) fn below(&self, u: f64, x: f64) -> bool {
        if let Some(c) = Self::cell(x) {
            if u < self.lo[c] {
                return true;
            }
            if u >= self.hi[c] {
                return false;
            }
        }
        u < ops::sigmoid(x)
    }

    /// The table's bracket `(lo, hi)` of σ(x) (`(−∞, ∞)` outside it), for a coin tossed
    /// many times at one `x`: [`SigmaTable::below_in`] with it is [`SigmaTable::below`].
    #[inline(always)]
    pub(super) fn bracket(&self, x: f64) -> (f64, f64) {
        match Self::cell(x) {
            Some(c) => (self.lo[c], self.hi[c]),
            None => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }

    /// `u < σ(x)` given `bracket(x)`: the same comparisons as [`SigmaTable::below`].
    #[inline(always)]
    pub(super) fn below_in(u: f64, (lo, hi): (f64, f64), x: f64) -> bool {
        if u < lo {
            return true;
        }
        if u >= hi {
            return false;
        }
        u < ops::sigmoid(x)
    }

    /// A lower bound on σ(x) from the table (0 outside it), with no transcendental call.
    #[inline(always)]
    pub(super) fn lower_bound(&self, x: f64) -> f64 {
        match Self::cell(x) {
            Some(c) => self.lo[c],
            None => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ziggurat_closes() {
        // The recursion from the base strip ends at the top of the curve: the last
        // layer [0, x[255]] × [f[255], 1] has area V.
        let z = ziggurat();
        let top = z.x[LAYERS - 1] * (1.0 - z.f[LAYERS - 1]);
        assert!((top - ZIG_V).abs() < 1e-9 * ZIG_V.max(1.0), "{top} vs {ZIG_V}");
        assert!(z.x.windows(2).skip(1).all(|w| w[0] > w[1]));
    }

    /// Φ(x) = (1 + erf(x / √2)) / 2.
    fn phi(x: f64) -> f64 {
        0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn normal_matches_its_distribution() {
        let mut s = Stream::new(1, "zig", 0, "t");
        let n = 400_000;
        let zig = Ziggurat::get();
        let xs: Vec<f64> = (0..n).map(|_| zig.normal(&mut s)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.006, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
        // The CDF at points across the body, the wedges and the tail (±3.7 is beyond R).
        for x in [-4.0, -3.7, -3.0, -2.0, -1.0, -0.3, 0.0, 0.5, 1.5, 2.5, 3.7] {
            let share = xs.iter().filter(|&&v| v < x).count() as f64 / n as f64;
            let p = phi(x);
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((share - p).abs() < 5.0 * sd + 1e-5, "P(X < {x}) = {share}, Φ = {p}");
        }
    }

    #[test]
    fn the_sigmoid_coin_agrees_with_sigma() {
        // Against the direct comparison, on a fine grid of x and u, including points
        // inside the bracket, at cell edges and outside the table.
        let mut s = Stream::new(1, "coin", 0, "t");
        for i in 0..20_000 {
            let x = -40.0 + 80.0 * s.uniform();
            // Also grid points and cell edges (ties).
            let x = match i % 7 {
                0 => (x * 64.0).round() / 64.0,
                1 => ((x * 64.0).round() + 0.5) / 64.0,
                _ => x,
            };
            let p = ops::sigmoid(x);
            let table = SigmaTable::get();
            for u in [s.uniform(), p, p - 1e-9, p + 1e-9, (p - 1e-3).max(0.0)] {
                assert_eq!(table.below(u, x), u < p, "u {u} x {x}");
                assert_eq!(SigmaTable::below_in(u, table.bracket(x), x), table.below(u, x));
            }
            assert!(table.lower_bound(x) <= p);
        }
        assert!(!SigmaTable::get().below(0.0, f64::NAN));
        let t = SigmaTable::get();
        assert!(!SigmaTable::below_in(0.0, t.bracket(f64::NAN), f64::NAN));
    }
}
