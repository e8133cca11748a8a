//! `mismatch` regenerates, bit for bit, every figure of a paper on why self-correction
//! breaks when the errors a model practised on are not the errors it makes.
//!
//! The folders are the pipeline's stages (DESIGN.md §1):
//! [`spec`] → [`sim`] → [`analysis`] → [`render`] → [`output`] and [`manifest`],
//! joined in [`pipeline`] and driven by [`cli`]. [`report`] shows the outputs as one page.

pub mod analysis;
pub mod cli;
pub mod error;
pub mod manifest;
pub mod ops;
pub mod output;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod rng;
pub mod robustness;
pub mod shard;
pub mod sim;
pub mod spec;
pub mod sweep;
pub mod tables;
pub mod verify;
