//! The simulation: a learner whose skill at each length is what its kept labels taught
//! it, labelling its own longer problems through a filter (the module doc states the
//! model and its assumptions, and what makes it fast).

use super::lanes;
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

    /// The expected share of labels kept at accuracy `acc`: the answers handle the
    /// problem alike (all right, or one wrong answer that passes the vote unless the
    /// length check sees it) or err independently (kept when enough are right).
    pub fn kept_share(&self, acc: f64, length_share: f64) -> f64 {
        let wrong_kept = if self.length_check { 1.0 - length_share } else { 1.0 };
        let common = acc + (1.0 - acc) * wrong_kept;
        self.correlation * common + (1.0 - self.correlation) * binomial_tail(self.answers, self.needed, acc)
    }
}

/// C(n, i) for i = 0…n.
pub fn binomial_coefficients(n: usize) -> Vec<f64> {
    let mut choose = vec![1.0; n + 1];
    for i in 1..=n {
        choose[i] = choose[i - 1] * (n + 1 - i) as f64 / i as f64;
    }
    choose
}

/// P(Binomial(n, p) ≥ k).
pub fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    tail_with(&binomial_coefficients(n), k, p)
}

/// P(Binomial(n, p) ≥ k) with `choose` = C(n, ·): p^k · Σⱼ C(n, k + j) p^j (1 − p)^(n − k − j)
/// by Horner's rule, with products only (no `pow`), in a fixed order.
#[inline]
fn tail_with(choose: &[f64], k: usize, p: f64) -> f64 {
    let n = choose.len() - 1;
    debug_assert!(k <= n);
    let q = 1.0 - p;
    let (mut q_power, mut inner) = (1.0, choose[n]);
    for &c in choose[k..n].iter().rev() {
        q_power *= q;
        inner = inner * p + c * q_power;
    }
    let mut p_power = 1.0;
    for _ in 0..k {
        p_power *= p;
    }
    p_power * inner
}

/// What becomes of one label at accuracy `acc` under a filter: the probability it is
/// kept and right, and the probability it is kept at all (right, or wrong and passed).
/// (The per-label mechanism these come from, one answer per voter, is tested against
/// them in `tests.rs`.)
#[derive(Debug, Clone, Copy)]
pub struct Odds {
    pub right: f64,
    pub kept: f64,
}

/// How a filter turns accuracy into [`Odds`].
#[derive(Debug, Clone)]
pub struct Filtering {
    vote: Option<Vote>,
    /// C(n, i) for the vote's n answers, i = 0…n (computed once, not per length).
    choose: Vec<f64>,
    filter: Filter,
    length_share: f64,
}

impl Filtering {
    pub fn of(p: &Params, filter: Filter) -> Self {
        let vote = Vote::of(p, filter);
        Filtering {
            vote,
            choose: vote.map_or_else(Vec::new, |v| binomial_coefficients(v.answers)),
            filter,
            length_share: p.length_error_share,
        }
    }

    #[inline]
    pub fn odds(&self, acc: f64) -> Odds {
        let ell = self.length_share;
        let (right, kept) = match (self.vote, self.filter) {
            (Some(v), _) => {
                let c = v.correlation;
                let right = c * acc + (1.0 - c) * tail_with(&self.choose, v.needed, acc);
                let wrong_kept = if v.length_check { 1.0 - ell } else { 1.0 };
                (right, (right + c * (1.0 - acc) * wrong_kept).min(1.0))
            }
            (None, Filter::Oracle) => (acc, acc),
            (None, Filter::Length) => (acc, acc + (1.0 - acc) * (1.0 - ell)),
            (None, _) => (acc, 1.0),
        };
        Odds { right, kept }
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
        extrapolation_at(p, len.saturating_sub(self.span))
    }

