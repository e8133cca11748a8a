//! The simulation: a learner whose skill at each length is what its kept labels taught
//! it, labelling its own longer problems through a filter (the module doc states the
//! model and its assumptions).

use super::Params;
use crate::ops;
use crate::rng::{sigmoid, Stream};
use crate::sim::Replicate;

/// How the labels of a round are filtered: the arms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// Every label is kept.
    None,
    /// Labels of the wrong length are dropped.
    Length,
    /// Two samples of the same model must agree (SECToR).
    SelfConsistency,
    /// `votes_needed` of `voters` separately trained models must agree, and (with
    /// `length_check`) the label's length must be right (Lee et al.); the voters'
    /// errors are correlated by `correlation`.
    MajorityVote { correlation: f64, length_check: bool },
    /// Exactly the right labels are kept (a premise: nothing wrong is learned).
    Oracle,
}

/// How one label came out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    Dropped,
    Right,
    Wrong,
}

/// The answers compared at one length under one filter: the probabilities they are
/// drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Vote {
    /// Answers compared, and how many must agree (≥ 2: a strict majority, so only one
    /// answer can win; wrong answers of separate draws are taken never to coincide).
    pub answers: usize,
    pub needed: usize,
    /// Error correlation of the answers: with this probability a problem is one the
    /// answers handle alike (all right, or the same wrong answer); otherwise they err
    /// independently. The Pearson correlation of two answers' error indicators is then
    /// exactly this number.
    pub correlation: f64,
    /// Whether a wrong-length answer is dropped.
    pub length_check: bool,
}

impl Vote {
    pub fn of(p: &Params, filter: Filter) -> Option<Vote> {
        match filter {
            Filter::SelfConsistency => Some(Vote {
                answers: 2,
                needed: 2,
                correlation: p.sample_correlation,
                length_check: false,
            }),
            Filter::MajorityVote {
                correlation,
                length_check,
            } => Some(Vote {
                answers: p.voters,
                needed: p.votes_needed,
                correlation,
                length_check,
            }),
            _ => None,
        }
    }

    /// One label: each answer right with probability `acc`; a wrong one has the wrong
    /// length with probability `length_share`.
    pub fn draw(&self, rng: &mut Stream, acc: f64, length_share: f64) -> Label {
        if rng.uniform() < self.correlation {
            // A problem the answers handle alike: they all agree.
            if rng.uniform() < acc {
                return Label::Right;
            }
            let wrong_length = rng.uniform() < length_share;
            if self.length_check && wrong_length {
                Label::Dropped
            } else {
                Label::Wrong
            }
        } else {
            let right = (0..self.answers).filter(|_| rng.uniform() < acc).count();
            if right >= self.needed {
                Label::Right
            } else {
                Label::Dropped
            }
        }
    }

    /// The expected share of labels kept at accuracy `acc` (the closed form of `draw`).
    pub fn kept_share(&self, acc: f64, length_share: f64) -> f64 {
        let wrong_kept = if self.length_check { 1.0 - length_share } else { 1.0 };
        let common = acc + (1.0 - acc) * wrong_kept;
        self.correlation * common + (1.0 - self.correlation) * binomial_tail(self.answers, self.needed, acc)
    }
}

/// P(Binomial(n, p) ≥ k), summed in a fixed order.
pub fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    let mut total = 0.0;
    let mut choose = 1.0;
    for i in 0..=n {
        if i > 0 {
            choose = choose * (n + 1 - i) as f64 / i as f64;
        }
        if i >= k {
            total += choose * ops::pow(p, i as f64) * ops::pow(1.0 - p, (n - i) as f64);
        }
    }
    total
}

/// One label drawn under `filter` at accuracy `acc`.
pub fn label(p: &Params, filter: Filter, rng: &mut Stream, acc: f64) -> Label {
    let ell = p.length_error_share;
    match Vote::of(p, filter) {
        Some(vote) => vote.draw(rng, acc, ell),
        None => {
            let right = rng.uniform() < acc;
            match filter {
                Filter::Oracle if !right => Label::Dropped,
                Filter::Length if !right && rng.uniform() < ell => Label::Dropped,
                _ if right => Label::Right,
                _ => Label::Wrong,
            }
        }
    }
}

