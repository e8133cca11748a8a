//! `self_improvement`: self-training with verification extends itself; without it,
//! errors avalanche.
//!
//! Anchors: Lee et al. 2025, "Self-Improving Transformers Overcome Easy-to-Hard and
//! Length Generalization Challenges", arXiv:2502.01612 (a transformer trained on 1–10
//! digit addition labels problems one step longer than it was trained on, keeps the
//! labels that pass a length filter and a ≥4/5 majority vote of 5 models, retrains, and
//! repeats: about 19 digits at round 10, about 60 at round 50, 100 digits with an
//! accelerated schedule whose per-round gains grow); and Zhang & Parkes 2023, SECToR,
//! arXiv:2309.08589 (≤6 supervised digits to 29 by self-training with self-consistency
//! checks, stopped by *error avalanching*: small label errors are learned and compound).
//!
//! # Model
//!
//! One run is a sequence of rounds. The learner's state is its trained span `T` (the
//! longest length it has trained on), and its *absorbed corruption* `ρ`: a per-digit
//! error rate it learned from wrong labels in its training data. Its per-digit error at
//! length `L` is
//!
//! ```text
//! e(L) = ε₀ + ρ + x(L),    x(L) = 0 for L ≤ T,
//! x(L) = x_max · σ(κ · ((L − T)/(γ·T) − 1)) for L > T,
//! ```
//!
//! - `ε₀` (`base_digit_error`): the per-digit error of a model on lengths it trained on
//!   with clean labels;
//! - `x(L)`: the extrapolation error past the span, a logistic step of height `x_max`
//!   (`extrapolation_max`) centred at the *reach* `γ·T` (`reach_share`): a model trained
//!   on longer problems extrapolates further, which is why filtered self-training grows
//!   geometrically; `κ` (`extrapolation_sharpness`) sets how abrupt the step is.
//!
//! Its accuracy at length `L` (an exact-match answer) is `(1 − e(L))^L`; the *frontier*
//! is the longest length with accuracy ≥ `accuracy_threshold` (0.99).
//!
//! **Labelling, digit by digit.** Each round the model(s) label `problems_per_length`
//! problems at each length `T+1 … T+⌈ω·T⌉` (`window_share` ω; Lee's accelerated schedule
//! samples a range of new lengths; once that range would pass `max_length` it is shifted
//! down to end there, so every round still labels fresh problems). Errors are drawn per
//! digit (geometric skips over the
//! `L` answer digits while errors are rare, so the cost is per error; one draw per digit
//! once the rate passes 5%); each error changes the
//! answer's length with probability `length_error_share` (a dropped or repeated digit).
//! An error is either *shared* by every answer compared (the same wrong digit) or
//! *private* to one answer. What is shared depends on who answers:
//! - two samples of the *same* model (self-consistency) share all of its absorbed errors
//!   (learned rules fire the same way every time) and a share `self_shared` of its
//!   base and extrapolation errors;
//! - *independently trained* models (majority vote) share only `cross_shared` of the
//!   base and extrapolation errors (the problems every model finds hard) and
//!   `absorbed_cross_shared` of the absorbed ones (each seed mislearns the same noisy
//!   data in its own way, but not entirely).
//!
//! The shared and private rates add up to the single model's rate `e(L)`. Answers agree
//! when neither has a private error (two independent private errors coinciding in
//! position and digit are neglected), so the label an agreement produces is the shared
//! answer, wrong whenever a shared error occurred.
//!
//! **Filters** (the arms): `no_filter` keeps every label; `length_filter` drops labels
//! whose length is wrong; `self_consistency` (SECToR) keeps a label when two samples of
//! the model agree; `majority_vote` (Lee) keeps it when at least `votes_needed` of
//! `voters` models agree and its length is right; `oracle` keeps exactly the right ones.
//!
//! **Retraining.** The span advances through every new length at which at least
//! `min_kept_share` of the problems were kept. The training set's per-digit label noise
//! `D` is a recency-weighted mean over everything trained on so far (the clean
//! supervised data of lengths 1…`initial_span`, `initial_examples` per length, then each
//! round's kept labels), older data weighted down by `memory` λ per round. The learner
//! absorbs it: `ρ = ρ_max (1 − exp(−A·D/ρ_max))`, slope `A` (`absorption`) at small noise,
//! saturating at `ρ_max` (`corruption_max`, a digit no better than chance). `A ≥ 1`
//! because a learner cannot tell a wrong label from the rule: it reproduces the errors it
//! trained on, a little more often than they occurred since a learned wrong carry
//! pattern also fires on problems outside the examples that taught it.
//!
//! **Why it avalanches, or not.** Absorbed errors are made again when the model labels
//! the next round. A filter that cannot see them passes them on: `ρ` feeds `D`, which
//! feeds `ρ`, with gain about `A` times the share of absorbed errors that survive the
//! filter — all of them without a filter or with self-consistency (the model agrees with
//! itself on what it learned), a share `absorbed_cross_shared` with a majority of
//! independent models, none with an oracle. Above gain one the corruption grows round
//! over round, accuracy falls at lengths already learned, and the frontier collapses;
//! below it the kept noise stays near the floor set by shared extrapolation errors and
//! the frontier extends geometrically. Nothing is scheduled: which lengths get learned
//! and how corrupted the learner becomes follow from what each filter keeps.
//!
//! **Noise injection** (Lee et al.'s noise study): in the `majority_vote` arm, at round
//! `injection_round` a fraction `f` of the kept labels is corrupted (each digit wrong with
//! probability `injected_digit_error`, at least one). Small pulses are diluted by the
//! clean labels of later rounds; large ones corrupt all voters so that they rarely agree,
//! the filter keeps too little to dilute the noise, and the extension stops.
//!
//! # Streams
//! Conditions are named `arm/<arm>` and `inject/<f>`; purposes `labels` (the
//! answers' errors) and `inject` (which kept labels are corrupted, and how).

