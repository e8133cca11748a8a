//! The reproduction report: one static page a reviewer opens in a browser
//! (`mismatch report`, `make report`; `mismatch verify --report DIR`).
//!
//! `OUT/index.html` shows, at the top, how many figures were reproduced and how many
//! findings, premises and sanity checks hold; then, for each figure in paper order:
//!
//! - the PNG, linked to the SVG and the PDF (copies under `OUT/figures/`);
//! - the claim, and the claims table: each claim's kind, its verdict at the committed
//!   seed (judged on `data/ID.csv`, no simulation), and how many of the multi-seed
//!   table's seeds it holds at with the median and range of its number
//!   (`robustness/data/ID.seeds.csv`);
//! - the knock-outs: the assumption each removes, the findings it carries and whether
//!   they broke at each seed, the claims that must survive it;
//! - the robustness map with the region each finding holds in (`robustness/ID.regions.txt`);
//! - the anchor papers' numbers beside ours (`anchors.toml`);
//! - provenance: spec hash, seed, replicates, overrides and tool version (from the
//!   SVG's metadata), whether the spec file still has the hash MANIFEST records, and
//!   whether every file shown matches its MANIFEST hash.
//!
//! From `verify --report`, a section at the top names every file that is not what a
//! fresh build makes, with the committed image, the rebuilt one and a difference image,
//! or the changed rows of a table ([`diff`]).
//!
//! The page is HTML and CSS only (no script, no network, relative links), so it opens
//! from the file system; it is a pure function of its inputs (no time stamp), so two
//! builds give the same bytes. It is written as one set ([`crate::output::commit`]): a
//! failed build leaves the old report intact. The report is not committed and `verify`
//! does not cover it: it is rebuilt from files `verify` covers.

mod anchors;
pub mod diff;
pub mod html;
pub mod inputs;

use crate::error::{Error, Result};
use crate::output;
use crate::pipeline::OutputFile;
use crate::verify::Verdict;
use inputs::{Figure, Manifests};
use std::path::Path;

/// The default output folder of `mismatch report`.
pub const DEFAULT_OUT: &str = "report";

/// A verify run the page reports on: the rebuilt outputs and the verdict per file.
pub struct Verified<'a> {
    pub rebuilt: &'a [OutputFile],
    pub verdicts: &'a [(String, Verdict)],
}

/// The report's files (relative paths and bytes) for the figures folder `dir`.
pub fn build(dir: &Path, specs: &Path, verified: Option<Verified>) -> Result<Vec<(String, Vec<u8>)>> {
    inputs::check_folder(dir)?;
    let manifests = Manifests::read(dir);
    let figures: Vec<Figure> = inputs::ids()
        .iter()
        .map(|id| Figure::read(dir, specs, id, &manifests))
        .collect::<Result<_>>()?;
    let mut files = copies(dir, &figures);
    let (reproduced, how, differences) = match &verified {
        Some(v) => {
            let section = diff::section(dir, v.rebuilt, v.verdicts);
            files.extend(section.files);
            (
                rebuilt_state(&figures, v.verdicts),
                "rebuilt byte for byte by mismatch verify",
                Some(section.html),
            )
        }
        None => (
            manifest_state(&figures),
            "their files match the folder's MANIFEST hashes; mismatch verify --report rebuilds them",
            None,
        ),
    };
    let page = html::page(&html::Page {
        figures: &figures,
        folder: &dir.display().to_string(),
        reproduced,
        reproduced_how: how,
        differences,
    });
    files.push(("index.html".to_string(), page.into_bytes()));
    Ok(files)
}

/// Writes the report into `out` as one set, replacing what was there.
pub fn write(out: &Path, dir: &Path, files: Vec<(String, Vec<u8>)>) -> Result<()> {
    output::refuse_committed(out, "the report is not a figure")?;
    if out.starts_with(dir) {
        return Err(Error::Input(format!(
            "--out {}: inside the figures folder {}, where `verify` would find it. Fix: choose a folder outside it (default: {DEFAULT_OUT})",
            output::clip(&out.display().to_string()),
            output::clip(&dir.display().to_string())
        )));
    }
    output::commit(out, output::Keep::Nothing, |_| {
        let mut all = files;
        all.push(output::plain_manifest(None, &all));
        Ok(all)
    })
}

/// Copies of the images and documents the page shows or links, under `figures/`.
fn copies(dir: &Path, figures: &[Figure]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in figures {
        for state in &f.files {
            let shown = [".png", ".svg", ".pdf"].iter().any(|e| state.path.ends_with(e));
            if !shown || !state.present {
                continue;
            }
            if let Ok(bytes) = std::fs::read(dir.join(&state.path)) {
                out.push((format!("figures/{}", state.path), bytes));
            }
        }
    }
    out
}

/// The outputs `mismatch run` makes for figure `id` (not the robustness ones).
fn own_files(id: &str, path: &str) -> bool {
    path.strip_prefix(id).is_some_and(|rest| rest.starts_with('.'))
        || path
            .strip_prefix("data/")
            .and_then(|p| p.strip_prefix(id))
            .is_some_and(|rest| rest.starts_with('.'))
}

fn manifest_state(figures: &[Figure]) -> Vec<(String, bool)> {
    figures
        .iter()
        .map(|f| {
            let id = &f.header.id;
            let ok = f
                .files
                .iter()
                .filter(|s| own_files(id, &s.path))
                .all(|s| s.matches_manifest);
            (id.clone(), ok)
        })
        .collect()
}

fn rebuilt_state(figures: &[Figure], verdicts: &[(String, Verdict)]) -> Vec<(String, bool)> {
    figures
        .iter()
        .map(|f| {
            let id = &f.header.id;
            let ok = verdicts
                .iter()
                .filter(|(p, _)| own_files(id, p))
                .all(|(_, v)| *v == Verdict::Ok);
            (id.clone(), ok)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_files_are_the_figures_outputs_only() {
        assert!(own_files("calibration", "calibration.png"));
        assert!(own_files("calibration", "data/calibration.csv"));
        assert!(!own_files("calibration", "calibration_other.png"));
        assert!(!own_files("calibration", "robustness/calibration.png"));
    }
}
