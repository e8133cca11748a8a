//! The claims machinery as a reviewer uses it (DESIGN.md §3): kinds on every claim,
//! knock-outs that must break what they carry, verdicts across seeds, robustness maps
//! that are the same bytes for any thread or shard count, and one clear message for
//! every malformed knock-out or grid.
//!
//! Spec variants are made at test time from the committed `specs/ID.toml` text, so the
//! tests follow the models as they change.

mod common;

use common::{mismatch, scratch, stderr, stdout, FIGURES as IDS};
use std::path::{Path, PathBuf};

fn spec_text(id: &str) -> String {
    std::fs::read_to_string(format!("specs/{id}.toml")).unwrap()
}

/// The spec of `id` with its `[[knockouts]]` and `[[robustness]]` tables removed and
/// `tail` appended, written to `dir/name.toml`.
fn variant(dir: &Path, name: &str, id: &str, edit: impl Fn(String) -> String, tail: &str) -> PathBuf {
    let text = spec_text(id);
    let cut = [text.find("\n[[knockouts]]"), text.find("\n[[robustness]]")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(text.len());
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{}\n{tail}", edit(text[..cut].to_string()))).unwrap();
    path
}

/// The first `[params]` key of a spec whose value is a plain number.
fn first_numeric_param(id: &str) -> (String, f64) {
    first_param(id, |_| true)
}

/// The first `[params]` key of a spec whose value is a decimal number (a float: a map
/// may step it by 10%).
fn first_float_param(id: &str) -> (String, f64) {
    first_param(id, |v| v.contains('.'))
}

/// The first `[params]` key whose value, as written, passes `written` and is a number.
fn first_param(id: &str, written: impl Fn(&str) -> bool) -> (String, f64) {
    let text = spec_text(id);
    let params = &text[text.find("[params]").unwrap()..];
    for line in params.lines().skip(1) {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.split('#').next().unwrap().trim();
            if let (true, Ok(x)) = (written(v), v.parse::<f64>()) {
                return (k.trim().to_string(), x);
            }
        }
    }
    panic!("no such parameter in {id}");
}

/// The id of the first claim of kind `finding` in a spec.
fn first_finding(id: &str) -> String {
    let text = spec_text(id);
    let mut last_id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id = \"") {
            last_id = Some(v.trim_end_matches('"').to_string());
        }
        if line.trim() == "kind = \"finding\"" {
            if let Some(id) = last_id {
                return id;
            }
        }
    }
    panic!("no finding in {id}");
}

#[test]
fn every_finding_is_carried_by_a_knockout() {
    for id in IDS {
        let text = spec_text(id);
        let table: toml::Table = toml::from_str(&text).unwrap();
        let claims = table["claims"].as_array().unwrap();
        let knockouts = table
            .get("knockouts")
            .and_then(|k| k.as_array())
            .cloned()
            .unwrap_or_default();
        for claim in claims {
            let cid = claim["id"].as_str().unwrap();
            let kind = claim.get("kind").and_then(|k| k.as_str());
            assert!(
                matches!(kind, Some("finding" | "premise" | "sanity")),
                "{id}: claim `{cid}` has no valid kind"
            );
            if kind == Some("finding") {
                let carried = knockouts
                    .iter()
                    .any(|k| k["breaks"].as_array().unwrap().iter().any(|b| b.as_str() == Some(cid)));
                assert!(carried, "{id}: finding `{cid}` is named in no knock-out's `breaks`");
            }
        }
    }
}

#[test]
fn bad_knockouts_and_grids_fail_with_one_clear_message() {
    let dir = scratch("bad");
    let id = "context_accumulation";
    let (param, value) = first_numeric_param(id);
    let finding = first_finding(id);
    let ko = |set: &str, breaks: &str| {
        format!("[[knockouts]]\nid = \"k\"\nassumption = \"a\"\nset = {{ {set} }}\nbreaks = [{breaks}]\n")
    };
    let good_ko = ko(&format!("\"params.{param}\" = {value}"), &format!("\"{finding}\""));
    let map = |x: &str| format!("[[robustness]]\nid = \"m\"\nsays = \"s\"\nx = {x}\nseeds = 2\n");
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("missing_kind", String::new(), good_ko.clone(), "missing field `kind`"),
        (
            "unknown_kind",
            String::new(),
            good_ko.clone(),
            "unknown variant `assumption`",
        ),
        (
            "knockout_unknown_param",
            String::new(),
            ko("\"params.no_such_knob\" = 1.0", &format!("\"{finding}\"")),
            "knockouts.k.set",
        ),
        (
            "knockout_breaks_unknown",
            String::new(),
            ko(&format!("\"params.{param}\" = {value}"), "\"no_such_claim\""),
            "knockouts.k.breaks",
        ),
        (
            "grid_empty",
            String::new(),
            format!(
                "{good_ko}{}",
                map(&format!("{{ key = \"params.{param}\", values = [] }}"))
            ),
            "robustness.m.x",
        ),
        (
            "grid_unknown_key",
            String::new(),
            format!(
                "{good_ko}{}",
                map("{ key = \"params.no_such_knob\", values = [1.0, 2.0] }")
            ),
            "robustness.m.x.key",
        ),
    ];
    for (name, _, tail, expect) in cases {
        let path = variant(
            &dir,
            name,
            id,
            |t| match name {
                "missing_kind" => t.replacen("kind = \"finding\"\n", "", 1),
                "unknown_kind" => t.replacen("kind = \"finding\"", "kind = \"assumption\"", 1),
                _ => t,
            },
            &tail,
        );
        let out = mismatch(&["check", "--spec", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(expect), "{name}: expected `{expect}` in: {err}");
        assert!(err.contains(&format!("{name}.toml")), "{name}: names no file: {err}");
        assert!(err.contains("Fix"), "{name}: states no fix: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one message, got: {err}");
    }
}

