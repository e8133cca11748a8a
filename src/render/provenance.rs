//! Provenance inside the files: which figure, spec, seed, replicates and tool made
//! them. No time, path, host or commit (each would change bytes for no reason).

/// Adds `<metadata>` as the first child of the root `<svg>` element.
pub fn svg_with_metadata(svg: &str, text: &str) -> String {
    match svg
        .find("<svg")
        .and_then(|start| svg[start..].find('>').map(|end| start + end + 1))
    {
        Some(at) => format!("{}\n<metadata>{}</metadata>{}", &svg[..at], escape(text), &svg[at..]),
        None => svg.to_string(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Adds a `tEXt` chunk (`keyword`, Latin-1 `text`) right after the PNG's IHDR chunk.
pub fn png_with_text(png: &[u8], keyword: &str, text: &str) -> Vec<u8> {
    // 8-byte signature, then IHDR: length (4), type (4), 13 bytes of data, CRC (4).
    const AFTER_IHDR: usize = 8 + 4 + 4 + 13 + 4;
    if png.len() < AFTER_IHDR || &png[12..16] != b"IHDR" {
        return png.to_vec();
    }
    let mut data = Vec::with_capacity(keyword.len() + 1 + text.len());
    data.extend_from_slice(keyword.as_bytes());
    data.push(0);
    data.extend(text.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }));
    let mut chunk = Vec::with_capacity(data.len() + 12);
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(&data);
    let crc = crc32fast::hash(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    let mut out = Vec::with_capacity(png.len() + chunk.len());
    out.extend_from_slice(&png[..AFTER_IHDR]);
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[AFTER_IHDR..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_goes_inside_the_root_element() {
        let svg = r#"<svg width="1" height="1" xmlns="http://www.w3.org/2000/svg"><rect/></svg>"#;
        let with = svg_with_metadata(svg, "id=x; a<b");
        assert!(with.contains(r#"xmlns="http://www.w3.org/2000/svg">"#));
        assert!(with.contains("<metadata>id=x; a&lt;b</metadata><rect/>"));
    }

    #[test]
    fn text_chunk_follows_ihdr_with_a_valid_crc() {
        let png = super::super::png(r#"<svg width="2" height="2" xmlns="http://www.w3.org/2000/svg"></svg>"#).unwrap();
        let with = png_with_text(&png, "mismatch", "id=x");
        assert_eq!(&with[33 + 4..33 + 8], b"tEXt");
        let len = u32::from_be_bytes(with[33..37].try_into().unwrap()) as usize;
        let crc = u32::from_be_bytes(with[33 + 8 + len..33 + 12 + len].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&with[37..37 + 4 + len]));
        assert_eq!(with.len(), png.len() + 12 + len);
    }
}
