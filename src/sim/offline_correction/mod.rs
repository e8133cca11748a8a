//! `offline_correction`: correction learned from offline traces misses the model's own errors.
//!
//! Anchor: Kumar et al. 2024, "Training Language Models to Self-Correct via
//! Reinforcement Learning" (SCoRe), arXiv:2409.12917. A model answers, then is asked to
//! correct itself. Supervised fine-tuning on pre-collected correction traces (Pair-SFT,
//! STaR) barely improves the second attempt: the traces show errors the model does not
//! make (distribution shift), and with correct→correct pairs the learned corrector
//! collapses into not editing at all. Multi-turn online RL on the model's own first
//! attempts (SCoRe) learns to correct, and edits selectively. On MATH with Gemini 1.5
//! Flash: base 52.6 → 41.4 (Δ −11.2, i→c 4.6, c→i 15.8); STaR Δ +0.4; Pair-SFT Δ +1.8;
//! Pair-SFT with correct→correct pairs Δ 0, no edits; SCoRe 60.0 → 64.4 (Δ +4.4, i→c
//! 5.8, c→i 1.4).
//!
//! # Model (each parameter of `[params]`, and what it stands for)
//!
//! A *first attempt* is right, or wrong with an error *mode* `e ∈ 1..M` (what kind of
//! mistake it is) and a *salience* `σ` (how visible it is). A population of first
//! attempts has an accuracy, mode weights and a salience (σ uniform in
//! mean ± width, clipped to [0, 1]):
//! - the deployed model's **own** attempts: `own_accuracy` (Acc@t1),
//!   `own_mode_weights` (M is their length), `own_salience` ± `own_salience_width`
//!   (subtle errors);
//! - the **foreign** attempts in the offline traces, written by another process:
//!   `foreign_accuracy`, `foreign_mode_weights` (the *mode mismatch*: mostly other
//!   modes), `foreign_salience` ± `foreign_salience_width` (the *salience mismatch*:
//!   blatant errors).
//!
//! The mismatch knob `lambda` (λ) mixes them: each offline trace's first attempt is
//! foreign with probability λ and the model's own otherwise (λ = 0: the traces are
//! drawn from exactly the model's own population). `lambdas` is the grid of panel (b).
//!
//! The corrector never sees the mode. It sees a *symptom* `x ∈ R^M`:
//! `x = σ·g·onehot(e) + η·N(0, I)` for a wrong attempt and `η·N(0, I)` for a right one
//! (`g` = `symptom_gain`, `η` = `symptom_noise`). Its policy is a softmax linear in
//! `(1, x)` over `M + 1` actions: *keep* the first attempt, or *fix_j* (rewrite the part
//! of the answer where error mode j would be). `fix_e` repairs an error of mode e with
//! probability `φ` (`fix_success`): most wrong first attempts the model cannot repair
//! even when it looks in the right place. Any other fix leaves a wrong attempt wrong;
//! any fix of a right attempt breaks it with probability `ψ` (`break_chance`). Keep
//! changes nothing. So turn 2 is right with probability 1 (right, keep), 1 − ψ (right,
//! fix), φ (wrong e, fix_e), 0 otherwise.
//!
//! The *keep incentive*: fixing blind (fix_1, the likeliest own mode, on no evidence)
//! gains 0.45·0.35·φ = 0.079 and loses 0.55·ψ = 0.165, so a good corrector keeps unless
//! the symptom points at an error. Whether it learns that is an outcome of training.
//!
//! The first attempt is never trained (Acc@t1 is the same for every arm); what the arms
//! learn is the corrector. SCoRe's shaping α(r2 − r1) is not modelled: it protects a
//! trained first attempt from collapsing, and here the first attempt is frozen, where
//! α only rescales the reward. Training samples actions at temperature 1; at deployment
//! every corrector samples at `deploy_temperature` (0.1: near-greedy, as when a paper
//! evaluates with greedy decoding). Deployment metrics are exact expectations over that
//! sampling and the fix outcome for each drawn problem, so their only noise is the
//! problems and the training.
//!
//! # Arms (each is *trained*; none is assigned an outcome)
//! - `base`: the untrained corrector, edit-happy: keep has logit `base_keep_bias` below
//!   the fixes (which have logit 0), and every symptom weight is drawn from
//!   N(0, `base_gain`²) per replicate: it edits almost always and has not learned which
//!   symptom calls for which fix, so it breaks more right answers than it repairs (a
//!   premise, not a finding).
//! - `pair_sft`: from `base`, `sft_steps` steps of minibatch SGD (`sft_batch` pairs,
//!   step `sft_rate`) on cross-entropy over `traces` offline first attempts at
//!   mismatch λ, the wrong ones only, each paired with its correction `fix_e`
//!   (SCoRe's Pair-SFT: incorrect → correct pairs). Its traces never show a right
//!   answer left alone, so it learns to edit everything.
//! - `pair_sft_plus`: the same on every trace, the right ones paired with *keep*
//!   (Pair-SFT with correct → correct pairs).
//! - `pair_sft_own`, `pair_sft_plus_own`: the same two trained on `traces` of the
//!   model's own first attempts (λ = 0): the matched control of each.
//! - `star`: from `base`, the base corrector samples (temperature 1) corrections of
//!   `star_attempts` of its *own* first attempts; the successful corrections (wrong at
//!   turn 1, right at turn 2) are kept and it is fine-tuned on them with the same SGD.
//! - `online_rl`: from `base`, REINFORCE on the model's own first attempts (a pool of
//!   `rl_pool`; `rl_steps` steps of `rl_batch` sampled corrections, step `rl_rate`),
//!   reward r2 (turn 2 right). The first attempt's reward r1 is the per-problem
//!   baseline (it does not depend on the action), and a running mean of r2 − r1
//!   (`baseline_decay`) the shared one.
//!
//! Nothing here says "SFT fails". What each finding rests on (the spec's knock-outs):
//! - *mode mismatch* → Pair-SFT trained on foreign traces learns the foreign mode prior;
//!   on the model's own subtle errors the symptom is weak, the prior decides, and it
//!   picks the wrong fix (`distribution_shift`, `mismatch_costs_sft`). With loud own
//!   errors the symptom decides and the mode mismatch is inert (`loud_own_errors`).
//! - *salience mismatch* → in blatant traces an error always shouts, so Pair-SFT+
//!   learns "keep unless the symptom is loud", and the model's own errors never are
//!   (`plus_collapses`), under near-greedy decoding; sampled at temperature 1 it edits
//!   in proportion to its hedged probabilities.
//! - *keep incentive and break chance* → online RL learns to keep unless the evidence
//!   is strong (`rl_selective`); without them editing is free or pays.
//! - *a readable symptom* → online RL improves on the model's own errors only because
//!   they leave a trace (`rl_improves`).
//!
//! # Metrics (on `eval_problems` fresh own first attempts per replicate)
//! `acc_t1`, `acc_t2`, `delta` = acc_t2 − acc_t1, `i_to_c` (share of all problems wrong at
//! t1 and right at t2), `c_to_i` (right, then wrong), so delta = i_to_c − c_to_i;
//! `fix_rate` (i_to_c over the share of wrong first attempts); `edit_rate` (share of
//! problems where the corrector does not keep); `action_entropy` (entropy of the mean
//! action distribution, keep included, divided by ln(M + 1)). Paired by replicate:
//! `rl_gain` of `online_rl_vs_<arm>` (online_rl's delta minus the arm's), `rl_wins`
//! (outcome: online_rl's delta above pair_sft_plus's), `delta_cost` and `fix_rate_cost`
//! of `pair_sft_own_vs_pair_sft` (the λ = 0 arm's value minus the λ arm's).
//! `analytic`/`acc_t1` is `own_accuracy` (the sanity check's target).
//! During Pair-SFT training (λ and λ = 0), every `record_every` steps: `fix_rate_offline`
//! (on the wrong first attempts of its own trace set) and `fix_rate_own` (on the model's
//! own eval set), each over the first `curve_attempts` wrong attempts of its set.
//! The λ sweep: `delta_sweep` and `fix_rate_sweep` of pair_sft, `delta_sweep` and
//! `edit_rate_sweep` of pair_sft_plus (same traces), for each λ of `lambdas`, on the
//! main condition's eval set from its base corrector; at λ = `lambda` they are the
//! metrics of `pair_sft` and `pair_sft_plus`, at λ = 0 those of `pair_sft_own` and
//! `pair_sft_plus_own` (the same experiment, not trained twice);
//! online RL never reads the traces, so its delta (from the main condition) is drawn at
//! every λ.
//!
//! # Streams
//! Conditions `main` (every arm; the arms of a replicate share its eval set and base
//! corrector, so differences are paired) and `sweep/<λ>` (each λ of `lambdas` other
//! than `lambda` and 0; its runs share the main replicate's eval set and base
//! corrector). Purposes of `main`: `eval`, `base`, `traces`, `traces/own`, `sft/pair`,
//! `sft/plus`, `sft/pair/own`, `sft/plus/own`, `star/attempts`, `star/actions`,
//! `sft/star`, `rl/pool`, `rl`; of `sweep/<λ>`: `traces`, `sft/pair`, `sft/plus`.
//! Symptoms are standard normals by Marsaglia's polar method, both of each pair, one
//! raw draw per point tried (its two 32-bit halves) (`PolarPoints`). Online RL draws
//! a step's `rl_batch` problems first, then each one's action and outcome in turn.
//!
//! # Speed
//! Changes of sampling (each changed the committed numbers, not the model: the same
//! distributions, the same experiments):
//! - Symptom noise by Marsaglia's polar method instead of Box–Muller: a point of
//!   (−1, 1)² from one raw draw (two 32-bit halves, each `(k + ½)·2⁻³¹ − 1`,
//!   resolution 2⁻³¹, never 0), rejected outside the unit disc, gives two exact
//!   N(0, 1) for one `log`, one `sqrt`, one division and 4/π draws on average; no
//!   sin or cos.
//! - Softmax exponentials by a vectorised exp instead of scalar libm `exp`, and each
//!   row normalised by multiplying with the reciprocal of its sum (one division a
//!   row instead of one per action). The exp was `ops::exp_portable` (degree-13
//!   polynomial, within 2 ulp of libm's); it is now `ops::table::exp_nonpositive`,
//!   table-driven (2^(j/64) and a degree-5 polynomial, for exponents ≤ 0, which all
//!   softmax exponents are), within 1 ulp of libm's (its test), the same bits on
//!   every machine and vector width. The probabilities move by an ulp or so; of
//!   the committed numbers (6 digits) only online RL's moved, in the 5th decimal
//!   (an action draw fell within an ulp of a boundary and that RL run went on
//!   another way); the claims' verdicts were unchanged (`check --seeds 20`).
//!   It cut the softmax's instructions by 11% and its run time more (a dependency
//!   chain of 6 multiply–adds instead of 13). Counted as `exp[t]`, priced in the bound at
//!   its own measured cost.
//! - Online RL draws a step's problems before their actions and outcomes, so the
//!   step's softmaxes are one batch.
//! - The λ sweep reuses the main condition's eval set and base corrector, and its
//!   points at λ = `lambda` and λ = 0 are the main arms `pair_sft`/`pair_sft_plus` and
//!   `pair_sft_own`/`pair_sft_plus_own` (the same experiment): 13 fine-tunings per
//!   replicate instead of 17, and 9 sets of first attempts instead of 17. Panel (b)'s
//!   points are now paired with each other and with the main arms; no claim reads them.
//!
//! Exact (the same bits as the plain scalar recipe):
//! - The policy is held input-major with its actions in lanes padded to a multiple
//!   of 4 (`Policy::stride`; the pad lanes have logit −∞, so probability 0 and
//!   gradient 0, and never change). `Policy::probabilities_batch` computes a block
//!   of `BLOCK` = 16 rows (a whole SGD or RL step) with its rows in the vector lanes:
//!   the block's symptoms are copied input-major, each action's logits of the 16 rows
//!   are one array (bias, then each weight times an input, in input order: the scalar
//!   sum's order per logit), and the maximum over the actions, the exponents, the
//!   exponentials (one vectorised loop), the sum over the actions in action
//!   order, one reciprocal a row and the normalisation are all operations between
//!   such arrays, each lane a row of its own; the rows are written back `P` wide.
//!   Its test compares it with the row-by-row recipe bit for bit. (It used to run
//!   across the action lanes of one row, with a serial maximum and sum a row and a
//!   lane in 8 wasted: 8% fewer instructions in callgrind this way.) The largest
//!   logit's term is exp(0) = 1 exactly; at temperature 1 the division by it is
//!   skipped (x / 1 = x). No exponential is computed for a pad lane; a short last
//!   block computes its missing rows from stale symptoms and drops them, and only
//!   the actions' exponentials of real rows are counted for the bound.
//! - `Policy::gradient_step`: a minibatch's log-probability gradient accumulated
//!   input-major across the action lanes, each element summed over the rows in order
//!   from 0 (the scalar recipe's sum), then added to theta times the step; its test
//!   compares it with the action-major row-by-row recipe bit for bit. It used to be
//!   a quarter of the run: the loop over inputs of the old layout vectorised across
//!   inputs, with a transpose per row. It runs over the rows once per 4 action
//!   lanes (one AVX2 vector), so its W accumulators stay in registers instead of
//!   spilling every row (perf: its share 8.4% -> 7.8% of the run).
//! - Panel (c)'s fix rates are computed only where the figure draws them (on both sets
//!   for Pair-SFT at λ, on the model's own for Pair-SFT at λ = 0, never in the
//!   sweep), on the first `curve_attempts` wrong attempts of each set, found once.
//! - On x86-64 processors with AVX2 (detected at run time) `probabilities_batch` and
//!   `gradient_step` run a copy compiled for AVX2: 4 lanes a vector instead of 2,
//!   the same IEEE operations per element in the same order (Rust never fuses a
//!   multiply and an add; no operation mixes lanes), so the same bits on every
//!   machine (their tests compare both copies with the scalar recipe); `mismatch
//!   verify` passes on either.
//! - Both kernels are compiled once per number of modes (2..=16, picked by a `match`:
//!   W = M + 1 actions in P lanes), so every loop has a fixed length and unrolls,
//!   and they take the rows as indices into a set of attempts (one copy per kernel,
//!   not one per caller).
//! - Deployment's expectation per problem adds only its non-zero terms (a wrong
//!   attempt's is `π(fix_e)·φ`), the same sum.
//! - The sweep's conditions run inside each replicate of `main`: one parallel loop
//!   over replicates for the whole figure, no barrier between conditions.
//! - No allocation inside training loops (buffers per fine-tuning, per RL run).
//! - STaR's and online RL's actions are drawn by `sampled_action`: the stream's
//!   `categorical` exactly (the same uniform, the same sum and running subtractions;
//!   a test compares the two), the first hit read from a mask instead of an early
//!   exit, so no branch depends on the drawn action (perf: `main_run`, where the RL
//!   loop is inlined, 10.7% -> 9.6% of the run).
//! - A set of first attempts is drawn in two passes: every draw in the recipe's order
//!   (population, right or mode, salience, the symptom's polar points), then the
//!   points' logs as one `ops::exact::log_batch` (libm's bits, vectorised; counted
//!   as `log[=]`), so the same normals as one `log` a pair (a test compares them bit
//!   for bit). Callgrind: drawing 107M -> 88M instructions at 20 replicates. Their
//!   square roots are `f64::sqrt` (correctly rounded, as libm's: the same bits) in
//!   a loop that vectorises, each counted as one `sqrt`.
//!
//! # Constants
//! `MAX_MODES` = 16 bounds M (and so the symptom and policy sizes) for validation;
//! `KEEP` = 0 is keep's action index (fix_j is j + 1).

