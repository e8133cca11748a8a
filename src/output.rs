//! The only place files are written. Every output of a command is made in memory
//! first, then the output folder is replaced as a whole:
//!
//! 1. A lock on the folder's parent serialises the processes that write the folder
//!    (`make -j figures`); a process that must wait says so.
//! 2. Left-overs of a killed run (the sibling folders below) are removed.
//! 3. The new set is staged in a sibling folder `.NAME.mismatch-new-PID`: the old files
//!    the command keeps are hard-linked in, the new ones written and fsynced.
//! 4. The staged folder and the output folder are exchanged in one atomic rename
//!    (`renameat2(RENAME_EXCHANGE)`), then the old set is removed.
//!
//! So at any instant, and after a kill at any instant, a full disk or a failed write,
//! the path OUT holds the complete old set or the complete new set, and no staging
//! folder outlives the next run. `MISMATCH_FAULT_AFTER=K` (K-th file-system step:
//! `K` kills the process there, `K:error` makes the step fail) is the hook the tests
//! use to prove it at every step.

use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::pipeline::OutputFile;
use std::fs;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

/// The LaTeX macros of every figure, in one file for `\input`.
pub const NUMBERS: &str = "numbers.tex";

/// The folder of the committed figures, which only the committed specs may write.
pub const COMMITTED: &str = "figures";

/// Old files a commit copies into the new set before writing its own: more is not an
/// output folder of this tool.
const MAX_KEPT_FILES: usize = 100_000;

/// `path` made absolute and free of symlinks: the longest existing ancestor is
/// canonicalised and the rest (folders not made yet) appended.
fn resolved(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut plain = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                plain.pop();
            }
            Component::CurDir => {}
            other => plain.push(other.as_os_str()),
        }
    }
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let mut base = plain.as_path();
    loop {
        if let Ok(mut real) = base.canonicalize() {
            real.extend(rest.iter().rev());
            return real;
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return plain,
        }
    }
}

/// Refuses `out` if it is (or is inside) the committed `figures/` folder, through any
/// symlink and whether or not it exists yet: outputs made with `--set`, or by a sweep,
/// are not the paper's figures.
pub fn refuse_committed(out: &Path, why: &str) -> Result<()> {
    if resolved(out).starts_with(resolved(Path::new(COMMITTED))) {
        return Err(Error::Input(format!(
            "--out {}: {why}, so its outputs must not go over the committed figures. Fix: choose another --out folder (or leave it out: the default is out/)",
            clip(&out.display().to_string())
        )));
    }
    Ok(())
}

/// What a commit does with the files already in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep them unless the new set replaces them (figures, shards).
    Old,
    /// The new set is the whole folder (a sweep).
    Nothing,
}

/// Writes figures into `dir` as one set: their outputs, `numbers.tex` (every figure's
/// macros in `dir`) and the updated `MANIFEST`.
pub fn write_figures(dir: &Path, figures: &[(String, String, Vec<OutputFile>)]) -> Result<()> {
    commit(dir, Keep::Old, |current| Ok(figure_files(current, figures)))
}

/// The files `write_figures` writes, relative to the folder, given its current content
/// (`current`, which may not exist): the figures' outputs, `numbers.tex` and `MANIFEST`.
pub fn figure_files(current: &Path, figures: &[(String, String, Vec<OutputFile>)]) -> Vec<(String, Vec<u8>)> {
    let mut manifest = match fs::read_to_string(current.join(manifest::FILE_NAME)) {
        Ok(text) => Manifest::parse(&text).unwrap_or_else(|_| Manifest::new()),
        Err(_) => Manifest::new(),
    };
    let numbers = crate::pipeline::numbers_tex(|id| {
        figures
            .iter()
            .flat_map(|(_, _, files)| files)
            .find(|f| f.path == format!("data/{id}.tex"))
            .map(|f| f.bytes.clone())
            .or_else(|| fs::read(current.join(format!("data/{id}.tex"))).ok())
    });
    manifest
        .files
        .insert(NUMBERS.to_string(), manifest::sha256_hex(numbers.as_bytes()));
    let mut all: Vec<(String, Vec<u8>)> = vec![(NUMBERS.to_string(), numbers.into_bytes())];
    for (id, spec_sha, files) in figures {
        let hashes: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.path.clone(), manifest::sha256_hex(&f.bytes)))
            .collect();
        manifest.record(id, spec_sha, &hashes);
        for f in files {
            all.push((f.path.clone(), f.bytes.clone()));
        }
    }
    all.push((manifest::FILE_NAME.to_string(), manifest.render().into_bytes()));
    all
}