use super::{Model, Observations, Replicate, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::{Axis, Figure, Mark, Panel, Series};
use crate::rng::{sigmoid, Stream};
use crate::spec::validate::{self as v, Invalid, Validate};
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
    pub window_share: f64,
    pub min_kept_share: f64,
    pub base_digit_error: f64,
    pub reach_share: f64,
    pub extrapolation_max: f64,
    pub extrapolation_sharpness: f64,
    pub length_error_share: f64,
    pub self_shared: f64,
    pub cross_shared: f64,
    pub absorbed_cross_shared: f64,
    pub absorption: f64,
    pub corruption_max: f64,
    pub memory: f64,
    pub voters: usize,
    pub votes_needed: usize,
    pub accuracy_threshold: f64,
    pub anchor_length: usize,
    pub accuracy_rounds: Vec<usize>,
    pub gain_every: usize,
    pub injection_round: usize,
    pub injection_fractions: Vec<f64>,
    pub injected_digit_error: f64,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::count("rounds", self.rounds, 1, 500)?;
        v::count("max_length", self.max_length, 2, 1000)?;
        v::count("initial_span", self.initial_span, 1, self.max_length - 1)?;
        v::count("initial_examples", self.initial_examples, 1, 10_000_000)?;
        v::count("problems_per_length", self.problems_per_length, 1, 100_000)?;
        v::in_range("window_share", self.window_share, 0.0, 10.0)?;
        v::in_range("min_kept_share", self.min_kept_share, 0.0, 1.0)?;
        v::in_range("base_digit_error", self.base_digit_error, 0.0, 0.1)?;
        v::in_range("reach_share", self.reach_share, 0.01, 10.0)?;
        v::in_range("extrapolation_max", self.extrapolation_max, 0.0, 0.9)?;
        v::in_range("extrapolation_sharpness", self.extrapolation_sharpness, 0.1, 100.0)?;
        v::probability("length_error_share", self.length_error_share)?;
        v::probability("self_shared", self.self_shared)?;
        v::probability("cross_shared", self.cross_shared)?;
        v::probability("absorbed_cross_shared", self.absorbed_cross_shared)?;
        v::in_range("absorption", self.absorption, 0.0, 100.0)?;
        v::in_range("corruption_max", self.corruption_max, 0.001, 0.9)?;
        v::probability("memory", self.memory)?;
        v::count("voters", self.voters, 1, 64)?;
        v::count("votes_needed", self.votes_needed, 1, self.voters)?;
        v::in_range("accuracy_threshold", self.accuracy_threshold, 0.01, 1.0)?;
        v::count("anchor_length", self.anchor_length, 1, self.max_length)?;
        v::list_len("accuracy_rounds", &self.accuracy_rounds, 1, 12)?;
        let rounds: Vec<f64> = self.accuracy_rounds.iter().map(|&r| r as f64).collect();
        v::increasing("accuracy_rounds", &rounds)?;
        v::each("accuracy_rounds", &self.accuracy_rounds, |k, r| {
            v::count(k, *r, 0, self.rounds)
        })?;
        v::count("gain_every", self.gain_every, 1, self.rounds)?;
        v::count("injection_round", self.injection_round, 1, self.rounds)?;
        v::list_len("injection_fractions", &self.injection_fractions, 2, 30)?;
        v::each("injection_fractions", &self.injection_fractions, |k, f| {
            v::probability(k, *f)
        })?;
        v::increasing("injection_fractions", &self.injection_fractions)?;
        v::in_range("injected_digit_error", self.injected_digit_error, 0.0, 0.9)?;
        Ok(())
    }
}

