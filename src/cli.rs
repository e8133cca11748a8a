//! Command-line interface. [`run`] is the only place an error becomes an exit code.

use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::pipeline::{self, Built, OutputFile};
use crate::shard::{self, ShardFile};
use crate::sim::Shard;
use crate::spec::{parse_override, Source};
use crate::sweep::{self, Sweep};
use crate::{output, robustness, verify};
use clap::{Args as ClapArgs, Parser, Subcommand};
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};

const EXIT_CODES: &str = "Exit codes: 0 success; 1 a claim failed (check) or an output differs (verify); \
2 bad input (spec, option, override) or an I/O failure, with nothing overwritten; \
141 standard output was closed by its reader (e.g. `| head`).";

/// More worker threads than this only slow the replicates down (each has its stream).
pub const MAX_THREADS: u16 = 64;

/// Regenerates, bit for bit, every figure of the paper on self-correction under
/// distribution mismatch. Each figure is a pure function of its spec (specs/ID.toml)
/// and this code.
#[derive(Debug, Parser)]
#[command(name = "mismatch", version, after_help = EXIT_CODES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every figure with its title and claim.
    List {
        /// Print the figure ids only, one per line.
        #[arg(long)]
        ids: bool,
        /// Folder holding the specs.
        #[arg(long, default_value = "specs")]
        specs: PathBuf,
    },
    /// Simulate, analyse and render figures: writes OUT/ID.{svg,png,pdf}, OUT/data/ID.{csv,tex}, OUT/numbers.tex and OUT/MANIFEST.
    #[command(after_help = EXIT_CODES)]
    Run {
        #[command(flatten)]
        select: Select,
        /// Output folder [default: figures; out with --set; shards with --shard].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a spec value, e.g. --set params.window=20 (repeatable). Outputs then
        /// go to `out/` unless --out says otherwise, never over the committed figures.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<(String, String)>,
        /// Run only shard I of N of the replicates (0 <= I < N) and write raw shard files
        /// (OUT/ID.shard-I-of-N.csv, OUT defaults to `shards`) for `mismatch merge`.
        #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
        shard: Option<Shard>,
        #[command(flatten)]
        threads: Threads,
    },
    /// Assemble the shard files of `run --shard` into figures, byte-identical to one unsharded run.
    #[command(after_help = EXIT_CODES)]
    Merge {
        /// Folders holding shard files (every *.shard-I-of-N.csv in them is read).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Output folder for the figures.
        #[arg(long, required = true)]
        out: PathBuf,
    },
    /// Build one figure at every point of a sweep file's grid: OUT/POINT/ per point and
    /// OUT/sweep.csv saying which claims hold at which point.
    #[command(after_help = EXIT_CODES)]
    Sweep {
        /// The sweep file: `figure = "ID"` and a `[grid]` of `"key" = [values]` (see specs/sweeps/).
        file: PathBuf,
        /// Output folder [default: out/sweeps/<sweep file name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Folder holding the specs.
        #[arg(long, default_value = "specs")]
        specs: PathBuf,
        #[command(flatten)]
        threads: Threads,
    },
    /// Evaluate each figure's claims at one or more seeds, and under each knock-out, and
    /// print a verdict per claim: a finding must hold at ≥ 95% of the seeds, a premise or
    /// sanity check at all of them, and each knock-out must break its findings.
    #[command(after_help = EXIT_CODES)]
    Check {
        #[command(flatten)]
        select: Select,
        /// Number of seeds: seed 0 is the spec's, seed k ≥ 1 is derived from it
        /// (SHA-256 of "mismatch/seed/v1", the spec seed and k; see src/rng.rs).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        seeds: u32,
        /// Override a spec value before checking, e.g. --set params.window=20 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<(String, String)>,
        #[command(flatten)]
        threads: Threads,
    },
    /// Where the claims hold: the multi-seed check (with knock-outs) and every robustness
    /// map of each figure: writes OUT/ID.{svg,png,pdf}, OUT/ID.regions.txt,
    /// OUT/data/ID.{csv,seeds.csv,tex} and OUT/numbers.tex (the spread macros).
    #[command(after_help = EXIT_CODES)]
    Robustness {
        #[command(flatten)]
        select: Select,
        /// Seeds of the multi-seed check (the maps use each map's own `seeds`).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        seeds: u32,
        /// Output folder [default: figures/robustness; out/robustness with --set].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a spec value, e.g. --set params.window=20 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_override)]
        set: Vec<(String, String)>,
        /// Run only cells I of N of the maps (0 <= I < N) and write a shard file
        /// (OUT/ID.robustness-I-of-N.csv, OUT defaults to `shards`) for --merge.
        #[arg(long, value_name = "I/N", value_parser = Shard::parse, conflicts_with = "merge")]
        shard: Option<Shard>,
        /// Assemble the maps from the robustness shard files in these folders instead of
        /// running them (the multi-seed check still runs here).
        #[arg(long, value_name = "DIR")]
        merge: Vec<PathBuf>,
        #[command(flatten)]
        threads: Threads,
    },
    /// Print each figure's claims table and knock-out table as Markdown (the README's).
    Tables {
        #[command(flatten)]
        select: Select,
    },
    /// Rebuild every figure in memory and compare it byte for byte with a figures folder.
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// The folder to check.
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
        /// Folder holding the specs.
        #[arg(long, default_value = "specs")]
        specs: PathBuf,
        /// Also rebuild FIGURES/robustness/ (the multi-seed checks and maps of
        /// `make robustness`, at the seed count its tables record) and compare it.
        /// Slow: it reruns every seed and grid point.
        #[arg(long)]
        robustness: bool,
        /// Also write the reproduction report into DIR (see `mismatch report`), with the
        /// committed, rebuilt and difference image of every file that differs.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        #[command(flatten)]
        threads: Threads,
    },
    /// Write the reproduction report: OUT/index.html, one static page (no script, no
    /// network) with every figure, its claims across seeds, its knock-outs, robustness
    /// map, anchor numbers and provenance, read from the figures folder (nothing is rerun).
    #[command(after_help = EXIT_CODES)]
    Report {
        /// The figures folder to report on.
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
        /// Folder holding the specs.
        #[arg(long, default_value = "specs")]
        specs: PathBuf,
        /// Output folder (replaced as a whole).
        #[arg(long, default_value = crate::report::DEFAULT_OUT)]
        out: PathBuf,
    },
}

