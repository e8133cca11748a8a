//! The panels of `figures/self_improvement.*`.

use super::{accuracy_metric, Params, CORRELATED, INJECTED};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};

/// (arm, legend, palette colour).
const LABELS: [(&str, &str, usize); 6] = [
    ("no_filter", "no filter", 1),
    ("length_filter", "length filter", 3),
    ("self_consistency", "self-consistency", 4),
    ("vote_only", "vote 4/5, no length check", 5),
    ("majority_vote", "vote 4/5 + length check", 0),
    ("oracle", "oracle (premise)", 6),
];

pub fn figure(p: &Params, s: &Summary) -> Result<Figure> {
    Ok(Figure::column_width(
        1080,
        vec![
            panel_frontier(p, s)?,
            panel_accuracy(p, s)?,
            panel_noise(p, s)?,
            panel_anchor(p, s)?,
            panel_correlation(p, s)?,
            panel_injection(p, s)?,
        ],
    ))
}

/// One series per arm; `legend` false for panels that reuse (a)'s colours unlabelled.
fn arm_series(s: &Summary, metric: &str, skip_oracle: bool, legend: bool) -> Result<Vec<Series>> {
    let mut series = Vec::new();
    for (arm, label, color) in LABELS {
        if skip_oracle && arm == "oracle" {
            continue;
        }
        let mark = if arm == "oracle" { Mark::Dashed } else { Mark::Line };
        let label = if legend { label } else { "" };
        series.push(Series::new(label, color, mark, s.expect_series(arm, metric)?));
    }
    Ok(series)
}

fn panel_frontier(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(a) Frontier per round".into(),
        x: Axis::linear("round", 0.0, p.rounds as f64),
        y: Axis::linear("frontier (digits)", 0.0, p.max_length as f64),
        series: arm_series(s, "frontier", false, true)?,
        legend_columns: 2,
    })
}

fn panel_accuracy(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (k, &round) in p.accuracy_rounds.iter().enumerate() {
        let rows = s.expect_series("majority_vote", &accuracy_metric(round))?;
        series.push(Series::new(&format!("round {round}"), k, Mark::Line, rows));
    }
    Ok(Panel {
        title: "(b) Majority vote: accuracy by length".into(),
        x: Axis::linear("operand length (digits)", 1.0, p.max_length as f64),
        y: Axis::linear("exact-match accuracy", 0.0, 1.0),
        series,
        legend_columns: 4,
    })
}

fn panel_noise(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(c) Kept labels wrong (colours: a)".into(),
        x: Axis::linear("round", 0.0, p.rounds as f64),
        y: Axis::linear("share of kept labels wrong", 0.0, 1.0),
        series: arm_series(s, "label_noise", true, false)?,
        legend_columns: 2,
    })
}

fn panel_anchor(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: format!("(d) Accuracy at {} digits (colours: a)", p.anchor_length),
        x: Axis::linear("round", 0.0, p.rounds as f64),
        y: Axis::linear(&format!("exact-match accuracy, {} digits", p.anchor_length), 0.7, 1.0),
        series: arm_series(s, "accuracy_at_anchor", false, false)?,
        legend_columns: 2,
    })
}

fn panel_correlation(p: &Params, s: &Summary) -> Result<Panel> {
    let rows = s.expect_series(CORRELATED, "final_frontier")?;
    let lo = p.correlations.first().copied().unwrap_or(0.0);
    let hi = p.correlations.last().copied().unwrap_or(1.0);
    Ok(Panel {
        title: "(e) Majority vote: voters' error correlation".into(),
        x: Axis::linear("error correlation of the voters", lo, hi),
        y: Axis::linear(
            &format!("frontier at round {} (digits)", p.rounds),
            0.0,
            p.max_length as f64,
        ),
        series: vec![
            Series::new("vote 4/5 + length check", 0, Mark::Line, rows),
            Series::exact(
                &format!("c = {} (the arms in a–d)", p.voter_correlation),
                6,
                Mark::Dotted,
                [(p.voter_correlation, 0.0), (p.voter_correlation, p.max_length as f64)],
            ),
        ],
        legend_columns: 1,
    })
}

fn panel_injection(p: &Params, s: &Summary) -> Result<Panel> {
    let rows = s.expect_series(INJECTED, "final_frontier")?;
    let hi = p.injection_fractions.last().copied().unwrap_or(1.0);
    Ok(Panel {
        title: format!("(f) Noise injected at round {}", p.injection_round),
        x: Axis::linear("share of kept labels corrupted", 0.0, hi),
        y: Axis::linear(
            &format!("frontier at round {} (digits)", p.rounds),
            0.0,
            p.max_length as f64,
        ),
        series: vec![Series::new(
            "vote 4/5 + length check, noise injected",
            0,
            Mark::Line,
            rows,
        )],
        legend_columns: 1,
    })
}
