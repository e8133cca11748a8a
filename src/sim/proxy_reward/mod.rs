//! `proxy_reward`: a self-consistency reward drifts from correctness and collapses into
//! confident wrongness.
//!
//! Anchors: Shafayat et al. 2025, "Can Large Reasoning Models Self-Train?" (SRT),
//! arXiv:2505.21444: RL against a majority-vote self-reward first tracks RL against the
//! ground truth, then collapses suddenly while the self-reward keeps rising; the
//! collapsed model answers with a prompt-independent template; early stopping on a
//! labelled validation set avoids the collapse, a fixed teacher (labels frozen from the
//! initial model) avoids the runaway but loses 6–10 points against ground truth.
//! Zuo et al. 2025, "TTRL: Test-Time Reinforcement Learning", arXiv:2504.16084: the
//! majority label is right on only 37% of problems, yet 92% of the per-sample rewards
//! equal the true reward ("lucky hits": a wrong sample that disagrees with a wrong
//! majority still gets the right reward, 0).
//!
//! # Model
//!
//! A run trains one policy on `problems` problems. Problem `i` has `K = wrong_answers + 2`
//! candidate answers: index 0 is right, `1..=wrong_answers` are wrong, and the last is the
//! *template*, one answer that is the same string for every prompt (SRT's collapsed
//! model). The policy is a softmax over logits
//!
//! ```text
//! z_i,0 = θ_i,0 + x_i·w        (the right answer: per-problem logit + shared skill w)
//! z_i,a = θ_i,a                (a wrong answer)
//! z_i,T = θ_i,T + b            (the template: per-problem logit + shared template bias b)
//! ```
//!
//! At start `θ_i,0 = ease_i ~ N(ease_mean, ease_sd)`, `θ_i,a ~ N(0, wrong_sd)`,
//! `θ_i,T = template_logit`, `w = b = 0`. Each step samples `G` (`samples`) answers per
//! problem and rewards them by the arm's rule. Group-baseline REINFORCE (advantage
//! `A_g = r_g − mean_g r`) moves every logit by `lr · Σ_{g: a_g = a} A_g / G`. The
//! per-problem logits learn at `lr_problem`; `w` and `b` learn from the mean of that
//! gradient over all problems at `lr_skill` and `lr_template`.
//!
//! # Assumptions (each has a knock-out in the spec)
//!
//! 1. *A shared template channel*: the template is one answer for every prompt, so what
//!    it wins on one problem (through `b`) it wins on all (knock-out: `lr_template = 0`).
//! 2. *The template's head start*: initially it is the commonest single wrong answer
//!    (`template_logit` above the wrong answers' `N(0, wrong_sd)`; knock-out: 0).
//! 3. *The shared bias learns about as fast as the shared skill* (knock-out:
//!    `lr_template` a fifth of `lr_skill`).
//! 4. *Hard problems*: start accuracy about 0.27 (`ease_mean = 1`, `ease_sd = 1.5`), so
//!    on many problems answers are dispersed and a modest template share wins the vote
//!    (knock-out: `ease_mean = 3`).
//! 5. *The fixed teacher's labels are frozen* (knock-out: `teacher_refresh = 1`, the
//!    teacher relabels from the current model every step, a self-consistency reward
//!    with a bigger vote).
//!
//! Not load-bearing, though an earlier version of this doc called it "the" structural
//! assumption: the skill reaches problem `i` with weight `x_i = 1 − c + c·σ(ease_i)`
//! (`c = reach_contrast`; a general skill helps most where the model is nearly
//! competent, while the template adds `b` everywhere alike). With `c = 0` (the skill
//! reaches every problem alike) 82% of self-consistency runs still collapse and every
//! finding still holds (measured at 128 runs, template logit 1.4), so it has no knock-out.
//!
//! Under the self-consistency reward (`1` if a sample equals the plurality of its group)
//! nothing is scheduled. On easy problems the plurality is right and self-consistency
//! agrees with correctness (near the threshold some runs first improve as under ground
//! truth; at the committed head start none does). On hard problems
//! answers are dispersed, and the template wins the plurality far more often than its
//! share: each such win rewards the *shared* bias `b`, which raises the template on every
//! problem, and punishes the right answer's samples there. The skill `w` and the bias `b`
//! race; a run whose `b` gets ahead tips (the template becomes the plurality of the next
//! problems, which pushes `b` further): a runaway. The proxy keeps rising (an all-template
//! model agrees with itself perfectly) while accuracy collapses. Runs split: a run
//! either tips or its skill wins, so the spec claims the *share* of runs that collapse,
//! and the figure shows the two populations. Where the split falls is a threshold in the
//! template's head start; the `scan` condition measures it (panel (f)).
//!
//! # Arms
//! - `ground_truth`: reward `1[a = right]`.
//! - `self_consistency`: reward `1[a = plurality of the G samples]` (ties broken uniformly
//!   at random).
//! - `early_stopping`: self-consistency, but every `eval_every` steps the accuracy on
//!   `validation_problems` held-out labelled problems is estimated from
//!   `validation_samples` answers each (standard error ≤ `sqrt(1/4 / (n·m))`, which the
//!   spec must keep below half the `tolerance`); after `patience` evaluations in a row
//!   more than `tolerance` below the best, training stops and the best checkpoint is
//!   restored.
//! - `fixed_teacher`: reward `1[a = label_i]`, the label frozen at step 0 as the plurality
//!   of `teacher_samples` answers of the initial model (refreshed every `teacher_refresh`
//!   steps if that is not 0: the knock-out of assumption 5).
//!
//! # Metrics
//! Every `record_every` steps, per arm: `accuracy` (mean over training problems of
//! π_i,0), `test_accuracy` and `test_template_rate` (exact, on `test_problems` held-out
//! problems, which share only `w` and `b`), `proxy_reward` (mean self-consistency reward
//! of the samples, measured in every arm), `template_rate` (mean π_i,T), `label_accuracy`
//! (share of problems whose plurality is right), `reward_accuracy` (share of samples
//! whose self-consistency reward equals their true reward), `correlation` (Pearson
//! correlation of per-sample proxy and true reward over the last `correlation_window`
//! steps; 0 when either is constant), `entropy` (mean policy entropy / ln K).
//!
//! Per run (outcomes, one 0/1 per run, at x = `steps`): `collapsed` (the template is at
//! least `collapse_template` of the held-out answers at the end), `collapsed_after_rise`
//! (collapsed, and before it did, its held-out accuracy rose at least `rise` above its
//! start), `collapse_hidden` (collapsed, and from `align_window / 2` steps before
//! the collapse to the end its held-out accuracy fell at least 0.1 while its proxy reward
//! rose at least 0.2), `final_bin` (at x = each bin's centre: the run's final held-out accuracy falls
//! in that tenth of [0, 1]). Self-consistency runs that collapse, aligned at their
//! collapse (the first record where the held-out template rate reaches
//! `collapse_template`): `aligned_test_accuracy`, `aligned_proxy_reward`,
//! `aligned_test_template_rate` at x = steps from the collapse. `initial/template_labels`:
//! share of training problems whose initial plurality (the teacher's label) is the
//! template. Scan (`scan/...`, x = template logit): `collapsed` and `template_labels` of
//! self-consistency runs at each of `scan_template_logits`.
//!
//! # Speed (issue 18)
//! A run of 300 steps samples 8 answers of 64 problems per step; the loop is kept near
//! its bound (the draws and transcendental calls it must make) by:
//! - *32-bit uniforms*: each `u64` of a stream gives two; a sample picks the first answer
//!   `a` with `u < cum_a·2³²/total` (resolution 2⁻³², far below any probability that
//!   matters here). Per problem and step: `G` sample uniforms and one tie-break uniform,
//!   drawn whether or not there is a tie (no branch, and the stream position never
//!   depends on the data). They are made in bulk, each ChaCha8 block straight into the
//!   step's array (`rng::Words`: the same words as `Stream::fill_u32`, which are those
//!   of splitting `u64` draws, both tested; without the generator's buffer and its copy,
//!   about 6% of the run).
//! - *Integer comparisons*: for a whole `u` and a threshold `t ≥ 0`, `u < t` exactly
//!   when `u < ⌈t⌉`, and a threshold above `2³² − 1` has every uniform below it; so
//!   the step compares the uniforms, biased to `i32` (`u − 2³¹`, order kept; flipped
//!   as the counting kernels load them, not in a pass of their own, which also saves
//!   copying them: about 1.4% of the instructions), with
//!   `⌈t⌉ − 2³¹` in eight-lane integer vectors and counts exactly what comparing `f64`s
//!   counted (tested against the scalar reference, also past `2³² − 1`). The threshold
//!   pass keeps one flag per answer (is any threshold of the row above `2³² − 1`?) and
//!   fixes up only flagged rows after counting, from the same products `cum·scale`,
//!   instead of storing and applying a per-problem `full` row every step; and it biases
//!   `⌈x⌉` by one addition of `1.5·2⁵² − 2³¹` instead of two (both exact on whole numbers
//!   below 2⁵³: the same value, the same bits; tested). About 2% of the instructions.
//!   With AVX2 the pass is written with intrinsics (`thresholds_avx2`): the same
//!   product, ceiling, minimum and addition, but the low halves of two vectors of four
//!   gathered into one of eight by one shuffle and one permute, where the compiler
//!   spent two extractions and two shuffles (tested bit for bit against the scalar
//!   conversion; 1.8% of the instructions).
//!   With AVX2 the counts of seven answers are taken together (`count_rows_avx2`: eight
//!   problems a vector, the seven thresholds and counts in registers over the `G` rows
//!   of uniforms, each uniform vector loaded once for all seven): the same integer
//!   comparisons, so the same counts (the tests compare the AVX2 and portable steps);
//!   about 3% of the instructions (the per-chunk set-up and copies of the 16-problem
//!   kernel, which remains for the answers left over). The range check of the totals
//!   (`[2⁻⁵⁰⁰, 2⁵⁰⁰]`) tests every total without an early exit, so that it vectorises
//!   (the same predicate; about 1%). From the counts below each threshold to each
//!   answer's REINFORCE step `j`, the integer work (counts, top count, ties, the
//!   plurality, the step's tally of rewards, the target's count, `j`) is one pass over
//!   blocks of eight problems with AVX2 (`vote_avx2`), every answer's count of a block
//!   held in registers and the tally summed in integer vectors (integers: the same sums
//!   in any order), instead of a dozen passes over whole rows and a scalar tally
//!   (`vote_rows`, the portable path): the same integer operations, so the same values
//!   (tested against the scalar `plurality` and the portable step; about 9% of the
//!   run's time, 2.3% of its instructions for the tally alone).
//! - *One `exp` per problem and step, not K*: the softmax is invariant to a common
//!   shift, so each problem keeps `exp(ℓ_a)` of its wrong answers and template,
//!   `ℓ_a = θ_a (+ b) − r_i` relative to a reference `r_i`. A REINFORCE step moves a
//!   logit by `lr_problem·j/G²` with an integer `j` (`model::reinforce_j`), so the
//!   cached weight is multiplied by `exp` of that step from a table (`model::Steps`),
//!   and the template's by `exp(Δb)` once per step for all problems. Only the right
//!   answer, which moves with `w·x_i` (a different amount per problem), needs an `exp`:
//!   the portable exp of `ops::exp_batch` (within 2 ulp of libm, the same bits at any
//!   vector width), over all problems at once, also for the held-out problems'
//!   right answers. (At the spec's values the committed figure did not change.)
//!   Exact up to rounding (relative drift ~1e-16 per step); a total weight outside
//!   [2⁻⁵⁰⁰, 2⁵⁰⁰] recomputes the problem from `θ` (never at the spec's values).
//! - *Entropy without logs*: `H = ln total − Σ w_a ℓ_a / total`, one `log` per problem.
//!   On record steps each problem's terms (`π_0`, `π_T`, `H/ln K`) are computed in
//!   whole-row passes, so the divisions vectorise and the `log`s are independent calls,
//!   then summed in problem order as before (the same operations per element, the same
//!   sums; 0.5% of the instructions).
//! - *Held-out problems* never move per problem: `Σ exp θ` of their wrong answers is
//!   computed once, so an exact held-out accuracy costs one `exp` per problem, taken
//!   by `ops::exp_batch` (AVX2 where the CPU has it, the same bits).
//! - *Whole-step passes*: the policy is stored answer-major, and a step is a sequence of
//!   loops over all problems (cumulative weights, thresholds, counts by comparing every
//!   uniform with every threshold, plurality, update) that the compiler vectorises, with
//!   no branch on sampled values. On x86-64 with AVX2 (detected at run time) the same
//!   loops are compiled for wider vectors; they make the same IEEE operations in the
//!   same order (Rust never fuses or reassociates them), so the same bits (tested).
//!   Four passes use AVX2 intrinsics there: the thresholds and the counts (integer
//!   compares), the vote (above) and the update (`update_avx2`), four problems at a time through every
//!   answer: logits plus their steps, cached weights times table factors read by four
//!   loads (the same entries, the same products; `_mm256_i32gather_pd` was slower), and
//!   the skill's gradient summed in problem order as the blocks go, so that its chain of
//!   dependent additions overlaps the table reads instead of running after them (the
//!   same sum in the same order);
//!   the portable path does the same operations row by row.
//!
//! # Streams
//! Condition `runs` (the four arms of a replicate share their problems: paired), purposes
//! `problems`, `test_problems`, `validation_problems`, `teacher`, `train/<arm>`,
//! `validation/<arm>`, `teacher/<arm>`. Training draws, per step, `G` rows of one 32-bit
//! uniform per problem and a row of tie-break uniforms; the teacher `teacher_samples + 1`
//! per problem; early stopping `validation_samples` per validation problem. Condition `scan` (self-consistency only, a
//! quarter of the replicates; every template logit of a replicate shares its problems),
//! purposes as above: every logit of a replicate uses the same streams (common random
//! numbers), so the scan's points differ by the template's head start only.