#[derive(Debug, ClapArgs)]
pub struct Select {
    /// Figure ids (see `mismatch list --ids`).
    pub ids: Vec<String>,
    /// Every figure.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// A spec file to use instead of specs/ID.toml (repeatable).
    #[arg(long = "spec", value_name = "PATH")]
    pub spec_files: Vec<PathBuf>,
    /// Folder holding the specs.
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub struct Threads {
    /// Worker threads for the replicates [default: all cores]. Outputs do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    pub threads: Option<u16>,
}

/// Runs a command; an error is printed once, here, and becomes its exit code.
pub fn run(args: Args) -> std::result::Result<(), i32> {
    let outcome = match args.command {
        Command::List { ids, specs } => list(&specs, ids),
        Command::Run {
            select,
            out,
            set,
            shard: Some(shard),
            threads,
        } => with_threads(&threads, || run_shard(&select, out, &set, shard)),
        Command::Run {
            select,
            out,
            set,
            shard: None,
            threads,
        } => with_threads(&threads, || run_figures(&select, out, &set)),
        Command::Merge { dirs, out } => merge(&dirs, &out),
        Command::Sweep {
            file,
            out,
            specs,
            threads,
        } => with_threads(&threads, || sweep(&file, out, &specs)),
        Command::Check {
            select,
            seeds,
            set,
            threads,
        } => with_threads(&threads, || check(&select, seeds, &set)),
        Command::Robustness {
            select,
            seeds,
            out,
            set,
            shard,
            merge,
            threads,
        } => with_threads(&threads, || robustness(&select, seeds, out, &set, shard, &merge)),
        Command::Tables { select } => tables(&select),
        Command::Report { figures, specs, out } => report(&figures, &specs, &out),
        Command::Verify {
            figures,
            specs,
            robustness,
            report,
            threads,
        } => with_threads(&threads, || {
            verify(&figures, &specs, report.as_deref())?;
            if robustness {
                verify_robustness(&figures.join(robustness::FOLDER), &specs)?;
            }
            Ok(())
        }),
    };
    let outcome = outcome.and_then(|()| std::io::stdout().flush().map_err(stream_error));
    outcome.map_err(|e| {
        if !matches!(e, Error::Closed) {
            note(&format!("error: {}", one_line(&e.to_string())));
        }
        e.exit_code()
    })
}

/// An error message as one line of at most about 1000 characters: line breaks become
/// spaces and an overlong middle (an echoed value) is cut, keeping the `Fix:` at the end.
pub fn one_line(message: &str) -> String {
    let flat: Vec<char> = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.len() <= 1000 {
        return flat.into_iter().collect();
    }
    let head: String = flat[..500].iter().collect();
    let tail: String = flat[flat.len() - 400..].iter().collect();
    format!("{head} […{} characters cut…] {tail}", flat.len() - 900)
}

/// A failed write to standard output: its reader went away (end quietly) or it is full.
fn stream_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::Closed
    } else {
        Error::io("write", Path::new("<standard output>"), e)
    }
}

