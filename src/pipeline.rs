//! The pipeline, stage by stage: spec → simulate → analyse → figure → bytes.
//! Nothing here writes a file; `output` does, atomically, once every byte is ready.

use crate::analysis::{self, claims, Summary};
use crate::error::{internal, Error, Result};
use crate::render;
use crate::sim::{Model, Observations, Runner, Shard};
use crate::spec::{Claim, Header, Kind, Knockout, Robustness, Source, Spec};
use rayon::prelude::*;
use std::marker::PhantomData;

/// A figure's registry entry: its id and how to build it from a spec.
pub trait Experiment: Sync {
    fn id(&self) -> &'static str;
    /// Parses and validates the spec alone.
    fn validate(&self, source: &Source) -> Result<()>;
    /// Validates the spec and runs the simulation (or one shard of its replicates).
    fn observe(&self, source: &Source, shard: Shard, progress: Option<indicatif::ProgressBar>) -> Result<Observations>;
    /// Validates the spec, analyses the observations and lays out the figure.
    fn assemble(&self, source: &Source, observations: &Observations) -> Result<Built>;
    /// Validates the spec, runs the simulation and analyses it, without the figure:
    /// what claims are judged on (multi-seed checks, knock-outs, robustness maps).
    fn analyse(&self, source: &Source) -> Result<Analysed>;
    /// The spec's header alone (validated).
    fn analyse_header(&self, source: &Source) -> Result<Header>;
    /// The spec's claims, knock-outs and robustness maps (validated).
    fn claims_of(&self, source: &Source) -> Result<Claims>;
    /// Both: the whole figure from its spec.
    fn build(&self, source: &Source, progress: Option<indicatif::ProgressBar>) -> Result<Built> {
        let observations = self.observe(source, Shard::ALL, progress)?;
        self.assemble(source, &observations)
    }
}

/// Everything known about a figure once its simulation has been analysed.
pub struct Built {
    pub header: Header,
    pub spec_sha256: String,
    /// The `--set` overrides the figure was made with (empty for the paper's figures).
    pub overrides: Vec<(String, String)>,
    pub summary: Summary,
    pub figure: render::Figure,
    pub claims: Vec<Claim>,
    pub knockouts: Vec<Knockout>,
    pub robustness: Vec<Robustness>,
}

/// What a spec claims: its claims, knock-outs and robustness maps.
pub struct Claims {
    pub claims: Vec<Claim>,
    pub knockouts: Vec<Knockout>,
    pub robustness: Vec<Robustness>,
}

/// A figure's analysed numbers and what its spec claims about them (no layout).
pub struct Analysed {
    pub header: Header,
    pub summary: Summary,
    pub claims: Vec<Claim>,
    pub knockouts: Vec<Knockout>,
    pub robustness: Vec<Robustness>,
}

struct Entry<M>(PhantomData<M>);

impl<M: Model + Sync> Entry<M> {
    fn load(source: &Source) -> Result<Spec<M::Params>> {
        let spec = source.load::<M::Params>()?;
        if spec.header.id != M::ID {
            return Err(Error::Input(format!(
                "{}: key `id`: says `{}` but was loaded as `{}`. Fix: make id match the figure",
                source.path.display(),
                spec.header.id,
                M::ID
            )));
        }
        Ok(spec)
    }
}

impl<M: Model + Sync> Experiment for Entry<M> {
    fn id(&self) -> &'static str {
        M::ID
    }

    fn validate(&self, source: &Source) -> Result<()> {
        Self::load(source).map(|_| ())
    }

    fn observe(&self, source: &Source, shard: Shard, progress: Option<indicatif::ProgressBar>) -> Result<Observations> {
        let spec = Self::load(source)?;
        let runner = Runner::new(spec.header.seed, spec.header.replicates, progress).sharded(shard);
        let observations = M::simulate(&spec.params, &runner);
        check_names(source, &observations)?;
        Ok(observations)
    }

    fn assemble(&self, source: &Source, observations: &Observations) -> Result<Built> {
        let spec = Self::load(source)?;
        let summary = analysis::summarise(observations)?;
        // Every claim's rows must exist before anything is written: an error names the
        // spec file and the claim (the selectors can only be checked on the summary).
        for claim in &spec.claims {
            claims::evaluate(&summary, claim).map_err(|e| e.within(&source.path.display().to_string()))?;
        }
        let figure = M::figure(&spec.params, &summary)?;
        Ok(Built {
            header: spec.header,
            spec_sha256: spec.sha256,
            overrides: source.overrides.clone(),
            summary,
            figure,
            claims: spec.claims,
            knockouts: spec.knockouts,
            robustness: spec.robustness,
        })
    }

    fn analyse_header(&self, source: &Source) -> Result<Header> {
        Ok(Self::load(source)?.header)
    }

    fn claims_of(&self, source: &Source) -> Result<Claims> {
        let spec = Self::load(source)?;
        Ok(Claims {
            claims: spec.claims,
            knockouts: spec.knockouts,
            robustness: spec.robustness,
        })
    }

    fn analyse(&self, source: &Source) -> Result<Analysed> {
        let spec = Self::load(source)?;
        let runner = Runner::new(spec.header.seed, spec.header.replicates, None);
        let summary = analysis::summarise(&M::simulate(&spec.params, &runner))?;
        Ok(Analysed {
            header: spec.header,
            summary,
            claims: spec.claims,
            knockouts: spec.knockouts,
            robustness: spec.robustness,
        })
    }
}