mod figure;
mod model;

use super::{Model, Observations, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::Figure;
use crate::spec::validate::{self as v, Invalid, Validate};
use model::{Arm, Problems, Trace, ARMS, METRICS, PROXY, TEST_ACCURACY, TEST_TEMPLATE};
use serde::Deserialize;

pub struct ProxyReward;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub problems: usize,
    pub test_problems: usize,
    pub wrong_answers: usize,
    pub samples: usize,
    pub steps: usize,
    pub record_every: usize,
    pub ease_mean: f64,
    pub ease_sd: f64,
    pub reach_contrast: f64,
    pub wrong_sd: f64,
    pub template_logit: f64,
    pub lr_problem: f64,
    pub lr_skill: f64,
    pub lr_template: f64,
    pub validation_problems: usize,
    pub validation_samples: usize,
    pub eval_every: usize,
    pub patience: usize,
    pub tolerance: f64,
    pub teacher_samples: usize,
    pub teacher_refresh: usize,
    pub correlation_window: usize,
    pub collapse_template: f64,
    pub rise: f64,
    pub align_window: usize,
    pub scan_template_logits: Vec<f64>,
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::count("problems", self.problems, 1, 4096)?;
        v::count("test_problems", self.test_problems, 1, 4096)?;
        v::count("wrong_answers", self.wrong_answers, 1, model::MAX_ANSWERS - 2)?;
        v::count("samples", self.samples, 2, model::MAX_SAMPLES)?;
        v::count("steps", self.steps, 1, 100_000)?;
        v::count("record_every", self.record_every, 1, self.steps)?;
        v::in_range("ease_mean", self.ease_mean, -20.0, 20.0)?;
        v::in_range("ease_sd", self.ease_sd, 0.0, 10.0)?;
        v::probability("reach_contrast", self.reach_contrast)?;
        v::in_range("wrong_sd", self.wrong_sd, 0.0, 10.0)?;
        v::in_range("template_logit", self.template_logit, -20.0, 20.0)?;
        v::in_range("lr_problem", self.lr_problem, 0.0, 100.0)?;
        v::in_range("lr_skill", self.lr_skill, 0.0, 100.0)?;
        v::in_range("lr_template", self.lr_template, 0.0, 100.0)?;
        v::count("validation_problems", self.validation_problems, 1, 4096)?;
        v::count("validation_samples", self.validation_samples, 1, 1024)?;
        v::count("eval_every", self.eval_every, 1, self.steps)?;
        v::count("patience", self.patience, 1, 10_000)?;
        v::probability("tolerance", self.tolerance)?;
        if self.tolerance < 2.0 * model::validation_noise(self) {
            return Err(Invalid {
                key: "tolerance".into(),
                problem: format!(
                    "must be at least twice the validation accuracy's standard error \
                     ({:.4} for {} problems × {} samples), or early stopping reacts to noise",
                    model::validation_noise(self),
                    self.validation_problems,
                    self.validation_samples
                ),
            });
        }
        v::count("teacher_samples", self.teacher_samples, 1, 4096)?;
        v::count("teacher_refresh", self.teacher_refresh, 0, self.steps)?;
        v::count("correlation_window", self.correlation_window, 1, self.steps + 1)?;
        v::probability("collapse_template", self.collapse_template)?;
        v::probability("rise", self.rise)?;
        v::count("align_window", self.align_window, 0, self.steps)?;
        v::list_len("scan_template_logits", &self.scan_template_logits, 1, 32)?;
        v::each("scan_template_logits", &self.scan_template_logits, |k, x| {
            v::in_range(k, *x, -20.0, 20.0)
        })?;
        v::increasing("scan_template_logits", &self.scan_template_logits)?;
        Ok(())
    }
}

