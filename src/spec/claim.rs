//! Executable claims (DESIGN.md §3): each is a check on rows of the summary table.
//!
//! A [`Selector`] picks one summary row, `(arm, metric, x)`, where `x` is a number or
//! a position along the series (`"first"`, `"last"`, `"max"`, `"min"`, or
//! `{ argmax_of = "<metric>" }`: the x at which another metric of the same arm peaks).
//! A [`Check`] compares the selected rows' means, and with `separated = true` demands
//! that their 95% intervals agree too. Evaluation lives in `analysis::claims`.
//!
//! Every claim has a [`Kind`] (DESIGN.md §3): a *finding* must emerge from the
//! mechanism and hold at ≥ 95% of seeds; a *premise* follows from an assumption of the
//! model; a *sanity* check compares the simulator with an analytic value by an
//! equivalence test, which cannot fail by chance.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    /// Finding, premise or sanity check.
    pub kind: Kind,
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

/// What a claim is, and so the standard it is held to across seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The result the figure exists for: it must emerge from the mechanism, hold at
    /// ≥ 95% of seeds, and be broken by at least one knock-out.
    Finding,
    /// A consequence of an assumption of the model: it must hold at every seed; the
    /// README lists it as an assumption, not a result.
    Premise,
    /// The simulator against an analytic value (`check = "equivalent"`): every seed.
    Sanity,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Finding => "finding",
            Kind::Premise => "premise",
            Kind::Sanity => "sanity",
        }
    }

    /// How many of `n` seeds a claim of this kind must hold at: ⌈0.95·n⌉ for a
    /// finding, all of them for a premise or a sanity check.
    pub fn required(self, n: usize) -> usize {
        match self {
            Kind::Finding => (95 * n).div_ceil(100),
            Kind::Premise | Kind::Sanity => n,
        }
    }
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
    /// Equivalence (for sanity checks): |mean(a) − mean(b)| ≤ bound and a's 95%
    /// interval lies inside mean(b) ± bound. Unlike "b is inside a's interval", it does
    /// not fail at 5% of seeds by chance when the code is right.
    Equivalent,
    /// A distribution claim: the share of replicates meeting a condition (an outcome
    /// metric, one 0/1 per replicate, Wilson interval) is ≥ bound (separated: lo ≥ bound).
    ShareAtLeast,
    /// The share is ≤ bound (separated: hi ≤ bound).
    ShareAtMost,
}

impl Check {
    pub fn needs_b(self) -> bool {
        !matches!(
            self,
            Check::AtLeast | Check::AtMost | Check::MagnitudeAtMost | Check::ShareAtLeast | Check::ShareAtMost
        )
    }

    /// Whether the check reads the share of replicates of an outcome metric.
    pub fn is_share(self) -> bool {
        matches!(self, Check::ShareAtLeast | Check::ShareAtMost)
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
        if matches!(self.check, Check::Close | Check::Equivalent | Check::MagnitudeAtMost) && self.bound < 0.0 {
            return Err(format!("bound is a tolerance here and must be ≥ 0, got {}", self.bound));
        }
        if self.check.is_share() && !(0.0..=1.0).contains(&self.bound) {
            return Err(format!(
                "bound is a share of replicates here and must be in [0, 1], got {}",
                self.bound
            ));
        }
        if self.kind == Kind::Sanity && self.check != Check::Equivalent {
            return Err(
                "a sanity check compares the simulator with an analytic value by equivalence. Fix: use check = \"equivalent\" with a tolerance as bound"
                    .into(),
            );
        }
        if self.says.contains(['\n', '\r']) {
            return Err(
                "`says` must be one line (it is written into numbers.tex and tables). Fix: remove the line break"
                    .into(),
            );
        }
        Ok(())
    }
}
