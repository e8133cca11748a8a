//! `mismatch verify`: rebuild every figure in memory and compare, byte for byte, with
//! a figures folder and its manifest. Nothing is written.

use crate::manifest::{self, Manifest};
use crate::pipeline::OutputFile;
use std::collections::BTreeMap;
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
    for path in files_in(dir) {
        let known = path == manifest::FILE_NAME || rebuilt.iter().any(|f| f.path == path);
        if !known && !out.iter().any(|(p, _)| *p == path) {
            out.push((path, Verdict::Unexpected));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Folders of a figures folder that other commands write and `verify` does not rebuild.
const NOT_REBUILT: [&str; 1] = ["robustness"];

/// Every entry under `dir`, relative to it (`data/x.csv`), folders that hold nothing
/// as `name/`; at most 10 000 of them.
fn files_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&folder) else { continue };
        let mut empty = true;
        for entry in entries.flatten() {
            empty = false;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if found.len() >= 10_000 {
                return found;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    if !(prefix.is_empty() && NOT_REBUILT.contains(&name.as_str())) {
                        pending.push((entry.path(), format!("{name}/")));
                    }
                }
                _ => found.push(name),
            }
        }
        if empty && !prefix.is_empty() {
            found.push(prefix);
        }
    }
    found
}

/// How two versions of a file differ: for data tables, the rows and columns that
/// changed and the largest numeric change; for other text, the first differing line;
/// for binary files, their sizes and hashes.
pub fn describe(path: &str, found: &[u8], expected: &[u8]) -> String {
    match (std::str::from_utf8(found), std::str::from_utf8(expected)) {
        (Ok(a), Ok(b)) if path.ends_with(".csv") => describe_table(a, b),
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

/// The columns that name a summary row; the others are its values.
const KEY_COLUMNS: [&str; 3] = ["arm", "metric", "x"];

/// A CSV table: its header and its rows keyed by their key columns (or line number).
pub(crate) struct Table<'a> {
    pub header: Vec<&'a str>,
    pub rows: BTreeMap<String, Vec<&'a str>>,
}

impl<'a> Table<'a> {
    pub(crate) fn parse(text: &'a str) -> Table<'a> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let keys: Vec<usize> = KEY_COLUMNS
            .iter()
            .filter_map(|k| header.iter().position(|h| h == k))
            .collect();
        let mut rows = BTreeMap::new();
        for (i, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            let key = if keys.is_empty() {
                format!("line {}", i + 2)
            } else {
                keys.iter()
                    .map(|&k| format!("{}={}", header[k], cells.get(k).unwrap_or(&"")))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            rows.insert(key, cells);
        }
        Table { header, rows }
    }
}

/// Rows changed, added and removed, the columns that changed, and the largest change
/// of a number, e.g. `2 of 540 rows differ (columns mean, hi); largest change: mean at
/// arm=a metric=m x=3.000000: found 0.8, rebuilt 0.9 (0.1)`.
fn describe_table(found: &str, rebuilt: &str) -> String {
    let (a, b) = (Table::parse(found), Table::parse(rebuilt));
    if a.header != b.header {
        return format!(
            "columns differ: found `{}`, rebuilt `{}`",
            a.header.join(","),
            b.header.join(",")
        );
    }
    let only =
        |x: &Table, y: &Table| -> Vec<String> { x.rows.keys().filter(|k| !y.rows.contains_key(*k)).cloned().collect() };
    let (removed, added) = (only(&b, &a), only(&a, &b));
    let mut changed_rows = 0;
    let mut changed_columns: Vec<&str> = Vec::new();
    let mut largest: Option<(f64, String)> = None;
    for (key, cells) in &a.rows {
        let Some(other) = b.rows.get(key) else { continue };
        if cells == other {
            continue;
        }
        changed_rows += 1;
        for (c, column) in a.header.iter().enumerate() {
            let (x, y) = (cells.get(c).unwrap_or(&""), other.get(c).unwrap_or(&""));
            if x == y {
                continue;
            }
            if !changed_columns.contains(column) {
                changed_columns.push(column);
            }
            if let (Ok(u), Ok(v)) = (x.parse::<f64>(), y.parse::<f64>()) {
                let change = (u - v).abs();
                if largest.as_ref().is_none_or(|(l, _)| change > *l) {
                    largest = Some((
                        change,
                        format!("{column} at {key}: found {x}, rebuilt {y} (by {change:.6})"),
                    ));
                }
            }
        }
    }
    let mut parts = vec![format!(
        "{changed_rows} of {} rows differ (columns {})",
        b.rows.len(),
        if changed_columns.is_empty() {
            "none".to_string()
        } else {
            changed_columns.join(", ")
        }
    )];
    let first = |keys: &[String]| keys.first().map(|k| format!(" (first: {k})")).unwrap_or_default();
    if !removed.is_empty() || !added.is_empty() {
        parts.push(format!(
            "{} row(s) missing{}, {} row(s) not in the rebuild{}",
            removed.len(),
            first(&removed),
            added.len(),
            first(&added)
        ));
    }
    if let Some((_, text)) = largest {
        parts.push(format!("largest change: {text}"));
    }
    parts.join("; ")
}

fn clip(s: &str) -> String {
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REBUILT: &str = "arm,x,metric,mean,lo,hi,n\na,1.000000,acc,0.500000,0.400000,0.600000,8\nb,1.000000,acc,0.700000,0.600000,0.800000,8\n";

    #[test]
    fn a_changed_table_names_rows_columns_and_the_largest_change() {
        let found = REBUILT
            .replace("0.700000,0.600000", "0.750000,0.650000")
            .replace("0.400000", "0.390000");
        let how = describe("data/x.csv", found.as_bytes(), REBUILT.as_bytes());
        assert!(how.starts_with("2 of 2 rows differ (columns lo, mean)"), "{how}");
        assert!(
            how.contains("largest change: mean at arm=b metric=acc x=1.000000: found 0.750000, rebuilt 0.700000"),
            "{how}"
        );
    }

    #[test]
    fn a_missing_row_and_a_changed_header_are_named() {
        let found: String = REBUILT.lines().take(2).map(|l| format!("{l}\n")).collect();
        let how = describe("data/x.csv", found.as_bytes(), REBUILT.as_bytes());
        assert!(
            how.contains("1 row(s) missing (first: arm=b metric=acc x=1.000000), 0 row(s)"),
            "{how}"
        );
        let found = REBUILT.replacen("mean", "average", 1);
        let how = describe("data/x.csv", found.as_bytes(), REBUILT.as_bytes());
        assert!(how.starts_with("columns differ"), "{how}");
    }
}
