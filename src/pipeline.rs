//! The pipeline, stage by stage: spec → simulate → analyse → figure → bytes.
//! Nothing here writes a file; `output` does, atomically, once every byte is ready.

use crate::analysis::{self, claims, Summary};
use crate::error::{Error, Result};
use crate::render;
use crate::sim::{Model, Observations, Runner, Shard};
use crate::spec::{Ablation, Claim, Header, Source, Spec};
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
    pub ablation: Ablation,
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
        let figure = M::figure(&spec.params, &summary)?;
        Ok(Built {
            header: spec.header,
            spec_sha256: spec.sha256,
            overrides: source.overrides.clone(),
            summary,
            figure,
            claims: spec.claims,
            ablation: spec.ablation,
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
    let svg = render::svg_with_metadata(&render::svg(&built.figure)?, &provenance);
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
        "% Numbers for the paper, one macro per claim, regenerated with the figures by `make figures`.\n% Use: \\input{figures/numbers.tex} in the preamble, then e.g. \\ContextAccumulationDropSmall in the text.\n",
    );
    for e in experiments() {
        if let Some(bytes) = macros_of(e.id()) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// The verdicts of `mismatch check` for one figure.
pub struct CheckReport {
    pub id: String,
    pub claims: Vec<claims::Verdict>,
    pub ablation_says: String,
    pub ablation_claims: Vec<claims::Verdict>,
    /// Main claims that must fail under the ablation, with whether they did.
    pub breaks: Vec<claims::Verdict>,
}

impl CheckReport {
    pub fn all_hold(&self) -> bool {
        self.claims.iter().all(|v| v.holds)
            && self.ablation_claims.iter().all(|v| v.holds)
            && self.breaks.iter().all(|v| v.holds)
    }
}

/// Evaluates a figure's claims, then rebuilds it under its ablation and evaluates the
/// ablation's claims and the claims the ablation must break.
pub fn check(source: &Source, built: &Built) -> Result<CheckReport> {
    let verdicts = |summary: &Summary, list: &[Claim]| -> Result<Vec<claims::Verdict>> {
        list.iter().map(|c| claims::evaluate(summary, c)).collect()
    };
    let main = verdicts(&built.summary, &built.claims)?;
    let ablated_source = source.ablated_with(&built.ablation);
    let ablated = build(&ablated_source, None)?;
    let ablation_claims = verdicts(&ablated.summary, &built.ablation.claims)?;
    let mut breaks = Vec::new();
    for id in &built.ablation.breaks {
        let claim = built
            .claims
            .iter()
            .find(|c| &c.id == id)
            .ok_or_else(|| crate::error::internal("validated break"))?;
        let under = claims::evaluate(&ablated.summary, claim)?;
        breaks.push(claims::Verdict {
            id: format!("{id} breaks"),
            says: format!("under the ablation, `{id}` no longer holds"),
            holds: !under.holds,
            detail: under.detail,
        });
    }
    Ok(CheckReport {
        id: built.header.id.clone(),
        claims: main,
        ablation_says: built.ablation.says.clone(),
        ablation_claims,
        breaks,
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
