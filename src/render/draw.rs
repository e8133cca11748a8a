//! Drawing a [`Figure`] as SVG with plotters, at the size it is printed.
//!
//! The canvas is the printed figure on a grid of [`UNITS_PER_BP`] units per PostScript
//! point: its width is the width the paper style declares for the figure (column or
//! text), every font size and line width is a length on paper, and the root `<svg>`
//! says its size in points, so the PDF page is exactly that size and a label set in
//! 8 pt prints at 8 pt when LaTeX includes the PDF unscaled.
//!
//! Text that would not fit where it goes is an error naming the text and the room it
//! has, never a silent overlap: panel titles wrap at word boundaries; axis labels,
//! tick labels and legend entries must fit as they are.

use super::figure::{Axis, Figure, Mark, Panel, Series, PALETTE};
use super::style::{Style, BP_PER_PT};
use crate::error::{internal, Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &str = "sans-serif";
/// Canvas units per PostScript point: the SVG is drawn on a 1/4 pt (1/288 in) grid,
/// fine enough that plotters' whole-unit coordinates do not show in print.
pub const UNITS_PER_BP: f64 = 4.0;
/// plotters sizes text by line height: its SVG `font-size` is its size / 1.24.
const PLOTTERS_EM: f64 = 1.24;
const GRID: RGBColor = RGBColor(226, 226, 226);

/// Lengths on paper (PostScript points) for everything drawn, and the type sizes.
struct Print {
    /// Em of tick labels, axis labels and legends, canvas units.
    font: f64,
    /// Em of panel titles, canvas units.
    title: f64,
}

/// A length on paper in PostScript points, as whole canvas units.
fn u(bp: f64) -> i32 {
    libm::round(bp * UNITS_PER_BP) as i32
}

/// A line width on paper in PostScript points, as whole canvas units (at least 1).
fn w(bp: f64) -> u32 {
    u(bp).max(1) as u32
}

const TICK_BP: f64 = 3.0;
const LINE_BP: f64 = 1.25;
const DOTTED_BP: f64 = 1.0;
const AXIS_BP: f64 = 0.75;
const GRID_BP: f64 = 0.5;
const ERRORBAR_BP: f64 = 0.75;
const MARKER_BP: f64 = 2.0;
/// Legend: swatch length, gap before the entry text, gap between entries.
const SWATCH_BP: f64 = 14.0;
const SWATCH_GAP_BP: f64 = 4.0;
const ENTRY_GAP_BP: f64 = 8.0;
/// Room right of the plot, so the last x tick label is not cut.
const MARGIN_RIGHT_BP: f64 = 8.0;
const MARGIN_BP: f64 = 2.0;
/// Room above a panel's title (below the legend of the panel above).
const TITLE_TOP_BP: f64 = 5.0;

impl Print {
    fn new(style: &Style) -> Self {
        Print {
            font: style.font_pt * BP_PER_PT * UNITS_PER_BP,
            title: style.title_pt * BP_PER_PT * UNITS_PER_BP,
        }
    }

    fn text(&self) -> TextStyle<'static> {
        TextStyle::from((FONT, self.font * PLOTTERS_EM).into_font())
    }

    fn title_text(&self) -> TextStyle<'static> {
        TextStyle::from((FONT, self.title * PLOTTERS_EM).into_font())
    }

    /// Height of one line of body text.
    fn line(&self) -> i32 {
        libm::round(self.font * 1.25) as i32
    }

    fn legend_row(&self) -> i32 {
        libm::round(self.font * 1.45) as i32
    }
}

fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// The width of `text` in canvas units. plotters measures with ab_glyph scaled to the
/// line height, which overstates DejaVu Sans' width by about 6%: fits are conservative.
fn text_width(text: &str, style: &TextStyle) -> i32 {
    style
        .font
        .box_size(text)
        .map(|b| b.0 as i32)
        .unwrap_or_else(|_| libm::ceil(style.font.get_size() * 0.6 * text.chars().count() as f64) as i32)
}

/// The figure's canvas size in units: the declared printed width, and the declared
/// height or the layout's own aspect ratio.
pub fn canvas(id: &str, figure: &Figure, style: &Style) -> (u32, u32) {
    let width = libm::floor(style.width_pt(id) * BP_PER_PT * UNITS_PER_BP);
    let height = match style.placement(id).height_pt {
        Some(h) => libm::floor(h * BP_PER_PT * UNITS_PER_BP),
        None => libm::floor(width * figure.height as f64 / figure.width.max(1) as f64),
    };
    (width as u32, height as u32)
}

