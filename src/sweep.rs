//! Sweep files: a figure and a grid of spec values; `mismatch sweep FILE` builds the
//! figure at every combination, each into its own folder, with a table of which claims
//! hold where. Example (`specs/sweeps/context_window.toml`):
//!
//! ```toml
//! figure = "context_accumulation"   # the spec is specs/<figure>.toml
//! [grid]                            # every combination of these --set values
//! "params.window" = [10, 20, 40]
//! seed = [20250711, 1, 2]
//! ```
//!
//! The points are named by their values (`params.window=10__seed=1`), so a folder says
//! what made it; the outputs never go over the committed `figures/`.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A parsed sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub path: PathBuf,
    pub figure: String,
    /// The grid's keys, in sorted order, and each key's values (TOML text for `--set`).
    pub grid: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    figure: String,
    grid: toml::Table,
}

/// Points beyond this are almost certainly a mistake in the grid.
pub const MAX_POINTS: usize = 1000;

impl Sweep {
    /// Reads and checks a sweep file; errors name the file and the key.
    pub fn read(path: &Path) -> Result<Sweep> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Input(format!(
                "{}: cannot read the sweep file ({e}). Fix: give an existing file (see specs/sweeps/)",
                path.display()
            ))
        })?;
        let file: File = toml::from_str(&text).map_err(|e| {
            Error::Input(format!(
                "{}: {}. Fix: a sweep file has `figure = \"<id>\"` and a `[grid]` table of `\"key\" = [values]`",
                path.display(),
                e.message().trim()
            ))
        })?;
        let bad = |key: &str, what: &str| Error::Input(format!("{}: key `grid.\"{key}\"`: {what}", path.display()));
        let mut grid = Vec::new();
        for (key, value) in &file.grid {
            let values = match value {
                toml::Value::Array(values) if !values.is_empty() => values,
                _ => {
                    return Err(bad(
                        key,
                        "must be a non-empty list of values. Fix: e.g. \"params.window\" = [10, 20]",
                    ))
                }
            };
            grid.push((key.clone(), values.iter().map(|v| v.to_string()).collect()));
        }
        if grid.is_empty() {
            return Err(Error::Input(format!(
                "{}: key `grid`: is empty. Fix: list at least one key, e.g. \"params.window\" = [10, 20]",
                path.display()
            )));
        }
        let sweep = Sweep {
            path: path.to_path_buf(),
            figure: file.figure,
            grid,
        };
        if sweep.size() > MAX_POINTS {
            return Err(Error::Input(format!(
                "{}: key `grid`: {} points, more than {MAX_POINTS}. Fix: split the sweep, or shard it",
                path.display(),
                sweep.size()
            )));
        }
        Ok(sweep)
    }

    /// The number of grid points.
    pub fn size(&self) -> usize {
        self.grid.iter().map(|(_, v)| v.len()).product()
    }

    /// Every combination of the grid's values, as `--set` overrides, the last key
    /// varying fastest.
    pub fn points(&self) -> Vec<Vec<(String, String)>> {
        let mut points = vec![Vec::new()];
        for (key, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|point: Vec<(String, String)>| {
                    values.iter().map(move |v| {
                        let mut p = point.clone();
                        p.push((key.clone(), v.clone()));
                        p
                    })
                })
                .collect();
        }
        points
    }

    /// `point,<grid keys…>,<columns…>`: one row per point; each column (a claim, or a
    /// knock-out's duty `knockout/role/claim`) `pass` or `fail`.
    pub fn table(&self, points: &[Vec<(String, String)>], table: &[(String, Vec<(String, bool)>)]) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut header: Vec<String> = vec!["point".into()];
        header.extend(self.grid.iter().map(|(k, _)| quote(k)));
        if let Some((_, verdicts)) = table.first() {
            header.extend(verdicts.iter().map(|(column, _)| quote(column)));
        }
        let mut csv = header.join(",") + "\n";
        for (point, (name, verdicts)) in points.iter().zip(table) {
            let mut row = vec![quote(name)];
            row.extend(point.iter().map(|(_, v)| quote(v)));
            row.extend(
                verdicts
                    .iter()
                    .map(|(_, pass)| if *pass { "pass" } else { "fail" }.to_string()),
            );
            csv.push_str(&(row.join(",") + "\n"));
        }
        csv
    }
}

/// A point's folder name, e.g. `params.window=10__seed=1`.
pub fn folder_name(point: &[(String, String)]) -> String {
    point
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .chars()
                .filter(|c| *c != '"')
                .map(|c| {
                    if c.is_alphanumeric() || "._-+".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(text: &str) -> Result<Sweep> {
        let path = std::env::temp_dir().join(format!("mismatch-sweep-{}-{}.toml", std::process::id(), text.len()));
        std::fs::write(&path, text).unwrap();
        let s = Sweep::read(&path);
        let _ = std::fs::remove_file(&path);
        s
    }

    #[test]
    fn the_grid_expands_to_every_combination() {
        let s = sweep("figure = \"x\"\n[grid]\n\"params.a\" = [1, 2]\nseed = [7, 8, 9]\n").unwrap();
        let points = s.points();
        assert_eq!(points.len(), 6);
        assert_eq!(folder_name(&points[0]), "params.a=1__seed=7");
        assert_eq!(folder_name(&points[5]), "params.a=2__seed=9");
    }

    #[test]
    fn an_unknown_key_or_an_empty_list_is_refused() {
        let err = sweep("figure = \"x\"\nfigures = 1\n[grid]\nseed = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `figures`"), "{err}");
        let err = sweep("figure = \"x\"\n[grid]\nseed = []\n").unwrap_err().to_string();
        assert!(
            err.contains("key `grid.\"seed\"`") && err.contains("non-empty list"),
            "{err}"
        );
    }
}
