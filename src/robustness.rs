//! Where the claims hold (DESIGN.md §3, issue "claims a skeptical reviewer cannot
//! break"): the multi-seed verdicts of `mismatch check --seeds N` as tables, and the
//! robustness maps of each spec's `[[robustness]]` grids.
//!
//! A map's work is a list of *cells*, one per (map, grid point, seed), in a fixed
//! order: maps in spec order, grid points with x varying fastest, seeds 0…S−1. A
//! cell's verdicts depend only on its spec, point and seed, so cells can run in any
//! order, on any number of threads or shards (`--shard i/n` runs the cells whose index
//! is i mod n), and the assembled table is the same bytes.
//!
//! Outputs (under `figures/robustness/` by default):
//! - `ID.svg`, `ID.png`, `ID.pdf`: per finding, the share of seeds at which it holds
//!   over the grid (a line per finding for a one-axis map; a panel per finding and a
//!   line per y value for a two-axis map), with the 95% threshold dashed.
//! - `data/ID.csv`: `map,finding,x_key,x,y_key,y,seeds,held,share`.
//! - `data/ID.seeds.csv`: the multi-seed check: per condition (the spec, or a
//!   knock-out) and claim, the seeds met, required, and the spread of its number.
//! - `data/ID.tex`: a `…Spread` macro per claim, e.g. `0.81–0.87 over 20 seeds`.
//! - `ID.regions.txt`: per finding, the grid points where it holds at ≥ 95% of seeds.

use crate::analysis::claims::{self, Verdict};
use crate::analysis::numbers::{camel, latex};
use crate::analysis::Row;
use crate::error::{internal, Error, Result};
use crate::pipeline::{self, CheckReport, OutputFile, Role, Tally};
use crate::render::{self, Axis, Figure, Mark, Panel, Series};
use crate::sim::Shard;
use crate::spec::{numeric, show_point, Claim, Kind, Robustness, Source};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The folder under `figures/` the robustness outputs go to.
pub const FOLDER: &str = "robustness";

/// `numbers.tex` of the robustness folder: the spread macros of every figure in paper
/// order, from `files` (just made) or, for figures not rerun, from `out/data/ID.tex`.
pub fn numbers_tex(out: &std::path::Path, files: &[(std::path::PathBuf, Vec<u8>)]) -> String {
    let mut text = String::from("% Spread of each claim's number over the seeds of `make robustness`.\n% Use: \\input{figures/robustness/numbers.tex}, then e.g. \\ContextAccumulationFeedbackSmallSpread.\n");
    for e in pipeline::experiments() {
        let path = out.join(format!("data/{}.tex", e.id()));
        let bytes = files
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| b.clone())
            .or_else(|| std::fs::read(&path).ok());
        if let Some(b) = bytes {
            text.push_str(&String::from_utf8_lossy(&b));
        }
    }
    text
}

/// The share of seeds a finding must hold at to count as holding at a grid point.
pub const THRESHOLD: f64 = 0.95;

/// One unit of map work: seed `seed` of grid point `point` of map `map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub map: usize,
    pub point: usize,
    pub seed: u32,
}

/// A cell's outcome: for each finding of its map, whether it held and its number.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    pub cell: Cell,
    pub held: Vec<bool>,
    pub values: Vec<f64>,
}

/// Every cell of every map, in the fixed order.
pub fn cells(maps: &[Robustness]) -> Vec<Cell> {
    let mut out = Vec::new();
    for (m, map) in maps.iter().enumerate() {
        for point in 0..map.points().len() {
            for seed in 0..map.seeds {
                out.push(Cell { map: m, point, seed });
            }
        }
    }
    out
}

/// The findings a map covers: those it names, or every finding of the spec.
pub fn findings_of<'a>(map: &Robustness, claims: &'a [Claim]) -> Vec<&'a Claim> {
    claims
        .iter()
        .filter(|c| c.kind == Kind::Finding && (map.findings.is_empty() || map.findings.contains(&c.id)))
        .collect()
}

