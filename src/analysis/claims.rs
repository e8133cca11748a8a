//! Evaluating a spec's claims on a summary (DESIGN.md §3).

use super::{Row, Summary};
use crate::error::{Error, Result};
use crate::spec::{At, Check, Claim, Kind, Position, Selector};

/// The outcome of one claim, with the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub id: String,
    pub kind: Kind,
    pub says: String,
    pub holds: bool,
    /// The number the claim is about: mean(a), or mean(a) − mean(b) for checks that
    /// compare two rows (the value `numbers.tex` prints).
    pub value: f64,
    /// The numbers compared, e.g. `a = 0.412 [0.398, 0.426], b = … ; a − b = … ≥ 0.3`.
    pub detail: String,
}

/// Picks the summary row a selector names.
pub fn select(summary: &Summary, sel: &Selector) -> Result<Row> {
    let rows = summary.expect_series(&sel.arm, &sel.metric)?;
    let pick = |f: &dyn Fn(&Row, &Row) -> bool| -> Row {
        let mut best = rows[0];
        for r in &rows[1..] {
            if f(r, &best) {
                best = *r;
            }
        }
        best
    };
    match &sel.x {
        At::Value(x) => rows.iter().copied().find(|r| (r.x - x).abs() <= 1e-9 * x.abs().max(1.0)).ok_or_else(|| {
            Error::Input(format!(
                "claim selector {sel}: no row at x = {x}; the series has x from {} to {}. Fix: use an x the figure computes",
                rows[0].x,
                rows[rows.len() - 1].x
            ))
        }),
        At::Position(Position::First) => Ok(rows[0]),
        At::Position(Position::Last) => Ok(rows[rows.len() - 1]),
        At::Position(Position::Max) => Ok(pick(&|r, b| r.mean > b.mean)),
        At::Position(Position::Min) => Ok(pick(&|r, b| r.mean < b.mean)),
        At::ArgmaxOf { argmax_of } => {
            let other = summary.expect_series(&sel.arm, argmax_of)?;
            let mut best = other[0];
            for r in &other[1..] {
                if r.mean > best.mean {
                    best = *r;
                }
            }
            rows.iter().copied().find(|r| r.x == best.x).ok_or_else(|| {
                Error::Input(format!("claim selector {sel}: `{argmax_of}` peaks at x = {}, where `{}` has no row", best.x, sel.metric))
            })
        }
    }
}

fn show(r: &Row) -> String {
    format!("{:.4} [{:.4}, {:.4}]", r.mean, r.lo, r.hi)
}

/// Evaluates one claim against the summary.
pub fn evaluate(summary: &Summary, claim: &Claim) -> Result<Verdict> {
    evaluate_unnamed(summary, claim).map_err(|e| e.within(&format!("claim `{}`", claim.id)))
}

fn evaluate_unnamed(summary: &Summary, claim: &Claim) -> Result<Verdict> {
    if claim.check.is_share() && !summary.is_outcome(&claim.a.arm, &claim.a.metric) {
        return Err(Error::Input(format!(
            "check `{:?}` reads a share of replicates, but {} is not an outcome metric. Fix: push it with Observations::push_outcome (one 0/1 per replicate), or use at_least/at_most",
            claim.check, claim.a
        )));
    }
    let a = select(summary, &claim.a)?;
    let b = match &claim.b {
        Some(sel) => Some(select(summary, sel)?),
        None => None,
    };
    let (holds, detail) = judge(claim.check, claim.bound, claim.separated, &a, b.as_ref());
    let value = match &b {
        Some(b) if claim.check != Check::Equivalent => a.mean - b.mean,
        _ => a.mean,
    };
    Ok(Verdict {
        id: claim.id.clone(),
        kind: claim.kind,
        says: claim.says.clone(),
        holds: holds && value.is_finite(),
        value,
        detail,
    })
}