/// How the labels of a round are filtered: the arms.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    None,
    Length,
    SelfConsistency,
    MajorityVote,
    Oracle,
}

const ARMS: [(&str, Filter); 5] = [
    ("no_filter", Filter::None),
    ("length_filter", Filter::Length),
    ("self_consistency", Filter::SelfConsistency),
    ("majority_vote", Filter::MajorityVote),
    ("oracle", Filter::Oracle),
];

/// The arm of the noise-injection sweep (the majority-vote filter, noise injected once).
const INJECTED: &str = "majority_vote+injected";

/// A digit no worse than this is still a digit (keeps `ln(1 − rate)` finite).
const MAX_DIGIT_ERROR: f64 = 0.95;

/// The learner (all voters share its training data, hence its span and corruption).
#[derive(Debug, Clone)]
struct Learner {
    /// T: the longest length trained on.
    span: usize,
    /// Recency-weighted wrong digits and digits of the training set (D = ratio).
    wrong_digits: f64,
    digits: f64,
    /// ρ: the per-digit error absorbed from wrong labels.
    corruption: f64,
}

impl Learner {
    /// Trained with clean labels on lengths 1…`initial_span`.
    fn new(p: &Params) -> Self {
        let digits: usize = (1..=p.initial_span).sum();
        Learner {
            span: p.initial_span,
            wrong_digits: 0.0,
            digits: (digits * p.initial_examples) as f64,
            corruption: 0.0,
        }
    }

    /// x(L): the extra per-digit error of extrapolating past the span.
    fn extrapolation(&self, p: &Params, len: usize) -> f64 {
        if len <= self.span {
            return 0.0;
        }
        let reach = p.reach_share * self.span as f64;
        let beyond = (len - self.span) as f64 / reach;
        p.extrapolation_max * sigmoid(p.extrapolation_sharpness * (beyond - 1.0))
    }

    /// Base and extrapolation error: the part that is the model's own, not learned.
    fn own_error(&self, p: &Params, len: usize) -> f64 {
        p.base_digit_error + self.extrapolation(p, len)
    }

    /// e(L) = ε₀ + ρ + x(L), capped below 1.
    fn digit_error(&self, p: &Params, len: usize) -> f64 {
        (self.own_error(p, len) + self.corruption).min(MAX_DIGIT_ERROR)
    }

    /// Exact-match accuracy at length L: every digit right.
    fn accuracy(&self, p: &Params, len: usize) -> f64 {
        libm::pow(1.0 - self.digit_error(p, len), len as f64)
    }

    /// The longest length whose accuracy (and that of every shorter one) is ≥ threshold.
    fn frontier(&self, p: &Params) -> usize {
        (1..=p.max_length)
            .take_while(|&len| self.accuracy(p, len) >= p.accuracy_threshold)
            .last()
            .unwrap_or(0)
    }