/// The record at which a run collapsed: the first whose held-out template rate reaches
/// `threshold`; `None` if it never does, or if it is there already at step 0, or if the
/// run ends below it (a run that tips and comes back is not a collapse).
pub fn collapse_record(template: &[f64], threshold: f64) -> Option<usize> {
    let last = *template.last()?;
    if last < threshold || template[0] >= threshold {
        return None;
    }
    template.iter().position(|&t| t >= threshold)
}

/// Whether a run's held-out accuracy rose at least `rise` above its start before the
/// record `until` (inclusive).
pub fn rose_before(accuracy: &[f64], until: usize, rise: f64) -> bool {
    accuracy[..=until].iter().any(|&a| a >= accuracy[0] + rise)
}

/// Whether, from record `before` to the end, held-out `accuracy` fell at least 0.1 while
/// the `proxy` reward rose at least 0.2: a collapse the proxy does not see.
pub fn proxy_hides(proxy: &[f64], accuracy: &[f64], before: usize) -> bool {
    let (Some(&p_end), Some(&a_end)) = (proxy.last(), accuracy.last()) else {
        return false;
    };
    p_end >= proxy[before] + 0.2 && a_end <= accuracy[before] - 0.1
}

/// The tenth of [0, 1] that `value` falls in (1 in the last).
pub fn decile(value: f64) -> usize {
    ((value * 10.0) as usize).min(9)
}

