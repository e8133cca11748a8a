//! Shard files: `mismatch run --shard i/n` writes, per figure, the raw observations of
//! its share of the replicates (`ID.shard-i-of-n.csv`); `mismatch merge` reads the
//! shards back, checks they are complete and of one spec and tool version, and builds
//! the figures from their union, byte-identical to an unsharded run.
//!
//! A shard file carries everything the merge needs, so the machines that ran the
//! shards need not share a checkout with the one that merges:
//!
//! ```text
//! # mismatch shard: raw observations of one shard; assemble with `mismatch merge`.
//! # tool: mismatch 0.1.0
//! # figure: context_accumulation
//! # shard: 1/4
//! # spec-path: specs/context_accumulation.toml
//! # override: params.window=20            (one line per --set, if any)
//! # outcome: small/free,turn_accuracy      (keys of 0/1 outcomes, summarised by share)
//! # spec: version = 1                     (the spec file, line by line)
//! arm,metric,x,replicate,value
//! small/free,turn_accuracy,1.0,1,1.0
//! # rows: 1                               (closes the file: a truncated shard is refused)
//! # digest: <sha256 of every line above>
//! ```
//!
//! `merge` trusts nothing in a shard: the digest must match (so must the tool version,
//! spec and overrides of every shard), every value must be finite, each shard must hold
//! exactly the replicates it owns (`0 <= r < replicates`, `r mod n = i`), no row twice,
//! and every shard the same arms and metrics. A refusal names the file and the line.
//!
//! Numbers are written in Rust's shortest round-trip form, so reading them back gives
//! the very bits that were computed.

use crate::error::{Error, Result};
use crate::sim::{Observations, Shard};
use crate::spec::Source;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const MAGIC: &str = "# mismatch shard: raw observations of one shard; assemble with `mismatch merge`.";
const COLUMNS: &str = "arm,metric,x,replicate,value";

/// More shards than this is a mistake (each must hold at least one replicate, and
/// `merge` reads them all).
pub const MAX_SHARDS: u32 = 10_000;

/// One figure's share of the replicates, with the spec that made it.
#[derive(Debug, Clone)]
pub struct ShardFile {
    pub figure: String,
    pub shard: Shard,
    pub tool: String,
    pub source: Source,
    pub observations: Observations,
}

/// The tool version shards must agree on.
pub fn tool() -> String {
    format!("mismatch {}", env!("CARGO_PKG_VERSION"))
}

/// `ID.shard-i-of-n.csv`.
pub fn file_name(figure: &str, shard: Shard) -> String {
    format!("{figure}.shard-{}-of-{}.csv", shard.index, shard.count)
}

/// The text of a shard file.
pub fn render(file: &ShardFile) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(out, "{MAGIC}");
    let _ = writeln!(out, "# tool: {}", file.tool);
    let _ = writeln!(out, "# figure: {}", file.figure);
    let _ = writeln!(out, "# shard: {}", file.shard);
    let _ = writeln!(out, "# spec-path: {}", file.source.path.display());
    for (key, value) in &file.source.overrides {
        if format!("{key}{value}").contains(|c: char| c.is_control()) {
            return Err(crate::error::internal("an override holds a line break"));
        }
        let _ = writeln!(out, "# override: {key}={value}");
    }
    for ((arm, metric), _) in file
        .observations
        .keys
        .iter()
        .zip(&file.observations.outcome)
        .filter(|(_, o)| **o)
    {
        let _ = writeln!(out, "# outcome: {arm},{metric}");
    }
    for piece in file.source.text.split('\n') {
        let _ = writeln!(out, "# spec: {piece}");
    }
    let _ = writeln!(out, "{COLUMNS}");
    let obs = &file.observations;
    for (arm, metric) in &obs.keys {
        if [arm, metric].iter().any(|s| s.contains([',', '\n', '\r'])) {
            return Err(crate::error::internal(format!(
                "key `{arm}`/`{metric}` cannot go in a CSV row"
            )));
        }
    }
    for i in 0..obs.len() {
        let (arm, metric) = &obs.keys[obs.key[i] as usize];
        let _ = writeln!(
            out,
            "{arm},{metric},{:?},{},{:?}",
            obs.x[i], obs.replicate[i], obs.value[i]
        );
    }
    // The row count closes the file, so a shard cut short (a full disk, a copy stopped
    // halfway) is refused instead of merged with fewer replicates.
    let _ = writeln!(out, "# rows: {}", obs.len());
    let digest = crate::manifest::sha256_hex(out.as_bytes());
    let _ = writeln!(out, "# digest: {digest}");
    Ok(out)
}