    /// Trains on a round's kept labels: the span moves through the lengths with enough
    /// kept labels, and the training set's label noise is absorbed.
    fn retrain(&mut self, p: &Params, round: &Round) {
        let needed = p.min_kept_share * p.problems_per_length as f64;
        let (first, _) = labelled_lengths(p, self.span);
        let advance = round
            .kept_at
            .iter()
            .skip(self.span + 1 - first)
            .take_while(|&&k| k as f64 >= needed && k > 0)
            .count();
        self.span += advance;
        self.wrong_digits = p.memory * self.wrong_digits + round.kept_wrong_digits as f64;
        self.digits = p.memory * self.digits + round.kept_digits as f64;
        let noise = if self.digits > 0.0 {
            self.wrong_digits / self.digits
        } else {
            0.0
        };
        self.corruption = p.corruption_max * (1.0 - libm::exp(-p.absorption * noise / p.corruption_max));
    }
}

/// The answers compared at one length: per-digit rates of shared and private errors.
#[derive(Debug, Clone, Copy)]
struct Rates {
    /// Per-digit rate of errors shared by every answer compared.
    shared: DigitRate,
    /// Probability that one answer has no private error over the L digits.
    no_private: f64,
    /// How many answers are compared, and how many must agree.
    answers: usize,
    needed: usize,
}

impl Rates {
    fn new(p: &Params, learner: &Learner, filter: Filter, len: usize) -> Self {
        let own = learner.own_error(p, len);
        let absorbed = learner.corruption;
        let (shared, private, answers, needed) = match filter {
            Filter::None | Filter::Length | Filter::Oracle => (own + absorbed, 0.0, 1, 1),
            Filter::SelfConsistency => (absorbed + p.self_shared * own, (1.0 - p.self_shared) * own, 2, 2),
            Filter::MajorityVote => (
                p.absorbed_cross_shared * absorbed + p.cross_shared * own,
                (1.0 - p.absorbed_cross_shared) * absorbed + (1.0 - p.cross_shared) * own,
                p.voters,
                p.votes_needed,
            ),
        };
        Rates {
            shared: DigitRate::new(shared),
            no_private: libm::pow(1.0 - private.min(MAX_DIGIT_ERROR), len as f64),
            answers,
            needed,
        }
    }
}

/// A per-digit error rate, with `ln(1 − rate)` for geometric skips between errors.
#[derive(Debug, Clone, Copy)]
struct DigitRate {
    rate: f64,
    log_keep: f64,
}

impl DigitRate {
    fn new(rate: f64) -> Self {
        let rate = rate.clamp(0.0, MAX_DIGIT_ERROR);
        DigitRate {
            rate,
            log_keep: libm::log1p(-rate),
        }
    }
}

/// Above this per-digit rate one uniform per digit is cheaper than a logarithm per error.
const DENSE_RATE: f64 = 0.05;

/// Errors in one answer of `len` digits, drawn digit by digit (geometric skips between
/// errors when they are rare, one draw per digit when they are not): (wrong digits,
/// whether one of them dropped or repeated a digit, each with probability `length_share`).
fn draw_errors(rng: &mut Stream, r: DigitRate, len: usize, length_share: f64) -> (usize, bool) {
    let wrong = if r.rate <= 0.0 {
        0
    } else if r.rate >= DENSE_RATE {
        (0..len).filter(|_| rng.uniform() < r.rate).count()
    } else {
        let (mut pos, mut wrong) = (0usize, 0usize);
        loop {
            let skip = libm::floor(libm::log(rng.uniform_open0()) / r.log_keep);
            // Past the answer: no more errors (also guards the float-to-int conversion).
            if skip >= (len - pos) as f64 {
                break wrong;
            }
            pos += skip as usize + 1;
            wrong += 1;
        }
    };
    // P(at least one of the `wrong` errors changes the length) = 1 − (1 − share)^wrong.
    let length_changed =
        wrong > 0 && length_share > 0.0 && rng.uniform() >= libm::pow(1.0 - length_share, wrong as f64);
    (wrong, length_changed)
}

