//! Random streams: the one place randomness comes from (DESIGN.md §2.1).
//!
//! Every stream is a ChaCha8 generator whose 32-byte seed is the SHA-256 of
//!
//! ```text
//! "mismatch/stream/v1" NUL <spec seed, decimal> NUL <condition> NUL <replicate, decimal> NUL <purpose>
//! ```
//!
//! `condition` names the arm or experimental condition (e.g. `free/small`), `purpose`
//! names what the draws are for (e.g. `turns`). Streams are keyed by *names*, not
//! positions, so adding an arm, a condition or a replicate never shifts the numbers
//! of another. Distributions are drawn here from raw `u64`s with `libm`, never with
//! `rand_distr` or std float functions, so the bits are the same on every platform.
//! [`Words`] gives a stream's 32-bit words in bulk, the same words as
//! [`Stream::fill_u32`], made in place by the block function.

use crate::ops;
use rand_chacha::rand_core::block::Generator;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::{ChaCha8Core, ChaCha8Rng};
use sha2::{Digest, Sha256};

/// A seeded generator for one (condition, replicate, purpose).
pub struct Stream(ChaCha8Rng);

impl Stream {
    /// The stream for `purpose` of replicate `replicate` of `condition` under `seed`.
    pub fn new(seed: u64, condition: &str, replicate: u64, purpose: &str) -> Self {
        Stream(ChaCha8Rng::from_seed(key(seed, condition, replicate, purpose)))
    }

    /// A raw 64-bit draw: every draw of every distribution below is one of these.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.raw()
    }

    #[inline(always)]
    fn raw(&mut self) -> u64 {
        ops::tally(ops::Op::Draw);
        self.0.next_u64()
    }

    /// Uniform on [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.raw() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on (0, 1]: safe to take the logarithm of.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        ((self.raw() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Two uniforms on [0, 1) with 32 random bits each, from one draw: the high half
    /// first, then the low half. For where 2⁻³² resolution is enough (a Bernoulli of a
    /// probability the model knows to a few digits), at half the draws of [`uniform`](Self::uniform).
    #[inline]
    pub fn uniform_pair(&mut self) -> (f64, f64) {
        const SCALE: f64 = 1.0 / (1u64 << 32) as f64;
        let bits = self.raw();
        ((bits >> 32) as f64 * SCALE, (bits & 0xFFFF_FFFF) as f64 * SCALE)
    }

    /// True with probability `p`.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform integer in `0..n` (Lemire's multiply-shift; bias below 2⁻³² for the
    /// small `n` used here, and identical on every platform).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (((self.raw() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal by Box–Muller with `libm` (one of the pair is discarded so
    /// that the stream position does not depend on call history).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform_open0();
        let u2 = self.uniform();
        ops::sqrt(-2.0 * ops::log(u1)) * ops::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// Index drawn from unnormalised non-negative `weights` (inverse CDF, summed in order).
    pub fn categorical(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut target = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if target < *w {
                return i;
            }
            target -= w;
        }
        weights.len() - 1
    }
}

impl Stream {
    /// Fills `out` with raw 32-bit words: exactly what `out.len().div_ceil(2)` calls of
    /// [`next_u64`](Self::next_u64) give, each split into its low half then its high
    /// half (a last odd one takes the low half of a whole draw, and the stream moves
    /// past the whole draw), but copied from the generator's blocks in bulk.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        #[cfg(feature = "count-ops")]
        for _ in 0..out.len().div_ceil(2) {
            ops::tally(ops::Op::Draw);
        }
        let mut bytes = [0u8; 256];
        for chunk in out.chunks_mut(64) {
            let bytes = &mut bytes[..4 * chunk.len()];
            self.0.fill_bytes(bytes);
            for (o, b) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        if out.len() % 2 == 1 {
            // The high half of the last draw, unused.
            self.0.next_u32();
        }
    }

    /// Substream `index` of this stream's key: the same ChaCha8 key with its 64-bit
    /// stream number set to `index + 1`, from its first word (stream number 0 is this
    /// stream itself, so the two never overlap). Making a stream costs a SHA-256 of its
    /// name and a key setup (about 180 ns); a substream is a copy and a counter reset.
    /// For a model that runs many short replicates of one condition: one key per
    /// (condition, purpose), replicate `i` drawing from substream `i`, still depends on
    /// nothing but its own name and index (adding a replicate or sharding shifts no
    /// other's numbers), so a fixed, documented rule as DESIGN.md §2.1 asks.
    pub fn substream(&self, index: u64) -> Stream {
        let mut rng = self.0.clone();
        rng.set_stream(index.checked_add(1).expect("substream index below 2^64 - 1"));
        rng.set_word_pos(0);
        Stream(rng)
    }
}