/// Runs one cell: the spec at the grid point (with the map's replicate count) and the
/// cell's seed, its findings evaluated.
pub fn run_cell(source: &Source, maps: &[Robustness], claims: &[Claim], cell: Cell) -> Result<CellResult> {
    let map = &maps[cell.map];
    let mut point = map.points()[cell.point].clone();
    if let Some(r) = map.replicates {
        point.push(("replicates".to_string(), r.to_string()));
    }
    let at_point = source.clone().with_overrides(&point);
    let experiment = pipeline::declared(&at_point)?;
    let spec_seed = experiment.analyse_header(source)?.seed;
    let seeded = at_point.at_seed(crate::rng::seed_k(spec_seed, cell.seed));
    let analysed = experiment.analyse(&seeded)?;
    let verdicts: Vec<Verdict> = findings_of(map, claims)
        .into_iter()
        .map(|c| claims::evaluate(&analysed.summary, c).map_err(|e| e.within(&source.path.display().to_string())))
        .collect::<Result<_>>()?;
    Ok(CellResult {
        cell,
        held: verdicts.iter().map(|v| v.holds).collect(),
        values: verdicts.iter().map(|v| v.value).collect(),
    })
}

/// Runs the cells of `shard` (all of them for [`Shard::ALL`]), in cell order. Cells
/// run in parallel (each is a whole small simulation, so this scales where the
/// replicates of one cell are too few to), and a cell's result depends only on the
/// cell, so the order of completion changes nothing. `progress(k, n)` is told as the
/// k-th cell completes.
pub fn run_cells(source: &Source, shard: Shard, progress: impl Fn(usize, usize) + Sync) -> Result<Vec<CellResult>> {
    let claims = pipeline::declared(source)?.claims_of(source)?;
    let all = cells(&claims.robustness);
    let mine: Vec<(usize, Cell)> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.owns(*i as u64))
        .collect();
    let done = AtomicUsize::new(0);
    mine.par_iter()
        .map(|(_, cell)| {
            let result = run_cell(source, &claims.robustness, &claims.claims, *cell);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, mine.len());
            result
        })
        .collect()
}

/// One row of a map's table.
struct MapRow<'a> {
    map: &'a Robustness,
    finding: &'a str,
    x: f64,
    y: Option<f64>,
    held: usize,
    seeds: usize,
}

/// Counts, per map, finding and grid point, the seeds at which the finding held.
/// Refuses an incomplete or duplicated set of cells.
fn tabulate<'a>(maps: &'a [Robustness], claims: &'a [Claim], results: &[CellResult]) -> Result<Vec<MapRow<'a>>> {
    let expected = cells(maps);
    let mut sorted: Vec<&CellResult> = results.iter().collect();
    let key = |c: &Cell| (c.map, c.point, c.seed);
    sorted.sort_by_key(|r| key(&r.cell));
    if sorted.len() != expected.len() || sorted.iter().zip(&expected).any(|(r, c)| r.cell != *c) {
        return Err(Error::Input(format!(
            "the robustness cells are incomplete or duplicated: {} given, {} expected. Fix: run or merge every shard of the same spec",
            results.len(),
            expected.len()
        )));
    }
    let mut rows = Vec::new();
    let mut next = sorted.iter();
    for map in maps {
        let findings = findings_of(map, claims);
        let points = map.points();
        for (p, _) in points.iter().enumerate() {
            let mut held = vec![0usize; findings.len()];
            for _ in 0..map.seeds {
                let r = next.next().ok_or_else(|| internal("cell count checked"))?;
                if r.held.len() != findings.len() {
                    return Err(internal("a cell's findings differ from its map's"));
                }
                for (h, ok) in held.iter_mut().zip(&r.held) {
                    *h += usize::from(*ok);
                }
            }
            let (xi, yi) = (p % map.x.values.len(), p / map.x.values.len());
            let x = numeric(&map.x.values[xi]).unwrap_or(f64::NAN);
            let y = map.y.as_ref().and_then(|axis| numeric(&axis.values[yi]));
            for (f, claim) in findings.iter().enumerate() {
                rows.push(MapRow {
                    map,
                    finding: &claim.id,
                    x,
                    y,
                    held: held[f],
                    seeds: map.seeds as usize,
                });
            }
        }
    }
    Ok(rows)
}