/// Writes files given by full path as one set: the folder that holds them all is
/// replaced by [`commit`] (with a plain `MANIFEST`), keeping its other files.
pub fn write_all_atomically(files: &[(PathBuf, &[u8])]) -> Result<()> {
    let Some((first, _)) = files.first() else { return Ok(()) };
    let mut common = first.parent().unwrap_or(Path::new(".")).to_path_buf();
    for (path, _) in files {
        while !path.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    let mut relative: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, bytes) in files {
        let rel = path
            .strip_prefix(&common)
            .map_err(|_| crate::error::internal(format!("{} is outside {}", path.display(), common.display())))?;
        relative.push((rel.to_string_lossy().into_owned(), bytes.to_vec()));
    }
    let inside_an_output_folder = common.parent().is_some_and(|p| p.join(manifest::FILE_NAME).is_file());
    commit_with(&common, Keep::Old, !inside_an_output_folder, |current| {
        let mut all = relative.clone();
        all.push(plain_manifest(Some(current), &relative));
        Ok(all)
    })
}

/// A `MANIFEST` for a folder of plain files (shards, a sweep's table): the old one's
/// entries (if `current` has one) with these files' hashes added.
pub fn plain_manifest(current: Option<&Path>, files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let mut manifest = current
        .and_then(|dir| fs::read_to_string(dir.join(manifest::FILE_NAME)).ok())
        .and_then(|text| Manifest::parse(&text).ok())
        .unwrap_or_default();
    manifest.tool = Manifest::new().tool;
    for (path, bytes) in files {
        manifest.files.insert(path.clone(), manifest::sha256_hex(bytes));
    }
    (manifest::FILE_NAME.to_string(), manifest.render().into_bytes())
}

