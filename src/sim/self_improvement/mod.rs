//! `self_improvement`: filtered self-training extends a learner's length frontier;
//! unfiltered or self-consistency-filtered self-training avalanches.
//!
//! Anchors: Lee et al. 2025, "Self-Improving Transformers Overcome Easy-to-Hard and
//! Length Generalization Challenges", arXiv:2502.01612 (a transformer trained on 1–10
//! digit addition labels problems longer than it was trained on, keeps the labels that
//! pass a length filter and a ≥4/5 majority vote of 5 separately trained models,
//! retrains, and repeats: about 19 digits at round 10, about 60 at round 50, 100 digits
//! with an accelerated schedule; 5–90% injected label noise); and Zhang & Parkes 2023,
//! SECToR, arXiv:2309.08589 (≤6 supervised digits to 29 by self-training with
//! self-consistency checks, stopped by *error avalanching*).
//!
//! # Model
//!
//! **The learner is what its training set taught it.** Its training set starts with
//! `initial_examples` clean labels at each length 1…`initial_span`, and every round adds
//! the labels a filter kept. It keeps, for each length L, how many labels it was taught
//! there and how many of them were wrong, and over the whole set, how many digits were
//! wrong. Its exact-match accuracy at length L is
//!
//! ```text
//! acc(L) = (1 − r)^L · (1 − q_L) · (1 − x(L))
//! r   = ε₀ + μ · s · (wrong digits / digits of the training set)      (the shared rule)
//! q_L = μ · (1 − s) · (wrong labels / labels taught at L)              (this length)
//! x(L) = x_max · σ(κ · ((L − T)/R − 1)) for L > T, else 0              (extrapolation)
//! ```
//!
//! - *Right labels teach, wrong labels teach wrong.* A learner fit to its data
//!   reproduces its data's errors (imitation `μ` = 1: maximum likelihood copies the
//!   label distribution; `μ` = 0 is the knock-out in which wrong labels teach nothing
//!   wrong). A share `s` (`rule_share`) of what a wrong label teaches lives in the carry
//!   rule every length uses (a wrong carry learned at 40 digits fires at 10), the rest
//!   stays with the length it was taught at. `ε₀` (`base_digit_error`) is the clean
//!   per-digit error.
//! - *Reach.* The span `T` is the longest length up to which every length has been
//!   taught at least `min_kept_share × problems_per_length` labels (right or wrong: the
//!   format is learned either way). Past it the learner extrapolates: an answer fails
//!   with probability `x(L)`, a logistic step of height `x_max` centred `R` digits past
//!   the span (`reach`, a fixed number of digits, not a share of T), sharpness `κ`. A
//!   failed extrapolation garbles the digits past the span.
//!
//! **Labelling.** Each round the learner answers `problems_per_length` fresh problems at
//! every length from `initial_span + 1` to `T + window` (the labelling window: it keeps
//! relabelling what it taught itself and tries `window` lengths past its span). Each
//! wrong answer has the wrong length with probability `length_error_share` (a dropped or
//! repeated digit: what a length filter can see).
//!
//! **Filters** (the arms): `no_filter` keeps every label; `length_filter` drops
//! wrong-length labels; `self_consistency` (SECToR) keeps a label when two samples of
//! the model agree; `majority_vote` (Lee) keeps it when `votes_needed` of `voters`
//! separately trained models agree and its length is right (`vote_only`: the same vote
//! without the length check); `oracle` keeps exactly the
//! right labels (a premise: it can learn nothing wrong). Answers that are compared have
//! correlated errors: with probability `c` a problem is one they handle alike (all
//! right, or all the same wrong answer, which passes the vote), otherwise each errs
//! independently and wrong answers never coincide; `c` is exactly the correlation of two
//! answers' error indicators. Two samples of one model share most errors
//! (`sample_correlation`); separately trained voters share fewer (`voter_correlation`,
//! swept in panel (d) and in the robustness map). All voters are trained on the same
//! kept labels, so they have the same accuracy at each length; they differ in which
//! problems they miss.
//!
//! **What is an outcome.** The frontier (the longest length with accuracy ≥
//! `accuracy_threshold` at it and every shorter length), its growth per round, the label
//! noise of the kept data and the accuracy at the supervised `anchor_length` all follow
//! from what the filters keep. Nothing is scheduled but the labelling window: the span
//! moves only through lengths where enough labels were kept, and the frontier only
//! through lengths whose labels were right. Without a filter the span still moves
//! `window` lengths a round, but the labels past the reach are mostly wrong; the errors
//! are learned (gain μ = 1 at the length, μ·s through the rule), new ones are added
//! every round, the rule error grows, and accuracy falls even at lengths learned with
//! clean labels: the avalanche.
//!
//! **Noise injection** (Lee et al.'s noise study): in the `majority_vote` arm, at round
//! `injection_round` a fraction `f` of the kept labels is made wrong (a share
//! `injected_digit_error` of their digits, at least one).
//!
//! # Streams
//! Conditions are named `arm/<arm>`, `correlation/<c>` and `inject/<f>`; purposes
//! `labels` (the answers) and `inject` (which kept labels are corrupted).
//!
//! # Speed (issue 18)
//! The model is unchanged; how its random outcomes are drawn is not the per-answer
//! simulation it once was, but has the same distribution:
//!
//! - *One draw per label, not one per answer.* A label's fate under a filter (kept
//!   right, kept wrong, dropped) has closed-form probabilities ([`model::Odds`]: the
//!   vote's c·a + (1 − c)·P(Bin(k, a) ≥ m), …); a label is one uniform against their
//!   cumulative sums. `tests.rs` checks the odds against the per-answer mechanism.
//! - *64 labels per few draws* (`lanes.rs`): the labels of one length share their
//!   odds, so their uniforms are compared with the thresholds bit by bit, 64 labels at
//!   once, one `u64` per bit level, stopping when every label is decided: about 7–8
//!   draws for 64 labels, each label exactly as likely to fall below a threshold as
//!   with its own `uniform()`. When nearly every label has the same outcome (at most
//!   one of 64 expected to differ), the number that differ is drawn by inversion with
//!   one uniform instead, and they are placed in the first lanes (the labels are
//!   exchangeable, so the counts have the same law).
//! - *No `pow` or `exp` per length*: (1 − r)^L is a running product over L (last bits
//!   differ from `pow`), the extrapolation step x depends on L − T alone and is a table
//!   made once ([`model::Extrapolation`], the same bits as before), and P(Bin ≥ m) is a
//!   polynomial by Horner's rule.
//! - *Only what is shown is computed*: accuracy-by-length curves are kept by the
//!   majority-vote arm alone; rows are reserved once.
//! - *All conditions at once*: the 23 conditions run in parallel (each one's replicates
//!   in parallel too), so no condition waits for the slowest run of the one before;
//!   rows are pushed afterwards in condition order (the same bytes at any thread count).
//! - *Same bits, less bookkeeping* (what remains after the draws is integer work the
//!   op-count bound does not see; none of these changes a draw or a bit of output,
//!   checked by fingerprinting the observations of the spec and of four variants):
//!   the label loop also exists compiled with the POPCNT instruction, chosen at run
//!   time where the processor has it (a bit count is the same integer either way; a
//!   test runs both copies round after round); the bit-level loops keep t's remaining
//!   bits in a shift register (the top bit is the next one; all-zero rest is the old
//!   `trailing_zeros` stop; a test checks the old and new loops draw for draw); a
//!   length's odds are worked out and its labels drawn in one pass, and the wrong digits
//!   of a wrong label only at lengths that kept one; the frontier scan fills the
//!   accuracy row 16 lengths at a time instead of to `max_length` (the running product
//!   is the same however far each fill goes); (1 − p)⁶⁴ is six squarings, as the
//!   general loop computes it.