/// A number in the fixed text format of the tables (shortest round-trip form).
fn num(v: f64) -> String {
    format!("{v}")
}

/// A claim's number in the seeds table: six decimals (DESIGN.md §2.7).
fn fixed(v: f64) -> String {
    format!("{v:.6}")
}

fn map_csv(rows: &[MapRow]) -> String {
    let mut out = String::from("map,finding,x_key,x,y_key,y,seeds,held,share\n");
    for r in rows {
        let (y_key, y) = match (&r.map.y, r.y) {
            (Some(axis), Some(y)) => (axis.key.as_str(), num(y)),
            _ => ("", String::new()),
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{:.4}\n",
            r.map.id,
            r.finding,
            r.map.x.key,
            num(r.x),
            y_key,
            y,
            r.seeds,
            r.held,
            r.held as f64 / r.seeds as f64
        ));
    }
    out
}

/// Per finding, the grid points where it holds at ≥ 95% of seeds, as sentences.
fn regions(id: &str, rows: &[MapRow]) -> String {
    let mut out = format!("# {id}: where each finding holds at >= 95% of seeds\n");
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if seen.contains(&(r.map.id.as_str(), r.finding)) {
            continue;
        }
        seen.push((r.map.id.as_str(), r.finding));
        let of: Vec<&MapRow> = rows
            .iter()
            .filter(|o| o.map.id == r.map.id && o.finding == r.finding)
            .collect();
        let holding: Vec<String> = of
            .iter()
            .filter(|o| o.held as f64 >= THRESHOLD * o.seeds as f64)
            .map(|o| match (&o.map.y, o.y) {
                (Some(axis), Some(y)) => format!("({}={}, {}={})", o.map.x.key, num(o.x), axis.key, num(y)),
                _ => format!("{}={}", o.map.x.key, num(o.x)),
            })
            .collect();
        out.push_str(&format!(
            "{} / {}: holds at {} of {} grid points ({} seeds each): {}\n",
            r.map.id,
            r.finding,
            holding.len(),
            of.len(),
            r.seeds,
            if holding.is_empty() {
                "none".to_string()
            } else {
                holding.join(" ")
            }
        ));
    }
    out
}