mod figure;
mod model;

use super::{Model, Observations, Runner};
use crate::analysis::Summary;
use crate::error::Result;
use crate::render::Figure;
use crate::spec::validate::{self as v, Invalid, Validate};
use model::{main_run, Deployed, ARMS, OWN, PAIR, PLUS, PLUS_OWN, RL};
use serde::Deserialize;

pub struct OfflineCorrection;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub own_accuracy: f64,
    pub own_mode_weights: Vec<f64>,
    pub own_salience: f64,
    pub own_salience_width: f64,
    pub foreign_accuracy: f64,
    pub foreign_mode_weights: Vec<f64>,
    pub foreign_salience: f64,
    pub foreign_salience_width: f64,
    pub symptom_gain: f64,
    pub symptom_noise: f64,
    pub fix_success: f64,
    pub break_chance: f64,
    pub base_keep_bias: f64,
    pub base_gain: f64,
    pub lambda: f64,
    pub lambdas: Vec<f64>,
    pub traces: usize,
    pub star_attempts: usize,
    pub sft_steps: usize,
    pub sft_batch: usize,
    pub sft_rate: f64,
    pub record_every: usize,
    pub curve_attempts: usize,
    pub rl_pool: usize,
    pub rl_steps: usize,
    pub rl_batch: usize,
    pub rl_rate: f64,
    pub baseline_decay: f64,
    pub eval_problems: usize,
    pub deploy_temperature: f64,
}