/// What one round labelled and kept.
#[derive(Debug, Default)]
struct Round {
    labelled: usize,
    kept: usize,
    kept_wrong: usize,
    kept_wrong_digits: usize,
    kept_digits: usize,
    /// Labels kept at lengths T+1, T+2, … (one entry per labelled length).
    kept_at: Vec<usize>,
}

impl Round {
    fn clear(&mut self) {
        let kept_at = std::mem::take(&mut self.kept_at);
        *self = Round {
            kept_at,
            ..Round::default()
        };
        self.kept_at.clear();
    }
}

/// Noise injected into the kept labels of one round.
#[derive(Debug, Clone, Copy)]
struct Injection {
    round: usize,
    fraction: f64,
    /// Per-digit corruption of an injected label (at least one digit is made wrong).
    corruption: DigitRate,
}

/// Whether the filter keeps a label with `wrong` shared errors, `length_changed`, of
/// which `agreeing` answers (no private error) agree.
fn keeps(filter: Filter, wrong: usize, length_changed: bool, agreeing: usize, needed: usize) -> bool {
    match filter {
        Filter::None => true,
        Filter::Length => !length_changed,
        Filter::SelfConsistency => agreeing >= needed,
        Filter::MajorityVote => agreeing >= needed && !length_changed,
        Filter::Oracle => wrong == 0,
    }
}

/// The lengths labelled in a round: `T+1 … T+⌈ωT⌉`, shifted down to end at
/// `max_length` once the window would pass it (fresh problems at the longest lengths).
fn labelled_lengths(p: &Params, span: usize) -> (usize, usize) {
    let window = (libm::ceil(p.window_share * span as f64) as usize).clamp(1, p.max_length);
    let last = (span + window).min(p.max_length);
    (last + 1 - window, last)
}

/// One round: the learner's answers at the new lengths, filtered, perhaps corrupted.
#[allow(clippy::too_many_arguments)]
fn label_round(
    p: &Params,
    learner: &Learner,
    filter: Filter,
    injection: Option<Injection>,
    rng: &mut Stream,
    inject_rng: &mut Stream,
    out: &mut Round,
) {
    out.clear();
    let (first, last) = labelled_lengths(p, learner.span);
    for len in first..=last {
        let rates = Rates::new(p, learner, filter, len);
        let mut kept_here = 0;
        for _ in 0..p.problems_per_length {
            let (mut wrong, length_changed) = draw_errors(rng, rates.shared, len, p.length_error_share);
            let agreeing = if rates.answers == 1 {
                1
            } else {
                (0..rates.answers).filter(|_| rng.uniform() < rates.no_private).count()
            };
            out.labelled += 1;
            if !keeps(filter, wrong, length_changed, agreeing, rates.needed) {
                continue;
            }
            if let Some(inj) = injection {
                if inject_rng.bernoulli(inj.fraction) {
                    let (extra, _) = draw_errors(inject_rng, inj.corruption, len, 0.0);
                    wrong = (wrong + extra.max(1)).min(len);
                }
            }
            kept_here += 1;
            out.kept += 1;
            out.kept_wrong += (wrong > 0) as usize;
            out.kept_wrong_digits += wrong.min(len);
            out.kept_digits += len;
        }
        out.kept_at.push(kept_here);
    }
}

/// One run's measurements, per round (index 0: before any self-training).
#[derive(Debug, Default)]
struct Trajectory {
    frontier: Vec<f64>,
    anchor_accuracy: Vec<f64>,
    span: Vec<f64>,
    corruption: Vec<f64>,
    /// Per labelling round (index r − 1 for round r): share of kept labels that are
    /// wrong (None when nothing was kept) and share of labels kept (None when nothing
    /// was labelled: the span reached `max_length`).
    label_noise: Vec<Option<f64>>,
    kept_share: Vec<Option<f64>>,
    /// Accuracy at lengths 1…max_length for each of `accuracy_rounds`, concatenated.
    accuracy: Vec<f64>,
}

