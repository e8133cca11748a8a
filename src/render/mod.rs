//! Stage 4: rendering. A [`Figure`] (panels, axes, series, built by each model from
//! its summary) becomes SVG text with plotters, laid out at its printed size (the
//! paper style, [`style`]: column or text width, type in points), and the PNG is rasterised from that
//! same SVG with resvg and the PDF converted from it with svg2pdf, so all three agree.
//!
//! Fonts: DejaVu Sans, embedded in the binary (the `dejavu` crate), registered with
//! plotters for text measurement and loaded into resvg's font database for drawing.
//! No system font is ever looked up (DESIGN.md §2.5).

mod draw;
mod figure;
mod provenance;
mod raster;
pub mod style;

pub use figure::{Axis, Figure, Mark, Panel, Series, PALETTE};
pub use provenance::{png_with_text, svg_with_metadata};
pub use raster::{pdf, png};
pub use style::{Style, Width};

use crate::error::Result;

/// Registers the embedded fonts with plotters. Idempotent; called before every render
/// because plotters keeps fonts in a process-wide registry.
pub fn register_fonts() -> Result<()> {
    // One face only: svg2pdf would order several faces differently on each run.
    plotters::style::register_font(
        "sans-serif",
        plotters::style::FontStyle::Normal,
        dejavu::sans::regular(),
    )
    .map_err(|_| crate::error::internal("the embedded DejaVu font did not load"))
}

/// Figure `id` as SVG text (the canonical output), laid out at the size the paper
/// style (`specs/style/paper.toml`) declares for it.
pub fn svg(id: &str, figure: &Figure) -> Result<String> {
    register_fonts()?;
    draw::svg(id, figure, style::paper()?)
}
