//! The command line as a user meets it: exit codes, one clear message per bad input,
//! outputs untouched by a failed run, and the analysis' independence of polars' threads.

mod common;

use common::{copy_tree, mismatch, scratch, stderr, tree};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The expectation a bad spec states about itself: `# expect: <text in the error>`.
fn expectation(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()))
        .to_string()
}

#[test]
fn every_bad_spec_fails_with_its_stated_message_and_exit_2() {
    let dir = scratch("bad");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir("tests/specs/bad")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 12,
        "need at least 12 bad specs, found {}",
        fixtures.len()
    );
    for path in fixtures {
        let out = mismatch(&["run", "--spec", path.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert!(
            err.contains(&expectation(&path)),
            "{}: expected `{}` in: {err}",
            path.display(),
            expectation(&path)
        );
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()) || err.contains("--set"),
            "{}: message does not name the file: {err}",
            path.display()
        );
        assert_eq!(err.lines().count(), 1, "{}: one message, got: {err}", path.display());
        assert!(!err.contains("panicked"), "{}: {err}", path.display());
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "a failed run wrote files");
}

#[test]
fn a_failed_run_leaves_existing_outputs_untouched() {
    let dir = scratch("untouched");
    std::fs::write(dir.join("context_accumulation.svg"), "old").unwrap();
    let out = mismatch(&[
        "run",
        "context_accumulation",
        "--out",
        dir.to_str().unwrap(),
        "--set",
        "params.window=0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("params.window"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("context_accumulation.svg")).unwrap(),
        "old"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn an_unwritable_output_folder_is_a_clear_error() {
    let dir = scratch("unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = mismatch(&[
        "run",
        "context_accumulation",
        "--out",
        blocker.to_str().unwrap(),
        "--set",
        "replicates=2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(blocker.to_str().unwrap()), "{}", stderr(&out));
}

#[test]
fn exit_codes_and_help() {
    assert_eq!(mismatch(&["list", "--ids"]).status.code(), Some(0));
    let ids = String::from_utf8(mismatch(&["list", "--ids"]).stdout).unwrap();
    assert!(ids.lines().any(|l| l == "context_accumulation"));
    assert_eq!(mismatch(&["run", "no_such_figure"]).status.code(), Some(2));
    assert_eq!(mismatch(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        mismatch(&["run", "context_accumulation", "--threads", "0"])
            .status
            .code(),
        Some(2)
    );
    let missing = mismatch(&["run", "--spec", "no/such/spec.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no/such/spec.toml"));
    let help = String::from_utf8(mismatch(&["run", "--help"]).stdout).unwrap();
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn check_exits_1_when_a_claim_fails() {
    // Without self-conditioning nothing feeds back, so the findings fail.
    let out = mismatch(&["check", "--spec", "tests/specs/failing_claims.toml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL finding feedback_small"), "{stdout}");
}

#[test]
fn set_overrides_go_to_their_own_folder_and_unknown_keys_are_refused() {
    let out = mismatch(&["run", "context_accumulation", "--set", "params.no_such_key=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("params.no_such_key"), "{}", stderr(&out));
    for out_dir in ["figures", "./figures/sub"] {
        let out = mismatch(&[
            "run",
            "context_accumulation",
            "--set",
            "params.window=20",
            "--out",
            out_dir,
        ]);
        assert_eq!(out.status.code(), Some(2), "{out_dir}");
        assert!(
            stderr(&out).contains("must not go over the committed figures"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_sweep_builds_every_point_in_its_own_folder_and_tabulates_the_claims() {
    let dir = scratch("sweep");
    let out = mismatch(&["sweep", "tests/specs/sweeps/small.toml", "--out", dir.to_str().unwrap()]);
    // 16 replicates are too few for every claim: the sweep still writes every point,
    // and its exit code says that something failed.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let table = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("point,params.window,replicates,finding:") && lines[0].contains("/breaks/"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("params.window=10__replicates=16,10,16,"),
        "{table}"
    );
    for point in ["params.window=10__replicates=16", "params.window=50__replicates=16"] {
        let svg = std::fs::read_to_string(dir.join(point).join("context_accumulation.svg")).unwrap();
        // The provenance names the overrides, so the file says it is not the paper's figure.
        assert!(
            svg.contains("replicates=16; tool=mismatch") && svg.contains("; overrides=params.window="),
            "{point}"
        );
        assert!(dir.join(point).join("MANIFEST").exists());
    }

    let bad = mismatch(&[
        "sweep",
        "tests/specs/sweeps/bad_value.toml",
        "--out",
        dir.join("bad").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = stderr(&bad);
    assert!(
        err.contains("bad_value.toml: point params.horizon_success=1.5") && err.contains("horizon_success"),
        "{err}"
    );
    assert!(!dir.join("bad").exists(), "a refused sweep wrote outputs");

    let refused = mismatch(&["sweep", "tests/specs/sweeps/small.toml", "--out", "figures"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn analysis_is_identical_for_one_and_two_polars_threads() {
    let (one, two) = (scratch("polars1"), scratch("polars2"));
    for (dir, n) in [(&one, "1"), (&two, "2")] {
        let out = Command::new(env!("CARGO_BIN_EXE_mismatch"))
            .args(["run", "--all", "--out", dir.to_str().unwrap()])
            .env("POLARS_MAX_THREADS", n)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let a = std::fs::read_to_string(one.join("MANIFEST")).unwrap();
    let b = std::fs::read_to_string(two.join("MANIFEST")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn the_streaming_engine_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_mismatch"))
        .args([
            "run",
            "context_accumulation",
            "--out",
            scratch("streaming").to_str().unwrap(),
        ])
        .env("POLARS_FORCE_STREAMING", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("POLARS_FORCE_STREAMING"));
}

#[test]
fn verify_passes_on_the_committed_figures_and_names_a_tampered_file() {
    let dir = scratch("verify");
    copy_tree(Path::new("figures"), &dir);
    let ok = mismatch(&["verify", "--figures", dir.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));

    let csv = dir.join("data/context_accumulation.csv");
    // Tamper with the `mean` (4th column) of the first data row.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<&str> = lines[1].split(',').collect();
    cells[3] = "123.000000";
    lines[1] = cells.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    std::fs::remove_file(dir.join("context_accumulation.png")).unwrap();
    let bad = mismatch(&["verify", "--figures", dir.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("differs") && l.ends_with("data/context_accumulation.csv")),
        "{report}"
    );
    // How the data differs: which rows and columns, and by how much at most.
    assert!(
        report.contains("1 of ") && report.contains("(columns mean)") && report.contains("largest change: mean at"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("missing") && l.ends_with("context_accumulation.png")),
        "{report}"
    );
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    tree(dir).into_iter().map(|(path, _)| PathBuf::from(path)).collect()
}

#[test]
fn merged_shards_are_byte_identical_to_one_unsharded_run() {
    let (a, b, merged) = (scratch("shard-a"), scratch("shard-b"), scratch("merged"));
    // Three shards, written to two folders as two machines would.
    for (part, dir) in [("0/3", &a), ("1/3", &b), ("2/3", &b)] {
        let out = mismatch(&["run", "--all", "--shard", part, "--out", dir.to_str().unwrap()]);
        assert!(out.status.success(), "shard {part}: {}", stderr(&out));
    }
    // Two shards of five figures, and the MANIFEST that marks an output folder.
    assert_eq!(files_under(&b).len(), 11, "{:?}", files_under(&b));

    // An incomplete set is refused, naming what is missing, and writes nothing.
    let incomplete = merged.join("incomplete");
    let out = mismatch(&["merge", a.to_str().unwrap(), "--out", incomplete.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("shard(s) 1/3, 2/3 missing"), "{}", stderr(&out));
    assert!(!incomplete.exists());

    let out = mismatch(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The committed figures are one unsharded run (`committed_figures_are_current`).
    let committed = Path::new("figures");
    // figures/robustness/ is made by `make robustness`, not by `run`.
    let figure_files: Vec<PathBuf> = files_under(committed)
        .into_iter()
        .filter(|f| !f.starts_with("robustness"))
        .collect();
    assert_eq!(files_under(&merged), figure_files);
    for file in figure_files {
        let (x, y) = (
            std::fs::read(merged.join(&file)).unwrap(),
            std::fs::read(committed.join(&file)).unwrap(),
        );
        assert!(
            x == y,
            "{} differs between the merged shards and one run",
            file.display()
        );
    }
}

#[test]
fn shards_run_with_set_merge_to_the_same_run_with_set_and_stay_out_of_figures() {
    let (one, shards, merged) = (scratch("set-one"), scratch("set-shards"), scratch("set-merged"));
    let set = ["--set", "replicates=24", "--set", "params.window=20"];
    let mut args = vec!["run", "context_accumulation", "--out", one.to_str().unwrap()];
    args.extend(set);
    assert!(mismatch(&args).status.success());
    for part in ["0/2", "1/2"] {
        let mut args = vec![
            "run",
            "context_accumulation",
            "--shard",
            part,
            "--out",
            shards.to_str().unwrap(),
        ];
        args.extend(set);
        let out = mismatch(&args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let refused = mismatch(&["merge", shards.to_str().unwrap(), "--out", "figures"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let out = mismatch(&["merge", shards.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files_under(&merged), files_under(&one));
    for file in files_under(&one) {
        let (x, y) = (
            std::fs::read(merged.join(&file)).unwrap(),
            std::fs::read(one.join(&file)).unwrap(),
        );
        assert!(
            x == y,
            "{} differs between the merged shards and one run",
            file.display()
        );
    }
    let svg = std::fs::read_to_string(merged.join("context_accumulation.svg")).unwrap();
    assert!(
        svg.contains("overrides=replicates=24 params.window=20"),
        "provenance lost the overrides"
    );
}
