//! Numbers for the paper: one LaTeX macro per claim, holding the number the claim is
//! about, so the prose never goes stale. `\ContextAccumulationFeedbackSmall` is the value
//! of claim `feedback_small` of figure `context_accumulation`: the mean of its row `a`, or
//! `a − b` for checks that compare two rows.
//!
//! Each macro typesets in text and in math: its value is wrapped in `\ensuremath`, so
//! a negative number gets a true minus sign (not a hyphen) and integer parts of four
//! digits or more are grouped by thin spaces (`12\,345`). Its comment states the claim,
//! what the number is (which row's mean, or which difference) and its unit.

use super::claims::select;
use super::Summary;
use crate::error::Result;
use crate::spec::{Check, Claim};

/// `drop_small` → `DropSmall`; digits become words (TeX names are letters only).
pub fn camel(id: &str) -> String {
    const DIGITS: [&str; 10] = [
        "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine",
    ];
    let mut out = String::new();
    for part in id.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out.chars()
        .map(|c| {
            c.to_digit(10)
                .map(|d| DIGITS[d as usize].to_string())
                .unwrap_or_else(|| c.to_string())
        })
        .collect()
}

/// A number as prose shows it: three significant digits, at most three decimals.
pub fn prose(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.starts_with('-') && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// A number as LaTeX typesets it in text or math: [`prose`] digits in `\ensuremath`
/// (a minus sign, not a hyphen), thousands separated by thin spaces.
pub fn latex(v: f64) -> String {
    let digits = prose(v);
    let (sign, body) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits.as_str()),
    };
    let (int, frac) = match body.find('.') {
        Some(at) => body.split_at(at),
        None => (body, ""),
    };
    let mut grouped = String::new();
    if int.len() >= 4 {
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push_str("\\,");
            }
            grouped.push(c);
        }
    } else {
        grouped.push_str(int);
    }
    format!("\\ensuremath{{{sign}{grouped}{frac}}}")
}

/// The unit of a metric's values, for the macro comments. Metrics are named by what
/// they measure; the rates, shares, accuracies and calibration errors of this project
/// are fractions on the 0–1 scale (not percent).
pub fn unit(metric: &str) -> &'static str {
    if metric.contains("frontier") {
        "digits (operand length)"
    } else if metric.contains("horizon") {
        "turns"
    } else if metric.contains("correlation") {
        "none (a correlation, -1 to 1)"
    } else if metric.contains("reward") {
        "none (reward on the spec's scale)"
    } else if metric.contains("auroc") {
        "none (an area under the ROC curve, 0 to 1)"
    } else {
        "none (a fraction on the 0-1 scale, not percent)"
    }
}

/// What a claim's number is, in words: the row it is the mean of, or the difference.
fn what(summary: &Summary, claim: &Claim) -> Result<String> {
    let row = |sel: &crate::spec::Selector| -> Result<String> {
        let r = select(summary, sel)?;
        Ok(format!(
            "mean of `{}` for `{}` at x = {} over {} replicates",
            sel.metric, sel.arm, r.x, r.n
        ))
    };
    let a = row(&claim.a)?;
    Ok(match (&claim.b, claim.check) {
        (Some(b), Check::DifferenceAtLeast | Check::DifferenceAtMost | Check::Close) => {
            format!("{a} minus {}", row(b)?)
        }
        _ => a,
    })
}

/// The number a claim is about.
pub fn headline(summary: &Summary, claim: &Claim) -> Result<f64> {
    let a = select(summary, &claim.a)?.mean;
    match (&claim.b, claim.check) {
        (Some(b), Check::DifferenceAtLeast | Check::DifferenceAtMost | Check::Close) => {
            Ok(a - select(summary, b)?.mean)
        }
        _ => Ok(a),
    }
}

/// The macros of one figure, preceded by a comment naming the figure: per claim, a
/// comment line with the claim's sentence, one with what the number is and its unit,
/// then the macro.
pub fn macros(figure_id: &str, summary: &Summary, claims: &[Claim]) -> Result<String> {
    let mut out = format!("% {figure_id}\n");
    for claim in claims {
        let value = headline(summary, claim)
            .map_err(|e| crate::error::Error::Input(format!("figure `{figure_id}`: claim `{}`: {e}", claim.id)))?;
        out.push_str(&format!(
            "% {}\n%   number: {}; unit: {}\n\\newcommand{{\\{}{}}}{{{}}}\n",
            // One comment line whatever the text holds: a line break would end the comment.
            claim.says.replace('%', "\\%").replace(|c: char| c.is_control(), " "),
            what(summary, claim)?,
            unit(&claim.a.metric),
            camel(figure_id),
            camel(&claim.id),
            latex(value),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_only() {
        assert_eq!(camel("context_accumulation"), "ContextAccumulation");
        assert_eq!(camel("horizon_at_095"), "HorizonAtZeroNineFive");
    }

    #[test]
    fn prose_numbers() {
        assert_eq!(prose(68.8545), "68.9");
        assert_eq!(prose(0.8360), "0.836");
        assert_eq!(prose(-0.0002), "0.000");
        assert_eq!(prose(692.8), "693");
        assert_eq!(prose(-0.15), "-0.150");
    }

    #[test]
    fn latex_numbers_have_a_true_minus_and_thin_spaces() {
        assert_eq!(latex(-0.0513), "\\ensuremath{-0.051}");
        assert_eq!(latex(68.86), "\\ensuremath{68.9}");
        assert_eq!(latex(692.8), "\\ensuremath{693}");
        assert_eq!(latex(1234.4), "\\ensuremath{1\\,234}");
        assert_eq!(latex(-1234567.0), "\\ensuremath{-1\\,234\\,567}");
        assert_eq!(latex(-0.0002), "\\ensuremath{0.000}");
    }
}
