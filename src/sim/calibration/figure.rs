//! The panels of `calibration`: (a)–(h), laid out two per row.

use super::model::RULES;
use super::Params;
use crate::analysis::{Row, Summary};
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};

pub(super) fn build(p: &Params, summary: &Summary) -> Result<Figure> {
    Ok(Figure::column_width(
        1560,
        vec![
            panel_accuracy(p, summary)?,
            panel_ece(p, summary)?,
            panel_reliability(summary)?,
            panel_bin_share(summary)?,
            panel_auroc(p, summary)?,
            panel_cap_share(p, summary)?,
            panel_sharpening(p, summary)?,
            panel_rules(summary)?,
        ],
    ))
}

/// Arm, legend label, palette colour.
const STYLE: [(&str, &str, usize); 4] = [
    ("base", "base", 6),
    ("rlvr", "RLVR", 1),
    ("rlcr", "RLCR", 0),
    ("log_score", "log score", 2),
];

fn per_arm(s: &Summary, metric: &str) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for (arm, label, color) in STYLE {
        let mark = if arm == "base" { Mark::Dashed } else { Mark::Line };
        out.push(Series::new(label, color, mark, s.expect_series(arm, metric)?));
    }
    Ok(out)
}

fn step_axis(p: &Params) -> Axis {
    Axis::linear("training step", 0.0, p.steps as f64)
}

fn panel_accuracy(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = per_arm(s, "accuracy")?;
    for (arm, label, color) in [("rlvr", "RLVR conf.", 1), ("rlcr", "RLCR conf.", 0)] {
        let mut conf = Series::new(label, color, Mark::Dotted, s.expect_series(arm, "confidence")?);
        conf.band = false;
        series.push(conf);
    }
    Ok(Panel {
        title: "(a) Accuracy; dotted: mean confidence".into(),
        x: step_axis(p),
        y: Axis::linear("accuracy / confidence", 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

fn panel_ece(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(b) Calibration error".into(),
        x: step_axis(p),
        y: Axis::linear("ECE (10 bins)", 0.0, 0.4),
        series: per_arm(s, "ece")?,
        legend_columns: 4,
    })
}

/// Bin accuracy placed at the bin's mean confidence (both averaged over replicates).
fn reliability_rows(s: &Summary, arm: &str) -> Result<Vec<Row>> {
    let acc = s.expect_series(arm, "bin_accuracy")?;
    let conf = s.expect_series(arm, "bin_confidence")?;
    Ok(acc
        .iter()
        .zip(conf.iter())
        .map(|(a, c)| Row { x: c.mean, ..*a })
        .collect())
}

fn panel_reliability(s: &Summary) -> Result<Panel> {
    let mut series = vec![Series::exact("calibrated", 6, Mark::Dashed, [(0.0, 0.0), (1.0, 1.0)])];
    for (arm, label, color) in STYLE.iter().take(3) {
        series.push(Series::new(label, *color, Mark::Points, reliability_rows(s, arm)?));
    }
    Ok(Panel {
        title: "(c) Reliability at the last step".into(),
        x: Axis::linear("stated confidence (bin mean)", 0.0, 1.0),
        y: Axis::linear("accuracy in bin", 0.0, 1.0),
        series,
        legend_columns: 4,
    })
}

fn panel_bin_share(s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (k, (arm, label, color)) in STYLE.iter().take(3).enumerate() {
        let bars = Series::new(
            label,
            *color,
            Mark::Bars { width: 0.028 },
            s.expect_series(arm, "bin_share")?,
        );
        series.push(bars.nudged((k as f64 - 1.0) * 0.03));
    }
    Ok(Panel {
        title: "(d) Answers per confidence bin of (c)".into(),
        x: Axis::linear("stated confidence (bin)", 0.0, 1.0),
        y: Axis::linear("share of responses", 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

fn panel_auroc(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(e) Confidence separates right from wrong".into(),
        x: step_axis(p),
        y: Axis::linear("AUROC of confidence", 0.4, 1.0),
        series: per_arm(s, "auroc")?,
        legend_columns: 4,
    })
}

fn panel_cap_share(p: &Params, s: &Summary) -> Result<Panel> {
    let top = 100.0 * p.confidence_cap;
    Ok(Panel {
        title: format!("(f) Answers tied at the top of the scale ({top:.0}%)"),
        x: step_axis(p),
        y: Axis::linear("share stated at the cap", 0.0, 1.0),
        series: per_arm(s, "cap_share")?,
        legend_columns: 4,
    })
}

fn panel_sharpening(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (arm, label, color) in STYLE.iter().skip(1) {
        series.push(Series::new(
            &format!("{label} τ"),
            *color,
            Mark::Line,
            s.expect_series(arm, "decisiveness")?,
        ));
    }
    for (arm, label, color) in STYLE.iter().skip(1) {
        series.push(Series::new(
            &format!("{label} w"),
            *color,
            Mark::Dotted,
            s.expect_series(arm, "readout_slope")?,
        ));
    }
    Ok(Panel {
        title: "(g) Sharpening τ; dotted: readout slope w".into(),
        x: step_axis(p),
        y: Axis::log("τ, w (log scale)", 0.1, 100.0),
        series,
        legend_columns: 3,
    })
}

fn panel_rules(s: &Summary) -> Result<Panel> {
    let mut series = vec![Series::exact("I don't know", 6, Mark::Dotted, [(0.0, 0.0), (1.0, 0.0)])];
    for ((name, _), (label, color)) in RULES
        .iter()
        .zip([("p (binary)", 1), ("p² (Brier)", 0), ("p − H(p) (log)", 2)])
    {
        let mut exact = Series::new(
            label,
            color,
            Mark::Line,
            s.expect_series(&format!("{name}_exact"), "expected_reward")?,
        );
        exact.band = false;
        series.push(exact);
        series.push(Series::new(
            "",
            color,
            Mark::Points,
            s.expect_series(name, "expected_reward")?,
        ));
    }
    Ok(Panel {
        title: "(h) Expected reward of a calibrated answer".into(),
        x: Axis::linear("chance p that the answer is right", 0.0, 1.0),
        y: Axis::linear("expected reward", -0.4, 1.0),
        series,
        legend_columns: 2,
    })
}