/// Most error modes a spec may ask for (the symptom and policy sizes follow).
const MAX_MODES: usize = 16;

/// A salience `mean ± width`: the mean in [0, 1], the width in [0, 0.5] (the range
/// is clipped to [0, 1] where it is drawn, so any combination of overrides is valid).
fn salience_range(key: &str, mean: f64, width: f64) -> Result<(), Invalid> {
    v::probability(key, mean)?;
    v::in_range(&format!("{key}_width"), width, 0.0, 0.5)
}

fn mode_weights(key: &str, w: &[f64], modes: usize) -> Result<(), Invalid> {
    v::list_len(key, w, modes, modes)?;
    v::each(key, w, |k, x| v::in_range(k, *x, 0.0, 1e6))?;
    if w.iter().sum::<f64>() <= 0.0 {
        return Err(Invalid {
            key: key.into(),
            problem: "must have a positive sum".into(),
        });
    }
    Ok(())
}

impl Validate for Params {
    fn validate(&self) -> Result<(), Invalid> {
        v::list_len("own_mode_weights", &self.own_mode_weights, 2, MAX_MODES)?;
        let m = self.own_mode_weights.len();
        v::in_range("own_accuracy", self.own_accuracy, 0.05, 0.95)?;
        mode_weights("own_mode_weights", &self.own_mode_weights, m)?;
        salience_range("own_salience", self.own_salience, self.own_salience_width)?;
        v::in_range("foreign_accuracy", self.foreign_accuracy, 0.05, 0.95)?;
        mode_weights("foreign_mode_weights", &self.foreign_mode_weights, m)?;
        salience_range("foreign_salience", self.foreign_salience, self.foreign_salience_width)?;
        v::in_range("symptom_gain", self.symptom_gain, 0.0, 100.0)?;
        v::in_range("symptom_noise", self.symptom_noise, 0.01, 100.0)?;
        v::probability("fix_success", self.fix_success)?;
        v::probability("break_chance", self.break_chance)?;
        v::in_range("base_keep_bias", self.base_keep_bias, -20.0, 20.0)?;
        v::in_range("base_gain", self.base_gain, -20.0, 20.0)?;
        v::probability("lambda", self.lambda)?;
        v::list_len("lambdas", &self.lambdas, 2, 21)?;
        v::each("lambdas", &self.lambdas, |k, l| v::probability(k, *l))?;
        v::increasing("lambdas", &self.lambdas)?;
        v::count("traces", self.traces, 200, 100_000)?;
        v::count("star_attempts", self.star_attempts, 1, 100_000)?;
        v::count("sft_steps", self.sft_steps, 1, 1_000_000)?;
        v::count("sft_batch", self.sft_batch, 1, 4096)?;
        v::in_range("sft_rate", self.sft_rate, 0.0, 100.0)?;
        v::count("record_every", self.record_every, 1, self.sft_steps)?;
        v::count("curve_attempts", self.curve_attempts, 1, 100_000)?;
        v::count("rl_pool", self.rl_pool, 1, 100_000)?;
        v::count("rl_steps", self.rl_steps, 1, 1_000_000)?;
        v::count("rl_batch", self.rl_batch, 1, 4096)?;
        v::in_range("rl_rate", self.rl_rate, 0.0, 100.0)?;
        v::probability("baseline_decay", self.baseline_decay)?;
        v::count("eval_problems", self.eval_problems, 10, 1_000_000)?;
        v::in_range("deploy_temperature", self.deploy_temperature, 0.05, 10.0)?;
        Ok(())
    }
}

