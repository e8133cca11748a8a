//! The panels: (a) injection dose–response, (b) the share of runs that end collapsed,
//! (c) accuracy turn by turn after a fully wrong injection, (d) horizons, (e) the
//! lifetimes of the error and clean states against W, (f) their growth against β.

use super::{Mode, Params};
use crate::analysis::{Row, Summary};
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};

/// Colour of the mean-field and analytic references (black in the palette).
const REFERENCE: usize = 6;

pub(super) fn figure(p: &Params, s: &Summary) -> Result<Figure> {
    Ok(Figure::column_width(
        1180,
        vec![
            panel_injection(p, s)?,
            panel_collapsed(p, s)?,
            panel_after_injection(p, s)?,
            panel_horizon(p, s)?,
            panel_lifetimes(p, s)?,
            panel_growth_by_beta(p, s)?,
        ],
    ))
}

fn arm(scale: &str, mode: Mode) -> String {
    format!("{scale}/{}", mode.name())
}

fn mark(mode: Mode) -> Mark {
    match mode {
        Mode::NonThinking => Mark::Line,
        Mode::Thinking => Mark::Dashed,
        Mode::OpenLoop => Mark::Dotted,
    }
}

/// Colour tells the size, line style the mode: only the first size's thinking and
/// open-loop curves carry a legend entry (naming the style), so the legend stays short.
fn label(scale_index: usize, scale: &str, mode: Mode) -> String {
    match (mode, scale_index) {
        (Mode::NonThinking, _) => scale.to_string(),
        (Mode::Thinking, 0) => "thinking (dashed)".to_string(),
        (Mode::OpenLoop, 0) => "no feedback (dotted)".to_string(),
        _ => String::new(),
    }
}

fn panel_injection(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for mode in Mode::ALL {
        for (i, scale) in p.scales.iter().enumerate() {
            let rows = s.expect_series(&arm(&scale.name, mode), "turn_accuracy_at_end")?;
            series.push(Series::new(&label(i, &scale.name, mode), i, mark(mode), rows));
        }
    }
    Ok(Panel {
        title: format!("(a) Injected errors: turn-{} accuracy", p.turns),
        x: Axis::linear(
            &format!("error rate injected in turns 1–{}", p.injected_turns),
            0.0,
            1.0,
        ),
        y: Axis::linear(&format!("accuracy at turn {}", p.turns), 0.0, 1.0),
        series,
        legend_columns: 3,
    })
}