mod figure;
mod lanes;
pub mod model;

use super::{Model, Observations, Replicates, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::Figure;
use crate::spec::validate::{self as v, Invalid, Validate};
use model::{run_rounds, Extrapolation, Filter, Injection, Learner, Trajectory, Vote};
use rayon::prelude::*;
use serde::Deserialize;

pub struct SelfImprovement;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub rounds: usize,
    pub max_length: usize,
    pub initial_span: usize,
    pub initial_examples: usize,
    pub problems_per_length: usize,
    pub window: usize,
    pub min_kept_share: f64,
    pub base_digit_error: f64,
    pub reach: f64,
    pub extrapolation_max: f64,
    pub extrapolation_sharpness: f64,
    pub imitation: f64,
    pub rule_share: f64,
    pub length_error_share: f64,
    pub sample_correlation: f64,
    pub voter_correlation: f64,
    pub voters: usize,
    pub votes_needed: usize,
    pub accuracy_threshold: f64,
    pub anchor_length: usize,
    pub accuracy_rounds: Vec<usize>,
    pub gain_every: usize,
    pub correlations: Vec<f64>,
    pub injection_round: usize,
    pub injection_fractions: Vec<f64>,
    pub injected_digit_error: f64,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::count("rounds", self.rounds, 1, 500)?;
        v::count("max_length", self.max_length, 2, 2000)?;
        v::count("initial_span", self.initial_span, 1, self.max_length - 1)?;
        v::count("initial_examples", self.initial_examples, 1, 10_000_000)?;
        v::count("problems_per_length", self.problems_per_length, 1, 100_000)?;
        v::count("window", self.window, 1, self.max_length)?;
        v::in_range("min_kept_share", self.min_kept_share, 0.0, 1.0)?;
        v::in_range("base_digit_error", self.base_digit_error, 0.0, 0.1)?;
        v::in_range("reach", self.reach, 0.5, 1000.0)?;
        v::probability("extrapolation_max", self.extrapolation_max)?;
        v::in_range("extrapolation_sharpness", self.extrapolation_sharpness, 0.1, 100.0)?;
        v::probability("imitation", self.imitation)?;
        v::probability("rule_share", self.rule_share)?;
        v::probability("length_error_share", self.length_error_share)?;
        v::probability("sample_correlation", self.sample_correlation)?;
        v::probability("voter_correlation", self.voter_correlation)?;
        v::count("voters", self.voters, 2, 64)?;
        v::count("votes_needed", self.votes_needed, self.voters / 2 + 1, self.voters)?;
        v::in_range("accuracy_threshold", self.accuracy_threshold, 0.01, 1.0)?;
        v::count("anchor_length", self.anchor_length, 1, self.max_length)?;
        v::list_len("accuracy_rounds", &self.accuracy_rounds, 1, 12)?;
        let rounds: Vec<f64> = self.accuracy_rounds.iter().map(|&r| r as f64).collect();
        v::increasing("accuracy_rounds", &rounds)?;
        v::each("accuracy_rounds", &self.accuracy_rounds, |k, r| {
            v::count(k, *r, 0, self.rounds)
        })?;
        v::count("gain_every", self.gain_every, 1, self.rounds)?;
        v::list_len("correlations", &self.correlations, 2, 30)?;
        v::each("correlations", &self.correlations, |k, c| v::probability(k, *c))?;
        v::increasing("correlations", &self.correlations)?;
        v::count("injection_round", self.injection_round, 1, self.rounds)?;
        v::list_len("injection_fractions", &self.injection_fractions, 2, 30)?;
        v::each("injection_fractions", &self.injection_fractions, |k, f| {
            v::probability(k, *f)
        })?;
        v::increasing("injection_fractions", &self.injection_fractions)?;
        v::probability("injected_digit_error", self.injected_digit_error)?;
        Ok(())
    }
}

