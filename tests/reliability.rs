//! Issue 17, as a hostile user would try it: an output set replaced whole or not at
//! all (a kill or a failed step at every file-system step), a lock that serialises
//! writers, merge that trusts nothing in a shard, limits on every size, no panic on a
//! closed or full stream, bad specs made from the current specs by edits, and a seeded
//! spec mutator.
//!
//! The runs use `--set replicates=R` (or scratch specs with few replicates) and change
//! only header keys (`seed`, `replicates`), so the tests do not depend on any model.

mod common;

use common::{bin, mismatch, scratch, stderr, FIGURES};
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The figures, and the one the write-phase tests build (any would do).
const FIGURE: &str = "self_improvement";
const FEW: &str = "replicates=4";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir` (relative path → bytes); folders that hold nothing as `x/`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut any = false;
        for entry in std::fs::read_dir(dir).unwrap() {
            any = true;
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
        if !any && !prefix.is_empty() {
            out.insert(prefix.to_string(), Vec::new());
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, "", &mut out);
    }
    out
}

/// Names in `parent` that a commit into `parent/name` leaves only when killed.
fn leftovers(parent: &Path, name: &str) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{name}.mismatch-")))
        .collect()
}

fn run_seed(out: &Path, seed: u32, fault: Option<String>) -> Output {
    let mut cmd = bin();
    cmd.args([
        "run",
        FIGURE,
        "--set",
        FEW,
        "--set",
        &format!("seed={seed}"),
        "--out",
        s(out),
    ]);
    cmd.args(["--threads", "2"]);
    if let Some(f) = fault {
        cmd.env("MISMATCH_FAULT_AFTER", f);
    }
    cmd.output().unwrap()
}

#[test]
fn a_kill_or_a_failure_at_any_write_step_leaves_the_old_set_or_the_new_one() {
    let dir = scratch("atomic");
    let out = dir.join("out");
    let fresh = dir.join("fresh");
    assert!(run_seed(&fresh, 2, None).status.success());
    let new = snapshot(&fresh);
    assert!(run_seed(&out, 1, None).status.success());
    let old = snapshot(&out);
    assert_ne!(old, new);
    for mode in ["", ":error"] {
        let mut k = 1;
        loop {
            let o = run_seed(&out, 2, Some(format!("{k}{mode}")));
            let now = snapshot(&out);
            assert!(!stderr(&o).contains("panicked"), "k={k}{mode}: {}", stderr(&o));
            if o.status.success() && now == new && leftovers(&dir, "out").is_empty() {
                break; // the run passed its last step
            }
            assert!(now == old || now == new, "k={k}{mode}: a mixed set: {:?}", now.keys());
            if mode == ":error" && now == old {
                assert_eq!(o.status.code(), Some(2), "k={k}: {}", stderr(&o));
                assert!(
                    leftovers(&dir, "out").is_empty(),
                    "k={k}: a failed step left {:?}",
                    leftovers(&dir, "out")
                );
            }
            if mode.is_empty() && !o.status.success() {
                assert_eq!(o.status.code(), Some(137), "k={k}: {}", stderr(&o));
            }
            // The next run removes what the killed one left, and writes its set.
            let o = run_seed(&out, 1, None);
            assert!(o.status.success(), "k={k}{mode}: {}", stderr(&o));
            assert_eq!(snapshot(&out), old, "k={k}{mode}");
            assert!(
                leftovers(&dir, "out").is_empty(),
                "k={k}{mode}: {:?}",
                leftovers(&dir, "out")
            );
            k += 1;
            assert!(k < 200, "the run never finished");
        }
        assert!(k > 10, "too few steps ({k}) were interrupted");
        assert!(run_seed(&out, 1, None).status.success());
    }
}

#[test]
fn a_folder_in_the_way_fails_before_anything_is_replaced() {
    let dir = scratch("obstacle");
    let out = dir.join("out");
    assert!(run_seed(&out, 1, None).status.success());
    std::fs::remove_file(out.join(format!("{FIGURE}.svg"))).unwrap();
    std::fs::create_dir_all(out.join(format!("{FIGURE}.svg/x"))).unwrap();
    let before = snapshot(&out);
    let o = run_seed(&out, 2, None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a folder is in the way"), "{}", stderr(&o));
    assert_eq!(snapshot(&out), before, "nothing may change");
    assert!(leftovers(&dir, "out").is_empty());
}

#[test]
fn a_folder_that_is_not_an_output_folder_is_not_replaced() {
    let dir = scratch("foreign");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let o = run_seed(&dir, 1, None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no MANIFEST"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn a_second_writer_waits_for_the_lock_and_says_so() {
    let dir = scratch("lock");
    assert_writer_waits(&dir, &dir.join("out"));
}

/// `figures/robustness` lies inside the output folder `figures`: replacing `figures`
/// replaces it too, so its writers take the lock of `figures` as well.
#[test]
fn a_writer_of_a_folder_inside_an_output_folder_waits_for_the_outer_lock() {
    let dir = scratch("nested-lock");
    let outer = dir.join("outer");
    std::fs::create_dir_all(&outer).unwrap();
    std::fs::write(outer.join("MANIFEST"), "").unwrap();
    assert_writer_waits(&dir, &outer.join("inner"));
}

/// Holds the writers' lock on `held` and checks that a run into `out` waits for it.
fn assert_writer_waits(held: &Path, out: &Path) {
    let held = std::fs::File::open(held).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: an open descriptor; flock(2) as the writers take it.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut child = bin()
        .args(["run", FIGURE, "--set", FEW, "--threads", "2", "--out", s(out)])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    // Long enough for the run to finish if it did not wait.
    for _ in 0..12 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the writer did not wait for the lock"
    );
    assert!(!out.exists(), "the writer wrote while the lock was held");
    drop(held);
    let status = child.wait().unwrap();
    let text = reader.join().unwrap();
    assert!(status.success(), "{text}");
    assert!(text.contains("waiting: another mismatch process is writing"), "{text}");
    assert!(out.join("MANIFEST").exists());
}

/// Scratch specs with few replicates, the Makefile, and stand-ins for the sources.
fn make_scratch(name: &str) -> PathBuf {
    let dir = scratch(name);
    for sub in ["specs", "src/sim"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy("Makefile", dir.join("Makefile")).unwrap();
    for id in FIGURES {
        let text = std::fs::read_to_string(format!("specs/{id}.toml")).unwrap();
        let few: String = text
            .lines()
            .map(|l| {
                if l.starts_with("replicates =") {
                    "replicates = 3".to_string()
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect();
        std::fs::write(dir.join(format!("specs/{id}.toml")), few).unwrap();
        std::fs::write(dir.join(format!("src/sim/{id}.rs")), "").unwrap();
    }
    std::fs::write(dir.join("src/sim/mod.rs"), "").unwrap();
    dir
}

fn make(dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .args(args)
        .arg(format!("BIN={}", env!("CARGO_BIN_EXE_mismatch")))
        .arg("SOURCES=")
        .current_dir(dir)
        .output()
        .expect("run make")
}

#[test]
fn make_j_figures_gives_the_bytes_of_make_figures_and_verify_names_unexpected_files() {
    let (serial, parallel) = (make_scratch("make1"), make_scratch("make4"));
    let o = make(&serial, &["figures"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = make(&parallel, &["-j4", "figures"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (snapshot(&serial.join("figures")), snapshot(&parallel.join("figures")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "make -j4 figures differs from make figures");
    assert_eq!(a.len(), 27, "{:?}", a.keys());
    // verify (against the scratch specs) passes, then names every unexpected entry.
    let figures = serial.join("figures");
    let specs = serial.join("specs");
    let verify = || {
        mismatch(&[
            "verify",
            "--threads",
            "2",
            "--figures",
            s(&figures),
            "--specs",
            s(&specs),
        ])
    };
    let o = verify();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    std::fs::write(figures.join("extra.svg"), "x").unwrap();
    std::fs::write(figures.join("data/.x.csv.tmp-1"), "x").unwrap();
    std::fs::create_dir(figures.join("sub")).unwrap();
    let o = verify();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for name in ["extra.svg", "data/.x.csv.tmp-1", "sub/"] {
        assert!(
            text.lines().any(|l| l.starts_with("unexpected") && l.ends_with(name)),
            "{name}: {text}"
        );
    }
    let o = mismatch(&["verify", "--figures", "/nonexistent/figures"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_one_is_exit_2() {
    // A pipe whose reader is gone before the first line.
    for args in [vec!["list"], vec!["list", "--ids"], vec!["--help"]] {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills two new descriptors; the read end is closed at once and
        // the write end is owned by the File.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        unsafe { libc::close(fds[0]) };
        let writer = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
        let out = bin().args(&args).stdout(writer).output().unwrap();
        assert!(!stderr(&out).contains("panicked"), "{args:?}: {}", stderr(&out));
        if args[0] != "--help" {
            assert_eq!(out.status.code(), Some(141), "{args:?}: {}", stderr(&out));
            assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
        }
    }
    for args in [vec!["list"], vec!["list", "--ids"]] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = bin().args(&args).stdout(full).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("No space left"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = bin().args(["run", "nope"]).stderr(full).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unprintable error still exits 2, without a panic"
    );
}

/// Shards 0/2 and 1/2 of FIGURE with few replicates, in a fresh folder.
fn shards(dir: &Path) -> (PathBuf, PathBuf) {
    let folder = dir.join("shards");
    for part in ["0/2", "1/2"] {
        let o = mismatch(&[
            "run",
            FIGURE,
            "--set",
            FEW,
            "--shard",
            part,
            "--threads",
            "2",
            "--out",
            s(&folder),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    (
        folder.join(format!("{FIGURE}.shard-0-of-2.csv")),
        folder.join(format!("{FIGURE}.shard-1-of-2.csv")),
    )
}

/// The text with its closing digest recomputed, as a tamperer who knows the format would.
fn redigest(text: &str) -> String {
    use sha2::Digest as _;
    let body = &text[..text.rfind("# digest: ").unwrap()];
    let hex: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{body}# digest: {hex}\n")
}

#[test]
fn merge_refuses_every_tampered_shard_naming_the_file_and_the_line() {
    let dir = scratch("merge");
    let (zero, one) = shards(&dir);
    let merged = dir.join("merged");
    let o = mismatch(&["merge", s(zero.parent().unwrap()), "--out", s(&merged)]);
    assert!(o.status.success(), "untampered shards merge: {}", stderr(&o));
    let original = std::fs::read_to_string(&one).unwrap();
    let rows: Vec<&str> = original
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(','))
        .skip(1)
        .collect();
    let row = rows[rows.len() / 2];
    let cells: Vec<&str> = row.split(',').collect();
    let with = |cells: &[&str]| cells.join(",");
    let count = |t: &str, by: i64| {
        let n: i64 = t
            .lines()
            .find_map(|l| l.strip_prefix("# rows: "))
            .unwrap()
            .parse()
            .unwrap();
        t.replace(&format!("# rows: {n}\n"), &format!("# rows: {}\n", n + by))
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "an edited value, digest left",
            original.replacen(row, &with(&[cells[0], cells[1], cells[2], cells[3], "0.123"]), 1),
            "digest does not match",
        ),
        (
            "a NaN",
            redigest(&original.replacen(row, &with(&[cells[0], cells[1], cells[2], cells[3], "NaN"]), 1)),
            "must be finite",
        ),
        (
            "a row twice",
            redigest(&count(&original.replacen(row, &format!("{row}\n{row}"), 1), 1)),
            "appear twice",
        ),
        (
            "a row removed, count fixed",
            count(&original.replacen(&format!("{row}\n"), "", 1), -1),
            "digest does not match",
        ),
        (
            "replicate 999999",
            redigest(&original.replacen(row, &with(&[cells[0], cells[1], cells[2], "999999", cells[4]]), 1)),
            "replicate 999999",
        ),
        (
            "a new arm",
            redigest(&count(
                &original.replacen(
                    row,
                    &format!("{row}\n{}", with(&["evil_arm", cells[1], cells[2], cells[3], cells[4]])),
                    1,
                ),
                1,
            )),
            "arms and metrics",
        ),
        (
            "another tool",
            redigest(&original.replacen("# tool: mismatch ", "# tool: mismatch 9", 1)),
            "made by mismatch 9",
        ),
        (
            "an injected override",
            redigest(&original.replacen("# figure:", "# override: seed=6\n# figure:", 1)),
            "--set overrides differs",
        ),
        (
            "edited replicates in the spec",
            redigest(&original.replacen("# spec: replicates = ", "# spec: replicates = 1", 1)),
            "the spec differs",
        ),
        (
            "no digest",
            original[..original.rfind("# digest: ").unwrap()].to_string(),
            "no closing `# digest:`",
        ),
    ];
    for (what, text, expect) in cases {
        assert_ne!(text, original, "{what}: the tamper changed nothing");
        std::fs::write(&one, &text).unwrap();
        let o = mismatch(&[
            "merge",
            s(one.parent().unwrap()),
            "--out",
            s(&dir.join(format!("m-{}", what.replace(' ', "_")))),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: accepted: {err}");
        assert!(err.contains(expect), "{what}: expected `{expect}` in {err}");
        assert!(
            err.contains(".shard-"),
            "{what}: the message does not name the shard: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
    }
    std::fs::write(&one, &original).unwrap();
    // Shard counts are bounded, and --set values are one line.
    let o = mismatch(&[
        "run",
        FIGURE,
        "--set",
        FEW,
        "--shard",
        "0/4000000000",
        "--out",
        s(&dir.join("huge")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("shards"), "{}", stderr(&o));
    let o = mismatch(&[
        "run",
        FIGURE,
        "--set",
        "seed=5\n# override: seed=6",
        "--shard",
        "0/1",
        "--out",
        s(&dir.join("nl")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(!dir.join("nl").exists());
    // Shards never go into figures/.
    let o = mismatch(&["run", FIGURE, "--set", FEW, "--shard", "0/2", "--out", "figures"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn limits_are_refused_before_any_work() {
    let dir = scratch("limits");
    let out = s(&dir);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", FIGURE, "--set", "replicates=100000000", "--out", out],
            "must be at most 100000",
        ),
        (vec!["run", "--spec", "/dev/zero", "--out", out], "larger than 1024 KiB"),
        (vec!["check", FIGURE, "--threads", "3000"], "3000"),
        (vec!["run", FIGURE, "--set", "replicates=1", "--out", out], "at least 2"),
    ];
    for (args, expect) in cases {
        let t = std::time::Instant::now();
        let o = mismatch(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        assert!(t.elapsed().as_secs() < 10, "{args:?} took {:?}", t.elapsed());
    }
    let long = format!("title={}", "x".repeat(100_000));
    let o = mismatch(&["run", FIGURE, "--set", &long, "--out", out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).len() < 2_000,
        "a 5 MB value is echoed: {} bytes",
        stderr(&o).len()
    );
}

#[test]
fn the_committed_figures_cannot_be_reached_by_a_side_door() {
    let dir = scratch("guard");
    std::fs::create_dir_all(dir.join("figures")).unwrap();
    std::fs::create_dir_all(dir.join("specs")).unwrap();
    let spec = std::fs::read_to_string(format!("specs/{FIGURE}.toml")).unwrap();
    std::fs::write(dir.join(format!("specs/{FIGURE}.toml")), &spec).unwrap();
    std::os::unix::fs::symlink(dir.join("figures"), dir.join("link")).unwrap();
    let edited = dir.join("edited.toml");
    std::fs::write(&edited, spec.replacen("seed = ", "seed = 7", 1)).unwrap();
    let in_dir = |args: &[&str]| bin().args(args).current_dir(&dir).output().unwrap();
    for args in [
        vec!["run", FIGURE, "--set", FEW, "--out", "figures/newdir"],
        vec!["run", FIGURE, "--set", FEW, "--out", "link/sub"],
        vec!["run", FIGURE, "--set", FEW, "--out", "./x/../figures"],
        vec!["run", "--spec", "edited.toml", "--out", "figures"],
    ] {
        let o = in_dir(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("committed figures"), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read_dir(dir.join("figures")).unwrap().count(), 0);
    // An edited --spec with no --out goes to out/, not figures/.
    let o = in_dir(&["run", "--spec", "edited.toml", "--set", FEW, "--threads", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("out/MANIFEST").exists());
    assert_eq!(std::fs::read_dir(dir.join("figures")).unwrap().count(), 0);
    // A spec whose id is not its file's figure.
    let other = "context_accumulation";
    std::fs::write(dir.join(format!("specs/{other}.toml")), &spec).unwrap();
    let o = in_dir(&["run", other, "--set", FEW, "--out", "o"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("but the file is the spec of `{other}`")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_sweep_with_colliding_points_is_refused_before_simulating() {
    let dir = scratch("sweep");
    for grid in ["seed = [5, 5]", "replicates = [3]\nseed = [1, 2]"] {
        let file = dir.join("dup.toml");
        std::fs::write(&file, format!("figure = \"{FIGURE}\"\n[grid]\n{grid}\n")).unwrap();
        let t = std::time::Instant::now();
        let o = mismatch(&["sweep", s(&file), "--out", s(&dir.join("out"))]);
        if grid.contains("[1, 2]") {
            // Distinct points run (3 replicates may fail claims: exit 1, still written).
            assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
            assert!(dir.join("out/sweep.csv").exists());
            continue;
        }
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("two points with the folder"), "{}", stderr(&o));
        assert!(t.elapsed().as_secs() < 5);
    }
    assert!(leftovers(&dir, "out").is_empty());
}

// ---- bad specs made by edits of the current specs ----

/// Applies one `# edit:` of a fixture to a spec's text.
fn apply(text: &str, op: &str) -> Vec<u8> {
    let (verb, rest) = op.split_once(' ').unwrap_or((op, ""));
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let first_table = lines.iter().position(|l| l.starts_with('[')).unwrap_or(lines.len());
    let is_key = |l: &str, key: &str| {
        l.strip_prefix(key)
            .map(|r| r.trim_start().starts_with('='))
            .unwrap_or(false)
    };
    let join = |lines: Vec<String>| (lines.join("\n") + "\n").into_bytes();
    let top_key = |key: &str| {
        lines[..first_table]
            .iter()
            .position(|l| is_key(l, key))
            .unwrap_or_else(|| panic!("no top-level `{key}` in the spec"))
    };
    let first_claim = || {
        let start = lines
            .iter()
            .position(|l| l.trim() == "[[claims]]")
            .expect("a [[claims]] table");
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.starts_with('['))
            .map(|i| start + 1 + i)
            .unwrap_or(lines.len());
        (start, end)
    };
    match verb {
        "set" => {
            let (key, value) = rest.split_once(' ').unwrap();
            let mut lines = lines.clone();
            lines[top_key(key)] = format!("{key} = {value}");
            join(lines)
        }
        "drop" => {
            let mut lines = lines.clone();
            lines.remove(top_key(rest));
            join(lines)
        }
        "top" => {
            let mut lines = lines.clone();
            let at = lines
                .iter()
                .position(|l| !l.starts_with('#') && !l.trim().is_empty())
                .unwrap();
            lines.insert(at, rest.to_string());
            join(lines)
        }
        "claim" => {
            let (key, value) = rest.split_once(' ').unwrap();
            let (start, end) = first_claim();
            let mut lines = lines.clone();
            match (start + 1..end).find(|&i| is_key(&lines[i], key)) {
                Some(i) => lines[i] = format!("{key} = {value}"),
                None => lines.insert(start + 1, format!("{key} = {value}")),
            }
            join(lines)
        }
        "dupclaim" => {
            let (start, end) = first_claim();
            let mut lines = lines.clone();
            let copy: Vec<String> = lines[start..end].to_vec();
            lines.extend(copy);
            join(lines)
        }
        "whole" => rest.as_bytes().to_vec(),
        "bytes" => rest.split(' ').map(|h| u8::from_str_radix(h, 16).unwrap()).collect(),
        "pad" => {
            let n: usize = rest.parse().unwrap();
            let mut bytes = text.as_bytes().to_vec();
            bytes.extend(format!("\n# {}\n", "p".repeat(n)).into_bytes());
            bytes
        }
        _ => panic!("unknown edit `{verb}`"),
    }
}

#[test]
fn every_bad_spec_edit_fails_on_every_figure_with_its_stated_message_and_exit_2() {
    let dir = scratch("edits");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir("tests/specs/bad")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "edit"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 30,
        "need at least 30 bad-spec edits, found {}",
        fixtures.len()
    );
    for fixture in fixtures {
        let text = std::fs::read_to_string(&fixture).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .expect("an `# expect:` line");
        let edits: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# edit: ")).collect();
        assert!(!edits.is_empty(), "{}: no `# edit:` line", fixture.display());
        for id in FIGURES {
            let mut spec: Vec<u8> = std::fs::read(format!("specs/{id}.toml")).unwrap();
            for edit in &edits {
                spec = apply(&String::from_utf8_lossy(&spec), edit);
            }
            let stem = fixture.file_stem().unwrap().to_string_lossy();
            let path = dir.join(format!("{stem}__{id}.toml"));
            std::fs::write(&path, &spec).unwrap();
            let t = std::time::Instant::now();
            let o = mismatch(&["run", "--spec", s(&path), "--out", s(&dir.join("out"))]);
            let err = stderr(&o);
            let name = format!("{stem} on {id}");
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(err.contains(expect), "{name}: expected `{expect}` in: {err}");
            assert!(
                err.contains(&format!("{stem}__{id}.toml")),
                "{name}: the message does not name the file: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(err.len() < 2_000, "{name}: {} bytes", err.len());
            assert!(!err.contains("panicked"), "{name}: {err}");
            assert!(
                t.elapsed().as_secs() < 5,
                "{name}: refused only after {:?}",
                t.elapsed()
            );
        }
    }
    assert!(!dir.join("out").exists(), "a failed run wrote files");
}

// ---- a seeded spec mutator ----

/// SplitMix64: a tiny seeded generator, so every mutated spec can be replayed.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const VALUES: [&str; 24] = [
    "0", "-1", "1", "2", "1e308", "-1e308", "nan", "inf", "-inf", "\"\"", "\"x\"", "[]", "{}", "true",
    "4294967296", "18446744073709551616", "1.5", "\"\\u0000\"", "\"a\\nb\"", "[1, 2", "= =", "0.0", "-0.0",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
];

/// One random mutation of a spec's text: a value replaced, a line removed, doubled or
/// swapped, a cut, a stray byte.
fn mutate(text: &str, rng: &mut Mix) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    let i = rng.below(n);
    match rng.below(7) {
        0 | 1 => {
            if let Some((k, _)) = lines[i].split_once('=') {
                lines[i] = format!("{k}= {}", VALUES[rng.below(VALUES.len())]);
            }
        }
        2 => {
            lines.remove(i);
        }
        3 => {
            let copy = lines[i].clone();
            lines.insert(rng.below(n), copy);
        }
        4 => lines.swap(i, rng.below(n)),
        5 => {
            let cut = rng.below(lines[i].len() + 1);
            if lines[i].is_char_boundary(cut) {
                lines[i].truncate(cut);
            }
        }
        _ => {
            let at = rng.below(lines[i].len() + 1);
            let c = ['"', '[', '{', ']', '=', ',', '\\', '#', '.', '\u{0}'][rng.below(10)];
            if lines[i].is_char_boundary(at) {
                lines[i].insert(at, c);
            }
        }
    }
    lines.join("\n") + "\n"
}

/// `MISMATCH_MUTANTS=N` runs N mutated specs (default 1000; the long run is 100 000).
#[test]
fn a_thousand_mutated_specs_parse_and_validate_without_a_panic() {
    let cases: usize = std::env::var("MISMATCH_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let bases: Vec<String> = FIGURES
        .iter()
        .map(|id| std::fs::read_to_string(format!("specs/{id}.toml")).unwrap())
        .collect();
    let mut rng = Mix(17);
    let (mut refused, mut accepted) = (0, 0);
    for case in 0..cases {
        let mut text = bases[case % bases.len()].clone();
        for _ in 0..=rng.below(3) {
            text = mutate(&text, &mut rng);
        }
        let source = mismatch::spec::Source {
            path: PathBuf::from(format!("mutant-{case}.toml")),
            text: text.clone(),
            overrides: Vec::new(),
        };
        let outcome =
            std::panic::catch_unwind(|| mismatch::pipeline::declared(&source).and_then(|e| e.validate(&source)));
        match outcome {
            Err(_) => panic!("case {case} panicked on:\n{text}"),
            Ok(Ok(())) => accepted += 1,
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("mutant-"),
                    "case {case}: the message does not name the file: {msg}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(accepted + refused, cases);
    assert!(
        refused > cases / 4,
        "the mutator barely changes anything: {refused} of {cases} refused"
    );
}

/// Issue 17, item 11: a claim selector that names no row (an arm the model does not
/// make, an x it does not compute) is found after the simulation, but the error still
/// names the spec file and the claim, exits 2, and writes nothing.
#[test]
fn a_claim_naming_no_row_is_refused_naming_the_spec_and_the_claim() {
    let dir = scratch("selector");
    let text = std::fs::read_to_string("specs/context_accumulation.toml").unwrap();
    let first_arm = "arm = \"small/open-loop\"";
    assert!(text.contains(first_arm), "the spec changed: update this test");
    let cases = [
        (
            "arm",
            text.replacen(first_arm, "arm = \"small/no-such-arm\"", 1),
            "no-such-arm",
        ),
        ("x", text.replacen("x = 1.0 }", "x = 7.5 }", 1), "no row at x = 7.5"),
    ];
    for (what, edited, expect) in cases {
        std::fs::create_dir_all(dir.join(what)).unwrap();
        let spec = dir.join(what).join("context_accumulation.toml");
        std::fs::write(&spec, edited).unwrap();
        let out = dir.join(format!("out-{what}"));
        for args in [
            vec!["run", "--spec", s(&spec), "--set", FEW, "--out", s(&out)],
            vec!["check", "--spec", s(&spec), "--set", FEW],
        ] {
            let o = mismatch(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(s(&spec)), "{args:?} does not name the spec file: {err}");
            assert!(err.contains("claim `"), "{args:?} does not name the claim: {err}");
            assert!(err.contains(expect), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        }
        assert!(!out.exists(), "{what}: a refused run wrote {}", out.display());
    }
}

/// An output folder that would be refused at the end (a file, or files without a
/// MANIFEST) is refused before the simulation, so minutes of work are not lost.
#[test]
fn a_foreign_output_folder_is_refused_before_any_work() {
    let dir = scratch("foreign");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    for args in [
        vec!["run", "offline_correction", "--out", s(&dir)],
        vec!["robustness", "offline_correction", "--seeds", "20", "--out", s(&dir)],
    ] {
        let t = std::time::Instant::now();
        let o = mismatch(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("no MANIFEST"), "{args:?}: {}", stderr(&o));
        assert!(
            t.elapsed().as_secs() < 2,
            "{args:?} worked {:?} before refusing",
            t.elapsed()
        );
    }
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
}
