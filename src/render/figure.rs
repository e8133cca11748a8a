//! What a figure is made of, independent of how it is drawn.

use crate::analysis::Row;

/// Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008), yellow last because it is
/// faint on white: blue, vermillion, bluish green, orange, reddish purple, sky blue,
/// black, yellow.
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (230, 159, 0),
    (204, 121, 167),
    (86, 180, 233),
    (0, 0, 0),
    (240, 228, 66),
];

/// A multi-panel figure, laid out in a grid of `columns` columns.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The layout's abstract size: only its aspect ratio is used, for figures the paper
    /// style gives no explicit height. The printed width comes from the style
    /// (`specs/style/paper.toml`), and the render stage lays the panels out at it.
    pub width: u32,
    pub height: u32,
    pub columns: usize,
    pub panels: Vec<Panel>,
}

impl Figure {
    /// The paper's layout: panels in two columns on an abstract 760-wide canvas
    /// `height` tall (its aspect ratio). The printed size is the paper style's.
    pub fn column_width(height: u32, panels: Vec<Panel>) -> Self {
        Figure {
            width: 760,
            height,
            columns: 2,
            panels,
        }
    }
}

/// One labelled panel: `title` starts with its letter, e.g. "(a) Free runs".
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Legend columns under the plot (the legend never overlaps the data).
    pub legend_columns: usize,
}

#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub lo: f64,
    pub hi: f64,
    /// Base-10 logarithmic axis (lo and hi must be > 0).
    pub log: bool,
    /// Tick positions and labels; `None` chooses round numbers.
    pub ticks: Option<Vec<(f64, String)>>,
}

impl Axis {
    pub fn linear(label: &str, lo: f64, hi: f64) -> Self {
        Axis {
            label: label.to_string(),
            lo,
            hi,
            log: false,
            ticks: None,
        }
    }

    pub fn log(label: &str, lo: f64, hi: f64) -> Self {
        Axis {
            log: true,
            ..Axis::linear(label, lo, hi)
        }
    }

    /// Named categories at x = 0, 1, 2, … (bar charts).
    pub fn categories(label: &str, names: &[&str]) -> Self {
        Axis {
            label: label.to_string(),
            lo: -0.6,
            hi: names.len() as f64 - 0.4,
            log: false,
            ticks: Some(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (i as f64, n.to_string()))
                    .collect(),
            ),
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A solid line; with a band, the 95% interval is a shaded area.
    Line,
    /// A dashed line (references: analytic curves, unstable branches).
    Dashed,
    /// A dotted line (secondary quantities drawn beside a solid one).
    Dotted,
    /// Markers; with a band, the 95% interval is an error bar.
    Points,
    /// Bars of the given width from 0; with a band, an error bar on top.
    Bars { width: f64 },
    /// Heat-map cells: a `width` × `height` rectangle centred on each row's (x, mean),
    /// filled with the series colour at opacity `shade` (0 to 1), so a few classes of
    /// one hue read in grey too. The band is ignored.
    Tiles { width: f64, height: f64, shade: f64 },
}

#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text; empty for no legend entry.
    pub label: String,
    /// Index into [`PALETTE`].
    pub color: usize,
    pub mark: Mark,
    /// Draw the 95% interval (lo, hi of each row).
    pub band: bool,
    pub rows: Vec<Row>,
}

impl Series {
    pub fn new(label: &str, color: usize, mark: Mark, rows: Vec<Row>) -> Self {
        Series {
            label: label.to_string(),
            color,
            mark,
            band: true,
            rows,
        }
    }

    /// An exact curve from `(x, y)` pairs: no interval.
    pub fn exact(label: &str, color: usize, mark: Mark, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            label: label.to_string(),
            color,
            mark,
            band: false,
            rows: points
                .into_iter()
                .map(|(x, y)| Row {
                    x,
                    mean: y,
                    lo: y,
                    hi: y,
                    n: 1,
                })
                .collect(),
        }
    }

    /// The same series shifted along x (to separate overlapping markers).
    pub fn nudged(mut self, dx: f64) -> Self {
        for r in &mut self.rows {
            r.x += dx;
        }
        self
    }
}
