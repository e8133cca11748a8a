//! Stage 2: simulation. One file per claim; each implements [`Model`].
//!
//! A model turns validated parameters into [`Observations`]: one value per
//! (arm, metric, x, replicate), the tidy long table the analysis stage summarises.
//! Replicates run in parallel through [`Runner::replicates`], which derives each
//! replicate's random streams by name (see `crate::rng`) and returns results in
//! replicate order, so the output is the same for any thread count.
//!
//! A [`Shard`] (`mismatch run --shard i/n`) runs only the replicates whose index is
//! `i` modulo `n`; work every replicate needs (a shared dataset) goes through
//! [`Runner::shared`] and runs in every shard. Since a replicate's numbers depend only
//! on its own named streams, the union of the shards' rows is exactly the unsharded
//! table, and the analysis (which sorts rows by key) gives the same bytes.

pub mod calibration;
pub mod context_accumulation;
pub mod offline_correction;
pub mod proxy_reward;
pub mod self_improvement;

use crate::analysis::Summary;
use crate::render::Figure;
use crate::rng::{Stream, Words};
use crate::spec::Validate;
use rayon::prelude::*;
use serde::de::DeserializeOwned;

/// A simulation behind one figure.
pub trait Model {
    /// The spec's `[params]` table.
    type Params: DeserializeOwned + Validate + Sync;
    /// The figure id, equal to the spec's file stem and `id` key.
    const ID: &'static str;
    /// Runs every experiment of the figure.
    fn simulate(params: &Self::Params, run: &Runner) -> Observations;
    /// Lays out the figure's panels from the summary.
    fn figure(params: &Self::Params, summary: &Summary) -> crate::error::Result<Figure>;
}

/// One replicate of one condition: where its random streams come from.
#[derive(Clone, Copy)]
pub struct Replicate<'a> {
    seed: u64,
    condition: &'a str,
    index: u64,
}

impl Replicate<'_> {
    /// The stream for `purpose` (e.g. `"turns"`) of this replicate.
    pub fn stream(&self, purpose: &str) -> Stream {
        Stream::new(self.seed, self.condition, self.index, purpose)
    }

    /// The stream for `purpose` taken as 32-bit words in bulk (the same words as
    /// `stream(purpose).fill_u32`, see [`Words`]).
    pub fn words(&self, purpose: &str) -> Words {
        Words::new(self.seed, self.condition, self.index, purpose)
    }

    pub fn index(&self) -> u64 {
        self.index
    }
}

/// Part `index` of `count` of the replicate work (0-based, like a Slurm array index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole run: one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether replicate `replicate` of any condition belongs to this shard.
    pub fn owns(&self, replicate: u64) -> bool {
        replicate % u64::from(self.count) == u64::from(self.index)
    }

    /// Parses `i/n` with `0 <= i < n`.
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard `i/n` with 0 <= i < n (e.g. 0/4, 3/4)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The results of one condition's replicates that this shard ran, in replicate order.
pub struct Replicates<R> {
    items: Vec<(u64, R)>,
}

impl<R> Replicates<R> {
    /// `(replicate index, result)` pairs in replicate order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &R)> {
        self.items.iter().map(|(i, r)| (*i, r))
    }
}

/// Runs replicates in parallel on the current rayon pool, reporting progress.
pub struct Runner {
    seed: u64,
    replicates: u32,
    shard: Shard,
    progress: Option<indicatif::ProgressBar>,
}

impl Runner {
    pub fn new(seed: u64, replicates: u32, progress: Option<indicatif::ProgressBar>) -> Self {
        Runner {
            seed,
            replicates,
            shard: Shard::ALL,
            progress,
        }
    }

    /// The same runner restricted to one shard of the replicates.
    pub fn sharded(self, shard: Shard) -> Self {
        Runner { shard, ..self }
    }

    /// The spec's replicate count (per condition).
    pub fn count(&self) -> usize {
        self.replicates as usize
    }

