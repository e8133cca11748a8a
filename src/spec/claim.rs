//! Executable claims (DESIGN.md §3): each is a check on rows of the summary table.
//!
//! A [`Selector`] picks one summary row, `(arm, metric, x)`, where `x` is a number or
//! a position along the series (`"first"`, `"last"`, `"max"`, `"min"`, or
//! `{ argmax_of = "<metric>" }`: the x at which another metric of the same arm peaks).
//! A [`Check`] compares the selected rows' means, and with `separated = true` demands
//! that their 95% intervals agree too. Evaluation lives in `analysis::claims`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    /// The claim in one sentence, as printed by `mismatch check`.
    pub says: String,
    pub check: Check,
    pub a: Selector,
    pub b: Option<Selector>,
    /// The margin, bound or tolerance the check compares against.
    pub bound: f64,
    /// Also require the 95% intervals to be on the right side (not merely the means).
    #[serde(default)]
    pub separated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// mean(a) ≥ bound (separated: lo(a) ≥ bound).
    AtLeast,
    /// mean(a) ≤ bound (separated: hi(a) ≤ bound).
    AtMost,
    /// |mean(a)| ≤ bound: an effect that should vanish (separated: the interval
    /// lies within ±bound).
    MagnitudeAtMost,
    /// mean(a) − mean(b) ≥ bound (separated: lo(a) − hi(b) ≥ bound).
    DifferenceAtLeast,
    /// mean(a) − mean(b) ≤ bound (separated: hi(a) − lo(b) ≤ bound).
    DifferenceAtMost,
    /// |mean(a) − mean(b)| ≤ bound.
    Close,
    /// mean(b) lies in a's 95% interval widened by `bound` on each side.
    Inside,
}

impl Check {
    pub fn needs_b(self) -> bool {
        !matches!(self, Check::AtLeast | Check::AtMost | Check::MagnitudeAtMost)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub arm: String,
    pub metric: String,
    pub x: At,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum At {
    Value(f64),
    Position(Position),
    ArgmaxOf { argmax_of: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    First,
    Last,
    Max,
    Min,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = match &self.x {
            At::Value(v) => format!("{v}"),
            At::Position(p) => format!("{p:?}").to_lowercase(),
            At::ArgmaxOf { argmax_of } => format!("argmax of {argmax_of}"),
        };
        write!(f, "{}/{}@{}", self.arm, self.metric, x)
    }
}

impl Claim {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.check.needs_b() && self.b.is_none() {
            return Err(format!(
                "check `{:?}` compares two rows: add b = {{ arm = …, metric = …, x = … }}",
                self.check
            ));
        }
        if !self.check.needs_b() && self.b.is_some() {
            return Err(format!("check `{:?}` reads one row: remove b", self.check));
        }
        if !self.bound.is_finite() {
            return Err("bound must be a finite number".into());
        }
        if matches!(self.check, Check::Close | Check::Inside | Check::MagnitudeAtMost) && self.bound < 0.0 {
            return Err(format!("bound is a tolerance here and must be ≥ 0, got {}", self.bound));
        }
        Ok(())
    }
}