/// `s` cut to 200 characters, for messages that echo a value.
pub fn clip(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The fault-injection hook (`MISMATCH_FAULT_AFTER`): counts the file-system steps of
/// a commit and kills the process, or fails the step, at the chosen one.
struct Steps {
    done: u64,
    fault: Option<(u64, bool)>,
}

impl Steps {
    fn from_env() -> Steps {
        let fault = std::env::var("MISMATCH_FAULT_AFTER").ok().and_then(|v| {
            let (k, error) = match v.strip_suffix(":error") {
                Some(k) => (k, true),
                None => (v.as_str(), false),
            };
            k.trim().parse::<u64>().ok().map(|k| (k, error))
        });
        Steps { done: 0, fault }
    }

    /// Called before every step that changes the file system.
    fn step(&mut self) -> std::io::Result<()> {
        self.done += 1;
        match self.fault {
            Some((k, false)) if k == self.done => {
                // As abrupt as SIGKILL: no destructor, no clean-up, no flush.
                // SAFETY: `_exit` only ends the process.
                unsafe { libc::_exit(137) }
            }
            Some((k, true)) if k == self.done => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            _ => Ok(()),
        }
    }
}

/// The lock that serialises writers of one output folder: an exclusive `flock` on the
/// folder's parent (a lock file inside the folder would be swapped away with it).
/// A folder inside another output folder (`figures/robustness` in `figures`) also
/// takes the outer folder's lock, since replacing the outer set replaces the inner.
pub struct Lock(#[allow(dead_code)] Vec<fs::File>);

/// Takes the lock on the parent of `dir` (exclusive to write, shared to read), and on
/// the parent of every output folder `dir` lies in, outermost first (so two writers
/// never wait on each other in a cycle), saying on stderr that it waits when another
/// process holds one.
pub fn lock(dir: &Path, exclusive: bool) -> Result<Lock> {
    let (parent, _) = split(dir)?;
    fs::create_dir_all(&parent).map_err(|e| Error::io("create the folder", &parent, e))?;
    let mut parents: Vec<PathBuf> = parent
        .ancestors()
        .filter(|a| a.join(manifest::FILE_NAME).is_file())
        .filter_map(|a| a.parent().map(Path::to_path_buf))
        .collect();
    parents.reverse();
    parents.push(parent);
    parents.dedup();
    let files = parents
        .iter()
        .map(|p| lock_one(dir, p, exclusive))
        .collect::<Result<_>>()?;
    Ok(Lock(files))
}

fn lock_one(dir: &Path, parent: &Path, exclusive: bool) -> Result<fs::File> {
    let file = fs::File::open(parent).map_err(|e| Error::io("open the folder", parent, e))?;
    let mode = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    match flock(&file, mode | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
            crate::cli::note(&format!(
                "waiting: another mismatch process is writing {} (lock on {}) …",
                dir.display(),
                parent.display()
            ));
            flock(&file, mode).map_err(|e| Error::io("lock the folder", parent, e))?;
        }
        Err(e) => return Err(Error::io("lock the folder", parent, e)),
    }
    Ok(file)
}

/// `flock(2)` on an open file or folder; released when the file is closed.
fn flock(file: &fs::File, operation: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `file` is open for the whole call; flock only reads the descriptor.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The parent and the name of an output folder, symlinks resolved.
fn split(dir: &Path) -> Result<(PathBuf, String)> {
    let real = resolved(dir);
    match (real.parent(), real.file_name().and_then(|n| n.to_str())) {
        (Some(parent), Some(name)) => Ok((parent.to_path_buf(), name.to_string())),
        _ => Err(Error::Input(format!(
            "--out {}: not a folder the outputs can be written into. Fix: name a folder, e.g. --out out",
            clip(&dir.display().to_string())
        ))),
    }
}

/// A relative output path that stays inside the folder.
fn checked_relative(rel: &str) -> Result<&Path> {
    let path = Path::new(rel);
    let ok = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path)
    } else {
        Err(crate::error::internal(format!(
            "output path `{}` leaves its folder",
            clip(rel)
        )))
    }
}

/// Replaces the folder `dir` by a new set in one atomic step (see the module doc).
/// `compose` gets the current folder (read under the lock) and returns the new files
/// relative to it; with `Keep::Old` the current files it does not replace are kept.
pub fn commit(dir: &Path, keep: Keep, compose: impl FnOnce(&Path) -> Result<Vec<(String, Vec<u8>)>>) -> Result<()> {
    commit_with(dir, keep, true, compose)
}

/// Refuses, before any work, an output folder that [`commit`] would refuse (a file, or
/// a non-empty folder without a `MANIFEST`), so a long computation is not lost at the
/// end. `commit` checks again under the lock.
pub fn preflight(dir: &Path) -> Result<()> {
    let (parent, name) = split(dir)?;
    let inside_an_output_folder = parent.join(manifest::FILE_NAME).is_file();
    refuse_foreign(dir, &parent.join(name), !inside_an_output_folder)
}