/// The figure `id` as SVG, laid out at its printed size.
pub fn svg(id: &str, figure: &Figure, style: &Style) -> Result<String> {
    let (width, height) = canvas(id, figure, style);
    let print = Print::new(style);
    let columns = figure.columns.max(1);
    let rows = figure.panels.len().div_ceil(columns);
    let cell = (width / columns as u32, height / rows.max(1) as u32);
    for panel in &figure.panels {
        fits(panel, cell, &print).map_err(|e| {
            Error::Input(format!(
                "figure `{id}`, panel \"{}\": {e} at its printed size ({:.0} × {:.0} pt per panel). Fix: shorten it, or give the figure more room in specs/style/paper.toml",
                panel.title,
                cell.0 as f64 / UNITS_PER_BP,
                cell.1 as f64 / UNITS_PER_BP
            ))
        })?;
    }
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| internal(format!("drawing: {e}")))?;
        let areas = root.split_evenly((rows, columns));
        for (panel, area) in figure.panels.iter().zip(areas.iter()) {
            draw_panel(area, panel, &print).map_err(|e| internal(format!("drawing panel `{}`: {e}", panel.title)))?;
        }
        root.present().map_err(|e| internal(format!("drawing: {e}")))?;
    }
    Ok(physical_size(&out, width, height))
}

/// Gives the root element its size on paper (`width="504.25pt"`), keeping the viewBox
/// in canvas units, so every viewer and converter shows the figure at printed size.
fn physical_size(svg: &str, width: u32, height: u32) -> String {
    let units = format!("width=\"{width}\" height=\"{height}\"");
    let paper = format!(
        "width=\"{}pt\" height=\"{}pt\"",
        width as f64 / UNITS_PER_BP,
        height as f64 / UNITS_PER_BP
    );
    svg.replacen(&units, &paper, 1)
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

/// A panel title broken at spaces into lines no wider than `width`.
fn wrap(title: &str, width: i32, style: &TextStyle) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in title.split(' ') {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), style) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Where everything of one panel goes in its cell, in canvas units.
struct Layout {
    title: Vec<String>,
    title_h: i32,
    /// Left edge, column width, columns and height of the legend under the plot.
    legend: (i32, i32, usize),
    legend_h: i32,
    /// The y axis label, wrapped to the plot's height.
    y_label: Vec<String>,
    /// Width of the y label area: gap, the widest y tick label, gap, the label lines.
    y_area: i32,
    x_area: i32,
    /// The plot itself (inside the axes).
    plot: (i32, i32),
}

impl Layout {
    fn new(panel: &Panel, cell: (u32, u32), print: &Print) -> Self {
        let (width, height) = (cell.0 as i32, cell.1 as i32);
        let title = wrap(&panel.title, width - 2 * u(MARGIN_BP), &print.title_text());
        let title_h = u(TITLE_TOP_BP) + libm::round(title.len() as f64 * print.title * 1.2) as i32;
        let widest_tick = ticks(&panel.y)
            .iter()
            .map(|(_, l)| text_width(l, &print.text()))
            .max()
            .unwrap_or(0);
        let y_ticks = 2 * u(TICK_BP) + widest_tick + u(3.0);
        let legend = legend_grid(panel, width, u(MARGIN_BP) + y_ticks + print.line(), print);
        let entries = panel.series.iter().filter(|s| !s.label.is_empty()).count();
        let legend_h = entries.div_ceil(legend.2) as i32 * print.legend_row() + u(MARGIN_BP);
        let x_area = 2 * u(TICK_BP) + print.line() + u(1.0) + print.line();
        let plot_h = height - title_h - legend_h - x_area;
        let y_label = wrap(&panel.y.label, plot_h, &print.text());
        let y_area = y_ticks + y_label.len() as i32 * print.line();
        let plot_w = width - u(MARGIN_BP) - u(MARGIN_RIGHT_BP) - y_area;
        Layout {
            title,
            title_h,
            legend,
            legend_h,
            y_label,
            y_area,
            x_area,
            plot: (plot_w, plot_h),
        }
    }
}

