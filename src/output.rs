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

/// Writes `files` under `dir` atomically, then records them in `dir/MANIFEST`.
pub fn write_figures(dir: &Path, figures: &[(String, String, Vec<OutputFile>)]) -> Result<()> {
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
    let mut all: Vec<(PathBuf, &[u8])> = vec![(dir.join(NUMBERS), numbers.as_bytes())];
    for (id, spec_sha, files) in figures {
        let hashes: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.path.clone(), manifest::sha256_hex(&f.bytes)))
            .collect();
        manifest.record(id, spec_sha, &hashes);
        for f in files {
            all.push((dir.join(&f.path), &f.bytes));
        }
    }
    let manifest_text = manifest.render();
    all.push((manifest_path, manifest_text.as_bytes()));
    write_all_atomically(&all)
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