/// Parses a shard file; every problem names the file and line.
pub fn parse(path: &Path, text: &str) -> Result<ShardFile> {
    let bad = |line: usize, what: &str| {
        Error::Input(format!(
            "{}: line {line}: {what}. Fix: use the files `mismatch run --shard i/n` wrote, unedited",
            path.display()
        ))
    };
    let (body, digest) = match text.trim_end_matches('\n').rsplit_once('\n') {
        Some((body, last)) => (body, last.strip_prefix("# digest: ")),
        None => (text, None),
    };
    let last_line = body.split('\n').count() + 1;
    let Some(digest) = digest else {
        return Err(bad(
            last_line,
            "no closing `# digest:` line: the file is truncated, or older than this version",
        ));
    };
    if digest != crate::manifest::sha256_hex(format!("{body}\n").as_bytes()) {
        return Err(bad(
            last_line,
            "the digest does not match the lines above: the file was edited or damaged",
        ));
    }
    let text = body;
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l));
    if lines.next().map(|(_, l)| l) != Some(MAGIC) {
        return Err(bad(1, "not a mismatch shard file"));
    }
    let mut header: BTreeMap<&str, String> = BTreeMap::new();
    let (mut overrides, mut spec, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    let mut columns_at = None;
    for (n, line) in lines.by_ref() {
        if line == COLUMNS {
            columns_at = Some(n);
            break;
        }
        let (key, value) = line
            .strip_prefix("# ")
            .and_then(|l| l.split_once(": ").or_else(|| l.strip_suffix(':').map(|k| (k, ""))))
            .ok_or_else(|| bad(n, "expected a `# key: value` header line"))?;
        match key {
            "spec" => spec.push(value),
            "outcome" => outcomes.push(
                value
                    .split_once(',')
                    .ok_or_else(|| bad(n, "outcome is not ARM,METRIC"))?,
            ),
            "override" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| bad(n, "override is not KEY=VALUE"))?;
                overrides.push((k.to_string(), v.to_string()));
            }
            "tool" | "figure" | "shard" | "spec-path" => {
                header.insert(key, value.to_string());
            }
            _ => return Err(bad(n, &format!("unknown header `{key}`"))),
        }
    }
    let columns_at = columns_at.ok_or_else(|| bad(1, &format!("no `{COLUMNS}` line")))?;
    let field = |key: &str| {
        header
            .get(key)
            .cloned()
            .ok_or_else(|| bad(columns_at, &format!("no `# {key}:` line")))
    };
    let shard = Shard::parse(&field("shard")?).map_err(|e| bad(columns_at, &e))?;
    if shard.count > MAX_SHARDS {
        return Err(bad(
            columns_at,
            &format!("{shard}: at most {MAX_SHARDS} shards are allowed"),
        ));
    }
    for (key, value) in &overrides {
        crate::spec::parse_override(&format!("{key}={value}")).map_err(|e| bad(columns_at, &e))?;
    }
    let mut seen: std::collections::BTreeSet<(u32, u64, u32)> = std::collections::BTreeSet::new();
    let mut observations = Observations::default();
    let mut rows_line = None;
    for (n, line) in lines {
        if line.is_empty() {
            continue;
        }
        if rows_line.is_some() {
            return Err(bad(n, "text after the closing `# rows:` line"));
        }
        if let Some(count) = line.strip_prefix("# rows: ") {
            rows_line = Some((n, count.parse::<usize>().ok()));
            continue;
        }
        let row = parse_row(line).ok_or_else(|| bad(n, "expected `arm,metric,x,replicate,value`"))?;
        if !shard.owns(row.3) {
            return Err(bad(n, &format!("replicate {} does not belong to shard {shard}", row.3)));
        }
        if !row.2.is_finite() || !row.4.is_finite() {
            return Err(bad(n, "x and value must be finite numbers"));
        }
        if [row.0, row.1]
            .iter()
            .any(|s| s.is_empty() || s.len() > 200 || s.contains(['"', '\\']))
        {
            return Err(bad(n, "an arm or metric name is empty, too long or holds `\"` or `\\`"));
        }
        let key_index = observations
            .keys
            .iter()
            .position(|(a, m)| a == row.0 && m == row.1)
            .unwrap_or(observations.keys.len()) as u32;
        if !seen.insert((key_index, row.2.to_bits(), row.3 as u32)) {
            return Err(bad(n, "the same arm, metric, x and replicate appear twice"));
        }
        if outcomes.contains(&(row.0, row.1)) {
            if row.4 != 0.0 && row.4 != 1.0 {
                return Err(bad(n, &format!("an outcome must be 0 or 1, got {}", row.4)));
            }
            observations.push_outcome(row.0, row.1, row.2, row.3, row.4 == 1.0);
        } else {
            observations.push(row.0, row.1, row.2, row.3, row.4);
        }
    }
    match rows_line {
        None => return Err(bad(columns_at, "the file is truncated: no closing `# rows: N` line")),
        Some((n, count)) if count != Some(observations.len()) => {
            return Err(bad(
                n,
                &format!("the file is truncated or edited: it has {} rows", observations.len()),
            ))
        }
        Some(_) => {}
    }
    Ok(ShardFile {
        figure: field("figure")?,
        shard,
        tool: field("tool")?,
        source: Source {
            path: PathBuf::from(field("spec-path")?),
            text: spec.join("\n"),
            overrides,
        },
        observations,
    })
}

