//! Stage 3: analysis. The tidy long table of observations becomes the summary table
//! `(arm, x, metric, mean, lo, hi, n)` with 95% confidence intervals.
//!
//! polars does the table work: building the frame, grouping by `(arm, metric, x)` with
//! `group_by_stable`, sorting the summary by `(arm, metric, x)`, filtering and
//! selecting. The numeric reductions are done here, over each group's values in
//! replicate order, so the sums are the same whatever polars' thread count: polars
//! promises no bit-stable float sums. With the sort (DESIGN.md §2.4: "sort by keys"),
//! the summary is a function of the set of rows, not of the order a model pushed them
//! in, so the rows of merged shards give the same bytes as one run. (Sorting the 1.4
//! million observations instead of the summary took 75 ms instead of 36 for context_accumulation.)

pub mod claims;
mod csv;
pub mod numbers;
mod read;
mod stats;

pub use stats::{mean_ci, proportion_ci, Interval};

use crate::error::{internal, Result};
use crate::sim::Observations;
use polars::prelude::*;

/// One summary row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub x: f64,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: u32,
}

/// The summary table: one row per (arm, metric, x).
#[derive(Debug, Clone)]
pub struct Summary {
    df: DataFrame,
    /// The `(arm, metric)` keys that hold outcomes (one 0/1 per replicate), sorted.
    outcomes: Vec<(String, String)>,
}

fn pl(e: PolarsError) -> crate::error::Error {
    internal(format!("polars: {e}"))
}

/// Summarises observations into means and 95% intervals per (arm, metric, x).
pub fn summarise(obs: &Observations) -> Result<Summary> {
    refuse_streaming_engine()?;
    let df = observations_frame(obs).map_err(pl)?;
    let groups = df.group_by_stable(["key", "x"]).map_err(pl)?;
    let (values, xs) = (floats(&df, "value")?, floats(&df, "x")?);
    let (keys, replicates) = (integers(&df, "key")?, integers(&df, "replicate")?);
    let names = sorted_keys(obs);

    let (mut key, mut arm, mut metric, mut x) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut mean, mut lo, mut hi, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut group: Vec<usize> = Vec::new();
    for indicator in groups.get_groups().iter() {
        group.clear();
        match indicator {
            GroupsIndicator::Idx((_, idx)) => group.extend(idx.iter().map(|&i| i as usize)),
            GroupsIndicator::Slice([start, len]) => group.extend(start as usize..(start + len) as usize),
        }
        group.sort_unstable_by_key(|&i| (replicates[i], i));
        let first = group[0];
        let sample: Vec<f64> = group.iter().map(|&i| values[i]).collect();
        let (a, m, outcome) = &names[keys[first] as usize];
        let ci = if *outcome {
            proportion_ci(&sample)
        } else {
            mean_ci(&sample)
        };
        key.push(keys[first]);
        arm.push(a.clone());
        metric.push(m.clone());
        x.push(xs[first]);
        mean.push(ci.mean);
        lo.push(ci.lo);
        hi.push(ci.hi);
        n.push(sample.len() as u32);
    }
    let height = arm.len();
    let df = DataFrame::new(
        height,
        vec![
            Column::new("key".into(), key),
            Column::new("arm".into(), arm),
            Column::new("x".into(), x),
            Column::new("metric".into(), metric),
            Column::new("mean".into(), mean),
            Column::new("lo".into(), lo),
            Column::new("hi".into(), hi),
            Column::new("n".into(), n),
        ],
    )
    .and_then(|df| df.sort(["key", "x"], SortMultipleOptions::new().with_maintain_order(true)))
    .and_then(|df| df.drop("key"))
    .map_err(pl)?;
    let outcomes = names
        .iter()
        .filter(|(_, _, outcome)| *outcome)
        .map(|(a, m, _)| (a.clone(), m.clone()))
        .collect();
    Ok(Summary { df, outcomes })
}

/// A float column's values.
fn floats(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    Ok(df
        .column(name)
        .map_err(pl)?
        .f64()
        .map_err(pl)?
        .into_no_null_iter()
        .collect())
}

