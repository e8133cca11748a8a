//! The panels of the `offline_correction` figure.

use super::model::ARMS;
use super::Params;
use crate::analysis::{Row, Summary};
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};

/// Short labels of the arms under the bars, their meaning in the axis label.
const ARM_LABELS: [&str; 7] = ["base", "STaR", "SFT", "SFT+", "SFT₀", "SFT+₀", "RL"];
const CORRECTOR_AXIS: &str = "corrector (+: keep pairs, ₀: λ = 0)";

pub(super) fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
    Ok(Figure::column_width(
        840,
        vec![
            panel_transitions(summary)?,
            panel_sweep(p, summary)?,
            panel_training(p, summary)?,
            panel_edits(summary)?,
        ],
    ))
}

/// One bar per arm of `metric`, at category x = arm index + `dx`.
fn bars(s: &Summary, metric: &str, label: &str, color: usize, width: f64, dx: f64) -> Result<Series> {
    let mut rows = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        let row = s.expect_series(arm, metric)?[0];
        rows.push(Row { x: i as f64, ..row });
    }
    Ok(Series::new(label, color, Mark::Bars { width }, rows).nudged(dx))
}

/// Points of `metric` per arm (markers with error bars).
fn points(s: &Summary, metric: &str, label: &str, color: usize, dx: f64) -> Result<Series> {
    let mut rows = Vec::new();
    for (i, arm) in ARMS.iter().enumerate() {
        let row = s.expect_series(arm, metric)?[0];
        rows.push(Row { x: i as f64, ..row });
    }
    Ok(Series::new(label, color, Mark::Points, rows).nudged(dx))
}

fn panel_transitions(s: &Summary) -> Result<Panel> {
    let w = 0.28;
    let (mut lo, mut hi) = (0.0_f64, 0.0_f64);
    for arm in ARMS {
        for metric in ["delta", "i_to_c", "c_to_i"] {
            let r = s.expect_series(arm, metric)?[0];
            lo = lo.min(r.lo);
            hi = hi.max(r.hi);
        }
    }
    let pad = 0.08 * (hi - lo).max(0.01);
    let mut zero = Series::exact("", 6, Mark::Dashed, [(-0.5, 0.0), (ARMS.len() as f64 - 0.5, 0.0)]);
    zero.band = false;
    Ok(Panel {
        title: "(a) What the corrector changes at turn 2".into(),
        x: Axis::categories(CORRECTOR_AXIS, &ARM_LABELS),
        y: Axis::linear("share of all problems", lo - pad, hi + pad),
        series: vec![
            zero,
            bars(s, "i_to_c", "Δi→c (fixed)", 2, w, -0.5 * w)?,
            bars(s, "c_to_i", "Δc→i (broken)", 1, w, 0.5 * w)?,
            points(s, "delta", "Δ = Acc@t2 − Acc@t1", 6, 0.0)?,
        ],
        legend_columns: 3,
    })
}

fn panel_sweep(p: &Params, s: &Summary) -> Result<Panel> {
    let (lo, hi) = (p.lambdas[0], *p.lambdas.last().unwrap_or(&1.0));
    let mut zero = Series::exact("no change", 6, Mark::Dashed, [(lo, 0.0), (hi, 0.0)]);
    zero.band = false;
    let sft = s.expect_series("pair_sft", "delta_sweep")?;
    let plus = s.expect_series("pair_sft_plus", "delta_sweep")?;
    let rl = s.expect_series("online_rl", "delta_sweep")?;
    let (ymin, ymax) = sft
        .iter()
        .chain(plus.iter())
        .chain(rl.iter())
        .fold((0.0_f64, 0.0_f64), |(a, b), r| (a.min(r.lo), b.max(r.hi)));
    let pad = 0.1 * (ymax - ymin).max(0.01);
    Ok(Panel {
        title: "(b) Self-correction gain vs. mismatch".into(),
        x: Axis::linear("mismatch λ (share of foreign traces)", lo, hi),
        y: Axis::linear("Δ(t1,t2) = Acc@t2 − Acc@t1", ymin - pad, ymax + pad),
        series: vec![
            zero,
            Series::new("Pair-SFT", 1, Mark::Line, sft),
            Series::new("Pair-SFT + keep pairs", 4, Mark::Line, plus),
            Series::new("online RL (reads no traces)", 0, Mark::Line, rl),
        ],
        legend_columns: 2,
    })
}

fn panel_training(p: &Params, s: &Summary) -> Result<Panel> {
    Ok(Panel {
        title: "(c) Pair-SFT training: whose errors it fixes".into(),
        x: Axis::linear("Pair-SFT step", 0.0, p.sft_steps as f64),
        y: Axis::linear("fix rate of wrong first attempts", 0.0, 1.0),
        series: vec![
            Series::new(
                "foreign traces (λ = 1): the traces' attempts",
                3,
                Mark::Dashed,
                s.expect_series("pair_sft", "fix_rate_offline")?,
            ),
            Series::new(
                "foreign traces (λ = 1): own attempts",
                1,
                Mark::Line,
                s.expect_series("pair_sft", "fix_rate_own")?,
            ),
            Series::new(
                "own traces (λ = 0): own attempts",
                0,
                Mark::Line,
                s.expect_series("pair_sft_own", "fix_rate_own")?,
            ),
        ],
        legend_columns: 1,
    })
}

fn panel_edits(s: &Summary) -> Result<Panel> {
    let w = 0.34;
    Ok(Panel {
        title: "(d) Who edits: edit rate and action diversity".into(),
        x: Axis::categories(CORRECTOR_AXIS, &ARM_LABELS),
        y: Axis::linear("share", 0.0, 1.0),
        series: vec![
            bars(s, "edit_rate", "edit rate (turn 2 ≠ turn 1)", 4, w, -0.5 * w)?,
            bars(s, "action_entropy", "action entropy / ln(M+1)", 5, w, 0.5 * w)?,
        ],
        legend_columns: 1,
    })
}