/// The map figure: a panel per one-axis map (a line per finding) and a panel per
/// finding of each two-axis map (a line per y value).
/// The spec's own point (the paper's figure) is marked on every panel.
fn map_figure(source: &Source, rows: &[MapRow], maps: &[Robustness]) -> Result<Figure> {
    let mut panels = Vec::new();
    let letter = |i: usize| char::from(b'a' + (i % 26) as u8);
    for map in maps {
        let of: Vec<&MapRow> = rows.iter().filter(|r| r.map.id == map.id).collect();
        let xs: Vec<f64> = map.x.values.iter().filter_map(numeric).collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
        let pad = if hi > lo { 0.04 * (hi - lo) } else { 0.5 };
        let x_axis = Axis::linear(&map.x.key.replace("params.", ""), lo - pad, hi + pad);
        let y_axis = || Axis::linear("share of seeds where it holds", -0.03, 1.03);
        let threshold = Series::exact(
            "95% of seeds",
            6,
            Mark::Dotted,
            [(lo - pad, THRESHOLD), (hi + pad, THRESHOLD)],
        );
        let mut findings: Vec<&str> = Vec::new();
        for r in &of {
            if !findings.contains(&r.finding) {
                findings.push(r.finding);
            }
        }
        // Lines that coincide (a finding holding everywhere) are drawn side by side:
        // series k of n is nudged along x by (k − (n−1)/2)·1.2% of the range, with markers.
        let nudge = |k: usize, n: usize| (k as f64 - (n as f64 - 1.0) / 2.0) * 0.012 * (hi - lo).max(1e-9);
        let line = |label: &str, color: usize, pick: &dyn Fn(&MapRow) -> bool| {
            let pts: Vec<Row> = of
                .iter()
                .filter(|r| pick(r))
                .map(|r| {
                    let share = r.held as f64 / r.seeds as f64;
                    Row {
                        x: r.x,
                        mean: share,
                        lo: share,
                        hi: share,
                        n: r.seeds as u32,
                    }
                })
                .collect();
            Series {
                band: false,
                ..Series::new(label, color, Mark::Line, pts)
            }
        };
        let with_markers = |series: Vec<Series>| -> Vec<Series> {
            let n = series.len();
            let mut out = Vec::new();
            for (k, s) in series.into_iter().enumerate() {
                let s = s.nudged(nudge(k, n));
                out.push(Series {
                    label: String::new(),
                    mark: Mark::Points,
                    ..s.clone()
                });
                out.push(s);
            }
            out
        };
        match &map.y {
            None => {
                let mut series = with_markers(
                    findings
                        .iter()
                        .enumerate()
                        .map(|(i, f)| Series {
                            // Six colours (black and the faint yellow are kept out):
                            // past six findings the colours repeat, dashed.
                            mark: if i < 6 { Mark::Line } else { Mark::Dashed },
                            ..line(f, i % 6, &|r: &MapRow| r.finding == *f)
                        })
                        .collect(),
                );
                series.push(threshold.clone());
                if let Some(x) = source.number_at(&map.x.key) {
                    series.push(Series::exact(PAPER, 6, Mark::Dashed, [(x, -0.03), (x, 1.03)]));
                }
                panels.push(Panel {
                    title: format!("({}) {}", letter(panels.len()), map.id),
                    x: x_axis.clone(),
                    y: y_axis(),
                    series,
                    legend_columns: 2,
                });
            }
            Some(y) => {
                let paper = source.number_at(&map.x.key).zip(source.number_at(&y.key));
                for f in &findings {
                    panels.push(heat_panel(
                        // The axes name the map; the title only the finding, on one line.
                        format!("({}) {}", letter(panels.len()), f),
                        map,
                        y,
                        of.iter().filter(|r| r.finding == *f).copied(),
                        paper,
                    ));
                }
            }
        }
    }
    if panels.is_empty() {
        return Err(internal("a robustness figure with no map"));
    }
    // Up to six panels in two columns; more heat maps in three, so a map of many
    // findings stays shorter at text width. Line maps keep two: their legends name
    // every finding and need the width.
    let heat_maps_only = maps.iter().all(|m| m.y.is_some());
    let columns = if panels.len() > 6 && heat_maps_only { 3 } else { 2 };
    let rows_of_panels = panels.len().div_ceil(columns) as u32;
    let row_height = if columns == 3 { 300 } else { 330 };
    Ok(Figure {
        columns,
        ..Figure::column_width(80 + row_height * rows_of_panels, panels)
    })
}

/// The legend of the mark at the spec's own point.
const PAPER: &str = "the paper's figure";

/// The shade classes of a heat-map cell: the share of seeds at which the finding held.
const HEAT_CLASSES: [(&str, f64); 3] = [("≥ 95% of seeds", 1.0), ("50–95%", 0.4), ("< 50%", 0.0)];

fn heat_class(share: f64) -> usize {
    if share >= THRESHOLD - 1e-12 {
        0
    } else if share >= 0.5 {
        1
    } else {
        2
    }
}