/// Prints a line on standard output; a closed or full stream is an error, never a panic.
fn say(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(stream_error)
}

/// Prints a line on standard error; if that stream is closed or full there is no one to
/// tell, and the exit code still says what happened.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn with_threads(threads: &Threads, f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads.threads {
        builder = builder.num_threads(n as usize);
    }
    let pool = builder
        .build()
        .map_err(|e| Error::Input(format!("cannot start worker threads: {e}")))?;
    pool.install(f)
}

fn spec_path(specs: &Path, id: &str) -> PathBuf {
    specs.join(format!("{id}.toml"))
}

/// The spec sources a selection names, in paper order for `--all`.
fn sources(select: &Select) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let ids: Vec<String> = if select.all {
        pipeline::experiments().iter().map(|e| e.id().to_string()).collect()
    } else {
        select.ids.clone()
    };
    for id in &ids {
        pipeline::find(id)?;
        let source = Source::read(&spec_path(&select.specs, id))?;
        let declared = source.id()?;
        if &declared != id {
            return Err(Error::Input(format!(
                "{}: key `id`: says `{}`, but the file is the spec of `{id}`. Fix: set id = \"{id}\", or pass the file with --spec",
                source.path.display(),
                output::clip(&declared)
            )));
        }
        out.push(source);
    }
    for path in &select.spec_files {
        out.push(Source::read(path)?);
    }
    if out.is_empty() {
        return Err(Error::Input(
            "no figure selected. Fix: name ids, or pass --all or --spec PATH".into(),
        ));
    }
    Ok(out)
}

fn progress_bar(label: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} replicates {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    Some(pb)
}

fn build_one(source: &Source) -> Result<Built> {
    let label = source
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pb = progress_bar(&label);
    let built = pipeline::build(source, pb.clone());
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    built
}

fn list(specs: &Path, ids_only: bool) -> Result<()> {
    for e in pipeline::experiments() {
        if ids_only {
            say(e.id())?;
            continue;
        }
        let (title, claim) = match Source::read(&spec_path(specs, e.id())).and_then(|s| header_text(&s)) {
            Ok(tc) => tc,
            Err(_) => ("(spec missing or invalid)".to_string(), String::new()),
        };
        say(&format!("{}\n  {title}\n  {claim}", e.id()))?;
    }
    Ok(())
}

fn header_text(source: &Source) -> Result<(String, String)> {
    let table: toml::Table = toml::from_str(&source.text).map_err(|e| Error::Input(e.to_string()))?;
    let get = |k: &str| table.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    Ok((get("title"), get("claim")))
}

fn run_figures(select: &Select, out: Option<PathBuf>, set: &[(String, String)]) -> Result<()> {
    let sources = sources(select)?;
    let edited = edited_specs(select, &sources);
    let committed = set.is_empty() && edited.is_none();
    let out = out.unwrap_or_else(|| PathBuf::from(if committed { output::COMMITTED } else { "out" }));
    if !set.is_empty() {
        output::refuse_committed(&out, "--set changes the spec")?;
    }
    if let Some(path) = edited {
        output::refuse_committed(
            &out,
            &format!("--spec {} is not the committed spec of its figure", output::clip(&path)),
        )?;
    }
    // Bad specs first, then a folder that would be refused, then the work.
    for source in &sources {
        let source = source.clone().with_overrides(set);
        pipeline::declared(&source)?.validate(&source)?;
    }
    output::preflight(&out)?;
    let mut figures = Vec::new();
    for source in sources {
        let source = source.with_overrides(set);
        let built = build_one(&source)?;
        let files = pipeline::render_outputs(&built)?;
        figures.push((built.header.id.clone(), built.spec_sha256.clone(), files));
    }
    output::write_figures(&out, &figures)?;
    for (id, _, files) in &figures {
        let names: Vec<String> = files.iter().map(|f| out.join(&f.path).display().to_string()).collect();
        note(&format!("{id}: wrote {}", names.join(", ")));
    }
    Ok(())
}

