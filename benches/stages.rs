//! `make bench`: wall time of each pipeline stage of every figure, the median of
//! several runs, in the release profile (the only one).
//!
//! - `sim 1t`, `sim 2t`: the simulation (all replicates) with 1 and 2 threads, and
//!   `scaling` = sim 1t / sim 2t.
//! - `bound`: what the simulation must cost at one thread: its random draws and
//!   transcendental calls (counted by `benches/counts.rs`, in
//!   `target/bench/op-counts.csv`) times the single-core cost of each, measured here
//!   in isolation; `×bound` = sim 1t / bound.
//! - `NumPy`: the NumPy baseline of the same model (bench/numpy/ID.py, one thread,
//!   simulate + summarise, from `make bench-numpy`), and `×NumPy` = NumPy / sim 1t.
//! - The serial tail: `analyse` (summaries and claims), `svg`, `png`, and `total`
//!   (spec to all output bytes at 2 threads).

use mismatch::ops::{self, Op, KINDS};
use mismatch::pipeline::{self, experiments};
use mismatch::render;
use mismatch::rng::Stream;
use mismatch::sim::Shard;
use mismatch::spec::Source;
use std::hint::black_box;
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
    format!("{:7.1} ms", d.as_secs_f64() * 1e3)
}

/// Nanoseconds per call of each operation of `Op::ALL`, each measured alone at one
/// thread on inputs spread over the range the models use.
fn op_costs() -> [f64; KINDS] {
    const N: usize = 4_000_000;
    let mut stream = Stream::new(1, "bench", 0, "inputs");
    let unit: Vec<f64> = (0..4096).map(|_| stream.uniform_open0()).collect();
    let per_call = |f: &dyn Fn(usize) -> f64| {
        let t = time(RUNS, || {
            let mut acc = 0.0;
            for i in 0..N {
                acc += f(i);
            }
            black_box(acc);
        });
        t.as_secs_f64() * 1e9 / N as f64
    };
    let u = |i: usize| black_box(unit[i & 4095]);
    let draw = {
        let mut s = Stream::new(1, "bench", 0, "draws");
        let t = time(RUNS, || {
            let mut acc = 0u64;
            for _ in 0..N {
                acc ^= s.next_u64();
            }
            black_box(acc);
        });
        t.as_secs_f64() * 1e9 / N as f64
    };
    // A batch function's cost per element, on 4096 inputs at a time.
    let per_element = |inputs: Vec<f64>, f: fn(&mut [f64])| {
        let mut buffer = inputs.clone();
        let t = time(RUNS, || {
            for _ in 0..N / inputs.len() {
                buffer.copy_from_slice(&inputs);
                f(black_box(&mut buffer));
            }
            black_box(&buffer);
        });
        t.as_secs_f64() * 1e9 / (N / inputs.len() * inputs.len()) as f64
    };
    let negative: Vec<f64> = unit.iter().map(|u| -10.0 * u).collect();
    let negative_for_table = negative.clone();
    [
        draw,
        per_call(&|i| libm::exp(-10.0 * u(i))),
        per_call(&|i| libm::log(u(i))),
        per_call(&|i| libm::pow(u(i), 1.0 + 99.0 * u(i + 1))),
        per_call(&|i| libm::cos(std::f64::consts::TAU * u(i))),
        per_call(&|i| libm::sqrt(10.0 * u(i))),
        per_element(negative.clone(), ops::exp_batch),
        per_element(negative.clone(), ops::exact::exp_batch),
        per_element(unit.clone(), ops::exact::log_batch),
        per_element(negative_for_table, ops::table::exp_batch),
    ]
}

/// The NumPy baselines' seconds (`make bench-numpy`), by figure.
fn numpy_seconds() -> Vec<(String, f64)> {
    let Ok(text) = std::fs::read_to_string("target/bench/numpy-seconds.csv") else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let (id, secs) = line.split_once(',')?;
            Some((id.to_string(), secs.parse().ok()?))
        })
        .collect()
}

/// The counts `benches/counts.rs` wrote, by figure.
fn op_counts() -> Option<Vec<(String, [f64; KINDS])>> {
    let text = std::fs::read_to_string("target/bench/op-counts.csv").ok()?;
    text.lines()
        .skip(1)
        .map(|line| {
            let mut fields = line.split(',');
            let id = fields.next()?.to_string();
            let mut counts = [0.0; KINDS];
            for c in counts.iter_mut() {
                *c = fields.next()?.parse().ok()?;
            }
            Some((id, counts))
        })
        .collect()
}

fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
        .install(f)
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let costs = op_costs();
    println!("single-core cost per operation (ns):");
    for (op, cost) in Op::ALL.iter().zip(costs) {
        println!("  {:<8} {cost:6.2}", op.name());
    }
    let counts = op_counts();
    if counts.is_none() {
        println!(
            "(no readable target/bench/op-counts.csv with a column for each of the {KINDS} kinds above: \
             run `make bench`, or `cargo bench --features count-ops --bench counts`, for the bound)"
        );
    }
    let numpy = numpy_seconds();
    println!(
        "{:<22} {:>10} {:>10} {:>8} {:>10} {:>7} {:>10} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "figure", "sim 1t", "sim 2t", "scaling", "bound", "×bound", "NumPy", "×NumPy", "analyse", "svg", "png", "total"
    );
    for e in experiments() {
        if !filter.is_empty() && !filter.iter().any(|f| f == e.id()) {
            continue;
        }
        let source = Source::read(&Path::new("specs").join(format!("{}.toml", e.id()))).expect("spec");
        let simulate = |threads| {
            on_threads(threads, || {
                time(RUNS, || {
                    e.observe(&source, Shard::ALL, None).expect("simulate");
                })
            })
        };
        let (sim1, sim2) = (simulate(1), simulate(2));
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
        let total = on_threads(2, || {
            time(RUNS, || {
                let built = e.build(&source, None).expect("build");
                pipeline::render_outputs(&built).expect("render");
            })
        });
        let bound = counts
            .as_ref()
            .and_then(|all| all.iter().find(|(id, _)| id == e.id()))
            .map(|(_, c)| Duration::from_secs_f64(c.iter().zip(costs).map(|(n, ns)| n * ns).sum::<f64>() * 1e-9));
        let (bound_text, ratio) = match bound {
            Some(b) => (ms(b), format!("{:6.2}×", sim1.as_secs_f64() / b.as_secs_f64())),
            None => ("         -".into(), "      -".into()),
        };
        let (numpy_text, ahead) = match numpy.iter().find(|(id, _)| id == e.id()) {
            Some((_, secs)) => (
                ms(Duration::from_secs_f64(*secs)),
                format!("{:6.2}×", secs / sim1.as_secs_f64()),
            ),
            None => ("         -".into(), "      -".into()),
        };
        println!(
            "{:<22} {} {} {:>7.2}× {} {} {} {} {} {} {} {}",
            e.id(),
            ms(sim1),
            ms(sim2),
            sim1.as_secs_f64() / sim2.as_secs_f64(),
            bound_text,
            ratio,
            numpy_text,
            ahead,
            ms(analyse),
            ms(svg_t),
            ms(png_t),
            ms(total)
        );
    }
}
