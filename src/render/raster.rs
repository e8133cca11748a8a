//! PNG from the canonical SVG, rasterised with resvg using only the embedded fonts.

use crate::error::{internal, Result};
use resvg::{tiny_skia, usvg};
use std::sync::Arc;

/// Pixels per SVG pixel in the PNG: 2 gives 1520 px across for a 760 px figure,
/// sharp on screen and in print at column width.
const SCALE: f32 = 2.0;

fn options() -> usvg::Options<'static> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(dejavu::sans::regular().to_vec());
    db.load_font_data(dejavu::sans::bold().to_vec());
    db.load_font_data(dejavu::sans::oblique().to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    let mut opt = usvg::Options {
        font_family: "DejaVu Sans".to_string(),
        ..usvg::Options::default()
    };
    opt.fontdb = Arc::new(db);
    opt
}

/// Rasterises SVG text to PNG bytes (IHDR, IDAT, IEND only: no time stamp).
pub fn png(svg: &str) -> Result<Vec<u8>> {
    let tree = usvg::Tree::from_str(svg, &options()).map_err(|e| internal(format!("parsing our own SVG: {e}")))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * SCALE).round() as u32,
        (size.height() * SCALE).round() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(|| internal("empty figure"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(SCALE, SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| internal(format!("encoding PNG: {e}")))
}
