//! PNG and PDF from the canonical SVG (resvg and svg2pdf on the same parsed tree),
//! using only the embedded fonts.

use crate::error::{internal, Result};
use resvg::{tiny_skia, usvg};
use std::sync::Arc;

/// CSS pixels per inch: usvg measures a tree in these, svg2pdf converts with it.
const CSS_DPI: f32 = 96.0;

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

/// Rasterises SVG text to PNG bytes at the paper style's `png_dpi` pixels per inch of
/// paper (the SVG says its printed size), with a pHYs chunk stating that resolution.
/// Chunks: IHDR, pHYs, IDAT, IEND (no time stamp).
pub fn png(svg: &str) -> Result<Vec<u8>> {
    png_at(svg, super::style::paper()?.png_dpi)
}

/// [`png`] at `dpi` pixels per inch of paper.
pub fn png_at(svg: &str, dpi: f64) -> Result<Vec<u8>> {
    let scale = dpi as f32 / CSS_DPI;
    let tree = usvg::Tree::from_str(svg, &options()).map_err(|e| internal(format!("parsing our own SVG: {e}")))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).round() as u32,
        (size.height() * scale).round() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(|| internal("empty figure"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let png = pixmap
        .encode_png()
        .map_err(|e| internal(format!("encoding PNG: {e}")))?;
    Ok(with_resolution(&png, dpi))
}

/// Adds a pHYs chunk (pixels per metre, both axes) right after the PNG's IHDR chunk, so
/// a viewer or a print dialogue shows the figure at its printed size.
fn with_resolution(png: &[u8], dpi: f64) -> Vec<u8> {
    const AFTER_IHDR: usize = 8 + 4 + 4 + 13 + 4;
    if png.len() < AFTER_IHDR || &png[12..16] != b"IHDR" {
        return png.to_vec();
    }
    let per_metre = libm::round(dpi / 0.0254) as u32;
    let mut chunk = Vec::with_capacity(21);
    chunk.extend_from_slice(&9u32.to_be_bytes());
    chunk.extend_from_slice(b"pHYs");
    chunk.extend_from_slice(&per_metre.to_be_bytes());
    chunk.extend_from_slice(&per_metre.to_be_bytes());
    chunk.push(1); // unit: the metre
    let crc = crc32fast::hash(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    [&png[..AFTER_IHDR], &chunk[..], &png[AFTER_IHDR..]].concat()
}

/// Converts SVG text to a vector PDF with the embedded font subset inside. svg2pdf
/// writes no date or random document id, but it orders fonts and resource entries by
/// `HashMap` iteration: figures therefore use one font face (DejaVu Sans, no bold), and
/// resource entries are sorted below. Tested: repeated runs give the same bytes.
pub fn pdf(svg: &str) -> Result<Vec<u8>> {
    let tree = usvg::Tree::from_str(svg, &options()).map_err(|e| internal(format!("parsing our own SVG: {e}")))?;
    // The SVG states its size in points; usvg turns it into CSS pixels (96 to the
    // inch), so the page is the figure's printed size.
    let page = svg2pdf::PageOptions { dpi: CSS_DPI };
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