/// The first `--spec` file whose text is not the committed `specs/ID.toml` of the figure
/// it declares: its outputs are not the paper's figures.
fn edited_specs(select: &Select, sources: &[Source]) -> Option<String> {
    let given = &sources[sources.len() - select.spec_files.len()..];
    given.iter().find_map(|source| {
        let committed = source
            .id()
            .ok()
            .filter(|id| pipeline::find(id).is_ok())
            .and_then(|id| std::fs::read_to_string(spec_path(Path::new("specs"), &id)).ok());
        (committed.as_deref() != Some(source.text.as_str())).then(|| source.path.display().to_string())
    })
}

/// The raw observations of one shard of each selected figure, for `mismatch merge`.
fn run_shard(select: &Select, out: Option<PathBuf>, set: &[(String, String)], part: Shard) -> Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from("shards"));
    output::refuse_committed(&out, "shard files are raw observations, not figures")?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for source in sources(select)? {
        let source = source.with_overrides(set);
        let experiment = pipeline::declared(&source)?;
        experiment.validate(&source)?;
        let replicates = source.replicates()?;
        if part.count > replicates.min(shard::MAX_SHARDS) {
            return Err(Error::Input(format!(
                "--shard {part}: {} has {replicates} replicates, so at most {} shards (each needs one replicate). Fix: use fewer shards",
                source.path.display(),
                replicates.min(shard::MAX_SHARDS)
            )));
        }
        let pb = progress_bar(experiment.id());
        let observations = experiment.observe(&source, part, pb.clone());
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let file = ShardFile {
            figure: experiment.id().to_string(),
            shard: part,
            tool: shard::tool(),
            source,
            observations: observations?.only(part),
        };
        files.push((shard::file_name(&file.figure, part), shard::render(&file)?.into_bytes()));
    }
    output::commit(&out, output::Keep::Old, |current| {
        let mut all = files.clone();
        all.push(output::plain_manifest(Some(current), &files));
        Ok(all)
    })?;
    for (name, _) in &files {
        note(&format!("wrote {}", out.join(name).display()));
    }
    Ok(())
}

/// Builds the figures of every complete set of shards found in `dirs`.
fn merge(dirs: &[PathBuf], out: &Path) -> Result<()> {
    let gathered = shard::gather(dirs)?;
    if gathered.values().any(|(source, _)| !source.overrides.is_empty()) {
        output::refuse_committed(out, "the shards were run with --set")?;
    }
    let mut figures = Vec::new();
    for e in pipeline::experiments() {
        if let Some((source, observations)) = gathered.get(e.id()) {
            let built = e.assemble(source, observations)?;
            let files = pipeline::render_outputs(&built)?;
            figures.push((built.header.id.clone(), built.spec_sha256.clone(), files));
        }
    }
    if let Some(unknown) = gathered.keys().find(|id| pipeline::find(id).is_err()) {
        return Err(Error::Input(format!(
            "shard files name a figure `{unknown}` this version does not have. Fix: merge with the version that ran them"
        )));
    }
    output::write_figures(out, &figures)?;
    for (id, _, files) in &figures {
        note(&format!("{id}: merged into {} files in {}", files.len(), out.display()));
    }
    Ok(())
}