/// The ChaCha8 key of the stream named (seed, condition, replicate, purpose): the
/// SHA-256 of the name (module doc).
fn key(seed: u64, condition: &str, replicate: u64, purpose: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut digits = [0u8; 20];
    hasher.update(b"mismatch/stream/v1\0");
    hasher.update(decimal(seed, &mut digits));
    hasher.update(b"\0");
    hasher.update(condition.as_bytes());
    hasher.update(b"\0");
    hasher.update(decimal(replicate, &mut digits));
    hasher.update(b"\0");
    hasher.update(purpose.as_bytes());
    hasher.finalize().into()
}

/// Words of one ChaCha8 block.
const BLOCK: usize = 64;

/// A stream taken as 32-bit words in bulk: the same words in the same order as
/// [`Stream::fill_u32`] on the [`Stream`] of the same name (its own key at stream
/// number 0, not a substream), but made by the ChaCha8 block function straight into the
/// caller's slice, a whole block of 64 words at a time, where `Stream` makes each block
/// in the generator's buffer and copies it out (one `memcpy` call per 256 bytes). For a
/// model that takes millions of uniforms a step in long runs.
pub struct Words {
    core: ChaCha8Core,
    buffer: [u32; BLOCK],
    /// The next unread word of `buffer` (`BLOCK`: none left).
    next: usize,
}

impl Words {
    /// The words of the stream `Stream::new(seed, condition, replicate, purpose)`.
    pub fn new(seed: u64, condition: &str, replicate: u64, purpose: &str) -> Self {
        Words {
            core: ChaCha8Core::from_seed(key(seed, condition, replicate, purpose)),
            buffer: [0; BLOCK],
            next: BLOCK,
        }
    }

    /// What [`Stream::fill_u32`] gives: `out.len().div_ceil(2)` draws' halves, low
    /// half first; an odd length leaves the last draw's high half unused. The words
    /// left in the buffer come first, then whole blocks are made in place in `out`,
    /// then a last part block goes through the buffer.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        #[cfg(feature = "count-ops")]
        for _ in 0..out.len().div_ceil(2) {
            ops::tally(ops::Op::Draw);
        }
        let odd = out.len() % 2 == 1;
        let left = (BLOCK - self.next).min(out.len());
        let (first, out) = out.split_at_mut(left);
        first.copy_from_slice(&self.buffer[self.next..self.next + left]);
        self.next += left;
        let (blocks, rest) = out.as_chunks_mut::<BLOCK>();
        for block in blocks {
            self.core.generate(block);
        }
        if !rest.is_empty() {
            self.core.generate(&mut self.buffer);
            rest.copy_from_slice(&self.buffer[..rest.len()]);
            self.next = rest.len();
        }
        if odd {
            // The high half of the last draw, unused.
            if self.next == BLOCK {
                self.core.generate(&mut self.buffer);
                self.next = 0;
            }
            self.next += 1;
        }
    }
}

/// The decimal digits of `n` (what `n.to_string()` gives), written into `buffer`
/// without allocating: streams are made by the ten thousand.
fn decimal(mut n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buffer[start..];
        }
    }
}