/// One finding of a two-axis map as a heat map: a cell per grid point, its x and y
/// values as categories (evenly spaced whatever their numbers), shaded by the class of
/// the share of seeds at which the finding held.
fn heat_panel<'a>(
    title: String,
    map: &Robustness,
    y: &crate::spec::GridAxis,
    rows: impl Iterator<Item = &'a MapRow<'a>>,
    paper: Option<(f64, f64)>,
) -> Panel {
    let names = |axis: &crate::spec::GridAxis| -> Vec<String> {
        axis.values
            .iter()
            .map(|v| numeric(v).map(num).unwrap_or_else(|| v.to_string()))
            .collect()
    };
    let (x_names, y_names) = (names(&map.x), names(y));
    let position = |names: &[String], v: f64| names.iter().position(|n| *n == num(v));
    let index = |names: &[String], v: f64| position(names, v).unwrap_or(0) as f64;
    let mut classes: Vec<Vec<Row>> = vec![Vec::new(); HEAT_CLASSES.len()];
    for r in rows {
        let share = r.held as f64 / r.seeds as f64;
        classes[heat_class(share)].push(Row {
            x: index(&x_names, r.x),
            mean: index(&y_names, r.y.unwrap_or(f64::NAN)),
            lo: share,
            hi: share,
            n: r.seeds as u32,
        });
    }
    let mut series: Vec<Series> = HEAT_CLASSES
        .iter()
        .zip(classes)
        .map(|(&(label, shade), rows)| Series {
            band: false,
            ..Series::new(
                label,
                0,
                Mark::Tiles {
                    width: 1.0,
                    height: 1.0,
                    shade,
                },
                rows,
            )
        })
        .collect();
    // The paper's point, where it is a grid point: a black dot on its cell.
    if let Some((px, py)) = paper {
        if let (Some(i), Some(j)) = (position(&x_names, px), position(&y_names, py)) {
            series.push(Series::exact(PAPER, 6, Mark::Points, [(i as f64, j as f64)]));
        }
    }
    Panel {
        title,
        x: Axis::categories(&map.x.key.replace("params.", ""), &as_strs(&x_names)),
        y: Axis::categories(&y.key.replace("params.", ""), &as_strs(&y_names)),
        series,
        legend_columns: 2,
    }
}

fn as_strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// The multi-seed check as a table.
fn seeds_csv(report: &CheckReport) -> String {
    let mut out = String::from("condition,role,claim,kind,met,seeds,required,passes,min,median,max\n");
    let mut push = |condition: &str, t: &Tally| {
        let (lo, mid, hi) = t.spread();
        let role = match t.role {
            Role::Holds => "holds",
            Role::Breaks => "breaks",
            Role::Survives => "survives",
        };
        out.push_str(&format!(
            "{condition},{role},{},{},{},{},{},{},{},{},{}\n",
            t.id,
            t.kind.name(),
            t.met(),
            t.seeds(),
            t.required(),
            t.passes(),
            fixed(lo),
            fixed(mid),
            fixed(hi)
        ));
    };
    for t in &report.claims {
        push("spec", t);
    }
    for k in &report.knockouts {
        for t in &k.tallies {
            push(&format!("knockout:{}", k.id), t);
        }
    }
    out
}

/// `\IdClaimSpread`: the range of each claim's number over the seeds.
fn spread_macros(report: &CheckReport) -> String {
    let mut out = format!(
        "% {}: range of each claim's number over {} seeds (make robustness)\n",
        report.id,
        report.seeds.len()
    );
    for t in &report.claims {
        let (lo, _, hi) = t.spread();
        out.push_str(&format!(
            "\\newcommand{{\\{}{}Spread}}{{{}--{} over {} seeds}}\n",
            camel(&report.id),
            camel(&t.id),
            latex(lo),
            latex(hi),
            t.seeds()
        ));
    }
    out
}

/// Every output of `mismatch robustness` for one figure.
pub fn outputs(source: &Source, report: &CheckReport, results: &[CellResult]) -> Result<Vec<OutputFile>> {
    let claims = pipeline::declared(source)?.claims_of(source)?;
    let id = &report.id;
    let mut files = vec![
        OutputFile {
            path: format!("data/{id}.seeds.csv"),
            bytes: seeds_csv(report).into_bytes(),
        },
        OutputFile {
            path: format!("data/{id}.tex"),
            bytes: spread_macros(report).into_bytes(),
        },
    ];
    if claims.robustness.is_empty() {
        return Ok(files);
    }
    let rows = tabulate(&claims.robustness, &claims.claims, results)?;
    let svg = render::svg(
        &format!("robustness/{id}"),
        &map_figure(source, &rows, &claims.robustness)?,
    )?;
    let provenance = format!(
        "robustness of figure={id}; maps={}; tool=mismatch {}",
        claims
            .robustness
            .iter()
            .map(|m| format!("{}({} x {} seeds)", m.id, m.points().len(), m.seeds))
            .collect::<Vec<_>>()
            .join(","),
        env!("CARGO_PKG_VERSION")
    );
    let svg = render::svg_with_metadata(&svg, &provenance);
    files.push(OutputFile {
        path: format!("data/{id}.csv"),
        bytes: map_csv(&rows).into_bytes(),
    });
    files.push(OutputFile {
        path: format!("{id}.regions.txt"),
        bytes: regions(id, &rows).into_bytes(),
    });
    files.push(OutputFile {
        path: format!("{id}.pdf"),
        bytes: render::pdf(&svg)?,
    });
    files.push(OutputFile {
        path: format!("{id}.png"),
        bytes: render::png_with_text(&render::png(&svg)?, "mismatch", &provenance),
    });
    files.push(OutputFile {
        path: format!("{id}.svg"),
        bytes: svg.into_bytes(),
    });
    Ok(files)
}