/// Lee et al.'s filter: majority vote of separately trained models and a length check.
fn majority_vote(correlation: f64) -> Filter {
    Filter::MajorityVote {
        correlation,
        length_check: true,
    }
}

/// The arms, by name. The majority vote's correlation is the spec's `voter_correlation`;
/// `vote_only` is the same vote without the length check.
fn arms(p: &Params) -> [(&'static str, Filter); 6] {
    [
        ("no_filter", Filter::None),
        ("length_filter", Filter::Length),
        ("self_consistency", Filter::SelfConsistency),
        (
            "vote_only",
            Filter::MajorityVote {
                correlation: p.voter_correlation,
                length_check: false,
            },
        ),
        ("majority_vote", majority_vote(p.voter_correlation)),
        ("oracle", Filter::Oracle),
    ]
}

/// The arm of the noise-injection sweep (the majority-vote filter, noise injected once).
pub(crate) const INJECTED: &str = "majority_vote+injected";
/// The arm of the voter-correlation sweep.
pub(crate) const CORRELATED: &str = "majority_vote+correlation";
/// The closed form of the majority vote's kept share at round 1 (a sanity check).
pub(crate) const ANALYTIC: &str = "majority_vote:analytic";

/// The arm whose accuracy-by-length curves panel (b) shows.
const CURVES: &str = "majority_vote";

pub(crate) fn accuracy_metric(round: usize) -> String {
    format!("accuracy_round_{round}")
}

/// Whether a run ends with its supervised anchor length below the accuracy threshold:
/// the errors it learned have reached what it was taught with clean labels.
fn avalanched(p: &Params, t: &Trajectory) -> bool {
    t.anchor_accuracy.last().copied().unwrap_or(0.0) < p.accuracy_threshold
}

/// Frontier gain per round over the whole run (digits per round).
fn growth(p: &Params, t: &Trajectory) -> f64 {
    (t.final_frontier() - t.frontier[0]) / p.rounds as f64
}

/// One condition: its stream name, filter and injected noise, and whether its runs keep
/// accuracy-by-length curves (only the majority-vote arm's are shown).
struct Condition {
    name: String,
    filter: Filter,
    injection: Option<Injection>,
    curves: bool,
}

/// Every condition, in the order their rows are pushed: the arms, the voter-correlation
/// sweep, the noise-injection sweep.
fn conditions(p: &Params) -> Vec<Condition> {
    let mut all: Vec<Condition> = arms(p)
        .into_iter()
        .map(|(arm, filter)| Condition {
            name: format!("arm/{arm}"),
            filter,
            injection: None,
            curves: arm == CURVES,
        })
        .collect();
    all.extend(p.correlations.iter().map(|&c| Condition {
        name: format!("correlation/{c}"),
        filter: majority_vote(c),
        injection: None,
        curves: false,
    }));
    all.extend(p.injection_fractions.iter().map(|&fraction| Condition {
        name: format!("inject/{fraction}"),
        filter: majority_vote(p.voter_correlation),
        injection: Some(Injection {
            round: p.injection_round,
            fraction,
        }),
        curves: false,
    }));
    all
}

fn push_arms<'a>(p: &Params, runs: impl Iterator<Item = &'a Replicates<Trajectory>>, out: &mut Observations) {
    for ((arm, _), runs) in arms(p).into_iter().zip(runs) {
        for (i, t) in runs.iter() {
            for (r, f) in t.frontier.iter().enumerate() {
                let x = r as f64;
                out.push(arm, "frontier", x, i, *f);
                out.push(arm, "span", x, i, t.span[r]);
                out.push(arm, "accuracy_at_anchor", x, i, t.anchor_accuracy[r]);
                out.push(arm, "rule_error", x, i, t.rule_error[r]);
                if r >= p.gain_every && r % p.gain_every == 0 {
                    out.push(arm, "frontier_gain", x, i, f - t.frontier[r - p.gain_every]);
                }
            }
            for (r, (noise, kept)) in t.label_noise.iter().zip(&t.kept_share).enumerate() {
                let x = (r + 1) as f64;
                if let Some(n) = noise {
                    out.push(arm, "label_noise", x, i, *n);
                }
                if let Some(k) = kept {
                    out.push(arm, "kept_share", x, i, *k);
                }
            }
            out.push(arm, "peak_frontier", 0.0, i, t.peak_frontier());
            out.push(arm, "final_frontier", 0.0, i, t.final_frontier());
            out.push(arm, "growth", 0.0, i, growth(p, t));
            out.push_outcome(arm, "avalanched", 0.0, i, avalanched(p, t));
            if arm == CURVES {
                for (k, &round) in p.accuracy_rounds.iter().enumerate() {
                    let rows = &t.accuracy[k * p.max_length..(k + 1) * p.max_length];
                    let metric = accuracy_metric(round);
                    for (j, a) in rows.iter().enumerate() {
                        out.push(arm, &metric, (j + 1) as f64, i, *a);
                    }
                }
            }
        }
    }
}