/// Legend entries of a panel laid out in a grid of equal columns from `left` to the
/// cell's right edge: returns the left edge, the column width and the number of columns.
fn legend_grid(panel: &Panel, width: i32, left: i32, print: &Print) -> (i32, i32, usize) {
    let widest = panel
        .series
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| text_width(&s.label, &print.text()))
        .max()
        .unwrap_or(0);
    let col_w = u(SWATCH_BP + SWATCH_GAP_BP + ENTRY_GAP_BP) + widest;
    let avail = width - left - u(MARGIN_BP);
    let cols = (avail / col_w.max(1)).clamp(1, panel.legend_columns.max(1) as i32) as usize;
    (left, col_w.max(avail / cols as i32), cols)
}

/// Whether neighbouring x tick labels leave at least 2 pt between them on a plot
/// `plot_w` wide; if not, the first pair that collides (room, need).
fn x_collision(axis: &Axis, ticks: &[(f64, String)], plot_w: i32, print: &Print) -> Option<(usize, f64, f64)> {
    let (x0, x1) = (to_axis(axis, axis.lo), to_axis(axis, axis.hi));
    let at = |v: f64| (v - x0) / (x1 - x0) * plot_w as f64;
    ticks.windows(2).enumerate().find_map(|(i, pair)| {
        let room = at(pair[1].0) - at(pair[0].0);
        let need = (text_width(&pair[0].1, &print.text()) + text_width(&pair[1].1, &print.text())) as f64 / 2.0;
        (need + u(2.0) as f64 > room).then_some((i, room, need))
    })
}

/// The x ticks drawn on a plot `plot_w` wide: automatic ticks keep every k-th (smallest
/// k) so their labels do not collide; ticks the figure chose are kept as they are.
fn x_ticks(axis: &Axis, plot_w: i32, print: &Print) -> Vec<(f64, String)> {
    let all = ticks(axis);
    if axis.ticks.is_some() {
        return all;
    }
    (1..all.len().max(1))
        .map(|k| all.iter().step_by(k).cloned().collect::<Vec<_>>())
        .find(|t| x_collision(axis, t, plot_w, print).is_none())
        .unwrap_or(all)
}

