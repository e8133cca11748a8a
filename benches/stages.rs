//! `make bench`: wall time of each pipeline stage of every figure, with 1 and 2
//! threads, the median of several runs. Run in the release profile (the only one).
//!
//! Stages: `simulate` (replicates, parallel), `total` (spec to all output bytes:
//! simulate + analyse + lay out + SVG + PNG), and for the serial tail `svg` and `png`.

use mismatch::pipeline::{self, experiments};
use mismatch::render;
use mismatch::sim::Shard;
use mismatch::spec::Source;
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    println!(
        "{:<22} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "figure", "threads", "simulate", "analyse", "svg", "png", "total"
    );
    for e in experiments() {
        if !filter.is_empty() && !filter.iter().any(|f| f == e.id()) {
            continue;
        }
        let source = Source::read(&Path::new("specs").join(format!("{}.toml", e.id()))).expect("spec");
        let mut totals = Vec::new();
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let simulate = time(RUNS, || {
                    e.observe(&source, Shard::ALL, None).expect("simulate");
                });
                let observations = e.observe(&source, Shard::ALL, None).expect("simulate");
                let analyse = time(RUNS, || {
                    mismatch::analysis::summarise(&observations).expect("analyse");
                });
                let built = e.build(&source, None).expect("build");
                let svg = render::svg(e.id(), &built.figure).expect("svg");
                let svg_t = time(RUNS, || {
                    render::svg(e.id(), &built.figure).expect("svg");
                });
                let png_t = time(RUNS, || {
                    render::png(&svg).expect("png");
                });
                let total = time(RUNS, || {
                    let built = e.build(&source, None).expect("build");
                    pipeline::render_outputs(&built).expect("render");
                });
                totals.push(total);
                println!(
                    "{:<22} {:>7} {} {} {} {} {}",
                    e.id(),
                    threads,
                    ms(simulate),
                    ms(analyse),
                    ms(svg_t),
                    ms(png_t),
                    ms(total)
                );
            });
        }
        println!(
            "{:<22} speed-up with 2 threads: {:.2}×",
            e.id(),
            totals[0].as_secs_f64() / totals[1].as_secs_f64()
        );
    }
}