/// Arm and metric names reach CSV rows, shard files and SVG text, and some come from the
/// spec (scale names): no `,`, `"`, `\\` or control characters, at most 200 characters.
fn check_names(source: &Source, observations: &Observations) -> Result<()> {
    for (arm, metric) in &observations.keys {
        for name in [arm, metric] {
            let bad = name.is_empty()
                || name.chars().count() > 200
                || name.contains([',', '"', '\\'])
                || name.chars().any(|c| c.is_control());
            if bad {
                return Err(Error::Input(format!(
                    "{}: the name `{}` (an arm, metric or scale name from [params]) is empty, longer than 200 characters, or holds a comma, quote, backslash or line break, which would break the CSV. Fix: use letters, digits, spaces and `_-/.` in names",
                    source.path.display(),
                    crate::output::clip(&name.replace(|c: char| c.is_control(), "?"))
                )));
            }
        }
    }
    Ok(())
}

/// Every figure, in paper order.
pub fn experiments() -> Vec<&'static dyn Experiment> {
    vec![
        &Entry::<crate::sim::offline_correction::OfflineCorrection>(PhantomData),
        &Entry::<crate::sim::context_accumulation::ContextAccumulation>(PhantomData),
        &Entry::<crate::sim::proxy_reward::ProxyReward>(PhantomData),
        &Entry::<crate::sim::calibration::Calibration>(PhantomData),
        &Entry::<crate::sim::self_improvement::SelfImprovement>(PhantomData),
    ]
}

/// The registered figure with this id.
pub fn find(id: &str) -> Result<&'static dyn Experiment> {
    experiments().into_iter().find(|e| e.id() == id).ok_or_else(|| {
        let ids: Vec<&str> = experiments().iter().map(|e| e.id()).collect();
        Error::Input(format!("unknown figure `{id}`. Fix: use one of: {}", ids.join(", ")))
    })
}

/// Builds the figure a spec source declares (by its `id` key).
pub fn build(source: &Source, progress: Option<indicatif::ProgressBar>) -> Result<Built> {
    declared(source)?.build(source, progress)
}

/// The registered figure a spec source declares by its `id` key.
pub fn declared(source: &Source) -> Result<&'static dyn Experiment> {
    let id = source.id()?;
    find(&id).map_err(|_| {
        let ids: Vec<&str> = experiments().iter().map(|e| e.id()).collect();
        Error::Input(format!(
            "{}: key `id`: no figure is called `{id}`. Fix: use one of: {}",
            source.path.display(),
            ids.join(", ")
        ))
    })
}

/// One output file: its path relative to the output folder and its bytes.
pub struct OutputFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What made a figure, as written into its SVG and PNG: figure id, spec hash, seed,
/// replicates and tool version, and the `--set` overrides if there were any.
pub fn provenance(built: &Built) -> String {
    let mut text = format!(
        "figure={}; spec-sha256={}; seed={}; replicates={}; tool=mismatch {}",
        built.header.id,
        built.spec_sha256,
        built.header.seed,
        built.header.replicates,
        env!("CARGO_PKG_VERSION")
    );
    if !built.overrides.is_empty() {
        let set: Vec<String> = built.overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!("; overrides={}", set.join(" ")));
    }
    text
}