    /// Runs this shard's replicates among the `n` of `condition` and returns their
    /// results in replicate order.
    pub fn replicates<R, F>(&self, condition: &str, n: usize, f: F) -> Replicates<R>
    where
        R: Send,
        F: Fn(Replicate) -> R + Sync,
    {
        let owned: Vec<u64> = (0..n as u64).filter(|&i| self.shard.owns(i)).collect();
        if let Some(pb) = &self.progress {
            pb.inc_length(owned.len() as u64);
        }
        let items = owned
            .into_par_iter()
            .map(|index| {
                let r = f(Replicate {
                    seed: self.seed,
                    condition,
                    index,
                });
                if let Some(pb) = &self.progress {
                    pb.inc(1);
                }
                (index, r)
            })
            .collect();
        Replicates { items }
    }

    /// Work every shard needs (e.g. a dataset all replicates share): replicate 0 of
    /// `condition`, run in every shard.
    pub fn shared<R>(&self, condition: &str, f: impl FnOnce(Replicate) -> R) -> R {
        f(Replicate {
            seed: self.seed,
            condition,
            index: 0,
        })
    }
}

/// The tidy long table of raw results: one row per (arm, metric, x, replicate).
/// `(arm, metric)` pairs are interned: each row stores an index into `keys`.
/// `outcome[k]` says key `k` holds outcomes (0 or 1, see [`Observations::push_outcome`]).
#[derive(Debug, Default, Clone)]
pub struct Observations {
    pub keys: Vec<(String, String)>,
    pub outcome: Vec<bool>,
    pub key: Vec<u32>,
    pub x: Vec<f64>,
    pub replicate: Vec<u32>,
    pub value: Vec<f64>,
}

impl Observations {
    /// A measured value: its summary is the mean and a t-interval.
    pub fn push(&mut self, arm: &str, metric: &str, x: f64, replicate: u64, value: f64) {
        self.push_row(arm, metric, x, replicate, value, false);
    }

    /// An outcome (right or wrong, solved or not): its summary is the share of
    /// successes and Wilson's interval, which stays inside [0, 1].
    pub fn push_outcome(&mut self, arm: &str, metric: &str, x: f64, replicate: u64, success: bool) {
        self.push_row(arm, metric, x, replicate, success as u8 as f64, true);
    }

    fn push_row(&mut self, arm: &str, metric: &str, x: f64, replicate: u64, value: f64, outcome: bool) {
        let key = self.intern(arm, metric);
        self.outcome[key as usize] |= outcome;
        self.key.push(key);
        self.x.push(x);
        self.replicate.push(replicate as u32);
        self.value.push(value);
    }

    fn intern(&mut self, arm: &str, metric: &str) -> u32 {
        // Models push runs of rows with few distinct keys: search from the newest.
        if let Some(i) = self.keys.iter().rposition(|(a, m)| a == arm && m == metric) {
            return i as u32;
        }
        self.keys.push((arm.to_string(), metric.to_string()));
        self.outcome.push(false);
        (self.keys.len() - 1) as u32
    }

    /// An exact value (an analytic curve): one row, replicate 0, zero-width interval.
    pub fn push_exact(&mut self, arm: &str, metric: &str, x: f64, value: f64) {
        self.push(arm, metric, x, 0, value);
    }

    pub fn len(&self) -> usize {
        self.value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// The rows that belong to `shard` (by replicate index). Rows every shard makes
    /// alike (exact curves, replicate 0) are kept by shard 0 only.
    pub fn only(&self, shard: Shard) -> Observations {
        let mut out = Observations::default();
        for i in 0..self.len() {
            if shard.owns(u64::from(self.replicate[i])) {
                out.copy_row(self, i);
            }
        }
        out
    }

    /// Appends every row of `other`.
    pub fn extend(&mut self, other: &Observations) {
        for i in 0..other.len() {
            self.copy_row(other, i);
        }
    }

    fn copy_row(&mut self, from: &Observations, i: usize) {
        let k = from.key[i] as usize;
        let (arm, metric) = &from.keys[k];
        self.push_row(
            arm,
            metric,
            from.x[i],
            u64::from(from.replicate[i]),
            from.value[i],
            from.outcome[k],
        );
    }
}
