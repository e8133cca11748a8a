//! Numbers for the paper: one LaTeX macro per claim, holding the number the claim is
//! about, so the prose never goes stale. `\ContextAccumulationDropSmall` is the value
//! of claim `drop_small` of figure `context_accumulation`: the mean of its row `a`, or
//! `a − b` for checks that compare two rows.

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

/// The macros of one figure, one per line, preceded by a comment naming the figure.
pub fn macros(figure_id: &str, summary: &Summary, claims: &[Claim]) -> Result<String> {
    let mut out = format!("% {figure_id}\n");
    for claim in claims {
        let value = headline(summary, claim)
            .map_err(|e| crate::error::Error::Input(format!("figure `{figure_id}`: claim `{}`: {e}", claim.id)))?;
        out.push_str(&format!(
            "\\newcommand{{\\{}{}}}{{{}}} % {}\n",
            camel(figure_id),
            camel(&claim.id),
            prose(value),
            // One comment line whatever the text holds: a line break would end the comment.
            claim.says.replace('%', "\\%").replace(|c: char| c.is_control(), " ")
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
}