    /// Exact-match accuracy at length L: the model's formula, one length at a time (the
    /// simulation evaluates it a row of lengths at a time, [`Row`]).
    pub fn accuracy(&self, p: &Params, len: usize) -> f64 {
        ops::pow(1.0 - self.rule_error(p), len as f64)
            * (1.0 - self.length_error(p, len))
            * (1.0 - self.extrapolation(p, len))
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

/// x: the probability an answer `d` lengths past the span fails (0 at d = 0), a logistic
/// step of height x_max centred `reach` digits past the span.
pub fn extrapolation_at(p: &Params, d: usize) -> f64 {
    if d == 0 {
        return 0.0;
    }
    let beyond = d as f64 / p.reach;
    p.extrapolation_max * sigmoid(p.extrapolation_sharpness * (beyond - 1.0))
}

/// [`extrapolation_at`] for d = 0…`max_length`. It depends on L − T alone, so one table
/// per figure (one `exp` per length) replaces one `exp` per length per round per run,
/// with the same bits.
#[derive(Debug, Clone)]
pub struct Extrapolation(Vec<f64>);

impl Extrapolation {
    pub fn new(p: &Params) -> Self {
        Extrapolation((0..=p.max_length).map(|d| extrapolation_at(p, d)).collect())
    }

    #[inline]
    fn past(&self, span: usize, len: usize) -> f64 {
        if len > span {
            self.0[len - span]
        } else {
            0.0
        }
    }
}

/// Expected wrong digits of a wrong answer at length L: rule errors, one digit per
/// length-specific error, and every digit past the span when extrapolation fails
/// (`rule`, `length_error`, `extrapolation` and `acc` are the learner's at L).
pub fn wrong_digits_if_wrong(
    rule: f64,
    len: usize,
    length_error: f64,
    extrapolation: f64,
    span: usize,
    acc: f64,
) -> f64 {
    let expected = rule * len as f64 + length_error + extrapolation * len.saturating_sub(span) as f64;
    let wrong = 1.0 - acc;
    if wrong <= 0.0 {
        return 1.0;
    }
    (expected / wrong).clamp(1.0, len as f64)
}

/// The learner's accuracy at lengths 1…n in one state (one round), with the parts a
/// wrong label's digits need. [`Learner::accuracy`] row-wise: (1 − r)^L as a running
/// product (one multiplication per length where a `pow` cost forty times more; it
/// differs from `pow` in the last bits only), q_L from the learner, x from the table.
/// Lengths are filled only as far as a round needs them.
#[derive(Debug)]
pub struct Row {
    rule: f64,
    /// (1 − r)^filled.
    power: f64,
    filled: usize,
    /// Index L − 1; valid up to `filled`.
    acc: Vec<f64>,
    length_error: Vec<f64>,
    extrapolation: Vec<f64>,
}

impl Row {
    pub fn new(p: &Params) -> Self {
        Row {
            rule: 0.0,
            power: 1.0,
            filled: 0,
            acc: vec![0.0; p.max_length],
            length_error: vec![0.0; p.max_length],
            extrapolation: vec![0.0; p.max_length],
        }
    }

    /// Empties the row for the learner's current state.
    pub fn reset(&mut self, p: &Params, learner: &Learner) {
        self.rule = learner.rule_error(p);
        self.power = 1.0;
        self.filled = 0;
    }

    /// The accuracies of lengths 1…`filled`.
    pub fn accuracies(&self) -> &[f64] {
        &self.acc[..self.filled]
    }

    /// Fills lengths up to `upto` (the learner must be the one of the last reset).
    pub fn fill(&mut self, p: &Params, learner: &Learner, table: &Extrapolation, upto: usize) {
        if upto <= self.filled {
            return;
        }
        let step = 1.0 - self.rule;
        let mut power = self.power;
        let lengths = self.filled..upto;
        let acc = &mut self.acc[lengths.clone()];
        let length_error = &mut self.length_error[lengths.clone()];
        let extrapolation = &mut self.extrapolation[lengths.clone()];
        // [`Learner::length_error`] with its slices taken once (no bounds check per length):
        // the same operations in the same order.
        let gain = p.imitation * (1.0 - p.rule_share);
        let (taught, taught_wrong) = (&learner.taught[lengths.clone()], &learner.taught_wrong[lengths]);
        for (k, len) in (self.filled + 1..=upto).enumerate() {
            power *= step;
            let n = taught[k];
            let q = if n > 0.0 { gain * taught_wrong[k] / n } else { 0.0 };
            let x = table.past(learner.span, len);
            acc[k] = power * (1.0 - q) * (1.0 - x);
            length_error[k] = q;
            extrapolation[k] = x;
        }
        self.power = power;
        self.filled = upto;
    }

    /// The longest length whose accuracy (and that of every shorter one) is ≥ threshold.
    /// The row is filled [`FRONTIER_STEP`] lengths at a time, only as far as the scan
    /// goes (the running product is the same, however far each fill goes).
    pub fn frontier(&mut self, p: &Params, learner: &Learner, table: &Extrapolation) -> usize {
        let mut len = 0;
        loop {
            while len < self.filled && self.acc[len] >= p.accuracy_threshold {
                len += 1;
            }
            if len < self.filled || len >= p.max_length {
                return len;
            }
            self.fill(p, learner, table, (self.filled + FRONTIER_STEP).min(p.max_length));
        }
    }
}

/// How many more lengths [`Row::frontier`] fills when its scan reaches the end of the
/// filled ones.
const FRONTIER_STEP: usize = 16;

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

/// The outcomes of a label, in the order of the cumulative odds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Right,
    Wrong,
    Dropped,
}

/// How the labels of one length are drawn (both exact; the cheaper is chosen).
#[derive(Debug, Clone, Copy)]
enum Draw {
    /// Each label's k (53 uniform bits) against the thresholds of the cumulative odds:
    /// right if below `right`, kept if below `kept` (`lanes::categorical3`).
    Lanes { right: u64, kept: u64 },
    /// Almost every label has the `usual` outcome: the number of the others is drawn
    /// with one uniform (`lanes::rare_count`, probability `rare` each), and each of them
    /// is the first of the two other outcomes with probability `first_share`.
    Rare {
        usual: Outcome,
        rare: f64,
        first_share: f64,
    },
}

/// Labels drawn one way or the other: the rare way when at most this many labels of 64
/// are expected to differ from the usual outcome (one draw, against about seven).
const RARE_PER_64: f64 = 1.0;

impl Draw {
    fn of(odds: Odds) -> Draw {
        let (right, wrong, dropped) = (odds.right, odds.kept - odds.right, 1.0 - odds.kept);
        // The usual outcome, the chance of another, and the share of the first other.
        let (usual, rare, first) = if right >= wrong && right >= dropped {
            (Outcome::Right, 1.0 - odds.right, wrong)
        } else if wrong >= dropped {
            (Outcome::Wrong, right + dropped, right)
        } else {
            (Outcome::Dropped, odds.kept, right)
        };
        if rare * 64.0 <= RARE_PER_64 {
            let first_share = if rare > 0.0 {
                (first / rare).clamp(0.0, 1.0)
            } else {
                0.0
            };
            Draw::Rare {
                usual,
                rare,
                first_share,
            }
        } else {
            Draw::Lanes {
                right: lanes::threshold(odds.right),
                kept: lanes::threshold(odds.kept),
            }
        }
    }

