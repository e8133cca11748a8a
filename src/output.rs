//! The only place files are written. Every output of a command is made in memory
//! first; then each file is written to a temporary file in its own folder and, once all
//! of them exist, renamed over the old one. A failure before the renames leaves every
//! existing output untouched.

use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::pipeline::OutputFile;
use std::fs;
use std::path::{Path, PathBuf};

/// The LaTeX macros of every figure, in one file for `\input`.
pub const NUMBERS: &str = "numbers.tex";

/// The folder of the committed figures, which only the committed specs may write.
pub const COMMITTED: &str = "figures";

/// Refuses `out` if it is (or is inside) the committed `figures/` folder: outputs made
/// with `--set`, or by a sweep, are not the paper's figures.
pub fn refuse_committed(out: &Path, why: &str) -> Result<()> {
    let committed = Path::new(COMMITTED);
    let inside = match (out.canonicalize(), committed.canonicalize()) {
        (Ok(a), Ok(b)) => a.starts_with(b),
        _ => {
            let plain = |p: &Path| -> Vec<std::ffi::OsString> {
                p.components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .map(|c| c.as_os_str().to_os_string())
                    .collect()
            };
            plain(out).starts_with(&plain(committed))
        }
    };
    if inside {
        return Err(Error::Input(format!(
            "--out {}: {why}, so its outputs must not go over the committed figures. Fix: choose another --out folder (or leave it out: the default is out/)",
            out.display()
        )));
    }
    Ok(())
}

/// Writes `files` under `dir` atomically, then records them in `dir/MANIFEST`.
pub fn write_figures(dir: &Path, figures: &[(String, String, Vec<OutputFile>)]) -> Result<()> {
    let staged = stage_figures(dir, figures);
    let refs: Vec<(PathBuf, &[u8])> = staged.iter().map(|(p, b)| (p.clone(), b.as_slice())).collect();
    write_all_atomically(&refs)
}

/// The files `write_figures` writes: the figures' outputs, `numbers.tex` and the
/// updated `MANIFEST`, with their paths under `dir`.
pub fn stage_figures(dir: &Path, figures: &[(String, String, Vec<OutputFile>)]) -> Vec<(PathBuf, Vec<u8>)> {
    let manifest_path = dir.join(manifest::FILE_NAME);
    let mut manifest = match fs::read_to_string(&manifest_path) {
        Ok(text) => Manifest::parse(&text).unwrap_or_else(|_| Manifest::new()),
        Err(_) => Manifest::new(),
    };
    let numbers = crate::pipeline::numbers_tex(|id| {
        figures
            .iter()
            .flat_map(|(_, _, files)| files)
            .find(|f| f.path == format!("data/{id}.tex"))
            .map(|f| f.bytes.clone())
            .or_else(|| fs::read(dir.join(format!("data/{id}.tex"))).ok())
    });
    manifest
        .files
        .insert(NUMBERS.to_string(), manifest::sha256_hex(numbers.as_bytes()));
    let mut all: Vec<(PathBuf, Vec<u8>)> = vec![(dir.join(NUMBERS), numbers.into_bytes())];
    for (id, spec_sha, files) in figures {
        let hashes: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.path.clone(), manifest::sha256_hex(&f.bytes)))
            .collect();
        manifest.record(id, spec_sha, &hashes);
        for f in files {
            all.push((dir.join(&f.path), f.bytes.clone()));
        }
    }
    all.push((manifest_path, manifest.render().into_bytes()));
    all
}

/// Writes every file to a temporary sibling, then renames them all into place.
pub fn write_all_atomically(files: &[(PathBuf, &[u8])]) -> Result<()> {
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for (path, bytes) in files {
            let parent = path.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(parent).map_err(|e| Error::io("create the folder", parent, e))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
            fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
            staged.push((tmp, path.clone()));
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (tmp, path) in &staged {
        fs::rename(tmp, path).map_err(|e| Error::io("replace", path, e))?;
    }
    Ok(())
}