/// Checks that every text of a panel fits where it goes in a `cell` (canvas units):
/// each line of the wrapped title and y axis label, the x axis label, the x tick
/// labels beside each other, the legend entries; and that the plot keeps some room.
fn fits(panel: &Panel, cell: (u32, u32), print: &Print) -> std::result::Result<(), String> {
    let pt = |v: i32| format!("{:.0} pt", v as f64 / UNITS_PER_BP);
    let width = cell.0 as i32;
    let layout = Layout::new(panel, cell, print);
    let (plot_w, plot_h) = layout.plot;
    if plot_w < u(40.0) || plot_h < u(30.0) {
        return Err(format!(
            "the plot keeps only {} × {} after its labels and legend",
            pt(plot_w),
            pt(plot_h)
        ));
    }
    for line in &layout.title {
        let need = text_width(line, &print.title_text());
        if need > width - 2 * u(MARGIN_BP) {
            return Err(format!("the title's \"{line}\" needs {} of {}", pt(need), pt(width)));
        }
    }
    if layout.y_label.len() > 2 {
        return Err(format!(
            "the y axis label \"{}\" needs {} lines beside a plot {} high (2 at most)",
            panel.y.label,
            layout.y_label.len(),
            pt(plot_h)
        ));
    }
    for line in &layout.y_label {
        let need = text_width(line, &print.text());
        if need > plot_h {
            return Err(format!(
                "the y axis label's \"{line}\" needs {} of {}",
                pt(need),
                pt(plot_h)
            ));
        }
    }
    let need = text_width(&panel.x.label, &print.text());
    if need > plot_w + layout.y_area {
        return Err(format!("the x axis label needs {} of {}", pt(need), pt(plot_w)));
    }
    let xt = x_ticks(&panel.x, plot_w, print);
    if let Some((i, room, need)) = x_collision(&panel.x, &xt, plot_w, print) {
        return Err(format!(
            "the x tick labels \"{}\" and \"{}\" overlap ({} apart, {} needed)",
            xt[i].1,
            xt[i + 1].1,
            pt(room as i32),
            pt(need as i32)
        ));
    }
    let (left, col_w, _) = layout.legend;
    if left + col_w - u(ENTRY_GAP_BP) > width {
        return Err(format!("a legend entry needs {} of {}", pt(col_w), pt(width - left)));
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    print: &Print,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, height) = area.dim_in_pixel();
    let layout = Layout::new(panel, (width, height), print);
    let (title, rest) = area.split_vertically(layout.title_h);
    for (i, line) in layout.title.iter().enumerate() {
        let y = u(TITLE_TOP_BP) + libm::round(i as f64 * print.title * 1.2) as i32;
        title.draw(&Text::new(
            line.clone(),
            (width as i32 / 2, y),
            print.title_text().pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }
    let (plot, legend) = rest.split_vertically((height as i32 - layout.title_h - layout.legend_h).max(0));
    // The y axis label, one line per wrapped line, rotated, centred on the plot.
    let rotated = print
        .text()
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, line) in layout.y_label.iter().enumerate() {
        let x = u(MARGIN_BP) + i as i32 * print.line();
        plot.draw(&Text::new(line.clone(), (x, layout.plot.1 / 2), rotated.clone()))?;
    }

    let (xt, yt) = (x_ticks(&panel.x, layout.plot.0, print), ticks(&panel.y));
    let (x0, x1) = (to_axis(&panel.x, panel.x.lo), to_axis(&panel.x, panel.x.hi));
    let (y0, y1) = (to_axis(&panel.y, panel.y.lo), to_axis(&panel.y, panel.y.hi));
    let mut chart = ChartBuilder::on(&plot)
        .margin_left(u(MARGIN_BP))
        .margin_right(u(MARGIN_RIGHT_BP))
        .x_label_area_size(layout.x_area)
        .y_label_area_size(layout.y_area)
        .build_cartesian_2d(Ticked::new(x0, x1, &xt), Ticked::new(y0, y1, &yt))?;
    chart
        .configure_mesh()
        .x_desc(panel.x.label.as_str())
        .axis_desc_style(print.text())
        .label_style(print.text())
        .set_all_tick_mark_size(u(TICK_BP))
        .x_label_formatter(&|v| label_for(&xt, *v))
        .y_label_formatter(&|v| label_for(&yt, *v))
        .bold_line_style(GRID.stroke_width(w(GRID_BP)))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(w(AXIS_BP)))
        .draw()?;

    let line = w(LINE_BP);
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
                let path: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
                match series.mark {
                    Mark::Line => chart.draw_series(LineSeries::new(path, c.stroke_width(line)))?,
                    Mark::Dashed => chart.draw_series(DashedLineSeries::new(
                        path,
                        u(4.0) as u32,
                        u(2.5) as u32,
                        c.stroke_width(line),
                    ))?,
                    _ => chart.draw_series(DashedLineSeries::new(
                        path,
                        u(1.0) as u32,
                        u(1.5) as u32,
                        c.stroke_width(w(DOTTED_BP)),
                    ))?,
                };
            }
            Mark::Points => {
                if series.band {
                    chart.draw_series(
                        pts.iter()
                            .map(|p| PathElement::new(vec![(p.0, p.2), (p.0, p.3)], c.stroke_width(w(ERRORBAR_BP)))),
                    )?;
                }
                chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), u(MARKER_BP), c.filled())))?;
            }
            Mark::Bars { width } => {
                let base = y0.max(0.0_f64.min(y1));
                chart.draw_series(
                    pts.iter()
                        .map(|p| Rectangle::new([(p.0 - width / 2.0, base), (p.0 + width / 2.0, p.1)], c.filled())),
                )?;
                if series.band {
                    chart.draw_series(
                        pts.iter().map(|p| {
                            PathElement::new(vec![(p.0, p.2), (p.0, p.3)], BLACK.stroke_width(w(ERRORBAR_BP)))
                        }),
                    )?;
                }
            }
            Mark::Tiles { width, height, shade } => {
                let corners = |p: &(f64, f64, f64, f64)| {
                    [
                        (p.0 - width / 2.0, p.1 - height / 2.0),
                        (p.0 + width / 2.0, p.1 + height / 2.0),
                    ]
                };
                chart.draw_series(pts.iter().map(|p| Rectangle::new(corners(p), WHITE.filled())))?;
                chart.draw_series(pts.iter().map(|p| Rectangle::new(corners(p), c.mix(shade).filled())))?;
                chart.draw_series(
                    pts.iter()
                        .map(|p| Rectangle::new(corners(p), RGBColor(150, 150, 150).stroke_width(w(ERRORBAR_BP)))),
                )?;
            }
        }
    }
    draw_legend(&legend, panel, layout.legend, print)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    (left, col_w, cols): (i32, i32, usize),
    print: &Print,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let entries: Vec<&Series> = panel.series.iter().filter(|s| !s.label.is_empty()).collect();
    let row = print.legend_row();
    let (line, s) = (w(LINE_BP), u(SWATCH_BP));
    for (i, entry) in entries.iter().enumerate() {
        let (r, col) = ((i / cols) as i32, (i % cols) as i32);
        let x = left + col * col_w;
        let y = r * row + row / 2 + u(MARGIN_BP);
        let c = color(entry.color);
        match entry.mark {
            Mark::Line => area.draw(&PathElement::new(vec![(x, y), (x + s, y)], c.stroke_width(line)))?,
            Mark::Dashed => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + s * 2 / 5, y)],
                    c.stroke_width(line),
                ))?;
                area.draw(&PathElement::new(
                    vec![(x + s * 3 / 5, y), (x + s, y)],
                    c.stroke_width(line),
                ))?;
            }
            Mark::Dotted => {
                let (dot, step) = (u(1.0), u(2.5));
                let mut dx = 0;
                while dx + dot <= s {
                    area.draw(&PathElement::new(
                        vec![(x + dx, y), (x + dx + dot, y)],
                        c.stroke_width(w(DOTTED_BP)),
                    ))?;
                    dx += step;
                }
            }
            Mark::Points => area.draw(&Circle::new((x + s / 2, y), u(MARKER_BP), c.filled()))?,
            Mark::Bars { .. } => area.draw(&Rectangle::new(
                [(x + s / 2 - u(3.5), y - u(3.5)), (x + s / 2 + u(3.5), y + u(3.5))],
                c.filled(),
            ))?,
            Mark::Tiles { shade, .. } => {
                let square = [(x + s / 2 - u(3.5), y - u(3.5)), (x + s / 2 + u(3.5), y + u(3.5))];
                area.draw(&Rectangle::new(square, c.mix(shade).filled()))?;
                area.draw(&Rectangle::new(
                    square,
                    RGBColor(150, 150, 150).stroke_width(w(ERRORBAR_BP)),
                ))?
            }
        }
        area.draw(&Text::new(
            entry.label.clone(),
            (x + u(SWATCH_BP + SWATCH_GAP_BP), y),
            print.text().pos(Pos::new(HPos::Left, VPos::Center)),
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

    fn style(width: &str) -> Style {
        Style::parse(&format!(
            "version = 1\ncolumn_width_pt = 240.0\ntext_width_pt = 505.0\nfont_pt = 8.0\ntitle_pt = 9.0\npng_dpi = 192\n[figures]\nf = {{ width = \"{width}\" }}\n"
        ))
        .unwrap()
    }

    fn figure(title: &str, y_label: &str) -> Figure {
        let series = Series::exact("a series", 0, Mark::Line, [(0.0, 0.0), (1.0, 1.0)]);
        let panel = Panel {
            title: title.into(),
            x: Axis::linear("x", 0.0, 1.0),
            y: Axis::linear(y_label, 0.0, 1.0),
            series: vec![series],
            legend_columns: 1,
        };
        Figure::column_width(760, vec![panel.clone(), panel])
    }

    #[test]
    fn the_svg_is_the_declared_width_in_points_with_type_at_print_size() {
        crate::render::register_fonts().unwrap();
        for (width, pt) in [("column", "239pt"), ("text", "503pt")] {
            let out = svg("f", &figure("(a) A title", "y"), &style(width)).unwrap();
            assert!(out.starts_with(&format!("<svg width=\"{pt}\"")), "{}", &out[..80]);
            // 8 TeX pt = 7.97 bp = 31.9 canvas units.
            assert!(out.contains("font-size=\"31.88"), "body text is not 8 pt");
        }
    }

    #[test]
    fn long_titles_wrap_and_text_that_cannot_fit_is_refused() {
        crate::render::register_fonts().unwrap();
        let long = "(a) A title long enough that half a column cannot hold it on one line";
        let out = svg("f", &figure(long, "y"), &style("column")).unwrap();
        assert!(out.matches("font-size=\"35.8").count() >= 4, "the title did not wrap");
        let word = "(a) Supercalifragilisticexpialidocious-and-then-some-more-letters";
        let err = svg("f", &figure(word, "y"), &style("column")).unwrap_err().to_string();
        assert!(err.contains("title") && err.contains("specs/style/paper.toml"), "{err}");
        let label = "a y axis label far too long to stand beside a plot this short, even on two lines, since it goes on and on and on";
        assert!(svg("f", &figure("(a) t", label), &style("column")).is_err());
    }

    #[test]
    fn log_ticks_are_decades() {
        let t: Vec<String> = ticks(&Axis::log("", 1.0, 1000.0)).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["1", "10", "100", "1000"]);
    }
}
