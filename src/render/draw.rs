//! Drawing a [`Figure`] as SVG with plotters.

use super::figure::{Axis, Figure, Mark, Panel, Series, PALETTE};
use crate::error::{internal, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;

const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 19;
const LABEL_PX: u32 = 18;
const TICK_PX: u32 = 16;
const LEGEND_PX: u32 = 16;
const LEGEND_ROW_PX: u32 = 22;
/// Legends start under the plot area (past the y tick labels).
const LEGEND_LEFT_PX: i32 = 20;
/// Width of a legend swatch and the gap before its text.
const LEGEND_SWATCH_PX: i32 = 30;
const GRID: RGBColor = RGBColor(226, 226, 226);

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

pub fn svg(figure: &Figure) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (figure.width, figure.height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| internal(format!("drawing: {e}")))?;
        let rows = figure.panels.len().div_ceil(figure.columns.max(1));
        let areas = root.split_evenly((rows, figure.columns.max(1)));
        for (panel, area) in figure.panels.iter().zip(areas.iter()) {
            draw_panel(area, panel).map_err(|e| internal(format!("drawing panel `{}`: {e}", panel.title)))?;
        }
        root.present().map_err(|e| internal(format!("drawing: {e}")))?;
    }
    Ok(out)
}

/// Maps a data value onto the axis' drawing coordinate (log10 on log axes).
fn to_axis(axis: &Axis, v: f64) -> f64 {
    if axis.log {
        libm::log10(v.max(f64::MIN_POSITIVE))
    } else {
        v
    }
}

/// Tick positions (in axis coordinates) and their labels.
fn ticks(axis: &Axis) -> Vec<(f64, String)> {
    if let Some(t) = &axis.ticks {
        return t.iter().map(|(v, l)| (to_axis(axis, *v), l.clone())).collect();
    }
    if axis.log {
        let (a, b) = (
            libm::floor(libm::log10(axis.lo)) as i32,
            libm::ceil(libm::log10(axis.hi)) as i32,
        );
        let mut out = Vec::new();
        for k in a..=b {
            for m in [1.0, 2.0, 5.0] {
                let v = m * libm::pow(10.0, k as f64);
                if v >= axis.lo * 0.999 && v <= axis.hi * 1.001 && (b - a <= 2 || m == 1.0) {
                    out.push((libm::log10(v), number(v)));
                }
            }
        }
        return out;
    }
    let span = axis.hi - axis.lo;
    let raw = span / 5.0;
    let mag = libm::pow(10.0, libm::floor(libm::log10(raw)));
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let first = libm::ceil(axis.lo / step - 1e-9) * step;
    let mut out = Vec::new();
    let mut k = 0.0;
    while first + k * step <= axis.hi + 1e-9 * span {
        let v = first + k * step;
        out.push((v, number(v)));
        k += 1.0;
    }
    out
}

/// A tick label: as few decimals as the value needs (at most 3).
fn number(v: f64) -> String {
    for d in 0..=3 {
        let s = format!("{v:.d$}");
        if (s.parse::<f64>().unwrap_or(f64::NAN) - v).abs() <= 1e-9 * v.abs().max(1.0) {
            return if s == "-0" { "0".into() } else { s };
        }
    }
    format!("{v:.3}")
}

fn label_for(ticks: &[(f64, String)], v: f64) -> String {
    ticks
        .iter()
        .find(|(t, _)| (t - v).abs() < 1e-9)
        .map(|(_, l)| l.clone())
        .unwrap_or_default()
}