/// The learner: what it was taught at each length, and the data's wrong digits.
#[derive(Debug, Clone)]
pub struct Learner {
    /// Labels trained on at length L (index L − 1), and how many of them were wrong.
    pub taught: Vec<f64>,
    pub taught_wrong: Vec<f64>,
    /// Digits in the training set, and wrong digits among them.
    pub digits: f64,
    pub wrong_digits: f64,
    /// T: every length 1…T has at least `min_kept_share × problems_per_length` labels.
    pub span: usize,
}

impl Learner {
    /// Trained with clean labels on lengths 1…`initial_span`.
    pub fn new(p: &Params) -> Self {
        let mut taught = vec![0.0; p.max_length];
        for t in taught.iter_mut().take(p.initial_span) {
            *t = p.initial_examples as f64;
        }
        let digits: usize = (1..=p.initial_span).sum();
        Learner {
            taught,
            taught_wrong: vec![0.0; p.max_length],
            digits: (digits * p.initial_examples) as f64,
            wrong_digits: 0.0,
            span: p.initial_span,
        }
    }

    /// Per-digit error of the shared rule: ε₀ plus the share of the training set's
    /// wrong digits the learner reproduces through the rule every length uses.
    pub fn rule_error(&self, p: &Params) -> f64 {
        let noise = if self.digits > 0.0 {
            self.wrong_digits / self.digits
        } else {
            0.0
        };
        (p.base_digit_error + p.imitation * p.rule_share * noise).min(MAX_DIGIT_ERROR)
    }

    /// Share of answers at length L the learner gets wrong because its labels there
    /// were wrong (the part of the imitated error that stays with the length).
    pub fn length_error(&self, p: &Params, len: usize) -> f64 {
        let n = self.taught[len - 1];
        if n > 0.0 {
            p.imitation * (1.0 - p.rule_share) * self.taught_wrong[len - 1] / n
        } else {
            0.0
        }
    }

    /// Probability an answer at length L fails because L lies past the span.
    pub fn extrapolation(&self, p: &Params, len: usize) -> f64 {
        if len <= self.span {
            return 0.0;
        }
        let beyond = (len - self.span) as f64 / p.reach;
        p.extrapolation_max * sigmoid(p.extrapolation_sharpness * (beyond - 1.0))
    }

    /// Exact-match accuracy at length L.
    pub fn accuracy(&self, p: &Params, len: usize) -> f64 {
        ops::pow(1.0 - self.rule_error(p), len as f64)
            * (1.0 - self.length_error(p, len))
            * (1.0 - self.extrapolation(p, len))
    }

    /// Expected wrong digits of a wrong answer at length L: rule errors, one digit per
    /// length-specific error, and every digit past the span when extrapolation fails.
    pub fn wrong_digits_if_wrong(&self, p: &Params, len: usize, acc: f64) -> f64 {
        let expected = self.rule_error(p) * len as f64
            + self.length_error(p, len)
            + self.extrapolation(p, len) * len.saturating_sub(self.span) as f64;
        let wrong = 1.0 - acc;
        if wrong <= 0.0 {
            return 1.0;
        }
        (expected / wrong).clamp(1.0, len as f64)
    }

    /// The longest length whose accuracy (and that of every shorter one) is ≥ threshold.
    pub fn frontier(&self, p: &Params) -> usize {
        (1..=p.max_length)
            .take_while(|&len| self.accuracy(p, len) >= p.accuracy_threshold)
            .last()
            .unwrap_or(0)
    }

    /// Adds a round's kept labels to the training set and moves the span through every
    /// length now taught often enough.
    pub fn retrain(&mut self, p: &Params, round: &Round) {
        for (k, at) in round.at.iter().enumerate() {
            let i = round.first - 1 + k;
            self.taught[i] += at.kept as f64;
            self.taught_wrong[i] += at.wrong as f64;
        }
        self.digits += round.kept_digits;
        self.wrong_digits += round.kept_wrong_digits;
        let needed = p.min_kept_share * p.problems_per_length as f64;
        while self.span < p.max_length && self.span + 1 >= round.first {
            let kept = round.at.get(self.span + 1 - round.first).map_or(0, |a| a.kept);
            if (kept as f64) < needed || kept == 0 {
                break;
            }
            self.span += 1;
        }
    }
}

/// A digit no worse than this is still a digit.
const MAX_DIGIT_ERROR: f64 = 0.9;

/// What a round kept at one length.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeptAt {
    pub kept: usize,
    pub wrong: usize,
}

