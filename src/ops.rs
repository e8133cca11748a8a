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
}

impl Op {
    pub const ALL: [Op; 6] = [Op::Draw, Op::Exp, Op::Log, Op::Pow, Op::Trig, Op::Sqrt];

    pub fn name(self) -> &'static str {
        match self {
            Op::Draw => "draw",
            Op::Exp => "exp",
            Op::Log => "log",
            Op::Pow => "pow",
            Op::Trig => "sin/cos",
            Op::Sqrt => "sqrt",
        }
    }
}

#[cfg(feature = "count-ops")]
mod counter {
    use super::Op;
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

    #[inline]
    pub fn tally(op: Op) {
        COUNTS[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn take() -> [u64; 6] {
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
pub fn take_counts() -> Option<[u64; 6]> {
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
