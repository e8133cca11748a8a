//! `make bench`, first step: what each figure's simulation must do. Built with the
//! feature `count-ops` (src/ops.rs), it runs every figure's simulation once and writes
//! the number of random draws and transcendental calls of each kind to
//! `target/bench/op-counts.csv`, which `benches/stages.rs` (built without counting)
//! turns into the bound: counts × single-core cost of each operation.

use mismatch::ops::{self, Op};
use mismatch::pipeline::experiments;
use mismatch::sim::Shard;
use mismatch::spec::Source;
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let mut csv = String::from("figure");
    for op in Op::ALL {
        write!(csv, ",{}", op.name()).expect("string");
    }
    csv.push('\n');
    println!(
        "{:<22} {}",
        "figure",
        Op::ALL.map(|op| format!("{:>14}", op.name())).join("")
    );
    for e in experiments() {
        let source = Source::read(&Path::new("specs").join(format!("{}.toml", e.id()))).expect("spec");
        ops::take_counts();
        e.observe(&source, Shard::ALL, None).expect("simulate");
        let counts = ops::take_counts().expect("built with the feature count-ops");
        println!("{:<22} {}", e.id(), counts.map(|c| format!("{c:>14}")).join(""));
        write!(csv, "{}", e.id()).expect("string");
        for c in counts {
            write!(csv, ",{c}").expect("string");
        }
        csv.push('\n');
    }
    std::fs::create_dir_all("target/bench").expect("target/bench");
    std::fs::write("target/bench/op-counts.csv", csv).expect("target/bench/op-counts.csv");
}