/// The files of a figure: summary CSV, LaTeX macros, PDF, PNG, SVG.
pub fn render_outputs(built: &Built) -> Result<Vec<OutputFile>> {
    let id = &built.header.id;
    let provenance = provenance(built);
    let svg = render::svg_with_metadata(&render::svg(&built.header.id, &built.figure)?, &provenance);
    let png = render::png_with_text(&render::png(&svg)?, "mismatch", &provenance);
    Ok(vec![
        OutputFile {
            path: format!("data/{id}.csv"),
            bytes: built.summary.to_csv()?.into_bytes(),
        },
        OutputFile {
            path: format!("data/{id}.tex"),
            bytes: analysis::numbers::macros(id, &built.summary, &built.claims)?.into_bytes(),
        },
        OutputFile {
            path: format!("{id}.pdf"),
            bytes: render::pdf(&svg)?,
        },
        OutputFile {
            path: format!("{id}.png"),
            bytes: png,
        },
        OutputFile {
            path: format!("{id}.svg"),
            bytes: svg.into_bytes(),
        },
    ])
}

/// `numbers.tex`: the macros of every figure in paper order, each figure's taken from
/// `macros_of(id)` (figures without macros are skipped).
pub fn numbers_tex(macros_of: impl Fn(&str) -> Option<Vec<u8>>) -> String {
    let mut out = String::from(
        "% Numbers for the paper, one macro per claim, regenerated with the figures by `make figures`.\n% Use: \\input{figures/numbers.tex} in the preamble, then e.g. \\ContextAccumulationFeedbackSmall in the text.\n",
    );
    for e in experiments() {
        if let Some(bytes) = macros_of(e.id()) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// What a claim is checked for in one condition of `mismatch check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Must hold (at the seeds its kind requires).
    Holds,
    /// Under a knock-out: the finding must fail at ≥ 95% of seeds.
    Breaks,
    /// Under a knock-out: the claim must still hold.
    Survives,
}

/// One claim's verdicts at every seed of a check.
#[derive(Debug, Clone)]
pub struct Tally {
    pub id: String,
    pub kind: Kind,
    pub says: String,
    pub role: Role,
    /// Seeds at which the claim held, of `values.len()`.
    pub held: usize,
    /// The claim's number at each seed, in seed order.
    pub values: Vec<f64>,
    /// The comparison at seed 0 (the spec's seed).
    pub detail: String,
}

impl Tally {
    pub fn seeds(&self) -> usize {
        self.values.len()
    }

    /// Seeds the role and kind demand: ⌈0.95·N⌉ for findings, N for premises and
    /// sanity checks; for a break, the finding must *fail* at ⌈0.95·N⌉ seeds.
    pub fn required(&self) -> usize {
        match self.role {
            Role::Breaks => Kind::Finding.required(self.seeds()),
            Role::Holds | Role::Survives => self.kind.required(self.seeds()),
        }
    }

    /// Seeds at which the role was met (held, or failed for a break).
    pub fn met(&self) -> usize {
        match self.role {
            Role::Breaks => self.seeds() - self.held,
            Role::Holds | Role::Survives => self.held,
        }
    }

    pub fn passes(&self) -> bool {
        self.met() >= self.required()
    }

    /// (min, median, max) of the claim's number over the seeds.
    pub fn spread(&self) -> (f64, f64, f64) {
        spread(&self.values)
    }
}

/// (min, median, max) of `values` (lower median for an even count; NaN if empty).
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (sorted[0], sorted[(sorted.len() - 1) / 2], sorted[sorted.len() - 1])
}

/// A knock-out and the tallies of the claims it is checked on.
pub struct KnockoutReport {
    pub id: String,
    pub assumption: String,
    pub set: Vec<(String, String)>,
    pub tallies: Vec<Tally>,
}

/// The verdicts of `mismatch check` for one figure, over its seeds.
pub struct CheckReport {
    pub id: String,
    pub claim: String,
    /// The seeds used, seed 0 (the spec's) first.
    pub seeds: Vec<u64>,
    pub claims: Vec<Tally>,
    pub knockouts: Vec<KnockoutReport>,
}

impl CheckReport {
    pub fn all_hold(&self) -> bool {
        self.claims.iter().all(Tally::passes) && self.knockouts.iter().all(|k| k.tallies.iter().all(Tally::passes))
    }
}

/// Evaluates `claims` on the analysed numbers of `source` at `seed`.
fn verdicts_at(source: &Source, seed: u64, claims: &[Claim]) -> Result<Vec<claims::Verdict>> {
    let analysed = declared(source)?.analyse(&source.at_seed(seed))?;
    claims
        .iter()
        .map(|c| claims::evaluate(&analysed.summary, c).map_err(|e| e.within(&source.path.display().to_string())))
        .collect()
}