fn parse_row(line: &str) -> Option<(&str, &str, f64, u64, f64)> {
    let mut parts = line.split(',');
    let (arm, metric) = (parts.next()?, parts.next()?);
    let x = parts.next()?.parse().ok()?;
    let replicate = parts.next()?.parse().ok()?;
    let value = parts.next()?.parse().ok()?;
    if parts.next().is_some() || u32::try_from(replicate).is_err() {
        return None;
    }
    Some((arm, metric, x, replicate, value))
}

/// The first line (1-based) of `text` whose row matches the given row key, for messages.
fn line_of_row(text: &str, arm: &str, metric: &str, replicate: Option<u32>) -> Option<usize> {
    let prefix = format!("{arm},{metric},");
    text.split('\n')
        .position(|l| {
            l.starts_with(&prefix) && replicate.is_none_or(|r| l.split(',').nth(3) == Some(r.to_string().as_str()))
        })
        .map(|i| i + 1)
}

/// Reads every shard file in `dirs` and returns, per figure, its spec source and the
/// union of its shards' observations, after checking the shards fit together.
pub fn gather(dirs: &[PathBuf]) -> Result<BTreeMap<String, (Source, Observations)>> {
    let mut by_figure: BTreeMap<String, Vec<(PathBuf, ShardFile)>> = BTreeMap::new();
    for dir in dirs {
        for path in shard_paths(dir)? {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            let file = parse(&path, &text)?;
            check_replicates(&path, &text, &file)?;
            by_figure.entry(file.figure.clone()).or_default().push((path, file));
        }
    }
    if by_figure.is_empty() {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(Error::Input(format!(
            "no shard files (*.shard-i-of-n.csv) in {}. Fix: pass the folders `mismatch run --shard i/n --out DIR` wrote",
            names.join(", ")
        )));
    }
    let mut merged = BTreeMap::new();
    for (figure, files) in by_figure {
        merged.insert(figure.clone(), union(&figure, files)?);
    }
    Ok(merged)
}

/// A shard holds exactly the replicates it owns among the spec's (with its overrides).
fn check_replicates(path: &Path, text: &str, file: &ShardFile) -> Result<()> {
    let replicates = file.source.replicates()?;
    let bad = |line: Option<usize>, what: String| {
        let at = line.map(|l| format!(" line {l}:")).unwrap_or_default();
        Error::Input(format!(
            "{}:{at} {what}. Fix: use the files `mismatch run --shard i/n` wrote, unedited",
            path.display()
        ))
    };
    let obs = &file.observations;
    // A model may run a condition with its own replicate count (batches of a horizon
    // estimate, say), so indices past the spec's count are allowed, up to the largest
    // replicate count a spec may ask for, if this shard owns them.
    const MAX_INDEX: u32 = 100_000;
    let mut present = vec![false; replicates as usize];
    for i in 0..obs.len() {
        let r = obs.replicate[i];
        let (arm, metric) = &obs.keys[obs.key[i] as usize];
        if r >= MAX_INDEX || !file.shard.owns(u64::from(r)) {
            return Err(bad(
                line_of_row(text, arm, metric, Some(r)),
                format!(
                    "replicate {r} does not belong to shard {} (or is beyond {MAX_INDEX})",
                    file.shard
                ),
            ));
        }
        if let Some(slot) = present.get_mut(r as usize) {
            *slot = true;
        }
    }
    if let Some(r) = (0..replicates).find(|&r| file.shard.owns(u64::from(r)) && !present[r as usize]) {
        return Err(bad(
            None,
            format!(
                "shard {} has no row for its replicate {r} (the spec has {replicates})",
                file.shard
            ),
        ));
    }
    Ok(())
}

