//! Stage 2: simulation. One file per claim; each implements [`Model`].
//!
//! A model turns validated parameters into [`Observations`]: one value per
//! (arm, metric, x, replicate), the tidy long table the analysis stage summarises.
//! Replicates run in parallel through [`Runner::replicates`], which derives each
//! replicate's random streams by name (see `crate::rng`) and returns results in
//! replicate order, so the output is the same for any thread count.

pub mod calibration;
pub mod context_accumulation;
pub mod offline_correction;
pub mod proxy_reward;
pub mod self_improvement;

use crate::analysis::Summary;
use crate::render::Figure;
use crate::rng::Stream;
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

    pub fn index(&self) -> u64 {
        self.index
    }
}

/// Runs replicates in parallel on the current rayon pool, reporting progress.
pub struct Runner {
    seed: u64,
    replicates: u32,
    progress: Option<indicatif::ProgressBar>,
}

impl Runner {
    pub fn new(seed: u64, replicates: u32, progress: Option<indicatif::ProgressBar>) -> Self {
        Runner {
            seed,
            replicates,
            progress,
        }
    }

    /// The spec's replicate count (per condition).
    pub fn count(&self) -> usize {
        self.replicates as usize
    }

    /// Runs `n` replicates of `condition` and returns their results in replicate order.
    pub fn replicates<R, F>(&self, condition: &str, n: usize, f: F) -> Vec<R>
    where
        R: Send,
        F: Fn(Replicate) -> R + Sync,
    {
        if let Some(pb) = &self.progress {
            pb.inc_length(n as u64);
        }
        (0..n as u64)
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
                r
            })
            .collect()
    }
}

/// The tidy long table of raw results: one row per (arm, metric, x, replicate).
/// `(arm, metric)` pairs are interned: each row stores an index into `keys`.
#[derive(Debug, Default, Clone)]
pub struct Observations {
    pub keys: Vec<(String, String)>,
    pub key: Vec<u32>,
    pub x: Vec<f64>,
    pub replicate: Vec<u32>,
    pub value: Vec<f64>,
}

impl Observations {
    pub fn push(&mut self, arm: &str, metric: &str, x: f64, replicate: u64, value: f64) {
        let key = self.intern(arm, metric);
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
}