    /// The right and the kept labels among `lanes` (the first `m`).
    #[inline]
    fn sample(&self, rng: &mut Stream, lanes: u64, m: usize) -> (u64, u64) {
        match *self {
            Draw::Lanes { right, kept } => lanes::categorical3(rng, lanes, right, kept),
            Draw::Rare {
                usual,
                rare,
                first_share,
            } => {
                // The labels are exchangeable: the unusual ones are put in the first lanes.
                let others = lanes::first(lanes::rare_count(rng, m, rare));
                let first = lanes::bernoulli(rng, others, first_share);
                let (usual_lanes, second) = (lanes & !others, others & !first);
                match usual {
                    Outcome::Right => (usual_lanes, usual_lanes | first),
                    Outcome::Wrong => (first, lanes & !second),
                    Outcome::Dropped => (first, others),
                }
            }
        }
    }
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
///
/// The `problems_per_length` labels of a length are independent and alike, so they are
/// drawn 64 at a time as bit lanes (`lanes`): each label's one uniform against the
/// cumulative odds (kept right, kept wrong, dropped), and with an injection which kept
/// ones are corrupted, each with the probability of the per-label draw. `row` holds the
/// learner's accuracy (filled here as far as needed).
#[allow(clippy::too_many_arguments)]
pub fn label_round(
    p: &Params,
    learner: &Learner,
    row: &mut Row,
    table: &Extrapolation,
    filtering: &Filtering,
    injection: Option<Injection>,
    rng: &mut Stream,
    inject_rng: &mut Stream,
    out: &mut Round,
) {
    let (first, last) = labelled_lengths(p, learner.span);
    row.fill(p, learner, table, last);
    out.first = first;
    out.at.clear();
    out.at.resize(last + 1 - first, KeptAt::default());
    let draws = Draws {
        p,
        row,
        span: learner.span,
        filtering,
        injection,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor has POPCNT, checked just above.
        unsafe { draws.run_popcnt(rng, inject_rng, out) };
        return;
    }
    draws.run(rng, inject_rng, out);
}

/// What [`label_round`] draws the labels of a round with.
pub(super) struct Draws<'a> {
    pub p: &'a Params,
    pub row: &'a Row,
    pub span: usize,
    pub filtering: &'a Filtering,
    pub injection: Option<Injection>,
}

impl Draws<'_> {
    /// [`Draws::run`] compiled with the POPCNT instruction: the bit counts are the same
    /// integers (the same code, with one instruction where baseline x86-64 needs a dozen).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn run_popcnt(&self, rng: &mut Stream, inject_rng: &mut Stream, out: &mut Round) {
        self.run(rng, inject_rng, out);
    }

    /// Each length's odds, then its labels, 64 at a time; the wrong digits of a wrong
    /// label are worked out only at lengths that kept one.
    #[inline(always)]
    pub(super) fn run(&self, rng: &mut Stream, inject_rng: &mut Stream, out: &mut Round) {
        let (p, row, first) = (self.p, self.row, out.first);
        let (mut kept_total, mut wrong_total) = (0, 0);
        let (mut kept_digits, mut kept_wrong_digits) = (0.0, 0.0);
        for (k, at) in out.at.iter_mut().enumerate() {
            let len = first + k;
            let acc = row.acc[len - 1];
            let draw = Draw::of(self.filtering.odds(acc));
            let wrong_digits = || {
                let (q, x) = (row.length_error[len - 1], row.extrapolation[len - 1]);
                wrong_digits_if_wrong(row.rule, len, q, x, self.span, acc)
            };
            let mut left = p.problems_per_length;
            while left > 0 {
                let m = left.min(64);
                left -= m;
                let lanes = lanes::first(m);
                let (right, kept) = draw.sample(rng, lanes, m);
                let wrong = kept & !right;
                at.kept += kept.count_ones() as usize;
                match self.injection {
                    None => {
                        if wrong != 0 {
                            let n = wrong.count_ones();
                            at.wrong += n as usize;
                            kept_wrong_digits += f64::from(n) * wrong_digits();
                        }
                    }
                    Some(inj) => {
                        let wrong_digits = wrong_digits();
                        let hit = lanes::bernoulli(inject_rng, kept, inj.fraction);
                        let injected_digits = libm::ceil(p.injected_digit_error * len as f64).max(1.0);
                        let (wrong_hit, right_hit) = ((wrong & hit).count_ones(), (right & hit).count_ones());
                        let wrong_plain = wrong.count_ones() - wrong_hit;
                        at.wrong += (wrong_plain + wrong_hit + right_hit) as usize;
                        kept_wrong_digits += f64::from(wrong_plain) * wrong_digits
                            + f64::from(wrong_hit) * wrong_digits.max(injected_digits)
                            + f64::from(right_hit) * injected_digits;
                    }
                }
            }
            // (Through i64, one instruction: the product is far below 2⁶³.)
            kept_digits += (at.kept * len) as i64 as f64;
            kept_total += at.kept;
            wrong_total += at.wrong;
        }
        out.labelled = out.at.len() * p.problems_per_length;
        out.kept = kept_total;
        out.kept_wrong = wrong_total;
        out.kept_digits = kept_digits;
        out.kept_wrong_digits = kept_wrong_digits;
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
    /// Accuracy at lengths 1…max_length for each of `accuracy_rounds`, concatenated
    /// (only in runs that keep curves).
    pub accuracy: Vec<f64>,
}

