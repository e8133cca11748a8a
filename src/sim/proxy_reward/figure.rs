//! The panels of `proxy_reward`, from the summary table.

use super::model::{Arm, ARMS};
use super::Params;
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};

pub fn figure(p: &Params, s: &Summary) -> Result<Figure> {
    Ok(Figure::column_width(
        1180,
        vec![
            panel_accuracy(p, s)?,
            panel_proxy(p, s)?,
            panel_final(s)?,
            panel_aligned(p, s)?,
            panel_template(p, s)?,
            panel_scan(p, s)?,
        ],
    ))
}

fn step_axis(p: &Params) -> Axis {
    Axis::linear("training step", 0.0, p.steps as f64)
}

fn panel_accuracy(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        series.push(Series::new(
            arm.label(),
            i,
            Mark::Line,
            s.expect_series(arm.name(), "test_accuracy")?,
        ));
    }
    Ok(Panel {
        title: "(a) Held-out accuracy (mean of all runs)".into(),
        x: step_axis(p),
        y: Axis::linear("held-out accuracy", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

fn panel_proxy(p: &Params, s: &Summary) -> Result<Panel> {
    let sc = Arm::SelfConsistency.name();
    let mut label = Series::new(
        "label accuracy",
        4,
        Mark::Dotted,
        s.expect_series(sc, "label_accuracy")?,
    );
    label.band = false;
    let mut reward = Series::new(
        "reward accuracy",
        5,
        Mark::Dotted,
        s.expect_series(sc, "reward_accuracy")?,
    );
    reward.band = false;
    Ok(Panel {
        title: "(b) Self-consistency: proxy vs truth".into(),
        x: step_axis(p),
        y: Axis::linear("reward / accuracy", 0.0, 1.0),
        series: vec![
            Series::new("proxy reward", 1, Mark::Line, s.expect_series(sc, "proxy_reward")?),
            Series::new(
                "held-out accuracy",
                6,
                Mark::Dashed,
                s.expect_series(sc, "test_accuracy")?,
            ),
            label,
            reward,
        ],
        legend_columns: 2,
    })
}

/// Per-run final held-out accuracy: share of runs in each tenth, bars side by side.
fn panel_final(s: &Summary) -> Result<Panel> {
    let width = 0.022;
    let mut series = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        let offset = (i as f64 - 1.5) * width;
        let mut bars = Series::new(
            arm.label(),
            i,
            Mark::Bars { width },
            s.expect_series(arm.name(), "final_bin")?,
        )
        .nudged(offset);
        // Wilson bars on the many empty bins would hide the two populations.
        bars.band = false;
        series.push(bars);
    }
    Ok(Panel {
        title: "(c) Final held-out accuracy, run by run".into(),
        x: Axis::linear("final held-out accuracy (bins of 0.1)", 0.0, 1.0),
        y: Axis::linear("share of runs per bin", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

/// The self-consistency runs that collapse, aligned at their collapse (empty when none
/// does, e.g. under a knock-out).
fn panel_aligned(p: &Params, s: &Summary) -> Result<Panel> {
    let sc = Arm::SelfConsistency.name();
    let w = p.align_window as f64;
    Ok(Panel {
        title: "(d) Collapsing runs, aligned at the collapse".into(),
        x: Axis::linear("steps from the collapse", -w, w),
        y: Axis::linear("rate", 0.0, 1.0),
        series: vec![
            Series::new(
                "held-out accuracy",
                6,
                Mark::Line,
                s.series(sc, "aligned_test_accuracy")?,
            ),
            Series::new("proxy reward", 1, Mark::Line, s.series(sc, "aligned_proxy_reward")?),
            Series::new(
                "template rate",
                3,
                Mark::Dashed,
                s.series(sc, "aligned_test_template_rate")?,
            ),
        ],
        legend_columns: 3,
    })
}

fn panel_template(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        series.push(Series::new(
            arm.label(),
            i,
            Mark::Line,
            s.expect_series(arm.name(), "test_template_rate")?,
        ));
    }
    Ok(Panel {
        title: "(e) Template rate on held-out problems".into(),
        x: step_axis(p),
        y: Axis::linear("template share of answers", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

/// The threshold: share of self-consistency runs that collapse against the template's
/// initial logit, beside the share of problems the template already wins at step 0.
fn panel_scan(p: &Params, s: &Summary) -> Result<Panel> {
    let (lo, hi) = (
        p.scan_template_logits.first().copied().unwrap_or(0.0),
        p.scan_template_logits.last().copied().unwrap_or(1.0),
    );
    let pad = 0.05 * (hi - lo).max(1e-9);
    let mut labels = Series::new(
        "problems the template wins at step 0",
        3,
        Mark::Dashed,
        s.expect_series("scan", "template_labels")?,
    );
    labels.band = false;
    Ok(Panel {
        title: "(f) Threshold in the template's head start".into(),
        x: Axis::linear(
            &format!("initial template logit (other panels: {})", p.template_logit),
            lo - pad,
            hi + pad,
        ),
        y: Axis::linear("share", 0.0, 1.0),
        series: vec![
            Series::new(
                "self-consistency runs that collapse",
                1,
                Mark::Points,
                s.expect_series("scan", "collapsed")?,
            ),
            labels,
        ],
        legend_columns: 1,
    })
}
