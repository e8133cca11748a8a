//! PNG and PDF from the canonical SVG (resvg and svg2pdf on the same parsed tree),
//! using only the embedded fonts.

use crate::error::{internal, Result};
use resvg::{tiny_skia, usvg};
use std::sync::Arc;

/// Pixels per SVG pixel in the PNG: 2 gives 1520 px across for a 760 px figure,
/// sharp on screen and in print at column width.
const SCALE: f32 = 2.0;

fn options() -> usvg::Options<'static> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(dejavu::sans::regular().to_vec());
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

/// Converts SVG text to a vector PDF with the embedded font subset inside. svg2pdf
/// writes no date or random document id, but it orders fonts and resource entries by
/// `HashMap` iteration: figures therefore use one font face (DejaVu Sans, no bold), and
/// resource entries are sorted below. Tested: repeated runs give the same bytes.
pub fn pdf(svg: &str) -> Result<Vec<u8>> {
    let tree = usvg::Tree::from_str(svg, &options()).map_err(|e| internal(format!("parsing our own SVG: {e}")))?;
    // 96 SVG pixels to the inch: a 760 px figure is a 7.9 in page, scaled to the
    // column by LaTeX's \includegraphics[width=\columnwidth].
    let page = svg2pdf::PageOptions { dpi: 96.0 };
    let pdf = svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), page)
        .map_err(|e| internal(format!("writing PDF: {e}")))?;
    Ok(sort_resource_entries(pdf))
}

/// svg2pdf fills resource dictionaries from a `HashMap`, so entries such as
/// `/xo3 15 0 R` come out in a different order on every run. Sorting each run of such
/// lines makes the bytes stable; the lines only trade places, so every byte offset in
/// the cross-reference table stays valid.
fn sort_resource_entries(pdf: Vec<u8>) -> Vec<u8> {
    fn is_entry(line: &[u8]) -> bool {
        let t = line.trim_ascii();
        t.starts_with(b"/") && t.ends_with(b" 0 R") && t.iter().filter(|&&c| c == b' ').count() == 3
    }
    let mut lines: Vec<&[u8]> = pdf.split_inclusive(|&b| b == b'\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        while i < lines.len() && lines[i].ends_with(b"\n") && is_entry(lines[i]) {
            i += 1;
        }
        if i > start + 1 {
            lines[start..i].sort();
        }
        i = i.max(start + 1);
    }
    let sorted: Vec<u8> = lines.concat();
    debug_assert_eq!(sorted.len(), pdf.len());
    sorted
}