/// Every point of a sweep: its outputs in OUT/POINT/, and OUT/sweep.csv.
fn sweep(file: &Path, out: Option<PathBuf>, specs: &Path) -> Result<()> {
    let sweep = Sweep::read(file)?;
    let experiment =
        pipeline::find(&sweep.figure).map_err(|e| Error::Input(format!("{}: key `figure`: {e}", file.display())))?;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = out.unwrap_or_else(|| Path::new("out/sweeps").join(stem));
    output::refuse_committed(&out, "a sweep changes the spec")?;
    let base = Source::read(&spec_path(specs, experiment.id()))?;
    let points = sweep.points();
    let mut names: Vec<(String, String)> = points
        .iter()
        .map(|p| (sweep::folder_name(p).to_lowercase(), sweep::folder_name(p)))
        .collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::Input(format!(
            "{}: the grid has two points with the folder `{}`{}. Fix: list each value once, written one way (e.g. 5.0 or 5, not both)",
            file.display(),
            output::clip(&w[0].1),
            if w[0].1 == w[1].1 { String::new() } else { format!(" (and `{}`)", output::clip(&w[1].1)) }
        )));
    }
    for point in &points {
        experiment
            .validate(&base.clone().with_overrides(point))
            .map_err(|e| Error::Input(format!("{}: point {}: {e}", file.display(), sweep::folder_name(point))))?;
    }
    let mut staged: Vec<(String, Vec<u8>)> = Vec::new();
    let mut table: Vec<(String, Vec<(String, bool)>)> = Vec::new();
    let mut failing = 0;
    for (k, point) in points.iter().enumerate() {
        let name = sweep::folder_name(point);
        note(&format!("[{}/{}] {name}", k + 1, points.len()));
        let source = base.clone().with_overrides(point);
        let built = build_one(&source)?;
        let report = pipeline::check(&source, 1)?;
        let mut columns: Vec<(String, bool)> = report
            .claims
            .iter()
            .map(|t| (format!("{}:{}", t.kind.name(), t.id), t.passes()))
            .collect();
        for ko in &report.knockouts {
            for t in &ko.tallies {
                let role = match t.role {
                    pipeline::Role::Holds => "holds",
                    pipeline::Role::Breaks => "breaks",
                    pipeline::Role::Survives => "survives",
                };
                columns.push((format!("{}/{role}/{}", ko.id, t.id), t.passes()));
            }
        }
        failing += usize::from(!report.all_hold());
        let files = pipeline::render_outputs(&built)?;
        let point = output::figure_files(
            Path::new("/nonexistent/mismatch-sweep-point"),
            &[(built.header.id.clone(), built.spec_sha256.clone(), files)],
        );
        staged.extend(point.into_iter().map(|(rel, bytes)| (format!("{name}/{rel}"), bytes)));
        table.push((name, columns));
    }
    let csv = sweep.table(&points, &table);
    staged.push(("sweep.csv".to_string(), csv.clone().into_bytes()));
    let top = output::plain_manifest(None, &[("sweep.csv".to_string(), csv.clone().into_bytes())]);
    staged.push(top);
    output::commit(&out, output::Keep::Nothing, |_| Ok(staged))?;
    note(&format!("wrote {} points to {}", points.len(), out.display()));
    std::io::stdout()
        .lock()
        .write_all(csv.as_bytes())
        .map_err(stream_error)?;
    if failing > 0 {
        return Err(Error::Failed(format!(
            "a claim or knock-out failed at {failing} of {} points (see {}/sweep.csv)",
            points.len(),
            out.display()
        )));
    }
    Ok(())
}

fn print_tallies(tallies: &[pipeline::Tally]) -> Result<()> {
    for t in tallies {
        let mark = if t.passes() { "PASS" } else { "FAIL" };
        let role = match t.role {
            pipeline::Role::Holds => "",
            pipeline::Role::Breaks => "breaks ",
            pipeline::Role::Survives => "survives ",
        };
        say(&format!("  {mark} {role}{} {}: {}", t.kind.name(), t.id, t.says))?;
        if t.seeds() > 1 {
            let (lo, mid, hi) = t.spread();
            let verb = if t.role == pipeline::Role::Breaks {
                "fails"
            } else {
                "holds"
            };
            say(&format!(
                "         {verb} at {} of {} seeds (needs {}); its number: median {mid:.4}, range {lo:.4} to {hi:.4}",
                t.met(),
                t.seeds(),
                t.required()
            ))?;
        }
        say(&format!("         seed 0: {}", t.detail))?;
    }
    Ok(())
}