/// The closed-form kept share of the first round's majority vote (the learner is still
/// the supervised one, so its accuracy at each labelled length is known exactly).
fn push_analytic(p: &Params, out: &mut Observations) {
    let learner = Learner::new(p);
    let vote = Vote::of(p, majority_vote(p.voter_correlation)).expect("majority vote compares answers");
    let (first, last) = model::labelled_lengths(p, learner.span);
    let shares: Vec<f64> = (first..=last)
        .map(|len| vote.kept_share(learner.accuracy(p, len), p.length_error_share))
        .collect();
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    out.push_exact(ANALYTIC, "kept_share", 1.0, mean);
}

/// At most how many rows `simulate` pushes (so the table grows once, not by doubling).
fn rows(p: &Params, replicates: usize) -> usize {
    let per_run = (p.rounds + 1) * 5 + 2 * p.rounds + 4;
    let curves = p.accuracy_rounds.len() * p.max_length;
    let sweeps = 2 * (p.correlations.len() + p.injection_fractions.len());
    replicates * (arms(p).len() * per_run + curves + sweeps) + 1
}

fn reserve(out: &mut Observations, rows: usize) {
    out.key.reserve(rows);
    out.x.reserve(rows);
    out.replicate.reserve(rows);
    out.value.reserve(rows);
}

