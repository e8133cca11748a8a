//! `mismatch verify`: rebuild every figure in memory and compare, byte for byte, with
//! a figures folder and its manifest. Nothing is written.

use crate::manifest::{self, Manifest};
use crate::pipeline::OutputFile;
use std::fs;
use std::path::Path;

/// The verdict for one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ok,
    /// Present but with other bytes; the text says how it differs.
    Differs(String),
    Missing,
    /// Present in the folder or its manifest, but not made by any figure.
    Unexpected,
}

/// Compares rebuilt outputs (`path`, bytes) with `dir`. Returns one verdict per path,
/// sorted by path, including the manifest itself.
pub fn compare(dir: &Path, rebuilt: &[OutputFile], rebuilt_manifest: &Manifest) -> Vec<(String, Verdict)> {
    let mut out: Vec<(String, Verdict)> = Vec::new();
    for f in rebuilt {
        let verdict = match fs::read(dir.join(&f.path)) {
            Err(_) => Verdict::Missing,
            Ok(bytes) if bytes == f.bytes => Verdict::Ok,
            Ok(bytes) => Verdict::Differs(describe(&f.path, &bytes, &f.bytes)),
        };
        out.push((f.path.clone(), verdict));
    }
    let expected_text = rebuilt_manifest.render();
    let verdict = match fs::read_to_string(dir.join(manifest::FILE_NAME)) {
        Err(_) => Verdict::Missing,
        Ok(text) if text == expected_text => Verdict::Ok,
        Ok(text) => Verdict::Differs(describe(manifest::FILE_NAME, text.as_bytes(), expected_text.as_bytes())),
    };
    out.push((manifest::FILE_NAME.to_string(), verdict));
    if let Ok(text) = fs::read_to_string(dir.join(manifest::FILE_NAME)) {
        if let Ok(existing) = Manifest::parse(&text) {
            for path in existing.files.keys() {
                if !rebuilt.iter().any(|f| &f.path == path) {
                    out.push((path.clone(), Verdict::Unexpected));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// How two versions of a file differ: for text, the first differing line; for
/// binary files, their sizes and hashes.
pub fn describe(path: &str, found: &[u8], expected: &[u8]) -> String {
    match (std::str::from_utf8(found), std::str::from_utf8(expected)) {
        (Ok(a), Ok(b)) if !path.ends_with(".png") => {
            let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            let changed = la.iter().zip(lb.iter()).filter(|(x, y)| x != y).count() + la.len().abs_diff(lb.len());
            match la.iter().zip(lb.iter()).position(|(x, y)| x != y) {
                Some(i) => format!(
                    "{changed} line(s) differ; first at line {}: found `{}`, rebuilt `{}`",
                    i + 1,
                    clip(la[i]),
                    clip(lb[i])
                ),
                None => format!("found {} lines, rebuilt {}", la.len(), lb.len()),
            }
        }
        _ => format!(
            "found {} bytes (sha256 {}), rebuilt {} bytes (sha256 {})",
            found.len(),
            &manifest::sha256_hex(found)[..12],
            expected.len(),
            &manifest::sha256_hex(expected)[..12]
        ),
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s.to_string()
    }
}
