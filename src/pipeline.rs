//! The pipeline, stage by stage: spec → simulate → analyse → figure → bytes.
//! Nothing here writes a file; `output` does, atomically, once every byte is ready.

use crate::analysis::{self, claims, Summary};
use crate::error::{Error, Result};
use crate::render;
use crate::sim::{Model, Runner};
use crate::spec::{Ablation, Claim, Header, Source};
use std::marker::PhantomData;

/// A figure's registry entry: its id and how to build it from a spec.
pub trait Experiment: Sync {
    fn id(&self) -> &'static str;
    /// Parses and validates the spec, simulates, analyses and lays out the figure.
    fn build(&self, source: &Source, progress: Option<indicatif::ProgressBar>) -> Result<Built>;
    /// The simulation stage alone (for `make bench`).
    fn simulate_only(&self, source: &Source) -> Result<crate::sim::Observations>;
}

/// Everything known about a figure once its simulation has been analysed.
pub struct Built {
    pub header: Header,
    pub spec_sha256: String,
    pub summary: Summary,
    pub figure: render::Figure,
    pub claims: Vec<Claim>,
    pub ablation: Ablation,
}

struct Entry<M>(PhantomData<M>);

impl<M: Model + Sync> Experiment for Entry<M> {
    fn id(&self) -> &'static str {
        M::ID
    }

    fn build(&self, source: &Source, progress: Option<indicatif::ProgressBar>) -> Result<Built> {
        let spec = source.load::<M::Params>()?;
        if spec.header.id != M::ID {
            return Err(Error::Input(format!(
                "{}: key `id`: says `{}` but was loaded as `{}`. Fix: make id match the figure",
                source.path.display(),
                spec.header.id,
                M::ID
            )));
        }
        let runner = Runner::new(spec.header.seed, spec.header.replicates, progress);
        let observations = M::simulate(&spec.params, &runner);
        let summary = analysis::summarise(&observations)?;
        let figure = M::figure(&spec.params, &summary)?;
        Ok(Built {
            header: spec.header,
            spec_sha256: spec.sha256,
            summary,
            figure,
            claims: spec.claims,
            ablation: spec.ablation,
        })
    }

    fn simulate_only(&self, source: &Source) -> Result<crate::sim::Observations> {
        Self::observations(source)
    }
}

impl<M: Model + Sync> Entry<M> {
    fn observations(source: &Source) -> Result<crate::sim::Observations> {
        let spec = source.load::<M::Params>()?;
        let runner = Runner::new(spec.header.seed, spec.header.replicates, None);
        Ok(M::simulate(&spec.params, &runner))
    }
}

/// Every figure, in paper order.
pub fn experiments() -> Vec<&'static dyn Experiment> {
    vec![
        &Entry::<crate::sim::context_accumulation::ContextAccumulation>(PhantomData),
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
    let id = source.id()?;
    let experiment = find(&id).map_err(|_| {
        let ids: Vec<&str> = experiments().iter().map(|e| e.id()).collect();
        Error::Input(format!(
            "{}: key `id`: no figure is called `{id}`. Fix: use one of: {}",
            source.path.display(),
            ids.join(", ")
        ))
    })?;
    experiment.build(source, progress)
}

/// One output file: its path relative to the output folder and its bytes.
pub struct OutputFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The files of a figure: summary CSV, SVG, PNG.
pub fn render_outputs(built: &Built) -> Result<Vec<OutputFile>> {
    let id = &built.header.id;
    let svg = render::svg(&built.figure)?;
    let png = render::png(&svg)?;
    Ok(vec![
        OutputFile {
            path: format!("data/{id}.csv"),
            bytes: built.summary.to_csv()?.into_bytes(),
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
