//! `make figures` is incremental: a second run with nothing changed does no work, and a
//! changed spec or simulation reruns only its own figure.
//!
//! The Makefile runs in a scratch folder with two real specs, stand-ins for the source
//! files it tracks, and this build's binary (`BIN=`, and `SOURCES=` so it never calls
//! cargo), so the test exercises the Makefile's rules exactly as written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const FIGURES: [&str; 2] = ["context_accumulation", "self_improvement"];

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mismatch-make-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["specs", "src/sim"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::copy("Makefile", dir.join("Makefile")).unwrap();
    for id in FIGURES {
        std::fs::copy(format!("specs/{id}.toml"), dir.join(format!("specs/{id}.toml"))).unwrap();
        std::fs::write(dir.join(format!("src/sim/{id}.rs")), "").unwrap();
    }
    std::fs::write(dir.join("src/sim/mod.rs"), "").unwrap();
    dir
}

/// Runs `make ARGS BIN=<this build> SOURCES=` in `dir`; returns (exit code, stdout).
fn make(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("make")
        .args(args)
        .arg(format!("BIN={}", env!("CARGO_BIN_EXE_mismatch")))
        .arg("SOURCES=")
        .current_dir(dir)
        .output()
        .expect("run make");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// The figures a make run (re)built, from the `mismatch run ID` lines it printed.
fn runs(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(" run ").map(|(_, id)| id.trim().to_string()))
        .collect()
}

/// Marks `path` as changed: modified a minute from now, later than any output.
fn touch(path: &Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(60)).unwrap();
}

#[test]
fn a_second_make_figures_does_nothing_and_a_change_reruns_only_its_figure() {
    let dir = scratch();
    let (code, out) = make(&dir, &["figures"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(runs(&out), FIGURES, "{out}");
    assert!(dir.join("figures/context_accumulation.svg").exists());

    let (code, out) = make(&dir, &["figures"]);
    assert_eq!(code, 0, "{out}");
    assert!(runs(&out).is_empty(), "the second make did work:\n{out}");
    assert_eq!(
        make(&dir, &["-q", "figures"]).0,
        0,
        "make -q says something is out of date"
    );

    touch(&dir.join("src/sim/self_improvement.rs"));
    assert_eq!(runs(&make(&dir, &["-n", "figures"]).1), ["self_improvement"]);
    touch(&dir.join("specs/context_accumulation.toml"));
    assert_eq!(runs(&make(&dir, &["-n", "figures"]).1), FIGURES);
    touch(&dir.join("src/sim/mod.rs"));
    assert_eq!(
        runs(&make(&dir, &["-n", "figures"]).1),
        FIGURES,
        "shared code reruns every figure"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