#[test]
fn a_knockout_that_does_not_break_its_finding_fails_check_naming_both() {
    let dir = scratch("inert");
    let id = "context_accumulation";
    let (param, value) = first_numeric_param(id);
    let finding = first_finding(id);
    // Setting a parameter to its own value removes nothing.
    let tail = format!(
        "[[knockouts]]\nid = \"inert\"\nassumption = \"nothing\"\nset = {{ \"params.{param}\" = {value} }}\nbreaks = [\"{finding}\"]\n"
    );
    let path = variant(&dir, "inert", id, |t| t, &tail);
    // 200 replicates: the spec's own claims must hold, so the inert knock-out is the only failure.
    let out = mismatch(&["check", "--spec", path.to_str().unwrap(), "--set", "replicates=200"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}\n{}", stdout(&out));
    assert!(
        err.contains(&format!("knock-out inert does not break {finding}")),
        "the message must name the knock-out and the finding: {err}"
    );
}

#[test]
fn robustness_maps_are_the_same_bytes_for_any_thread_or_shard_count() {
    let dir = scratch("maps");
    let id = "context_accumulation";
    let (param, value) = first_numeric_param(id);
    let tail = format!(
        "[[robustness]]\nid = \"tiny\"\nsays = \"a two-point test map\"\nx = {{ key = \"params.{param}\", values = [{value}, {}] }}\nseeds = 2\nreplicates = 8\n",
        value * 1.1
    );
    let spec = variant(&dir, id, id, |t| t.replace("replicates = ", "replicates = 8 #"), &tail);
    let spec = spec.to_str().unwrap();
    let run = |name: &str, extra: &[&str]| -> PathBuf {
        let out_dir = dir.join(name);
        let mut args = vec![
            "robustness",
            "--spec",
            spec,
            "--seeds",
            "2",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = mismatch(&args);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{name}: {}", stderr(&out));
        out_dir
    };
    let one = run("t1", &["--threads", "1"]);
    let two = run("t2", &["--threads", "2"]);
    let shards = dir.join("shards");
    for i in 0..3 {
        let part = format!("{i}/3");
        let out = mismatch(&[
            "robustness",
            "--spec",
            spec,
            "--shard",
            &part,
            "--out",
            shards.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "shard {part}: {}", stderr(&out));
    }
    let merged = run("merged", &["--merge", shards.to_str().unwrap()]);
    let files = [
        "data/context_accumulation.csv",
        "context_accumulation.svg",
        "context_accumulation.png",
        "data/context_accumulation.seeds.csv",
        "numbers.tex",
    ];
    for f in files {
        let a = std::fs::read(one.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(a, std::fs::read(two.join(f)).unwrap(), "{f}: 1 vs 2 threads");
        assert_eq!(a, std::fs::read(merged.join(f)).unwrap(), "{f}: 1 run vs 3 shards");
    }
    let csv = std::fs::read_to_string(one.join("data/context_accumulation.csv")).unwrap();
    assert!(
        csv.starts_with("map,finding,x_key,x,y_key,y,seeds,held,share\n"),
        "{csv}"
    );
    assert!(csv.lines().count() > 2, "{csv}");
}

#[test]
fn check_reports_holds_at_k_of_n_seeds() {
    let out = mismatch(&[
        "check",
        "context_accumulation",
        "--seeds",
        "2",
        "--set",
        "replicates=16",
    ]);
    let text = stdout(&out);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert!(text.contains("2 seeds: 250909677, "), "{text}");
    assert!(text.contains("of 2 seeds (needs 2)"), "{text}");
}

#[test]
fn verify_robustness_rebuilds_every_map_and_names_a_changed_or_missing_file() {
    // Every figure at 4 replicates with one two-point map: `make robustness`'s outputs
    // in miniature, rebuilt and compared by `verify --robustness`.
    let dir = scratch("verify-robustness");
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    for id in IDS {
        let (param, value) = first_float_param(id);
        let tail = format!(
            "[[robustness]]\nid = \"tiny\"\nsays = \"a two-point test map\"\nx = {{ key = \"params.{param}\", values = [{value}, {}] }}\nseeds = 2\nreplicates = 4\n",
            value * 1.1
        );
        variant(
            &specs,
            id,
            id,
            |t| t.replacen("replicates = ", "replicates = 4 #", 1),
            &tail,
        );
    }
    let (specs, figures) = (specs.to_str().unwrap(), dir.join("figures"));
    let robustness = figures.join("robustness");
    let out = mismatch(&["run", "--all", "--specs", specs, "--out", figures.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "run: {}", stderr(&out));
    // At 4 replicates claims may fail (exit 1); the outputs are written either way.
    let out = mismatch(&[
        "robustness",
        "--all",
        "--specs",
        specs,
        "--seeds",
        "2",
        "--out",
        robustness.to_str().unwrap(),
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "robustness: {}", stderr(&out));
    let verify = || {
        mismatch(&[
            "verify",
            "--robustness",
            "--figures",
            figures.to_str().unwrap(),
            "--specs",
            specs,
        ])
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "verify: {}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("robustness files identical"), "{}", stdout(&out));

    let changed = robustness.join("data/calibration.seeds.csv");
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes.extend_from_slice(b"tampered\n");
    std::fs::write(&changed, bytes).unwrap();
    let missing = robustness.join("self_improvement.png");
    std::fs::remove_file(&missing).unwrap();
    let out = verify();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains(&format!("differs   {}", changed.display())), "{text}");
    assert!(text.contains(&format!("missing   {}", missing.display())), "{text}");
}