fn panel_collapsed(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (i, scale) in p.scales.iter().enumerate() {
        let rows = s.expect_series(&arm(&scale.name, Mode::NonThinking), "collapsed_at_end")?;
        series.push(Series::new(&scale.name, i, Mark::Line, rows));
    }
    let small = &p.scales[0].name;
    let rows = s.expect_series(&arm(small, Mode::OpenLoop), "collapsed_at_end")?;
    series.push(Series::new("small, no feedback", 0, Mark::Dotted, rows));
    Ok(Panel {
        title: format!("(b) Runs collapsed at turn {} (tipping point)", p.turns),
        x: Axis::linear(
            &format!("error rate injected in turns 1–{}", p.injected_turns),
            0.0,
            1.0,
        ),
        y: Axis::linear("share with errors > ½ of the window", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

fn panel_after_injection(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for mode in [Mode::NonThinking, Mode::OpenLoop] {
        for (i, scale) in p.scales.iter().enumerate() {
            let rows = s.expect_series(&arm(&scale.name, mode), "accuracy_after_injection")?;
            series.push(Series::new(&label(i, &scale.name, mode), i, mark(mode), rows));
        }
    }
    Ok(Panel {
        title: format!("(c) After 100% injected errors (W = {})", p.window),
        x: Axis::linear("turn", p.injected_turns as f64 + 1.0, p.turns as f64),
        y: Axis::linear("turn accuracy", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

/// Rows with x mapped from step accuracy p to step error 1 − p (for the log axis).
fn as_step_error(rows: Vec<Row>) -> Vec<Row> {
    let mut rows: Vec<Row> = rows.into_iter().map(|r| Row { x: 1.0 - r.x, ..r }).collect();
    rows.sort_by(|a, b| a.x.total_cmp(&b.x));
    rows
}

fn panel_horizon(p: &Params, s: &Summary) -> Result<Panel> {
    let k = p.horizon_tolerance;
    let task = as_step_error(s.expect_series("analytic", "task_horizon")?);
    let tolerant = as_step_error(s.expect_series("analytic", "tolerant_horizon")?);
    let (xlo, xhi) = (task[0].x, task[task.len() - 1].x);
    let sc_task = as_step_error(s.expect_series("self_conditioning", "task_horizon")?);
    let sc_tol = as_step_error(s.expect_series("self_conditioning", "tolerant_horizon")?);
    let plain_tol = as_step_error(s.expect_series("no_self_conditioning", "tolerant_horizon")?);
    let ymax = tolerant.iter().map(|r| r.mean).fold(1.0, f64::max);
    let ymin = sc_tol.iter().chain(&task).map(|r| r.lo).fold(ymax, f64::min).max(0.5);
    let mut a_task = Series::new("no error: ln(½)/ln p", REFERENCE, Mark::Dashed, task);
    a_task.band = false;
    let mut a_tol = Series::new(&format!("≤ {k} errors, independent"), REFERENCE, Mark::Dotted, tolerant);
    a_tol.band = false;
    Ok(Panel {
        title: format!("(d) Horizon H₀.₅ (β = {})", p.beta_base),
        x: Axis::log("step error rate 1 − p", xlo * 0.8, xhi * 1.25),
        y: Axis::log("horizon H₀.₅ (turns)", ymin * 0.8, ymax * 1.25),
        series: vec![
            a_task,
            a_tol,
            Series::new("no error, simulated", 2, Mark::Points, sc_task),
            Series::new(&format!("≤ {k} errors, β = 0"), 0, Mark::Points, plain_tol),
            Series::new(&format!("≤ {k} errors, simulated"), 1, Mark::Points, sc_tol),
        ],
        legend_columns: 2,
    })
}

fn panel_lifetimes(p: &Params, s: &Summary) -> Result<Panel> {
    let errors = s.expect_series("error_start", "lifetime")?;
    let clean = s.expect_series("clean_start", "lifetime")?;
    let turnover = s.expect_series("turnover", "lifetime")?;
    let ymax = errors.iter().chain(&clean).map(|r| r.hi).fold(10.0, f64::max);
    let ymin = turnover.iter().map(|r| r.mean).fold(ymax, f64::min).max(1.0);
    let (xlo, xhi) = (
        p.escape_windows[0] as f64,
        p.escape_windows[p.escape_windows.len() - 1] as f64,
    );
    let mut turnover = Series::new("no feedback: ⌊W/2⌋ + 1", REFERENCE, Mark::Dashed, turnover);
    turnover.band = false;
    Ok(Panel {
        title: format!("(e) Lifetimes of the two states (β = {})", p.beta_base),
        x: Axis::linear("context window W (turns)", xlo, xhi),
        y: Axis::log("mean lifetime (turns)", ymin * 0.7, ymax * 1.5),
        series: vec![
            Series::new("error state", 1, Mark::Line, errors),
            Series::new("clean state", 0, Mark::Points, clean),
            turnover,
        ],
        legend_columns: 2,
    })
}

fn panel_growth_by_beta(p: &Params, s: &Summary) -> Result<Panel> {
    let growth = s.expect_series("error_start", "excess_growth_by_beta")?;
    let (xlo, mut xhi) = (p.escape_betas[0], p.escape_betas[p.escape_betas.len() - 1]);
    let range = s.series("mean_field", "bistable_beta")?;
    if let Some(edge) = range.last() {
        xhi = xhi.max(edge.mean);
    }
    let ymax = growth.iter().map(|r| r.hi).fold(1.0, f64::max) * 1.1;
    let ymin = growth.iter().map(|r| r.lo).fold(0.0, f64::min) - 0.1 * ymax;
    let mut series = vec![Series::exact("", REFERENCE, Mark::Dotted, [(xlo, 0.0), (xhi, 0.0)])];
    if range.len() == 2 {
        for (j, edge) in range.iter().enumerate() {
            let text = if j == 0 { "mean-field bistable range" } else { "" };
            series.push(Series::exact(
                text,
                REFERENCE,
                Mark::Dashed,
                [(edge.mean, ymin), (edge.mean, ymax)],
            ));
        }
    }
    let (w0, w1) = (
        p.escape_beta_windows[0],
        p.escape_beta_windows[p.escape_beta_windows.len() - 1],
    );
    series.push(Series::new("error state, simulated", 1, Mark::Points, growth));
    Ok(Panel {
        title: format!("(f) Error-state lifetime growth, W {w0} → {w1}"),
        x: Axis::linear("self-conditioning strength β", xlo - 0.1, xhi + 0.1),
        y: Axis::linear("ln growth beyond turnover", ymin, ymax),
        series,
        legend_columns: 2,
    })
}