/// Pushes a run's per-run outcomes and, for a collapsed self-consistency run, its time
/// course aligned at the collapse.
fn push_run(p: &Params, out: &mut Observations, arm: Arm, rep: u64, trace: &Trace) {
    let name = arm.name();
    let end = p.steps as f64;
    let acc = &trace.values[TEST_ACCURACY];
    let template = &trace.values[TEST_TEMPLATE];
    let collapse = collapse_record(template, p.collapse_template);
    out.push_outcome(name, "collapsed", end, rep, collapse.is_some());
    let rose = collapse.is_some_and(|c| rose_before(acc, c, p.rise));
    out.push_outcome(name, "collapsed_after_rise", end, rep, rose);
    let lead = p.align_window / 2 / p.record_every;
    let hidden = collapse.is_some_and(|c| proxy_hides(&trace.values[PROXY], acc, c.saturating_sub(lead)));
    out.push_outcome(name, "collapse_hidden", end, rep, hidden);
    let final_bin = decile(*acc.last().unwrap_or(&0.0));
    for bin in 0..10 {
        out.push_outcome(name, "final_bin", bin as f64 / 10.0 + 0.05, rep, bin == final_bin);
    }
    if let (Arm::SelfConsistency, Some(c)) = (arm, collapse) {
        let w = (p.align_window / p.record_every) as isize;
        for r in -w..=w {
            let j = c as isize + r;
            if j < 0 || j as usize >= acc.len() {
                continue;
            }
            let x = (r * p.record_every as isize) as f64;
            let j = j as usize;
            out.push(name, "aligned_test_accuracy", x, rep, acc[j]);
            out.push(name, "aligned_proxy_reward", x, rep, trace.values[PROXY][j]);
            out.push(name, "aligned_test_template_rate", x, rep, template[j]);
        }
    }
}