impl Trajectory {
    fn record_state(&mut self, p: &Params, learner: &Learner, round: usize) {
        self.frontier.push(learner.frontier(p) as f64);
        self.anchor_accuracy.push(learner.accuracy(p, p.anchor_length));
        self.span.push(learner.span as f64);
        self.corruption.push(learner.corruption);
        if p.accuracy_rounds.contains(&round) {
            self.accuracy
                .extend((1..=p.max_length).map(|len| learner.accuracy(p, len)));
        }
    }

    fn record_round(&mut self, data: &Round) {
        let share = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        self.label_noise.push(share(data.kept_wrong, data.kept));
        self.kept_share.push(share(data.kept, data.labelled));
    }
}

/// A whole self-training run under one filter.
fn run_rounds(p: &Params, filter: Filter, injection: Option<Injection>, rep: Replicate, record: bool) -> Trajectory {
    let mut rng = rep.stream("labels");
    let mut inject_rng = rep.stream("inject");
    let mut learner = Learner::new(p);
    let mut traj = Trajectory::default();
    let mut data = Round::default();
    for round in 0..=p.rounds {
        if record || round == p.rounds {
            traj.record_state(p, &learner, round);
        }
        if round == p.rounds {
            break;
        }
        let inject = injection.filter(|i| i.round == round + 1);
        label_round(p, &learner, filter, inject, &mut rng, &mut inject_rng, &mut data);
        learner.retrain(p, &data);
        if record {
            traj.record_round(&data);
        }
    }
    traj
}