/// A `u32` column's values.
fn integers(df: &DataFrame, name: &str) -> Result<Vec<u32>> {
    Ok(df
        .column(name)
        .map_err(pl)?
        .u32()
        .map_err(pl)?
        .into_no_null_iter()
        .collect())
}

/// The `(arm, metric)` keys in sorted order, with whether each holds outcomes.
fn sorted_keys(obs: &Observations) -> Vec<(String, String, bool)> {
    let mut names: Vec<(String, String, bool)> = obs
        .keys
        .iter()
        .zip(&obs.outcome)
        .map(|((a, m), o)| (a.clone(), m.clone(), *o))
        .collect();
    names.sort();
    names
}

/// The observations as a frame whose `key` is the rank of `(arm, metric)` in sorted order.
fn observations_frame(obs: &Observations) -> PolarsResult<DataFrame> {
    let names = sorted_keys(obs);
    let rank: Vec<u32> = obs
        .keys
        .iter()
        .map(|(a, m)| names.partition_point(|(na, nm, _)| (na, nm) < (a, m)) as u32)
        .collect();
    let key: Vec<u32> = obs.key.iter().map(|&k| rank[k as usize]).collect();
    DataFrame::new(
        obs.len(),
        vec![
            Column::new("key".into(), &key),
            Column::new("x".into(), &obs.x),
            Column::new("replicate".into(), &obs.replicate),
            Column::new("value".into(), &obs.value),
        ],
    )
}

/// The streaming engine gave different float sums on each multi-threaded run
/// (DESIGN.md §2.4); its switch must never be on when outputs are made.
fn refuse_streaming_engine() -> Result<()> {
    match std::env::var("POLARS_FORCE_STREAMING") {
        Ok(v) if !v.is_empty() && v != "0" => Err(crate::error::Error::Input(
            "POLARS_FORCE_STREAMING is set: the streaming engine is not bit-stable. Fix: unset POLARS_FORCE_STREAMING."
                .into(),
        )),
        _ => Ok(()),
    }
}

impl Summary {
    /// The rows of one (arm, metric) in order of x.
    pub fn series(&self, arm: &str, metric: &str) -> Result<Vec<Row>> {
        let mask = self.str_col("arm")?.equal(arm) & self.str_col("metric")?.equal(metric);
        let part = self.df.filter(&mask).map_err(pl)?;
        let col = |name: &str| floats(&part, name);
        let (x, mean, lo, hi) = (col("x")?, col("mean")?, col("lo")?, col("hi")?);
        let n = integers(&part, "n")?;
        let mut rows: Vec<Row> = (0..x.len())
            .map(|i| Row {
                x: x[i],
                mean: mean[i],
                lo: lo[i],
                hi: hi[i],
                n: n[i],
            })
            .collect();
        rows.sort_by(|a, b| a.x.total_cmp(&b.x));
        Ok(rows)
    }

    /// Like [`Summary::series`], but an empty series is an error naming what is missing.
    pub fn expect_series(&self, arm: &str, metric: &str) -> Result<Vec<Row>> {
        let rows = self.series(arm, metric)?;
        if rows.is_empty() {
            return Err(crate::error::Error::Input(format!(
                "the summary has no rows for arm `{arm}`, metric `{metric}`. Fix: check the arm and metric names (see figures/data/<id>.csv)"
            )));
        }
        Ok(rows)
    }

    /// Whether `(arm, metric)` holds outcomes (shares of replicates, Wilson intervals).
    pub fn is_outcome(&self, arm: &str, metric: &str) -> bool {
        self.outcomes
            .binary_search_by(|(a, m)| (a.as_str(), m.as_str()).cmp(&(arm, metric)))
            .is_ok()
    }

    fn str_col(&self, name: &str) -> Result<&StringChunked> {
        self.df.column(name).map_err(pl)?.str().map_err(pl)
    }

    /// The summary as CSV text in a fixed number format (DESIGN.md §2.7).
    pub fn to_csv(&self) -> Result<String> {
        csv::write(&self.df).map_err(pl)
    }

    pub fn height(&self) -> usize {
        self.df.height()
    }
}
