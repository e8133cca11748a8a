//! Command-line interface. [`run`] is the only place an error becomes an exit code.

use crate::analysis::claims;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::pipeline::{self, Built, OutputFile};
use crate::shard::{self, ShardFile};
use crate::sim::Shard;
use crate::spec::{parse_override, Source};
use crate::sweep::{self, Sweep};
use crate::{output, verify};
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
    /// Evaluate each figure's claims, and its ablation, and print a verdict per claim.
    #[command(after_help = EXIT_CODES)]
    Check {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        threads: Threads,
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
        #[command(flatten)]
        threads: Threads,
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
        Command::Check { select, threads } => with_threads(&threads, || check(&select)),
        Command::Verify {
            figures,
            specs,
            threads,
        } => with_threads(&threads, || verify(&figures, &specs)),
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
    let mut table: Vec<(String, Vec<claims::Verdict>)> = Vec::new();
    for (k, point) in points.iter().enumerate() {
        let name = sweep::folder_name(point);
        note(&format!("[{}/{}] {name}", k + 1, points.len()));
        let built = build_one(&base.clone().with_overrides(point))?;
        let verdicts: Vec<claims::Verdict> = built
            .claims
            .iter()
            .map(|c| claims::evaluate(&built.summary, c))
            .collect::<Result<_>>()?;
        let files = pipeline::render_outputs(&built)?;
        let point = output::figure_files(
            Path::new("/nonexistent/mismatch-sweep-point"),
            &[(built.header.id.clone(), built.spec_sha256.clone(), files)],
        );
        staged.extend(point.into_iter().map(|(rel, bytes)| (format!("{name}/{rel}"), bytes)));
        table.push((name, verdicts));
    }
    let csv = sweep.table(&points, &table);
    staged.push(("sweep.csv".to_string(), csv.clone().into_bytes()));
    let top = output::plain_manifest(None, &[("sweep.csv".to_string(), csv.clone().into_bytes())]);
    staged.push(top);
    output::commit(&out, output::Keep::Nothing, |_| Ok(staged))?;
    note(&format!("wrote {} points to {}", points.len(), out.display()));
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(csv.as_bytes()).map_err(stream_error)
}

fn print_verdicts(label: &str, verdicts: &[crate::analysis::claims::Verdict]) -> Result<()> {
    for v in verdicts {
        let mark = if v.holds { "PASS" } else { "FAIL" };
        say(&format!("  {mark} {label}{}: {}\n         {}", v.id, v.says, v.detail))?;
    }
    Ok(())
}

fn check(select: &Select) -> Result<()> {
    let mut failed = Vec::new();
    for source in sources(select)? {
        let built = build_one(&source)?;
        let report = pipeline::check(&source, &built)?;
        say(&format!("{}: {}", report.id, built.header.claim))?;
        print_verdicts("", &report.claims)?;
        say(&format!("  ablation: {}", report.ablation_says))?;
        print_verdicts("ablation ", &report.ablation_claims)?;
        print_verdicts("", &report.breaks)?;
        if !report.all_hold() {
            failed.push(report.id);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!("claims failed for: {}", failed.join(", "))))
    }
}

fn verify(figures: &Path, specs: &Path) -> Result<()> {
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