/// Cells as a shard file: one line per (cell, finding), `map,point,seed,finding,held,value`.
pub fn shard_text(id: &str, spec_sha256: &str, shard: Shard, results: &[CellResult]) -> String {
    let mut out = format!("# mismatch robustness shard\n# figure: {id}\n# spec-sha256: {spec_sha256}\n# shard: {shard}\n# tool: mismatch {}\n", env!("CARGO_PKG_VERSION"));
    out.push_str("map,point,seed,finding,held,value\n");
    let mut lines = 0;
    for r in results {
        for (f, (h, v)) in r.held.iter().zip(&r.values).enumerate() {
            out.push_str(&format!(
                "{},{},{},{f},{},{}\n",
                r.cell.map,
                r.cell.point,
                r.cell.seed,
                u8::from(*h),
                num(*v)
            ));
            lines += 1;
        }
    }
    out.push_str(&format!("# rows: {lines}\n"));
    out
}

/// Reads a robustness shard file back: (figure id, spec hash, cells).
pub fn parse_shard(path: &std::path::Path, text: &str) -> Result<(String, String, Vec<CellResult>)> {
    let bad = |what: &str| {
        Error::Input(format!(
            "{}: {what}. Fix: rerun that shard with `mismatch robustness ID --shard I/N`",
            path.display()
        ))
    };
    let header = |key: &str| -> Result<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("no `# {key}:` header line")))
    };
    if text.lines().next() != Some("# mismatch robustness shard") {
        return Err(bad("not a robustness shard file"));
    }
    let (id, sha, tool) = (header("figure")?, header("spec-sha256")?, header("tool")?);
    if tool != format!("mismatch {}", env!("CARGO_PKG_VERSION")) {
        return Err(bad(&format!("made by {tool}, not this version")));
    }
    let rows: usize = header("rows")?
        .parse()
        .map_err(|_| bad("the `# rows:` line is not a number"))?;
    let mut results: Vec<CellResult> = Vec::new();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let parse = |i: usize| {
            f.get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| bad(&format!("malformed row `{line}`")))
        };
        if f.len() != 6 {
            return Err(bad(&format!("malformed row `{line}`")));
        }
        let cell = Cell {
            map: parse(0)? as usize,
            point: parse(1)? as usize,
            seed: u32::try_from(parse(2)?).map_err(|_| bad("seed out of range"))?,
        };
        let held = match f[4] {
            "0" => false,
            "1" => true,
            _ => return Err(bad(&format!("malformed row `{line}`"))),
        };
        let value: f64 = f[5].parse().map_err(|_| bad(&format!("malformed value in `{line}`")))?;
        match results.last_mut() {
            Some(last) if last.cell == cell => {
                last.held.push(held);
                last.values.push(value);
            }
            _ => results.push(CellResult {
                cell,
                held: vec![held],
                values: vec![value],
            }),
        }
        count += 1;
    }
    if count != rows {
        return Err(bad(&format!(
            "holds {count} rows, its last line says {rows}: the file is cut short"
        )));
    }
    Ok((id, sha, results))
}

/// The label of a point, for progress lines.
pub fn describe(maps: &[Robustness], cell: Cell) -> String {
    let map = &maps[cell.map];
    format!(
        "{} {} seed {}",
        map.id,
        show_point(&map.points()[cell.point]),
        cell.seed
    )
}