/// A linear axis whose ticks are exactly the given positions.
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, ticks: &[(f64, String)]) -> Self {
        Ticked {
            lo,
            hi,
            ticks: ticks.iter().map(|t| t.0).collect(),
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let share = (v - self.lo) / (self.hi - self.lo);
        let length = (limit.1 - limit.0) as f64;
        limit.0 + libm::round(length * share) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Legend entries of a panel laid out in a grid of equal columns that fits `width`:
/// returns the column width and the number of columns.
fn legend_grid(panel: &Panel, width: u32) -> (i32, usize) {
    let font = (FONT, LEGEND_PX).into_font();
    let widest = panel
        .series
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| font.box_size(&s.label).map(|b| b.0).unwrap_or(8 * s.label.len() as u32))
        .max()
        .unwrap_or(0) as i32;
    let col_w = LEGEND_SWATCH_PX + widest + 16;
    let avail = width as i32 - LEGEND_LEFT_PX - 4;
    let cols = (avail / col_w.max(1)).clamp(1, panel.legend_columns.max(1) as i32) as usize;
    (col_w.max(avail / cols as i32), cols)
}

fn legend_rows(panel: &Panel, width: u32) -> u32 {
    let entries = panel.series.iter().filter(|s| !s.label.is_empty()).count() as u32;
    entries.div_ceil(legend_grid(panel, width).1 as u32)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, height) = area.dim_in_pixel();
    let legend_h = legend_rows(panel, width) * LEGEND_ROW_PX + 6;
    let (plot, legend) = area.split_vertically(height.saturating_sub(legend_h));

    let (xt, yt) = (ticks(&panel.x), ticks(&panel.y));
    let (x0, x1) = (to_axis(&panel.x, panel.x.lo), to_axis(&panel.x, panel.x.hi));
    let (y0, y1) = (to_axis(&panel.y, panel.y.lo), to_axis(&panel.y, panel.y.hi));
    let mut chart = ChartBuilder::on(&plot)
        .caption(&panel.title, (FONT, TITLE_PX))
        .margin_top(6)
        .margin_left(6)
        .margin_right(16)
        .x_label_area_size(50)
        .y_label_area_size(62)
        .build_cartesian_2d(Ticked::new(x0, x1, &xt), Ticked::new(y0, y1, &yt))?;
    chart
        .configure_mesh()
        .x_desc(panel.x.label.as_str())
        .y_desc(panel.y.label.as_str())
        .axis_desc_style((FONT, LABEL_PX))
        .label_style((FONT, TICK_PX))
        .x_label_formatter(&|v| label_for(&xt, *v))
        .y_label_formatter(&|v| label_for(&yt, *v))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(1))
        .draw()?;

    for series in &panel.series {
        let c = color(series.color);
        let pts: Vec<(f64, f64, f64, f64)> = series
            .rows
            .iter()
            .map(|r| {
                (
                    to_axis(&panel.x, r.x),
                    to_axis(&panel.y, r.mean),
                    to_axis(&panel.y, r.lo),
                    to_axis(&panel.y, r.hi),
                )
            })
            .collect();
        match series.mark {
            Mark::Line | Mark::Dashed | Mark::Dotted => {
                if series.band && pts.len() > 1 {
                    let mut poly: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
                    poly.extend(pts.iter().rev().map(|p| (p.0, p.2)));
                    chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.22).filled())))?;
                }
                let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
                match series.mark {
                    Mark::Line => chart.draw_series(LineSeries::new(line, c.stroke_width(3)))?,
                    Mark::Dashed => chart.draw_series(DashedLineSeries::new(line, 9, 6, c.stroke_width(3)))?,
                    _ => chart.draw_series(DashedLineSeries::new(line, 3, 4, c.stroke_width(2)))?,
                };
            }
            Mark::Points => {
                if series.band {
                    chart.draw_series(
                        pts.iter()
                            .map(|p| PathElement::new(vec![(p.0, p.2), (p.0, p.3)], c.stroke_width(2))),
                    )?;
                }
                chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 5, c.filled())))?;
            }
            Mark::Bars { width } => {
                let base = y0.max(0.0_f64.min(y1));
                chart.draw_series(
                    pts.iter()
                        .map(|p| Rectangle::new([(p.0 - width / 2.0, base), (p.0 + width / 2.0, p.1)], c.filled())),
                )?;
                if series.band {
                    chart.draw_series(
                        pts.iter()
                            .map(|p| PathElement::new(vec![(p.0, p.2), (p.0, p.3)], BLACK.stroke_width(2))),
                    )?;
                }
            }
        }
    }
    draw_legend(&legend, panel)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let entries: Vec<&Series> = panel.series.iter().filter(|s| !s.label.is_empty()).collect();
    let (w, _) = area.dim_in_pixel();
    let (col_w, cols) = legend_grid(panel, w);
    let left = LEGEND_LEFT_PX;
    for (i, s) in entries.iter().enumerate() {
        let (row, col) = ((i / cols) as i32, (i % cols) as i32);
        let x = left + col * col_w;
        let y = row * LEGEND_ROW_PX as i32 + LEGEND_ROW_PX as i32 / 2 + 2;
        let c = color(s.color);
        match s.mark {
            Mark::Line => area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)))?,
            Mark::Dashed => {
                area.draw(&PathElement::new(vec![(x, y), (x + 9, y)], c.stroke_width(3)))?;
                area.draw(&PathElement::new(vec![(x + 15, y), (x + 24, y)], c.stroke_width(3)))?;
            }
            Mark::Dotted => {
                for dx in [0, 7, 14, 21] {
                    area.draw(&PathElement::new(vec![(x + dx, y), (x + dx + 3, y)], c.stroke_width(2)))?;
                }
            }
            Mark::Points => area.draw(&Circle::new((x + 12, y), 5, c.filled()))?,
            Mark::Bars { .. } => area.draw(&Rectangle::new([(x + 4, y - 7), (x + 20, y + 7)], c.filled()))?,
        }
        area.draw(&Text::new(
            s.label.clone(),
            (x + LEGEND_SWATCH_PX, y - (LEGEND_PX as i32) / 2 - 1),
            (FONT, LEGEND_PX),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let t: Vec<String> = ticks(&Axis::linear("", 0.0, 1.0)).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        let t: Vec<String> = ticks(&Axis::linear("", 0.0, 100.0)).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["0", "20", "40", "60", "80", "100"]);
    }

    #[test]
    fn log_ticks_are_decades() {
        let t: Vec<String> = ticks(&Axis::log("", 1.0, 1000.0)).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["1", "10", "100", "1000"]);
    }
}