impl Trajectory {
    fn record_state(&mut self, p: &Params, learner: &Learner, row: &mut Row, table: &Extrapolation, curve: bool) {
        row.fill(p, learner, table, p.anchor_length);
        self.frontier.push(row.frontier(p, learner, table) as f64);
        self.span.push(learner.span as f64);
        self.anchor_accuracy.push(row.acc[p.anchor_length - 1]);
        self.rule_error.push(row.rule);
        if curve {
            row.fill(p, learner, table, p.max_length);
            self.accuracy.extend_from_slice(row.accuracies());
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

/// A whole self-training run under one filter; with `curves`, it keeps the accuracy by
/// length at each of `accuracy_rounds`.
pub fn run_rounds(
    p: &Params,
    table: &Extrapolation,
    filter: Filter,
    injection: Option<Injection>,
    curves: bool,
    rep: Replicate,
) -> Trajectory {
    let mut rng = rep.stream("labels");
    let mut inject_rng = rep.stream("inject");
    let filtering = Filtering::of(p, filter);
    let mut learner = Learner::new(p);
    let mut traj = Trajectory::default();
    let mut data = Round::default();
    let mut row = Row::new(p);
    for round in 0..=p.rounds {
        row.reset(p, &learner);
        let curve = curves && p.accuracy_rounds.contains(&round);
        traj.record_state(p, &learner, &mut row, table, curve);
        if round == p.rounds {
            break;
        }
        let inject = injection.filter(|i| i.round == round + 1);
        label_round(
            p,
            &learner,
            &mut row,
            table,
            &filtering,
            inject,
            &mut rng,
            &mut inject_rng,
            &mut data,
        );
        learner.retrain(p, &data);
        traj.record_round(&data);
    }
    traj
}
