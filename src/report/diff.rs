//! The differences section of `mismatch verify --report`: for each file that is not
//! the rebuilt one, the committed image, the rebuilt image and a difference image
//! (changed pixels in magenta over a faded copy of the rebuilt image, their bounding
//! box framed); for a data table, the rows that changed, largest numeric change first.

use super::html::{escape, table};
use crate::pipeline::OutputFile;
use crate::verify::{self, Verdict};
use std::path::Path;

/// A decoded image: width, height and RGBA pixels, 8 bits each.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// Decodes a PNG of any colour type and depth to RGBA, 8 bits per channel.
pub fn decode(bytes: &[u8]) -> Result<Image, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader.output_buffer_size().ok_or("the image is too large")?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => return Err("an indexed PNG was not expanded".into()),
    };
    Ok(Image {
        width: info.width,
        height: info.height,
        rgba,
    })
}

/// Encodes RGBA pixels as a PNG (no time stamp or other ancillary chunk).
pub fn encode(image: &Image) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&image.rgba).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// How two images differ: the pixels that changed and their bounding box.
pub struct PixelDiff {
    pub image: Image,
    pub changed: u64,
    pub total: u64,
    /// (x0, y0, x1, y1), inclusive, when any pixel changed.
    pub bounds: Option<(u32, u32, u32, u32)>,
}

fn pixel(image: &Image, x: u32, y: u32) -> Option<[u8; 4]> {
    if x >= image.width || y >= image.height {
        return None;
    }
    let i = 4 * (y as usize * image.width as usize + x as usize);
    Some([image.rgba[i], image.rgba[i + 1], image.rgba[i + 2], image.rgba[i + 3]])
}

/// A faded grey copy of a pixel, so the changes stand out.
fn faded(p: Option<[u8; 4]>) -> [u8; 4] {
    let [r, g, b, _] = p.unwrap_or([255, 255, 255, 255]);
    let luma = (299 * r as u32 + 587 * g as u32 + 114 * b as u32) / 1000;
    let v = (255 - (255 - luma) / 4) as u8;
    [v, v, v, 255]
}

const CHANGED: [u8; 4] = [230, 0, 160, 255];
const FRAME: [u8; 4] = [200, 0, 0, 255];