fn refuse_foreign(dir: &Path, target: &Path, guard: bool) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if !m.is_dir() => Err(Error::Input(format!(
            "--out {}: is a file, not a folder. Fix: choose a folder for the outputs",
            clip(&dir.display().to_string())
        ))),
        Ok(_) => {
            let mut entries = fs::read_dir(target).map_err(|e| Error::io("read the folder", target, e))?;
            if guard && entries.next().is_some() && !target.join(manifest::FILE_NAME).is_file() {
                return Err(Error::Input(format!(
                    "--out {}: the folder holds files but no MANIFEST, so it is not an output folder of mismatch and will not be replaced. Fix: choose a new or empty folder",
                    clip(&dir.display().to_string())
                )));
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// [`commit`]; `guard` refuses a non-empty folder without a `MANIFEST` (off for a
/// folder inside an output folder, which the tool owns).
fn commit_with(
    dir: &Path,
    keep: Keep,
    guard: bool,
    compose: impl FnOnce(&Path) -> Result<Vec<(String, Vec<u8>)>>,
) -> Result<()> {
    let (parent, name) = split(dir)?;
    let target = parent.join(&name);
    let _lock = lock(dir, true)?;
    let mut steps = Steps::from_env();
    recover(&parent, &name, &target, &mut steps)?;
    refuse_foreign(dir, &target, guard)?;
    let files = compose(&target)?;
    let mut seen: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(crate::error::internal(format!(
            "two outputs would both be `{}`",
            clip(w[0])
        )));
    }
    for (rel, _) in &files {
        checked_relative(rel)?;
    }
    let staging = parent.join(format!(".{name}.mismatch-new-{}", std::process::id()));
    let staged = stage(&target, &staging, keep, &files, &mut steps);
    let swapped = staged.and_then(|()| swap(&staging, &target, &mut steps));
    if let Err(e) = swapped {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    // `staging` now holds the old set (or nothing). A kill from here on leaves it for
    // the next run to remove; the new set is already in place.
    if steps.step().is_ok() {
        let _ = fs::remove_dir_all(&staging);
    }
    Ok(())
}

/// Removes what a killed commit left next to `target`: staging folders, and (if a
/// kill came between the two renames of the fallback swap) puts the old set back.
fn recover(parent: &Path, name: &str, target: &Path, steps: &mut Steps) -> Result<()> {
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) => return Err(Error::io("read the folder", parent, e)),
    };
    let (new_prefix, old_prefix) = (format!(".{name}.mismatch-new-"), format!(".{name}.mismatch-old-"));
    let mut stale: Vec<PathBuf> = Vec::new();
    let mut old: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(&new_prefix) {
            stale.push(entry.path());
        } else if file_name.starts_with(&old_prefix) {
            old.push(entry.path());
        }
    }
    old.sort();
    if fs::symlink_metadata(target).is_err() {
        if let Some(previous) = old.pop() {
            steps.step().map_err(|e| Error::io("restore", target, e))?;
            fs::rename(&previous, target).map_err(|e| Error::io("restore", target, e))?;
        }
    }
    stale.extend(old);
    for path in stale {
        steps.step().map_err(|e| Error::io("remove the left-over", &path, e))?;
        fs::remove_dir_all(&path).map_err(|e| Error::io("remove the left-over", &path, e))?;
    }
    Ok(())
}

/// Builds the new set in `staging`: the kept old files hard-linked, the new ones
/// written and fsynced, every folder fsynced.
fn stage(target: &Path, staging: &Path, keep: Keep, files: &[(String, Vec<u8>)], steps: &mut Steps) -> Result<()> {
    steps.step().map_err(|e| Error::io("create the folder", staging, e))?;
    fs::create_dir(staging).map_err(|e| Error::io("create the folder", staging, e))?;
    let mut folders: Vec<PathBuf> = vec![staging.to_path_buf()];
    if keep == Keep::Old && target.is_dir() {
        let mut count = 0;
        link_tree(target, staging, &mut folders, &mut count, steps)?;
    }
    for (rel, bytes) in files {
        let path = staging.join(rel);
        let shown = target.join(rel);
        if let Some(folder) = path.parent() {
            if !folder.is_dir() {
                steps.step().map_err(|e| Error::io("create the folder", folder, e))?;
                fs::create_dir_all(folder).map_err(|e| Error::io("create the folder", &shown, e))?;
                folders.push(folder.to_path_buf());
            }
        }
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                return Err(Error::Input(format!(
                    "cannot replace {}: a folder is in the way. Fix: remove or rename that folder",
                    shown.display()
                )))
            }
            Ok(_) => {
                // A hard link to the old file: unlink it, never write through it.
                steps.step().map_err(|e| Error::io("replace", &shown, e))?;
                fs::remove_file(&path).map_err(|e| Error::io("replace", &shown, e))?;
            }
            Err(_) => {}
        }
        steps.step().map_err(|e| Error::io("write", &shown, e))?;
        let mut file = fs::File::create(&path).map_err(|e| Error::io("write", &shown, e))?;
        file.write_all(bytes).map_err(|e| Error::io("write", &shown, e))?;
        file.sync_all().map_err(|e| Error::io("write", &shown, e))?;
    }
    folders.sort();
    folders.dedup();
    for folder in &folders {
        sync_folder(folder)?;
    }
    Ok(())
}