fn check(select: &Select, seeds: u32, set: &[(String, String)]) -> Result<()> {
    let mut failed = Vec::new();
    for source in sources(select)? {
        let source = source.with_overrides(set);
        let report = pipeline::check(&source, seeds)?;
        say(&format!("{}: {}", report.id, report.claim))?;
        if report.seeds.len() > 1 {
            let shown: Vec<String> = report.seeds.iter().take(4).map(|s| s.to_string()).collect();
            say(&format!(
                "  {} seeds: {}{} (seed 0 is the spec's)",
                report.seeds.len(),
                shown.join(", "),
                if report.seeds.len() > 4 { ", …" } else { "" }
            ))?;
        }
        print_tallies(&report.claims)?;
        for ko in &report.knockouts {
            say(&format!(
                "  knock-out {}: {} (set {})",
                ko.id,
                ko.assumption,
                crate::spec::show_point(&ko.set)
            ))?;
            print_tallies(&ko.tallies)?;
        }
        if !report.all_hold() {
            let bad: Vec<String> = report
                .claims
                .iter()
                .filter(|t| !t.passes())
                .map(|t| t.id.clone())
                .chain(report.knockouts.iter().flat_map(|k| {
                    k.tallies.iter().filter(|t| !t.passes()).map(move |t| match t.role {
                        pipeline::Role::Breaks => format!("knock-out {} does not break {}", k.id, t.id),
                        _ => format!("{} under knock-out {}", t.id, k.id),
                    })
                }))
                .collect();
            failed.push(format!("{} ({})", report.id, bad.join("; ")));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!("claims failed for: {}", failed.join(", "))))
    }
}