/// The final frontier and the avalanche of each run of a sweep, at `x`.
fn push_sweep_point(arm: &str, x: f64, p: &Params, runs: &Replicates<Trajectory>, out: &mut Observations) {
    for (i, t) in runs.iter() {
        out.push(arm, "final_frontier", x, i, t.final_frontier());
        out.push_outcome(arm, "avalanched", x, i, avalanched(p, t));
    }
}

impl Model for SelfImprovement {
    type Params = Params;
    const ID: &'static str = "self_improvement";

    /// Every condition's replicates at once (the conditions in parallel, each one's
    /// replicates in parallel), so no condition waits for the slowest run of the one
    /// before; rows are pushed afterwards in condition order, so the output does not
    /// depend on the thread count.
    fn simulate(p: &Params, run: &Runner) -> Observations {
        let table = Extrapolation::new(p);
        let conditions = conditions(p);
        let runs: Vec<Replicates<Trajectory>> = conditions
            .par_iter()
            .map(|c| {
                run.replicates(&c.name, run.count(), |rep| {
                    run_rounds(p, &table, c.filter, c.injection, c.curves, rep)
                })
            })
            .collect();
        let (arm_runs, sweeps) = runs.split_at(arms(p).len());
        let (correlation_runs, injection_runs) = sweeps.split_at(p.correlations.len());
        let mut out = Observations::default();
        reserve(&mut out, rows(p, run.count()));
        push_arms(p, arm_runs.iter(), &mut out);
        push_analytic(p, &mut out);
        for (&c, runs) in p.correlations.iter().zip(correlation_runs) {
            push_sweep_point(CORRELATED, c, p, runs, &mut out);
        }
        for (&fraction, runs) in p.injection_fractions.iter().zip(injection_runs) {
            push_sweep_point(INJECTED, fraction, p, runs, &mut out);
        }
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        figure::figure(p, summary)
    }
}

#[cfg(test)]
mod tests;
