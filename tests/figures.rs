//! Every figure, end to end: snapshots of its bytes, identity across thread counts,
//! agreement with the committed `figures/`, and its claims and ablation.
//!
//! Snapshots live in `tests/snapshots/`: the summary CSV and the SVG as text, the PNG
//! by its SHA-256. Any changed byte fails; `cargo insta review` shows what changed.

use mismatch::manifest::sha256_hex;
use mismatch::pipeline::{self, experiments, OutputFile};
use mismatch::spec::Source;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

fn source(id: &str) -> Source {
    Source::read(&Path::new("specs").join(format!("{id}.toml"))).expect("spec")
}

/// Builds a figure's outputs on a pool of `threads` threads.
fn outputs_with(id: &str, threads: usize) -> Vec<OutputFile> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let built = pipeline::build(&source(id), None).expect("build");
        pipeline::render_outputs(&built).expect("render")
    })
}

/// A figure's files as (path, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// Outputs on two threads, built once per test binary and shared by the tests.
fn outputs(id: &str) -> Files {
    static CACHE: OnceLock<Mutex<BTreeMap<String, Files>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap().get(id) {
        return hit.clone();
    }
    let built: Files = outputs_with(id, 2).into_iter().map(|f| (f.path, f.bytes)).collect();
    cache.lock().unwrap().insert(id.to_string(), built.clone());
    built
}

fn file<'a>(files: &'a [(String, Vec<u8>)], suffix: &str) -> &'a [u8] {
    &files.iter().find(|(p, _)| p.ends_with(suffix)).expect(suffix).1
}

#[test]
fn snapshots_of_every_figure() {
    for e in experiments() {
        let id = e.id();
        let files = outputs(id);
        let csv = String::from_utf8(file(&files, ".csv").to_vec()).unwrap();
        let svg = String::from_utf8(file(&files, ".svg").to_vec()).unwrap();
        insta::assert_snapshot!(format!("{id}_csv"), csv);
        insta::assert_snapshot!(format!("{id}_svg"), svg);
        let tex = String::from_utf8(file(&files, ".tex").to_vec()).unwrap();
        insta::assert_snapshot!(format!("{id}_tex"), tex);
        insta::assert_snapshot!(format!("{id}_png_sha256"), sha256_hex(file(&files, ".png")));
    }
}

#[test]
fn one_thread_and_two_threads_give_identical_bytes() {
    for e in experiments() {
        let one = outputs_with(e.id(), 1);
        let two = outputs(e.id());
        assert_eq!(one.len(), two.len());
        for (a, b) in one.iter().zip(two.iter()) {
            assert_eq!(a.path, b.0);
            assert!(a.bytes == b.1, "{}: {} differs between 1 and 2 threads", e.id(), a.path);
        }
    }
}

#[test]
fn committed_figures_are_current() {
    for e in experiments() {
        for (path, bytes) in outputs(e.id()) {
            let committed = std::fs::read(Path::new("figures").join(&path)).unwrap_or_default();
            assert!(
                committed == bytes,
                "figures/{path} is stale or missing: run `make figures` and commit it"
            );
        }
    }
}

// Claims and knock-outs are checked across seeds in tests/seeds.rs (seed 0 is the
// committed one) and their structure in tests/claims.rs.

#[test]
fn numbers_tex_is_snapshotted_and_committed() {
    let numbers = pipeline::numbers_tex(|id| Some(file(&outputs(id), ".tex").to_vec()));
    insta::assert_snapshot!("numbers_tex", numbers);
    let committed = std::fs::read_to_string("figures/numbers.tex").unwrap_or_default();
    assert!(
        committed == numbers,
        "figures/numbers.tex is stale: run `make figures` and commit it"
    );
    // One macro per claim of every figure.
    let claims: usize = experiments()
        .iter()
        .map(|e| pipeline::build(&source(e.id()), None).unwrap().claims.len())
        .sum();
    assert_eq!(numbers.matches("\\newcommand").count(), claims, "{numbers}");
}

#[test]
fn pdf_is_vector_with_the_embedded_font_and_the_same_bytes_every_time() {
    for e in experiments() {
        let files = outputs(e.id());
        let svg = std::str::from_utf8(file(&files, ".svg")).unwrap();
        let pdf = file(&files, ".pdf");
        // svg2pdf orders some dictionaries by hash-map order, which is seeded afresh for
        // every map: converting again, several times, must still give the same bytes.
        for _ in 0..3 {
            assert!(
                mismatch::render::pdf(svg).unwrap() == pdf,
                "{}: PDF bytes changed",
                e.id()
            );
        }
        let text = String::from_utf8_lossy(pdf);
        assert!(text.starts_with("%PDF-"), "{}", e.id());
        assert_eq!(text.matches("/FontFile2").count(), 1, "{}: one embedded font", e.id());
        assert!(
            !text.contains("/Subtype /Image"),
            "{}: a raster image in the PDF",
            e.id()
        );
        insta::assert_snapshot!(format!("{}_pdf_sha256", e.id()), sha256_hex(pdf));
    }
}