/// The comparison itself, on plain rows: testable with numbers that contradict a claim.
pub fn judge(check: Check, bound: f64, separated: bool, a: &Row, b: Option<&Row>) -> (bool, String) {
    let sa = show(a);
    match (check, b) {
        (Check::AtLeast | Check::ShareAtLeast, _) => {
            let v = if separated { a.lo } else { a.mean };
            (
                v >= bound,
                format!("a = {sa}; {} {v:.4} ≥ {bound}", if separated { "lo(a)" } else { "a" }),
            )
        }
        (Check::AtMost | Check::ShareAtMost, _) => {
            let v = if separated { a.hi } else { a.mean };
            (
                v <= bound,
                format!("a = {sa}; {} {v:.4} ≤ {bound}", if separated { "hi(a)" } else { "a" }),
            )
        }
        (Check::MagnitudeAtMost, _) => {
            let v = if separated {
                a.lo.abs().max(a.hi.abs())
            } else {
                a.mean.abs()
            };
            (
                v <= bound,
                format!(
                    "a = {sa}; |{}| = {v:.4} ≤ {bound}",
                    if separated { "interval" } else { "a" }
                ),
            )
        }
        (Check::DifferenceAtLeast, Some(b)) => {
            let d = a.mean - b.mean;
            let apart = a.lo - b.hi;
            let holds = d >= bound && (!separated || apart >= bound.max(0.0));
            let extra = if separated {
                format!(", lo(a) − hi(b) = {apart:.4}")
            } else {
                String::new()
            };
            (
                holds,
                format!("a = {sa}, b = {}; a − b = {d:.4} ≥ {bound}{extra}", show(b)),
            )
        }
        (Check::DifferenceAtMost, Some(b)) => {
            let d = a.mean - b.mean;
            let apart = a.hi - b.lo;
            let holds = d <= bound && (!separated || apart <= bound);
            let extra = if separated {
                format!(", hi(a) − lo(b) = {apart:.4}")
            } else {
                String::new()
            };
            (
                holds,
                format!("a = {sa}, b = {}; a − b = {d:.4} ≤ {bound}{extra}", show(b)),
            )
        }
        (Check::Close, Some(b)) => {
            let d = (a.mean - b.mean).abs();
            (
                d <= bound,
                format!("a = {sa}, b = {}; |a − b| = {d:.4} ≤ {bound}", show(b)),
            )
        }
        (Check::Equivalent, Some(b)) => {
            let d = (a.mean - b.mean).abs();
            let (lo, hi) = (b.mean - bound, b.mean + bound);
            let holds = d <= bound && a.lo >= lo && a.hi <= hi;
            (
                holds,
                format!(
                    "a = {sa}, b = {:.4}; |a − b| = {d:.4} ≤ {bound} and a's interval inside [{lo:.4}, {hi:.4}]",
                    b.mean
                ),
            )
        }
        (_, None) => (false, "this check needs b".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Observations;
    use crate::spec::Kind;

    fn claim(check: Check, bound: f64, separated: bool, metric: &str) -> Claim {
        Claim {
            id: "c".into(),
            kind: Kind::Finding,
            says: "s".into(),
            check,
            a: Selector {
                arm: "sc".into(),
                metric: metric.into(),
                x: At::Value(0.0),
            },
            b: None,
            bound,
            separated,
        }
    }

    #[test]
    fn a_distribution_claim_states_a_split_the_mean_hides() {
        // 64 runs: 40 collapse to 0.05, 24 end at 0.9. The mean (0.37) says "partly
        // collapsed"; the share says most runs collapse.
        let mut obs = Observations::default();
        for r in 0..64u64 {
            let collapsed = r % 8 < 5;
            obs.push("sc", "final_accuracy", 0.0, r, if collapsed { 0.05 } else { 0.9 });
            obs.push_outcome("sc", "collapsed", 0.0, r, collapsed);
        }
        let summary = crate::analysis::summarise(&obs).unwrap();
        let share = evaluate(&summary, &claim(Check::ShareAtLeast, 0.5, true, "collapsed")).unwrap();
        assert!(share.holds, "{}", share.detail);
        assert!((share.value - 40.0 / 64.0).abs() < 1e-12);
        let most = evaluate(&summary, &claim(Check::ShareAtLeast, 0.75, true, "collapsed")).unwrap();
        assert!(!most.holds, "{}", most.detail);
        // A share claim on a metric that is not an outcome is refused, not misread.
        assert!(evaluate(&summary, &claim(Check::ShareAtLeast, 0.5, true, "final_accuracy")).is_err());
    }

    fn row(mean: f64, half: f64) -> Row {
        Row {
            x: 0.0,
            mean,
            lo: mean - half,
            hi: mean + half,
            n: 100,
        }
    }

    #[test]
    fn each_check_holds_and_fails() {
        let (lo, hi) = (row(0.2, 0.02), row(0.8, 0.02));
        let cases = [
            (Check::AtLeast, 0.5, false, &hi, None, true),
            (Check::AtLeast, 0.5, false, &lo, None, false),
            (Check::AtLeast, 0.79, true, &hi, None, false),
            (Check::AtMost, 0.5, false, &lo, None, true),
            (Check::AtMost, 0.5, false, &hi, None, false),
            (Check::MagnitudeAtMost, 0.25, false, &lo, None, true),
            (Check::MagnitudeAtMost, 0.21, true, &lo, None, false),
            (Check::DifferenceAtLeast, 0.5, false, &hi, Some(&lo), true),
            (Check::DifferenceAtLeast, 0.7, false, &hi, Some(&lo), false),
            (Check::DifferenceAtLeast, 0.59, true, &hi, Some(&lo), false),
            (Check::DifferenceAtMost, 0.0, false, &lo, Some(&hi), true),
            (Check::DifferenceAtMost, 0.0, false, &hi, Some(&lo), false),
            (Check::Close, 0.1, false, &lo, Some(&row(0.25, 0.0)), true),
            (Check::Close, 0.1, false, &lo, Some(&hi), false),
            // Equivalence: the interval must sit inside b ± tolerance, not merely
            // contain b (numbers that contradict the claim fail it).
            (Check::Equivalent, 0.05, false, &lo, Some(&row(0.21, 0.0)), true),
            (Check::Equivalent, 0.05, false, &lo, Some(&row(0.24, 0.0)), false),
            (Check::Equivalent, 0.01, false, &lo, Some(&row(0.2, 0.0)), false),
            (Check::Equivalent, 0.1, false, &lo, Some(&row(0.35, 0.0)), false),
            (Check::ShareAtLeast, 0.5, true, &hi, None, true),
            (Check::ShareAtLeast, 0.79, true, &hi, None, false),
            (Check::ShareAtMost, 0.25, true, &lo, None, true),
            (Check::ShareAtMost, 0.21, true, &lo, None, false),
        ];
        for (check, bound, sep, a, b, expected) in cases {
            let (holds, detail) = judge(check, bound, sep, a, b);
            assert_eq!(holds, expected, "{check:?} {bound} {sep}: {detail}");
        }
    }
}
