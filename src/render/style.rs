//! The paper's print style (`specs/style/paper.toml`, compiled into the binary): the
//! column and text widths of the venue, the type size at print size, the gallery PNG
//! resolution, and the width each figure is made for. The renderer lays every figure
//! out at its physical size, so a label set in 8 pt prints at 8 pt.

use crate::error::{internal, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The style file's text, as compiled in.
pub const PAPER_TOML: &str = include_str!("../../specs/style/paper.toml");

/// PostScript points (the unit of PDF, SVG `pt` and CSS) per TeX point.
pub const BP_PER_PT: f64 = 72.0 / 72.27;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Style {
    pub version: u32,
    /// `\columnwidth`, TeX points.
    pub column_width_pt: f64,
    /// `\textwidth`, TeX points.
    pub text_width_pt: f64,
    /// Tick labels, axis labels and legends, TeX points at print size.
    pub font_pt: f64,
    /// Panel titles, TeX points at print size.
    pub title_pt: f64,
    /// Gallery PNG resolution, pixels per inch of paper.
    pub png_dpi: f64,
    #[serde(default)]
    pub figures: BTreeMap<String, Placement>,
}

/// How one figure is printed.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub width: Width,
    /// Height in TeX points; `None` keeps the aspect ratio of the figure's layout.
    pub height_pt: Option<f64>,
}

/// The width a figure is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Width {
    /// One column (`\columnwidth`, LaTeX `figure`).
    Column,
    /// The whole text block (`\textwidth`, LaTeX `figure*`).
    Text,
}

impl Width {
    /// The LaTeX length and float environment a figure of this width goes in.
    pub fn latex(self) -> (&'static str, &'static str) {
        match self {
            Width::Column => ("\\columnwidth", "figure"),
            Width::Text => ("\\textwidth", "figure*"),
        }
    }
}

impl Style {
    /// Parses and checks a style file.
    pub fn parse(text: &str) -> std::result::Result<Style, String> {
        let style: Style = toml::from_str(text).map_err(|e| e.to_string())?;
        if style.version != 1 {
            return Err(format!("version = {}: this tool reads version 1", style.version));
        }
        let positive = [
            ("column_width_pt", style.column_width_pt),
            ("text_width_pt", style.text_width_pt),
            ("font_pt", style.font_pt),
            ("title_pt", style.title_pt),
            ("png_dpi", style.png_dpi),
        ];
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{key} = {v}: must be a positive number"));
            }
        }
        if style.column_width_pt > style.text_width_pt {
            return Err("column_width_pt is wider than text_width_pt".into());
        }
        for (id, p) in &style.figures {
            if let Some(h) = p.height_pt {
                if !(h.is_finite() && h > 0.0) {
                    return Err(format!("figures.{id}.height_pt = {h}: must be a positive number"));
                }
            }
        }
        Ok(style)
    }

    /// Where a figure is printed (`text` width and its own aspect if not listed).
    pub fn placement(&self, id: &str) -> Placement {
        self.figures.get(id).copied().unwrap_or(Placement {
            width: Width::Text,
            height_pt: None,
        })
    }

    /// The printed width of a figure, TeX points.
    pub fn width_pt(&self, id: &str) -> f64 {
        match self.placement(id).width {
            Width::Column => self.column_width_pt,
            Width::Text => self.text_width_pt,
        }
    }
}

/// The compiled-in paper style.
pub fn paper() -> Result<&'static Style> {
    static STYLE: OnceLock<std::result::Result<Style, String>> = OnceLock::new();
    STYLE
        .get_or_init(|| Style::parse(PAPER_TOML))
        .as_ref()
        .map_err(|e| internal(format!("specs/style/paper.toml: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_style_parses_and_lists_only_registered_figures() {
        let style = paper().unwrap();
        let ids: Vec<&str> = crate::pipeline::experiments().iter().map(|e| e.id()).collect();
        for id in style.figures.keys() {
            assert!(
                ids.contains(&id.as_str()),
                "specs/style/paper.toml lists unknown figure `{id}`"
            );
        }
        assert!(
            style.font_pt >= 7.0 && style.font_pt <= 9.0,
            "print type outside 7–9 pt"
        );
    }

    #[test]
    fn bad_styles_are_refused() {
        let ok = "version = 1\ncolumn_width_pt = 240.0\ntext_width_pt = 505.0\nfont_pt = 8.0\ntitle_pt = 9.0\npng_dpi = 192\n";
        assert!(Style::parse(ok).is_ok());
        assert!(Style::parse(&ok.replace("version = 1", "version = 2")).is_err());
        assert!(Style::parse(&ok.replace("font_pt = 8.0", "font_pt = 0.0")).is_err());
        assert!(Style::parse(&ok.replace("text_width_pt = 505.0", "text_width_pt = 200.0")).is_err());
        assert!(Style::parse(&format!("{ok}[figures]\nx = {{ width = \"page\" }}\n")).is_err());
        assert!(Style::parse(&format!("{ok}colour = 1\n")).is_err());
        let s = Style::parse(&format!("{ok}[figures]\nx = {{ width = \"column\" }}\n")).unwrap();
        assert_eq!(s.width_pt("x"), 240.0);
        assert_eq!(s.width_pt("y"), 505.0);
    }
}