/// The number of self-consistency runs per template logit of the scan.
fn scan_runs(run: &Runner) -> usize {
    run.count().div_ceil(4)
}

impl Model for ProxyReward {
    type Params = Params;
    const ID: &'static str = "proxy_reward";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let runs = run.replicates("runs", run.count(), |rep| {
            let problems = Problems::draw(p, &rep);
            let traces: Vec<Trace> = ARMS.iter().map(|&arm| model::train(p, arm, &problems, &rep)).collect();
            (problems.template_labels(), traces)
        });
        let scan = run.replicates("scan", scan_runs(run), |rep| {
            p.scan_template_logits
                .iter()
                .map(|&logit| {
                    let q = Params {
                        template_logit: logit,
                        ..p.clone()
                    };
                    let problems = Problems::draw(&q, &rep);
                    let trace = model::train(&q, Arm::SelfConsistency, &problems, &rep);
                    let collapsed = collapse_record(&trace.values[TEST_TEMPLATE], p.collapse_template).is_some();
                    (problems.template_labels(), collapsed)
                })
                .collect::<Vec<_>>()
        });
        let mut out = Observations::default();
        for (a, arm) in ARMS.iter().enumerate() {
            for (m, metric) in METRICS.iter().enumerate() {
                for (i, (_, traces)) in runs.iter() {
                    for (j, value) in traces[a].values[m].iter().enumerate() {
                        out.push(arm.name(), metric, (j * p.record_every) as f64, i, *value);
                    }
                }
            }
            for (i, (_, traces)) in runs.iter() {
                push_run(p, &mut out, *arm, i, &traces[a]);
            }
        }
        for (i, (labels, _)) in runs.iter() {
            out.push("initial", "template_labels", 0.0, i, *labels);
        }
        for (s, &logit) in p.scan_template_logits.iter().enumerate() {
            for (i, points) in scan.iter() {
                out.push_outcome("scan", "collapsed", logit, i, points[s].1);
                out.push("scan", "template_labels", logit, i, points[s].0);
            }
        }
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        figure::figure(p, summary)
    }
}

#[cfg(test)]
mod tests;