/// Hard-links (or copies, where linking fails) every entry of `from` into `to`.
fn link_tree(from: &Path, to: &Path, folders: &mut Vec<PathBuf>, count: &mut usize, steps: &mut Steps) -> Result<()> {
    let entries = fs::read_dir(from).map_err(|e| Error::io("read the folder", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read the folder", from, e))?;
        *count += 1;
        if *count > MAX_KEPT_FILES {
            return Err(Error::Input(format!(
                "{}: holds more than {MAX_KEPT_FILES} entries, so it is not an output folder of mismatch. Fix: choose another --out folder",
                from.display()
            )));
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| Error::io("read", &src, e))?;
        steps.step().map_err(|e| Error::io("copy", &src, e))?;
        if kind.is_dir() {
            fs::create_dir(&dst).map_err(|e| Error::io("create the folder", &dst, e))?;
            folders.push(dst.clone());
            link_tree(&src, &dst, folders, count, steps)?;
        } else if kind.is_symlink() {
            let points_to = fs::read_link(&src).map_err(|e| Error::io("read", &src, e))?;
            std::os::unix::fs::symlink(points_to, &dst).map_err(|e| Error::io("copy", &src, e))?;
        } else if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).map_err(|e| Error::io("copy", &src, e))?;
        }
    }
    Ok(())
}

fn sync_folder(folder: &Path) -> Result<()> {
    fs::File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("sync the folder", folder, e))
}

/// Puts the staged set at `target` in one atomic step; afterwards `staging` holds the
/// old set (or does not exist, when there was none).
fn swap(staging: &Path, target: &Path, steps: &mut Steps) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new("."));
    steps.step().map_err(|e| Error::io("replace", target, e))?;
    if fs::symlink_metadata(target).is_err() {
        fs::rename(staging, target).map_err(|e| Error::io("replace", target, e))?;
        return sync_folder(parent);
    }
    match exchange(staging, target) {
        Ok(()) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
            // No RENAME_EXCHANGE on this file system: two renames; a kill between them
            // leaves `.NAME.mismatch-old-PID`, which the next run puts back.
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let old = parent.join(format!(".{name}.mismatch-old-{}", std::process::id()));
            fs::rename(target, &old).map_err(|e| Error::io("replace", target, e))?;
            steps.step().map_err(|e| Error::io("replace", target, e))?;
            fs::rename(staging, target).map_err(|e| Error::io("replace", target, e))?;
            fs::rename(&old, staging).map_err(|e| Error::io("replace", target, e))?;
        }
        Err(e) => return Err(Error::io("replace", target, e)),
    }
    sync_folder(parent)
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths; renameat2 reads them only.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_follows_the_existing_part_and_keeps_the_rest() {
        let here = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(resolved(Path::new("figures/new/x")), here.join("figures/new/x"));
        assert_eq!(resolved(Path::new("./nope/../figures")), here.join("figures"));
    }

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        assert!(checked_relative("data/a.csv").is_ok());
        for bad in ["", "../x", "/etc/x", "a/../../b", "./a"] {
            assert!(checked_relative(bad).is_err(), "{bad}");
        }
    }
}