/// What one round labelled and kept.
#[derive(Debug, Default)]
pub struct Round {
    /// The first length labelled; `at[k]` is length `first + k`.
    pub first: usize,
    pub at: Vec<KeptAt>,
    pub labelled: usize,
    pub kept: usize,
    pub kept_wrong: usize,
    pub kept_digits: f64,
    pub kept_wrong_digits: f64,
}

/// Noise injected into the kept labels of one round.
#[derive(Debug, Clone, Copy)]
pub struct Injection {
    pub round: usize,
    pub fraction: f64,
}

/// The lengths labelled in a round: every self-taught length past the supervised
/// start, up to `window` past the span.
pub fn labelled_lengths(p: &Params, span: usize) -> (usize, usize) {
    let first = (p.initial_span + 1).min(p.max_length);
    let last = (span + p.window).min(p.max_length);
    (first, last.max(first))
}

/// One round: the learner's answers at the labelled lengths, filtered, perhaps corrupted.
pub fn label_round(
    p: &Params,
    learner: &Learner,
    filter: Filter,
    injection: Option<Injection>,
    rng: &mut Stream,
    inject_rng: &mut Stream,
    out: &mut Round,
) {
    let (first, last) = labelled_lengths(p, learner.span);
    out.first = first;
    out.at.clear();
    out.labelled = 0;
    out.kept = 0;
    out.kept_wrong = 0;
    out.kept_digits = 0.0;
    out.kept_wrong_digits = 0.0;
    for len in first..=last {
        let acc = learner.accuracy(p, len);
        let wrong_digits = learner.wrong_digits_if_wrong(p, len, acc);
        let injected_digits = libm::ceil(p.injected_digit_error * len as f64).max(1.0);
        let mut at = KeptAt::default();
        for _ in 0..p.problems_per_length {
            out.labelled += 1;
            let mut digits_wrong = match label(p, filter, rng, acc) {
                Label::Dropped => continue,
                Label::Right => 0.0,
                Label::Wrong => wrong_digits,
            };
            if let Some(inj) = injection {
                if inject_rng.bernoulli(inj.fraction) {
                    digits_wrong = digits_wrong.max(injected_digits);
                }
            }
            at.kept += 1;
            out.kept_digits += len as f64;
            if digits_wrong > 0.0 {
                at.wrong += 1;
                out.kept_wrong_digits += digits_wrong;
            }
        }
        out.kept += at.kept;
        out.kept_wrong += at.wrong;
        out.at.push(at);
    }
}

/// One run's measurements, per round (index 0: before any self-training).
#[derive(Debug, Default)]
pub struct Trajectory {
    pub frontier: Vec<f64>,
    pub span: Vec<f64>,
    pub anchor_accuracy: Vec<f64>,
    pub rule_error: Vec<f64>,
    /// Per labelling round (index r − 1 for round r): share of kept labels that are
    /// wrong (None when nothing was kept) and share of labels kept.
    pub label_noise: Vec<Option<f64>>,
    pub kept_share: Vec<Option<f64>>,
    /// Accuracy at lengths 1…max_length for each of `accuracy_rounds`, concatenated.
    pub accuracy: Vec<f64>,
}

impl Trajectory {
    fn record_state(&mut self, p: &Params, learner: &Learner, round: usize) {
        self.frontier.push(learner.frontier(p) as f64);
        self.span.push(learner.span as f64);
        self.anchor_accuracy.push(learner.accuracy(p, p.anchor_length));
        self.rule_error.push(learner.rule_error(p));
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

    /// The frontier after the last round.
    pub fn final_frontier(&self) -> f64 {
        self.frontier.last().copied().unwrap_or(0.0)
    }

    pub fn peak_frontier(&self) -> f64 {
        self.frontier.iter().copied().fold(0.0, f64::max)
    }
}

/// A whole self-training run under one filter.
pub fn run_rounds(p: &Params, filter: Filter, injection: Option<Injection>, rep: Replicate) -> Trajectory {
    let mut rng = rep.stream("labels");
    let mut inject_rng = rep.stream("inject");
    let mut learner = Learner::new(p);
    let mut traj = Trajectory::default();
    let mut data = Round::default();
    for round in 0..=p.rounds {
        traj.record_state(p, &learner, round);
        if round == p.rounds {
            break;
        }
        let inject = injection.filter(|i| i.round == round + 1);
        label_round(p, &learner, filter, inject, &mut rng, &mut inject_rng, &mut data);
        learner.retrain(p, &data);
        traj.record_round(&data);
    }
    traj
}