fn push_deployed(out: &mut Observations, arm: &str, x: f64, i: u64, d: &Deployed) {
    for (metric, value) in [
        ("acc_t1", d.acc_t1),
        ("acc_t2", d.acc_t2),
        ("delta", d.delta()),
        ("i_to_c", d.i_to_c),
        ("c_to_i", d.c_to_i),
        ("fix_rate", d.fix_rate()),
        ("edit_rate", d.edit_rate),
        ("action_entropy", d.entropy),
    ] {
        out.push(arm, metric, x, i, value);
    }
}

impl Model for OfflineCorrection {
    type Params = Params;
    const ID: &'static str = "offline_correction";

    fn simulate(p: &Params, run: &Runner) -> Observations {
        let mut out = Observations::default();
        let main = run.replicates("main", run.count(), |rep| main_run(p, rep));
        for (a, arm) in ARMS.iter().enumerate() {
            for (i, r) in main.iter() {
                push_deployed(&mut out, arm, p.lambda, i, &r.arms[a]);
            }
        }
        // The share of right first attempts is set by the spec: the sanity check's target.
        out.push_exact("analytic", "acc_t1", p.lambda, p.own_accuracy);
        // Paired differences (same replicate: same eval set and base corrector).
        for (i, r) in main.iter() {
            let (pair, own, rl) = (&r.arms[PAIR], &r.arms[OWN], &r.arms[RL]);
            let (plus, plus_own) = (&r.arms[PLUS], &r.arms[PLUS_OWN]);
            for (arm, metric, value) in [
                ("online_rl_vs_pair_sft", "rl_gain", rl.delta() - pair.delta()),
                ("online_rl_vs_pair_sft_plus", "rl_gain", rl.delta() - plus.delta()),
                (
                    "online_rl_vs_pair_sft_plus_own",
                    "rl_gain",
                    rl.delta() - plus_own.delta(),
                ),
                ("pair_sft_own_vs_pair_sft", "delta_cost", own.delta() - pair.delta()),
                (
                    "pair_sft_own_vs_pair_sft",
                    "fix_rate_cost",
                    own.fix_rate() - pair.fix_rate(),
                ),
            ] {
                out.push(arm, metric, p.lambda, i, value);
            }
            let wins = rl.delta() > plus.delta();
            out.push_outcome("online_rl_vs_pair_sft_plus", "rl_wins", p.lambda, i, wins);
        }
        for (metric, pick) in [("fix_rate_offline", 1), ("fix_rate_own", 2)] {
            for (i, r) in main.iter() {
                let values = if pick == 1 { &r.curve.offline } else { &r.curve.own };
                for (&step, &v) in r.curve.steps.iter().zip(values) {
                    out.push("pair_sft", metric, step as f64, i, v);
                }
            }
        }
        for (i, r) in main.iter() {
            for (&step, &own) in r.curve_own.steps.iter().zip(&r.curve_own.own) {
                out.push("pair_sft_own", "fix_rate_own", step as f64, i, own);
            }
        }
        for (l, &lambda) in p.lambdas.iter().enumerate() {
            for (i, r) in main.iter() {
                let [pair, plus] = &r.sweep[l];
                out.push("pair_sft", "delta_sweep", lambda, i, pair.delta());
                out.push("pair_sft", "fix_rate_sweep", lambda, i, pair.fix_rate());
                out.push("pair_sft_plus", "delta_sweep", lambda, i, plus.delta());
                out.push("pair_sft_plus", "edit_rate_sweep", lambda, i, plus.edit_rate);
            }
            for (i, r) in main.iter() {
                out.push("online_rl", "delta_sweep", lambda, i, r.arms[RL].delta());
            }
        }
        out
    }

    fn figure(p: &Params, summary: &Summary) -> Result<Figure> {
        figure::figure(p, summary)
    }
}