/// Adds one seed's verdicts to the tallies (created on the first seed).
fn tally(tallies: &mut Vec<Tally>, verdicts: Vec<claims::Verdict>, roles: &[Role]) {
    if tallies.is_empty() {
        for (v, role) in verdicts.iter().zip(roles) {
            tallies.push(Tally {
                id: v.id.clone(),
                kind: v.kind,
                says: v.says.clone(),
                role: *role,
                held: 0,
                values: Vec::new(),
                detail: v.detail.clone(),
            });
        }
    }
    for (t, v) in tallies.iter_mut().zip(verdicts) {
        t.held += usize::from(v.holds);
        t.values.push(v.value);
    }
}

/// Evaluates a figure's claims at `n` seeds, then under each knock-out: the findings
/// it must break, the claims it must keep and its own checks, at the same seeds.
///
/// Every (variant, seed) run is independent, so they run in parallel (one whole
/// simulation each, with its replicates parallel inside): this is what scales a
/// check over cores. Verdicts are tallied in (variant, seed) order afterwards, so the
/// report does not depend on the order of completion.
pub fn check(source: &Source, n: u32) -> Result<CheckReport> {
    let experiment = declared(source)?;
    let base = experiment.analyse_header(source)?;
    let seeds: Vec<u64> = (0..n.max(1)).map(|k| crate::rng::seed_k(base.seed, k)).collect();
    let spec = experiment.claims_of(source)?;
    // Variant 0: the spec as written, every claim must hold; then one per knock-out.
    let mut variants: Vec<(Source, Vec<Claim>, Vec<Role>)> = vec![(
        source.clone(),
        spec.claims.clone(),
        vec![Role::Holds; spec.claims.len()],
    )];
    for ko in &spec.knockouts {
        let mut list: Vec<Claim> = Vec::new();
        let mut roles = Vec::new();
        for (ids, role) in [(&ko.breaks, Role::Breaks), (&ko.survives, Role::Survives)] {
            for id in ids {
                let claim = spec
                    .claims
                    .iter()
                    .find(|c| &c.id == id)
                    .ok_or_else(|| internal("validated knock-out"))?;
                list.push(claim.clone());
                roles.push(role);
            }
        }
        for claim in &ko.claims {
            list.push(claim.clone());
            roles.push(Role::Holds);
        }
        variants.push((source.knocked_out(ko), list, roles));
    }
    let runs: Vec<(usize, u64)> = (0..variants.len())
        .flat_map(|v| seeds.iter().map(move |&seed| (v, seed)))
        .collect();
    let verdicts: Vec<Vec<claims::Verdict>> = runs
        .par_iter()
        .map(|&(v, seed)| verdicts_at(&variants[v].0, seed, &variants[v].1))
        .collect::<Result<_>>()?;
    let mut tallies: Vec<Vec<Tally>> = vec![Vec::new(); variants.len()];
    for (&(v, _), run) in runs.iter().zip(verdicts) {
        tally(&mut tallies[v], run, &variants[v].2);
    }
    let mut tallies = tallies.into_iter();
    let main = tallies.next().unwrap_or_default();
    let knockouts = spec
        .knockouts
        .iter()
        .zip(tallies)
        .map(|(ko, tallies)| KnockoutReport {
            id: ko.id.clone(),
            assumption: ko.assumption.clone(),
            set: ko.overrides(),
            tallies,
        })
        .collect();
    Ok(CheckReport {
        id: base.id.clone(),
        claim: base.claim.clone(),
        seeds,
        claims: main,
        knockouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_break_a_csv_row_are_refused() {
        let source = Source {
            path: "specs/x.toml".into(),
            text: String::new(),
            overrides: Vec::new(),
        };
        let mut ok = Observations::default();
        ok.push("small/free", "turn accuracy", 1.0, 0, 0.5);
        assert!(check_names(&source, &ok).is_ok());
        for bad in ["x,y", "two\nlines", "say \"hi\"", "back\\slash", ""] {
            let mut obs = Observations::default();
            obs.push(bad, "m", 1.0, 0, 0.5);
            let err = check_names(&source, &obs).unwrap_err().to_string();
            assert!(
                err.contains("specs/x.toml") && err.contains("break the CSV"),
                "{bad}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