/// Seed `k` of a multi-seed check (`mismatch check --seeds N`, robustness maps).
///
/// Seed 0 is the spec's own seed, so the committed figure is one of the N. Seed
/// k ≥ 1 is the first 8 bytes (little-endian) of the SHA-256 of
///
/// ```text
/// "mismatch/seed/v1" NUL <spec seed, decimal> NUL <k, decimal>
/// ```
///
/// shifted right by one bit (63 bits, so it fits the spec's TOML integer), so seed k
/// is the same on every machine, and asking for more seeds never changes
/// the first ones.
pub fn seed_k(spec_seed: u64, k: u32) -> u64 {
    if k == 0 {
        return spec_seed;
    }
    let mut hasher = Sha256::new();
    hasher.update(b"mismatch/seed/v1\0");
    hasher.update(spec_seed.to_string().as_bytes());
    hasher.update(b"\0");
    hasher.update(k.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    // 63 bits: the seed is applied as a TOML integer override, and TOML integers are i64.
    u64::from_le_bytes(bytes) >> 1
}

/// The logistic function with `libm` (one counted `exp`, see `crate::ops`).
pub use crate::ops::sigmoid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_the_two_halves_of_one_draw() {
        let mut a = Stream::new(3, "c", 1, "p");
        let mut b = Stream::new(3, "c", 1, "p");
        for _ in 0..100 {
            let bits = b.next_u64();
            let (hi, lo) = a.uniform_pair();
            assert_eq!(hi, (bits >> 32) as f64 / 4_294_967_296.0);
            assert_eq!(lo, (bits as u32) as f64 / 4_294_967_296.0);
            assert!((0.0..1.0).contains(&hi) && (0.0..1.0).contains(&lo));
        }
    }

    #[test]
    fn fill_u32_is_the_halves_of_whole_draws() {
        // Every length (odd ones discard a half) from every starting position in a block.
        for skip in 0..9 {
            for len in 0..150 {
                let mut a = Stream::new(4, "c", 2, "p");
                let mut b = Stream::new(4, "c", 2, "p");
                for _ in 0..skip * 7 {
                    a.next_u64();
                    b.next_u64();
                }
                let mut filled = vec![0u32; len];
                a.fill_u32(&mut filled);
                let mut drawn = Vec::new();
                for _ in 0..len.div_ceil(2) {
                    let x = b.next_u64();
                    drawn.extend([x as u32, (x >> 32) as u32]);
                }
                drawn.truncate(len);
                assert_eq!(filled, drawn, "skip {skip} len {len}");
                assert_eq!(a.next_u64(), b.next_u64(), "position after skip {skip} len {len}");
            }
        }
    }

    #[test]
    fn words_are_the_words_of_fill_u32() {
        // Lengths from 0 to three blocks and more, odd and even, in a fixed mixed order
        // (from another stream), so every offset in a block meets every kind of request.
        let mut lengths = Stream::new(9, "c", 0, "lengths");
        let mut a = Words::new(4, "c", 2, "p");
        let mut b = Stream::new(4, "c", 2, "p");
        for step in 0..3000 {
            let len = match step % 4 {
                0 => lengths.below(7),
                1 => lengths.below(70),
                2 => lengths.below(200),
                _ => 63 + lengths.below(3),
            };
            let mut from_words = vec![0u32; len];
            let mut from_stream = vec![0u32; len];
            a.fill_u32(&mut from_words);
            b.fill_u32(&mut from_stream);
            assert_eq!(from_words, from_stream, "step {step}, length {len}");
        }
    }

    #[test]
    fn substreams_are_keyed_by_index_and_start_fresh() {
        let base = Stream::new(3, "c", 0, "p");
        let mut drawn = Stream::new(3, "c", 0, "p");
        let first = drawn.next_u64();
        // The same substream whatever the base has drawn, and distinct from the base.
        let (mut a, mut b) = (base.substream(5), drawn.substream(5));
        let xs: Vec<u64> = (0..40).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..40).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs[0], first);
        let others: Vec<u64> = [0, 4, 6].iter().map(|&i| base.substream(i).next_u64()).collect();
        assert!(others.iter().all(|&o| o != xs[0]));
        assert_ne!(others[0], others[1]);
        insta::assert_snapshot!(format!("{:016x}", xs[0]), @"275f4c79e0da0a28");
    }

    #[test]
    fn decimal_digits_are_to_string() {
        let mut buffer = [0u8; 20];
        for n in [0, 7, 10, 99, 100, 2409_12917, u64::MAX] {
            assert_eq!(decimal(n, &mut buffer), n.to_string().as_bytes());
        }
    }

    #[test]
    fn streams_are_keyed_by_name_not_position() {
        let a = Stream::new(7, "free/small", 3, "turns").next_u64();
        let b = Stream::new(7, "free/small", 3, "turns").next_u64();
        let c = Stream::new(7, "free/small", 4, "turns").next_u64();
        let d = Stream::new(7, "free/large", 3, "turns").next_u64();
        let e = Stream::new(7, "free/small", 3, "inject").next_u64();
        let f = Stream::new(8, "free/small", 3, "turns").next_u64();
        assert_eq!(a, b);
        for other in [c, d, e, f] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn stream_derivation_is_pinned() {
        // If this changes, every figure changes: bump the derivation version instead.
        let v = Stream::new(1, "c", 0, "p").next_u64();
        assert_eq!(v, Stream::new(1, "c", 0, "p").next_u64());
        insta::assert_snapshot!(format!("{v:016x}"), @"84540e543b690707");
    }

    #[test]
    fn derived_seeds_are_pinned() {
        // Seed k of `--seeds N` must be the same on every machine and in every version.
        let seeds: Vec<String> = (0..4).map(|k| seed_k(250_909_677, k).to_string()).collect();
        insta::assert_snapshot!(seeds.join(" "), @"250909677 3168804214571307228 8415100044984086285 2696222297251629645");
        assert_eq!(seed_k(5, 0), 5);
    }

    #[test]
    fn uniform_mean_and_range() {
        let mut s = Stream::new(1, "u", 0, "t");
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = s.uniform();
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.005);
    }

    #[test]
    fn normal_moments() {
        let mut s = Stream::new(1, "n", 0, "t");
        let n = 200_000;
        let (mut m1, mut m2) = (0.0, 0.0);
        for _ in 0..n {
            let z = s.normal();
            m1 += z;
            m2 += z * z;
        }
        let mean = m1 / n as f64;
        let var = m2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn below_and_categorical_cover_their_range() {
        let mut s = Stream::new(1, "k", 0, "t");
        let mut counts = [0usize; 4];
        for _ in 0..40_000 {
            counts[s.below(4)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[s.categorical(&[1.0, 0.0, 2.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn sigmoid_is_symmetric() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((sigmoid(2.0) + sigmoid(-2.0) - 1.0).abs() < 1e-15);
    }
}