/// `mismatch robustness`: the multi-seed check and the maps of each selected figure.
fn robustness(
    select: &Select,
    seeds: u32,
    out: Option<PathBuf>,
    set: &[(String, String)],
    shard: Option<Shard>,
    merge: &[PathBuf],
) -> Result<()> {
    if let Some(part) = shard {
        return robustness_shard(select, out, set, part);
    }
    let out = out.unwrap_or_else(|| {
        PathBuf::from(if set.is_empty() { output::COMMITTED } else { "out" }).join(robustness::FOLDER)
    });
    if !set.is_empty() {
        output::refuse_committed(&out, "--set changes the spec")?;
    }
    let selected = sources(select)?;
    for source in &selected {
        let source = source.clone().with_overrides(set);
        pipeline::declared(&source)?.validate(&source)?;
    }
    output::preflight(&out)?;
    let merged = robustness_gather(merge)?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut failed = Vec::new();
    let mut timings = Vec::new();
    for source in selected {
        let source = source.with_overrides(set);
        let experiment = pipeline::declared(&source)?;
        note(&format!(
            "{}: checking claims and knock-outs at {seeds} seeds",
            experiment.id()
        ));
        let started = std::time::Instant::now();
        let report = pipeline::check(&source, seeds)?;
        let checked = started.elapsed();
        let results = match merged.iter().find(|(id, _, _)| id == experiment.id()) {
            Some((_, sha, results)) => {
                let own = experiment_sha(&source)?;
                if *sha != own {
                    return Err(Error::Input(format!(
                        "the robustness shards of {} were made from another spec (sha256 {sha}, this one {own}). Fix: rerun the shards with this spec",
                        experiment.id()
                    )));
                }
                results.clone()
            }
            None => robustness::run_cells(&source, Shard::ALL, |k, n| {
                if k == 1 || k == n || k % 10 == 0 {
                    note(&format!("{}: map cell {k}/{n}", experiment.id()));
                }
            })?,
        };
        timings.push((
            experiment.id().to_string(),
            checked,
            started.elapsed() - checked,
            results.len(),
        ));
        for f in robustness::outputs(&source, &report, &results)? {
            files.push((out.join(&f.path), f.bytes));
        }
        if !report.all_hold() {
            failed.push(report.id.clone());
        }
    }
    let numbers = robustness::numbers_tex(&out, &files);
    files.push((out.join(output::NUMBERS), numbers.into_bytes()));
    let refs: Vec<(PathBuf, &[u8])> = files.iter().map(|(p, b)| (p.clone(), b.as_slice())).collect();
    output::write_all_atomically(&refs)?;
    note(&format!("wrote {} files to {}", files.len(), out.display()));
    note_robustness_timings(&timings, seeds);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "claims failed across seeds for: {} (see {})",
            failed.join(", "),
            failed
                .iter()
                .map(|id| out.join(format!("data/{id}.seeds.csv")).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Where `mismatch robustness`'s wall time went, per figure: the multi-seed check (every
/// claim and knock-out) and the map cells (0 s when merged from shards). On stderr only:
/// no output file holds a time.
fn note_robustness_timings(timings: &[(String, std::time::Duration, std::time::Duration, usize)], seeds: u32) {
    let mut total = std::time::Duration::ZERO;
    note(&format!(
        "wall time: figure, check at {seeds} seeds, maps (cells), total"
    ));
    for (id, check, maps, cells) in timings {
        total += *check + *maps;
        note(&format!(
            "  {id:<22} {:>6.1} s  {:>6.1} s ({cells:>3})  {:>6.1} s",
            check.as_secs_f64(),
            maps.as_secs_f64(),
            (*check + *maps).as_secs_f64()
        ));
    }
    note(&format!("  {:<22} {:>32.1} s", "all", total.as_secs_f64()));
}

fn experiment_sha(source: &Source) -> Result<String> {
    Ok(crate::manifest::sha256_hex(source.text.as_bytes()))
}

/// Runs one shard of the map cells of each selected figure into a shard file.
fn robustness_shard(select: &Select, out: Option<PathBuf>, set: &[(String, String)], part: Shard) -> Result<()> {
    if !set.is_empty() {
        return Err(Error::Input(
            "robustness --shard with --set: shard files record the spec, not overrides. Fix: write the overrides into a spec copy and pass --spec".into(),
        ));
    }
    let out = out.unwrap_or_else(|| PathBuf::from("shards"));
    output::refuse_committed(&out, "shard files are not figures")?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for source in sources(select)? {
        let id = pipeline::declared(&source)?.id();
        let results = robustness::run_cells(&source, part, |_, _| {})?;
        let text = robustness::shard_text(id, &experiment_sha(&source)?, part, &results);
        files.push((
            out.join(format!("{id}.robustness-{}-of-{}.csv", part.index, part.count)),
            text.into_bytes(),
        ));
    }
    let refs: Vec<(PathBuf, &[u8])> = files.iter().map(|(p, b)| (p.clone(), b.as_slice())).collect();
    output::write_all_atomically(&refs)?;
    for (p, _) in &files {
        note(&format!("wrote {}", p.display()));
    }
    Ok(())
}

/// Every robustness shard file in `dirs`, grouped by figure: (id, spec hash, cells).
fn robustness_gather(dirs: &[PathBuf]) -> Result<Vec<(String, String, Vec<robustness::CellResult>)>> {
    let mut out: Vec<(String, String, Vec<robustness::CellResult>)> = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the folder", dir, e))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains(".robustness-") && p.extension().is_some_and(|x| x == "csv"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            let (id, sha, cells) = robustness::parse_shard(&path, &text)?;
            match out.iter_mut().find(|(i, _, _)| *i == id) {
                Some((_, s, all)) if *s == sha => all.extend(cells),
                Some(_) => {
                    return Err(Error::Input(format!(
                    "{}: made from another spec of {id} than the other shards. Fix: rerun every shard with one spec",
                    path.display()
                )))
                }
                None => out.push((id, sha, cells)),
            }
        }
    }
    Ok(out)
}

fn tables(select: &Select) -> Result<()> {
    for source in sources(select)? {
        let experiment = pipeline::declared(&source)?;
        let claims = experiment.claims_of(&source)?;
        std::io::stdout()
            .lock()
            .write_all(crate::tables::markdown(experiment.id(), &claims).as_bytes())
            .map_err(stream_error)?;
    }
    Ok(())
}