/// The shard files directly inside `dir`, sorted by name.
fn shard_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the folder", dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io("read the folder", dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".csv") && name.contains(".shard-") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Checks that a figure's shards are `0..n` of one `n`, each once, from one spec,
/// overrides and tool version, and concatenates their rows.
fn union(figure: &str, mut files: Vec<(PathBuf, ShardFile)>) -> Result<(Source, Observations)> {
    files.sort_by_key(|(_, f)| f.shard.index);
    let (first_path, first) = &files[0];
    let mismatch = |path: &Path, what: &str| {
        Error::Input(format!(
            "{}: {figure}: {what} differs from {}. Fix: merge only shards made by one `mismatch run --shard i/n` command line (same spec, --set and version)",
            path.display(),
            first_path.display()
        ))
    };
    for (path, f) in &files[1..] {
        if f.shard.count != first.shard.count {
            return Err(mismatch(path, "the shard count"));
        }
        if f.source.text != first.source.text {
            return Err(mismatch(path, "the spec"));
        }
        if f.source.overrides != first.source.overrides {
            return Err(mismatch(path, "the --set overrides"));
        }
    }
    for (path, f) in &files {
        if f.tool != tool() {
            return Err(Error::Input(format!(
                "{}: made by {}, but this is {}. Fix: merge with the version that ran the shards, or rerun them",
                path.display(),
                crate::output::clip(&f.tool),
                tool()
            )));
        }
        // Shard 0 alone holds replicate 0, and with it the rows every shard makes alike
        // (exact curves): so every shard's arms and metrics are among shard 0's, and the
        // ones shard 0 measures on other replicates are in every shard.
        let keys = &f.observations.keys;
        let first_keys = &first.observations.keys;
        let replicated: std::collections::BTreeSet<&(String, String)> = (0..first.observations.len())
            .filter(|&i| first.observations.replicate[i] > 0)
            .map(|i| &first_keys[first.observations.key[i] as usize])
            .collect();
        if let Some((arm, metric)) = keys
            .iter()
            .find(|k| !first_keys.contains(k))
            .or_else(|| replicated.iter().copied().find(|k| !keys.contains(k)))
        {
            return Err(mismatch(
                path,
                &format!(
                    "the set of arms and metrics (`{}`/`{}` is in one but not the other)",
                    crate::output::clip(arm),
                    crate::output::clip(metric)
                ),
            ));
        }
    }
    for pair in files.windows(2) {
        if pair[0].1.shard == pair[1].1.shard {
            return Err(Error::Input(format!(
                "{figure}: shard {} is given twice ({} and {}). Fix: pass each shard once",
                pair[0].1.shard,
                pair[0].0.display(),
                pair[1].0.display()
            )));
        }
    }
    let count = first.shard.count;
    let have: Vec<u32> = files.iter().map(|(_, f)| f.shard.index).collect();
    let absent = count as usize - have.len();
    let missing: Vec<String> = (0..count)
        .filter(|i| have.binary_search(i).is_err())
        .take(5)
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        let more = if absent > missing.len() {
            format!(" and {} more", absent - missing.len())
        } else {
            String::new()
        };
        return Err(Error::Input(format!(
            "{figure}: shard(s) {}{more} missing. Fix: run `mismatch run {figure} --shard i/{count} --out DIR` for each and pass DIR too",
            missing.join(", ")
        )));
    }
    let mut observations = Observations::default();
    for (_, f) in &files {
        observations.extend(&f.observations);
    }
    Ok((first.source.clone(), observations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ShardFile {
        let mut observations = Observations::default();
        observations.push("a/free", "acc", 1.0, 1, 0.1 + 0.2);
        observations.push("a/free", "acc", 2.5e-9, 3, -0.0);
        observations.push_outcome("a/free", "right", 2.0, 1, true);
        observations.push("b", "gain", f64::MAX, 5, 1.0 / 3.0);
        ShardFile {
            figure: "context_accumulation".into(),
            shard: Shard { index: 1, count: 2 },
            tool: tool(),
            source: Source {
                path: "specs/x.toml".into(),
                text: "id = \"x\"\r\n# no newline at the end".into(),
                overrides: vec![("params.window".into(), "20".into())],
            },
            observations,
        }
    }

    #[test]
    fn a_shard_file_reads_back_to_the_same_bits() {
        let file = sample();
        let back = parse(Path::new("s.csv"), &render(&file).unwrap()).unwrap();
        assert_eq!(back.source.text, file.source.text);
        assert_eq!(back.source.overrides, file.source.overrides);
        assert_eq!(back.shard, file.shard);
        let bits = |o: &Observations| -> Vec<(u64, u64, u32)> {
            (0..o.len())
                .map(|i| (o.x[i].to_bits(), o.value[i].to_bits(), o.replicate[i]))
                .collect()
        };
        assert_eq!(bits(&back.observations), bits(&file.observations));
        assert_eq!(back.observations.keys, file.observations.keys);
        assert_eq!(back.observations.outcome, [false, true, false]);
    }

    /// `text` with its digest line recomputed, as an editor who knows the format would.
    fn redigest(text: &str) -> String {
        let body = &text[..text.rfind("# digest: ").unwrap()];
        format!("{body}# digest: {}\n", crate::manifest::sha256_hex(body.as_bytes()))
    }

    #[test]
    fn an_edited_shard_fails_its_digest_and_nan_duplicates_and_odd_names_are_refused() {
        let text = render(&sample()).unwrap();
        let edited = text.replace("0.30000000000000004", "0.3");
        let err = parse(Path::new("s.csv"), &edited).unwrap_err().to_string();
        assert!(err.contains("digest does not match"), "{err}");
        let nan = redigest(&text.replace("0.30000000000000004", "NaN"));
        let err = parse(Path::new("s.csv"), &nan).unwrap_err().to_string();
        assert!(err.contains("must be finite"), "{err}");
        let row = "a/free,acc,1.0,1,0.30000000000000004\n";
        let twice = redigest(
            &text
                .replace(row, &format!("{row}{row}"))
                .replace("# rows: 4", "# rows: 5"),
        );
        let err = parse(Path::new("s.csv"), &twice).unwrap_err().to_string();
        assert!(err.contains("appear twice"), "{err}");
        let injected = redigest(&text.replace(
            "# override: params.window=20",
            "# override: params.window=20\n# override: seed=6",
        ));
        assert!(
            parse(Path::new("s.csv"), &injected).is_ok(),
            "two override lines are two overrides"
        );
        let mut file = sample();
        file.source
            .overrides
            .push(("seed".into(), "5\n# override: seed=6".into()));
        assert!(
            render(&file).is_err(),
            "a line break in an override cannot reach the header"
        );
    }

    #[test]
    fn a_row_of_another_shard_is_refused() {
        let text = redigest(
            &render(&sample())
                .unwrap()
                .replace("b,gain,1.7976931348623157e308,5", "b,gain,1.0,4"),
        );
        let err = parse(Path::new("s.csv"), &text).unwrap_err().to_string();
        assert!(err.contains("replicate 4 does not belong to shard 1/2"), "{err}");
    }

    #[test]
    fn a_truncated_shard_is_refused() {
        let text = render(&sample()).unwrap();
        let cut = &text[..text.rfind("b,gain").unwrap()];
        let err = parse(Path::new("s.csv"), cut).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let edited = redigest(&text.replace("# rows: 4", "# rows: 5"));
        let err = parse(Path::new("s.csv"), &edited).unwrap_err().to_string();
        assert!(err.contains("truncated or edited: it has 4 rows"), "{err}");
    }

    #[test]
    fn shards_must_be_complete_and_distinct() {
        let one = sample();
        let err = union("x", vec![("a".into(), one.clone())]).unwrap_err().to_string();
        assert!(err.contains("shard(s) 0/2 missing"), "{err}");
        let err = union("x", vec![("a".into(), one.clone()), ("b".into(), one.clone())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
        let mut other = one.clone();
        other.shard.index = 0;
        other.source.overrides.clear();
        let err = union("x", vec![("a".into(), one), ("b".into(), other)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--set overrides differs"), "{err}");
    }
}