/// Compares two images pixel by pixel (over the larger of their sizes: a pixel only
/// one of them has counts as changed).
pub fn compare(committed: &Image, rebuilt: &Image) -> PixelDiff {
    let (w, h) = (committed.width.max(rebuilt.width), committed.height.max(rebuilt.height));
    let mut rgba = Vec::with_capacity(4 * w as usize * h as usize);
    let (mut changed, mut bounds) = (0u64, None::<(u32, u32, u32, u32)>);
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (pixel(committed, x, y), pixel(rebuilt, x, y));
            if a == b {
                rgba.extend_from_slice(&faded(b));
                continue;
            }
            changed += 1;
            rgba.extend_from_slice(&CHANGED);
            bounds = Some(match bounds {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    let mut image = Image {
        width: w,
        height: h,
        rgba,
    };
    if let Some(b) = bounds {
        frame(&mut image, b);
    }
    PixelDiff {
        image,
        changed,
        total: w as u64 * h as u64,
        bounds,
    }
}

/// Draws a 3-pixel frame 6 pixels outside the box, so a one-pixel change is seen.
fn frame(image: &mut Image, (x0, y0, x1, y1): (u32, u32, u32, u32)) {
    let (x0, y0) = (x0.saturating_sub(6), y0.saturating_sub(6));
    let (x1, y1) = ((x1 + 6).min(image.width - 1), (y1 + 6).min(image.height - 1));
    let width = image.width as usize;
    let mut set = |x: u32, y: u32| {
        let i = 4 * (y as usize * width + x as usize);
        image.rgba[i..i + 4].copy_from_slice(&FRAME);
    };
    for t in 0..3 {
        for x in x0..=x1 {
            set(x, (y0 + t).min(y1));
            set(x, y1.saturating_sub(t).max(y0));
        }
        for y in y0..=y1 {
            set((x0 + t).min(x1), y);
            set(x1.saturating_sub(t).max(x0), y);
        }
    }
}

/// One changed cell of a data table.
#[derive(Debug, Clone, PartialEq)]
pub struct CellChange {
    pub row: String,
    pub column: String,
    pub found: String,
    pub rebuilt: String,
    /// |found − rebuilt| when both are numbers.
    pub change: Option<f64>,
}

/// The cells that changed between two versions of a data table, largest numeric change
/// first (then the cells that are not numbers, in row order), and the rows only one has.
pub fn table_changes(found: &str, rebuilt: &str) -> (Vec<CellChange>, Vec<String>, Vec<String>) {
    let (a, b) = (verify::Table::parse(found), verify::Table::parse(rebuilt));
    let mut cells = Vec::new();
    for (key, cells_a) in &a.rows {
        let Some(cells_b) = b.rows.get(key) else { continue };
        for (c, column) in a.header.iter().enumerate() {
            let (x, y) = (cells_a.get(c).unwrap_or(&""), cells_b.get(c).unwrap_or(&""));
            if x == y {
                continue;
            }
            let change = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(u), Ok(v)) => Some((u - v).abs()),
                _ => None,
            };
            cells.push(CellChange {
                row: key.clone(),
                column: column.to_string(),
                found: x.to_string(),
                rebuilt: y.to_string(),
                change,
            });
        }
    }
    cells.sort_by(|p, q| match (p.change, q.change) {
        (Some(u), Some(v)) => v.total_cmp(&u),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let only = |x: &verify::Table, y: &verify::Table| -> Vec<String> {
        x.rows.keys().filter(|k| !y.rows.contains_key(*k)).cloned().collect()
    };
    (cells, only(&b, &a), only(&a, &b))
}

/// Rows shown per changed table; the rest are counted.
const MAX_ROWS: usize = 40;

/// The differences section and the images it shows (paths relative to the report).
pub struct Section {
    pub html: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Builds the section from `verify`'s verdicts, the rebuilt outputs and the folder.
pub fn section(dir: &Path, rebuilt: &[OutputFile], verdicts: &[(String, Verdict)]) -> Section {
    let mut out = Section {
        html: String::new(),
        files: Vec::new(),
    };
    let bad: Vec<&(String, Verdict)> = verdicts.iter().filter(|(_, v)| *v != Verdict::Ok).collect();
    if bad.is_empty() {
        out.html = format!(
            "<section class=\"good-news\" id=\"differences\"><h2>Verified</h2><p>All {} files of the folder are byte for byte what a fresh build makes.</p></section>\n",
            verdicts.len()
        );
        return out;
    }
    let mut parts = vec![format!(
        "<section id=\"differences\"><h2>What differs from a fresh build</h2><p class=\"bad\">{} of {} files are not what the code and specs make now:</p><ul>{}</ul>\n",
        bad.len(),
        verdicts.len(),
        bad.iter()
            .map(|(p, v)| format!("<li><a href=\"#diff-{}\"><code>{}</code></a>: {}</li>", anchor(p), escape(p), label(v)))
            .collect::<String>()
    )];
    for (path, verdict) in bad {
        let new = rebuilt.iter().find(|f| f.path == *path).map(|f| f.bytes.as_slice());
        let old = std::fs::read(dir.join(path)).ok();
        parts.push(one(path, verdict, old.as_deref(), new, &mut out.files));
    }
    parts.push("</section>\n".to_string());
    out.html = parts.concat();
    out
}

fn label(v: &Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Differs(_) => "differs",
        Verdict::Missing => "missing",
        Verdict::Unexpected => "unexpected (made by no figure)",
    }
}

/// An HTML id for a file path.
fn anchor(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The box of one file that differs, is missing or is unexpected.
fn one(
    path: &str,
    verdict: &Verdict,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    files: &mut Vec<(String, Vec<u8>)>,
) -> String {
    let body = match (verdict, old, new) {
        (Verdict::Differs(how), Some(old), Some(new)) => {
            let shown = if path.ends_with(".csv") {
                csv_changes(old, new)
            } else if path.ends_with(".png") || path.ends_with(".svg") {
                images(path, old, new, files)
            } else {
                text_changes(old, new)
            };
            format!("<p>{}</p>\n{shown}", escape(how))
        }
        (Verdict::Missing, _, _) => "<p>Not in the folder; a fresh build makes it.</p>\n".to_string(),
        (Verdict::Unexpected, _, _) => {
            "<p>In the folder (or its MANIFEST) but made by no figure: remove it, or rerun <code>mismatch run</code>.</p>\n".to_string()
        }
        _ => String::new(),
    };
    format!(
        "<div class=\"diff\" id=\"diff-{}\"><h3><code>{}</code>: {}</h3>\n{body}</div>\n",
        anchor(path),
        escape(path),
        label(verdict)
    )
}

/// PNG bytes of a file for display: a PNG as it is, an SVG rasterised as the figures are.
fn as_png(path: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    if path.ends_with(".png") {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the SVG is not UTF-8 text".to_string())?;
    crate::render::png(text).map_err(|e| e.to_string())
}

/// The committed image, the rebuilt image and their difference, side by side.
fn images(path: &str, old: &[u8], new: &[u8], files: &mut Vec<(String, Vec<u8>)>) -> String {
    let (a, b) = match (as_png(path, old), as_png(path, new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => {
            return format!(
                "<p class=\"warn\">The committed file cannot be shown: {}</p>\n",
                escape(&e)
            )
        }
        (_, Err(e)) => {
            return format!(
                "<p class=\"warn\">The rebuilt file cannot be shown: {}</p>\n",
                escape(&e)
            )
        }
    };
    let (ia, ib) = match (decode(&a), decode(&b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) => {
            return format!(
                "<p class=\"warn\">The committed image does not decode: {}</p>\n",
                escape(&e)
            )
        }
        (_, Err(e)) => {
            return format!(
                "<p class=\"warn\">The rebuilt image does not decode: {}</p>\n",
                escape(&e)
            )
        }
    };
    let diff = compare(&ia, &ib);
    let stem = format!("diff/{path}");
    let names = [
        format!("{stem}.committed.png"),
        format!("{stem}.rebuilt.png"),
        format!("{stem}.difference.png"),
    ];
    files.push((names[0].clone(), a));
    files.push((names[1].clone(), b));
    if let Ok(bytes) = encode(&diff.image) {
        files.push((names[2].clone(), bytes));
    }
    let captions = [
        "committed",
        "rebuilt",
        "difference: changed pixels in magenta, framed in red",
    ];
    let trio: String = names
        .iter()
        .zip(captions)
        .map(|(n, c)| {
            format!(
                "<figure><a href=\"{n}\"><img src=\"{n}\" alt=\"{path}: {c}\"></a><figcaption>{c}</figcaption></figure>",
                n = escape(n),
                path = escape(path),
                c = escape(c)
            )
        })
        .collect();
    format!(
        "<p>{}</p>\n<div class=\"trio\">{trio}</div>\n",
        escape(&pixels_text(&diff, &ia, &ib))
    )
}

fn pixels_text(d: &PixelDiff, a: &Image, b: &Image) -> String {
    let size = if (a.width, a.height) == (b.width, b.height) {
        format!("{} × {} pixels", a.width, a.height)
    } else {
        format!(
            "committed {} × {}, rebuilt {} × {} pixels",
            a.width, a.height, b.width, b.height
        )
    };
    match d.bounds {
        None => format!("{size}; no pixel differs (the bytes do: metadata or encoding)."),
        Some((x0, y0, x1, y1)) => format!(
            "{size}; {} of {} pixels differ, within x {x0}–{x1}, y {y0}–{y1}.",
            d.changed, d.total
        ),
    }
}

fn csv_changes(old: &[u8], new: &[u8]) -> String {
    let (found, rebuilt) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let (cells, missing, added) = table_changes(&found, &rebuilt);
    let rows: Vec<String> = cells
        .iter()
        .take(MAX_ROWS)
        .map(|c| {
            format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                escape(&c.row),
                escape(&c.column),
                escape(&c.found),
                escape(&c.rebuilt),
                c.change.map_or("—".to_string(), |v| format!("{v:.6}"))
            )
        })
        .collect();
    let mut html = table("changes", &["row", "column", "committed", "rebuilt", "change"], &rows);
    if cells.len() > MAX_ROWS {
        html.push_str(&format!(
            "<p class=\"muted\">and {} more changed cells.</p>\n",
            cells.len() - MAX_ROWS
        ));
    }
    for (what, keys) in [
        ("Rows missing from the committed table", &missing),
        ("Rows the rebuild does not make", &added),
    ] {
        if !keys.is_empty() {
            let list: Vec<String> = keys
                .iter()
                .take(MAX_ROWS)
                .map(|k| format!("<code>{}</code>", escape(k)))
                .collect();
            html.push_str(&format!("<p>{what} ({}): {}</p>\n", keys.len(), list.join(", ")));
        }
    }
    html
}

/// The lines of a text file that differ, by line number.
fn text_changes(old: &[u8], new: &[u8]) -> String {
    let (found, rebuilt) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let (a, b): (Vec<&str>, Vec<&str>) = (found.lines().collect(), rebuilt.lines().collect());
    let rows: Vec<String> = (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .take(MAX_ROWS)
        .map(|i| {
            format!(
                "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                i + 1,
                escape(a.get(i).unwrap_or(&"")),
                escape(b.get(i).unwrap_or(&""))
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    table("changes", &["line", "committed", "rebuilt"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, fill: [u8; 4]) -> Image {
        Image {
            width: w,
            height: h,
            rgba: fill.repeat((w * h) as usize),
        }
    }

    #[test]
    fn one_changed_pixel_is_counted_bounded_and_survives_encoding() {
        let a = image(20, 10, [255, 255, 255, 255]);
        let mut b = image(20, 10, [255, 255, 255, 255]);
        b.rgba[4 * (3 * 20 + 7)] = 0;
        let d = compare(&a, &b);
        assert_eq!((d.changed, d.total, d.bounds), (1, 200, Some((7, 3, 7, 3))));
        let back = decode(&encode(&d.image).unwrap()).unwrap();
        assert_eq!(back.rgba, d.image.rgba);
        assert_eq!(pixel(&back, 7, 3), Some(CHANGED));
    }

    #[test]
    fn a_larger_image_counts_its_extra_pixels() {
        let d = compare(&image(2, 2, [9, 9, 9, 255]), &image(3, 2, [9, 9, 9, 255]));
        assert_eq!((d.changed, d.bounds), (2, Some((2, 0, 2, 1))));
    }

    #[test]
    fn table_changes_come_largest_first() {
        let rebuilt = "arm,x,metric,mean,lo,hi,n\na,1.000000,acc,0.500000,0.400000,0.600000,8\nb,1.000000,acc,0.700000,0.600000,0.800000,8\n";
        let found = rebuilt.replace("0.400000", "0.390000").replace("0.700000", "0.900000");
        let (cells, missing, added) = table_changes(&found, rebuilt);
        assert_eq!(cells.len(), 2);
        assert_eq!(
            (cells[0].column.as_str(), cells[0].found.as_str()),
            ("mean", "0.900000")
        );
        assert!(cells[0].row.contains("arm=b"));
        assert!(missing.is_empty() && added.is_empty());
    }
}