/// Rebuilds the robustness outputs in memory and compares them byte for byte.
fn verify_robustness(dir: &Path, specs: &Path) -> Result<()> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for e in pipeline::experiments() {
        let table = dir.join(format!("data/{}.seeds.csv", e.id()));
        let text = std::fs::read_to_string(&table).map_err(|err| {
            Error::Failed(format!(
                "missing {} ({err}): run `make robustness` to make it",
                table.display()
            ))
        })?;
        let seeds: u32 = text
            .lines()
            .nth(1)
            .and_then(|l| l.split(',').nth(5))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::Failed(format!("{}: no seed count in its first row", table.display())))?;
        let source = Source::read(&spec_path(specs, e.id()))?;
        note(&format!(
            "{}: rebuilding the robustness outputs at {seeds} seeds",
            e.id()
        ));
        let report = pipeline::check(&source, seeds)?;
        let results = robustness::run_cells(&source, Shard::ALL, |_, _| {})?;
        for f in robustness::outputs(&source, &report, &results)? {
            files.push((dir.join(&f.path), f.bytes));
        }
    }
    let numbers = robustness::numbers_tex(dir, &files);
    files.push((dir.join(output::NUMBERS), numbers.into_bytes()));
    let mut bad = 0;
    for (path, bytes) in &files {
        let (verdict, how) = match std::fs::read(path) {
            Ok(found) if found == *bytes => ("ok", None),
            Ok(found) => (
                "differs",
                Some(verify::describe(&path.to_string_lossy(), &found, bytes)),
            ),
            Err(_) => ("missing", None),
        };
        bad += usize::from(verdict != "ok");
        say(&format!("{verdict:<9} {}", path.display()))?;
        if let Some(how) = how {
            say(&format!("          {how}"))?;
        }
    }
    if bad == 0 {
        say(&format!(
            "verified: {} robustness files identical to a fresh build",
            files.len()
        ))?;
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{bad} of {} robustness files do not match a fresh build",
            files.len()
        )))
    }
}

/// `mismatch report`: the page from the files of a figures folder.
fn report(figures: &Path, specs: &Path, out: &Path) -> Result<()> {
    let files = crate::report::build(figures, specs, None)?;
    crate::report::write(out, figures, files)?;
    note(&format!("wrote {}", out.join("index.html").display()));
    Ok(())
}

fn verify(figures: &Path, specs: &Path, report: Option<&Path>) -> Result<()> {
    if !figures.is_dir() {
        return Err(Error::Input(format!(
            "--figures {}: no such folder. Fix: name the folder `mismatch run` wrote (default: figures)",
            output::clip(&figures.display().to_string())
        )));
    }
    let mut rebuilt: Vec<OutputFile> = Vec::new();
    let mut manifest = Manifest::new();
    for e in pipeline::experiments() {
        let source = Source::read(&spec_path(specs, e.id()))?;
        let built = build_one(&source)?;
        let files = pipeline::render_outputs(&built)?;
        let hashes: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.path.clone(), manifest::sha256_hex(&f.bytes)))
            .collect();
        manifest.record(e.id(), &built.spec_sha256, &hashes);
        rebuilt.extend(files);
    }
    let numbers = pipeline::numbers_tex(|id| {
        rebuilt
            .iter()
            .find(|f| f.path == format!("data/{id}.tex"))
            .map(|f| f.bytes.clone())
    });
    manifest
        .files
        .insert(output::NUMBERS.to_string(), manifest::sha256_hex(numbers.as_bytes()));
    rebuilt.push(OutputFile {
        path: output::NUMBERS.to_string(),
        bytes: numbers.into_bytes(),
    });
    let verdicts = {
        // Read under the writers' lock, shared: never half of a set being replaced.
        let _lock = output::lock(figures, false)?;
        verify::compare(figures, &rebuilt, &manifest)
    };
    if let Some(out) = report {
        let verified = crate::report::Verified {
            rebuilt: &rebuilt,
            verdicts: &verdicts,
        };
        let files = crate::report::build(figures, specs, Some(verified))?;
        crate::report::write(out, figures, files)?;
        note(&format!("wrote {}", out.join("index.html").display()));
    }
    let mut bad = 0;
    for (path, verdict) in &verdicts {
        let line = match verdict {
            verify::Verdict::Ok => "ok".to_string(),
            verify::Verdict::Missing => "missing".to_string(),
            verify::Verdict::Unexpected => "unexpected (not made by any figure)".to_string(),
            verify::Verdict::Differs(how) => format!("differs: {how}"),
        };
        if *verdict != verify::Verdict::Ok {
            bad += 1;
        }
        say(&format!(
            "{:<9} {}",
            line.split(':').next().unwrap_or(""),
            figures.join(path).display()
        ))?;
        if let verify::Verdict::Differs(how) = verdict {
            say(&format!("          {how}"))?;
        }
    }
    if bad == 0 {
        say(&format!(
            "verified: {} files identical to a fresh build",
            verdicts.len()
        ))?;
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{bad} of {} files do not match a fresh build",
            verdicts.len()
        )))
    }
}