fn arms(p: &Params, run: &Runner, out: &mut Observations) {
    for (arm, filter) in ARMS {
        let runs = run.replicates(&format!("arm/{arm}"), run.count(), |rep| {
            run_rounds(p, filter, None, rep, true)
        });
        for (i, t) in runs.iter() {
            for (r, f) in t.frontier.iter().enumerate() {
                out.push(arm, "frontier", r as f64, i, *f);
                out.push(arm, "accuracy_at_anchor", r as f64, i, t.anchor_accuracy[r]);
                out.push(arm, "span", r as f64, i, t.span[r]);
                out.push(arm, "corruption", r as f64, i, t.corruption[r]);
                if r >= p.gain_every && r % p.gain_every == 0 {
                    out.push(arm, "frontier_gain", r as f64, i, f - t.frontier[r - p.gain_every]);
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
            let peak = t.frontier.iter().copied().fold(0.0, f64::max);
            out.push(arm, "peak_frontier", 0.0, i, peak);
            out.push(arm, "final_frontier", 0.0, i, t.frontier[p.rounds]);
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

fn accuracy_metric(round: usize) -> String {
    format!("accuracy_round_{round}")
}

fn injection_sweep(p: &Params, run: &Runner, out: &mut Observations) {
    let corruption = DigitRate::new(p.injected_digit_error);
    for &fraction in &p.injection_fractions {
        let injection = Injection {
            round: p.injection_round,
            fraction,
            corruption,
        };
        let runs = run.replicates(&format!("inject/{fraction}"), run.count(), |rep| {
            run_rounds(p, Filter::MajorityVote, Some(injection), rep, false)
        });
        for (i, t) in runs.iter() {
            out.push(INJECTED, "final_frontier", fraction, i, t.frontier[0]);
        }
    }
}

impl Model for SelfImprovement {
    type Params = Params;
    const ID: &'static str = "self_improvement";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let mut out = Observations::default();
        arms(p, run, &mut out);
        injection_sweep(p, run, &mut out);
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        Ok(Figure::column_width(
            860,
            vec![
                panel_frontier(p, summary)?,
                panel_accuracy(p, summary)?,
                panel_noise(p, summary)?,
                panel_injection(p, summary)?,
            ],
        ))
    }
}

const LABELS: [(&str, &str, usize); 5] = [
    ("no_filter", "no filter", 1),
    ("length_filter", "length filter", 3),
    ("self_consistency", "self-consistency", 4),
    ("majority_vote", "majority vote 4/5", 0),
    ("oracle", "oracle", 2),
];

fn panel_frontier(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (arm, label, color) in LABELS {
        let mark = if arm == "oracle" { Mark::Dashed } else { Mark::Line };
        series.push(Series::new(label, color, mark, s.expect_series(arm, "frontier")?));
    }
    series.push(length_cap(p, p.rounds as f64));
    Ok(Panel {
        title: "(a) Frontier per round".into(),
        x: Axis::linear("round", 0.0, p.rounds as f64),
        y: Axis::linear("frontier (digits, accuracy ≥ 0.99)", 0.0, p.max_length as f64),
        series,
        legend_columns: 2,
    })
}

/// The longest operand the simulation has (`max_length`): a frontier there has reached
/// the end of the task, not stopped growing.
fn length_cap(p: &Params, x_end: f64) -> Series {
    let cap = p.max_length as f64;
    Series::exact(
        &format!("cap: {} digits", p.max_length),
        6,
        Mark::Dotted,
        [(0.0, cap), (x_end, cap)],
    )
}

fn panel_accuracy(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (k, &round) in p.accuracy_rounds.iter().enumerate() {
        let rows = s.expect_series("majority_vote", &accuracy_metric(round))?;
        series.push(Series::new(&format!("round {round}"), k, Mark::Line, rows));
    }
    Ok(Panel {
        title: "(b) Majority vote: accuracy by length".into(),
        x: Axis::linear("operand length (digits)", 1.0, p.max_length as f64),
        y: Axis::linear("exact-match accuracy", 0.0, 1.0),
        series,
        legend_columns: 4,
    })
}

fn panel_noise(p: &Params, s: &Summary) -> Result<Panel> {
    let mut series = Vec::new();
    for (arm, label, color) in LABELS {
        if arm == "oracle" {
            continue;
        }
        series.push(Series::new(
            label,
            color,
            Mark::Line,
            s.expect_series(arm, "label_noise")?,
        ));
    }
    Ok(Panel {
        title: "(c) Label noise of the kept data".into(),
        x: Axis::linear("round", 0.0, p.rounds as f64),
        y: Axis::linear("share of kept labels wrong", 0.0, 1.0),
        series,
        legend_columns: 2,
    })
}

fn panel_injection(p: &Params, s: &Summary) -> Result<Panel> {
    let rows = s.expect_series(INJECTED, "final_frontier")?;
    let hi = p.injection_fractions.last().copied().unwrap_or(1.0);
    Ok(Panel {
        title: format!("(d) Noise injected at round {}", p.injection_round),
        x: Axis::linear("share of kept labels corrupted", 0.0, hi),
        y: Axis::linear(&format!("frontier at round {}", p.rounds), 0.0, p.max_length as f64),
        series: vec![
            Series::new("majority vote + injected noise", 0, Mark::Line, rows),
            length_cap(p, hi),
        ],
        legend_columns: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_counts_match_the_binomial_mean_in_both_regimes() {
        let mut rng = Stream::new(1, "t", 0, "t");
        let len = 40usize;
        let n = 20_000;
        for rate in [0.01, 0.2] {
            let total: usize = (0..n)
                .map(|_| draw_errors(&mut rng, DigitRate::new(rate), len, 0.0).0)
                .sum();
            let mean = total as f64 / n as f64;
            assert!(
                (mean - len as f64 * rate).abs() < 0.03 * len as f64 * rate + 0.01,
                "{rate}: {mean}"
            );
        }
        assert_eq!(draw_errors(&mut rng, DigitRate::new(0.0), len, 0.5), (0, false));
        let changed = (0..n)
            .filter(|_| draw_errors(&mut rng, DigitRate::new(0.2), len, 0.3).1)
            .count();
        assert!(changed > n * 9 / 10, "{changed}");
    }

    #[test]
    fn filters_keep_what_they_can_check() {
        assert!(keeps(Filter::None, 3, true, 0, 1));
        assert!(!keeps(Filter::Length, 1, true, 1, 1));
        assert!(keeps(Filter::Length, 1, false, 1, 1));
        assert!(keeps(Filter::SelfConsistency, 2, true, 2, 2));
        assert!(!keeps(Filter::MajorityVote, 0, false, 3, 4));
        assert!(!keeps(Filter::MajorityVote, 0, true, 5, 4));
        assert!(!keeps(Filter::Oracle, 1, false, 5, 1));
    }
}
