//! Stage 1: spec files. Parse, apply overrides, validate.
//!
//! A spec (`specs/<id>.toml`) holds everything a figure depends on besides the code:
//! the model's parameters, the seed, the replicate count, the claims to check (each
//! with its kind), the knock-outs that must remove the effects and the robustness maps
//! that show where they hold. Unknown keys are errors, so a typo can never
//! silently fall back to a default. Every error names the file, the key (with its line
//! when the parser knows it) and what is allowed.

mod claim;
mod knockout;
mod robustness;
pub mod validate;

pub use claim::{At, Check, Claim, Kind, Position, Selector};
pub use knockout::Knockout;
pub use robustness::{numeric, GridAxis, Robustness};
pub use validate::{Invalid, Validate};

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A spec is a page of text; more is not a spec (`--spec /dev/zero`).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The fewest replicates a spec may ask for: a claim's interval needs two.
pub const MIN_REPLICATES: u32 = 2;

/// Replicates above this would need gigabytes of memory (calibration: ~1 KB each, and
/// every figure keeps all of them for the analysis).
pub const MAX_REPLICATES: u32 = 100_000;

/// Header text (title, claim, anchor) reaches TeX, SVG and shard headers: one line, this
/// long at most.
pub const MAX_TEXT: usize = 2_000;

/// The only spec format version this build reads.
/// Version 2: claims carry a `kind`; `[[knockouts]]` replaced `[ablation]`;
/// `[[robustness]]` maps.
pub const VERSION: u32 = 2;

/// The header every spec shares, whatever its model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub version: u32,
    pub id: String,
    pub title: String,
    pub claim: String,
    pub anchor: String,
    pub seed: u64,
    pub replicates: u32,
}

/// A parsed, validated spec whose `[params]` table is `P`.
#[derive(Debug, Clone)]
pub struct Spec<P> {
    pub header: Header,
    pub params: P,
    pub claims: Vec<Claim>,
    pub knockouts: Vec<Knockout>,
    pub robustness: Vec<Robustness>,
    /// SHA-256 of the spec file's bytes (before overrides), for provenance.
    pub sha256: String,
}

/// The file as written: the header fields, `[params]`, `[[claims]]`, `[[knockouts]]`,
/// `[[robustness]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File<P> {
    version: u32,
    id: String,
    title: String,
    claim: String,
    anchor: String,
    seed: u64,
    replicates: u32,
    params: P,
    claims: Vec<Claim>,
    #[serde(default)]
    knockouts: Vec<Knockout>,
    #[serde(default)]
    robustness: Vec<Robustness>,
}

/// Where a spec comes from: its file, its text and the `--set` overrides on top.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub overrides: Vec<(String, String)>,
}

impl Source {
    /// Reads a spec file. A missing file is an input error that says how to list specs.
    pub fn read(path: &Path) -> Result<Self> {
        let cannot = |e: &dyn std::fmt::Display| {
            Error::Input(format!(
                "{}: cannot read the spec ({e}). Fix: give an existing spec file, or an id from `mismatch list --ids`.",
                path.display()
            ))
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_SPEC_BYTES + 1), &mut bytes))
            .map_err(|e| cannot(&e))?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(Error::Input(format!(
                "{}: the spec is larger than {} KiB (a spec is a page of text). Fix: give a spec file, not {}",
                path.display(),
                MAX_SPEC_BYTES / 1024,
                if path.starts_with("/dev") {
                    "a device"
                } else {
                    "another file"
                }
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| cannot(&"it is not UTF-8 text"))?;
        Ok(Source {
            path: path.to_path_buf(),
            text,
            overrides: Vec::new(),
        })
    }

    pub fn with_overrides(mut self, overrides: &[(String, String)]) -> Self {
        self.overrides.extend_from_slice(overrides);
        self
    }

    fn error(&self, key: &str, line: Option<usize>, problem: impl std::fmt::Display) -> Error {
        let at = match line.or_else(|| line_of_key(&self.text, key)) {
            Some(l) => format!(" (line {l})"),
            None => String::new(),
        };
        let fix = if problem.to_string().contains("Fix:") {
            ""
        } else {
            ". Fix: change the value as stated (each key is explained in the spec's comments)"
        };
        Error::Input(format!("{}: key `{key}`{at}: {problem}{fix}", self.path.display()))
    }

    /// The `replicates` the spec asks for, with the overrides applied.
    pub fn replicates(&self) -> Result<u32> {
        let mut table: toml::Table = toml::from_str(&self.text).map_err(|e| self.parse_error(&e))?;
        for (key, value) in &self.overrides {
            set_path(&mut table, key, value).map_err(|p| self.error(key, None, p))?;
        }
        match table.get("replicates").and_then(|v| v.as_integer()) {
            Some(n) if n >= 1 && n <= i64::from(MAX_REPLICATES) => Ok(n as u32),
            _ => Err(self.error(
                "replicates",
                None,
                format!("must be a whole number from 1 to {MAX_REPLICATES}"),
            )),
        }
    }

    /// The number at dotted `key` (e.g. `params.window`), overrides applied; `None` if
    /// the key is absent or not a number.
    pub fn number_at(&self, key: &str) -> Option<f64> {
        let mut table: toml::Table = toml::from_str(&self.text).ok()?;
        for (k, value) in &self.overrides {
            set_path(&mut table, k, value).ok()?;
        }
        let mut parts = key.split('.').peekable();
        let mut current = &table;
        while let Some(part) = parts.next() {
            let value = current.get(part)?;
            if parts.peek().is_none() {
                return numeric(value);
            }
            current = value.as_table()?;
        }
        None
    }

    /// The `id` the spec declares, read before the model-specific parse.
    pub fn id(&self) -> Result<String> {
        let table: toml::Table = toml::from_str(&self.text).map_err(|e| self.parse_error(&e))?;
        match table.get("id") {
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.error(
                "id",
                None,
                "must be a string naming the figure, e.g. id = \"context_accumulation\"",
            )),
            None => Err(self.error(
                "id",
                None,
                "missing. Fix: add id = \"<figure id>\" at the top (see `mismatch list --ids`)",
            )),
        }
    }

    fn parse_error(&self, e: &toml::de::Error) -> Error {
        let line = e.span().map(|s| line_number(&self.text, s.start));
        let msg = e.message().trim().replace('\n', " ");
        let key = line
            .and_then(|l| key_on_line(&self.text, l))
            .map(|k| format!(" key `{k}`:"))
            .unwrap_or_default();
        let at = line.map(|l| format!(" line {l}:")).unwrap_or_default();
        Error::Input(format!(
            "{}:{at}{key} {msg}. Fix: correct the spec (keys and types are documented in the spec's comments and in README.md).",
            self.path.display()
        ))
    }

    /// Parses and validates the spec as a spec of the model with parameters `P`,
    /// including every knock-out's and every robustness grid point's overrides.
    ///
    /// Trying every knock-out's and grid point's overrides parses the spec once per
    /// each (40 times for some specs): a source whose text and overrides (the seed
    /// aside, which those checks do not read) passed once is remembered for the rest
    /// of the process, so the simulations of a multi-seed check do not repeat it.
    pub fn load<P: DeserializeOwned + Validate>(&self) -> Result<Spec<P>> {
        static VALIDATED: std::sync::Mutex<Vec<[u8; 32]>> = std::sync::Mutex::new(Vec::new());
        let spec = self.load_plain::<P>()?;
        let key = self.validation_key();
        let known = VALIDATED.lock().map(|v| v.contains(&key)).unwrap_or(false);
        if !known {
            self.validate_knockouts(&spec)?;
            self.validate_robustness(&spec)?;
            if let Ok(mut v) = VALIDATED.lock() {
                v.push(key);
            }
        }
        Ok(spec)
    }

    /// SHA-256 of the text and the overrides other than `seed`.
    fn validation_key(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.text.as_bytes());
        for (key, value) in self.overrides.iter().filter(|(k, _)| k != "seed") {
            hasher.update(b"\0");
            hasher.update(key.as_bytes());
            hasher.update(b"=");
            hasher.update(value.as_bytes());
        }
        hasher.finalize().into()
    }

    /// Parses and validates the spec itself, without trying the overrides that its
    /// knock-outs and robustness grids name.
    fn load_plain<P: DeserializeOwned + Validate>(&self) -> Result<Spec<P>> {
        let raw: File<P> = if self.overrides.is_empty() {
            toml::from_str(&self.text).map_err(|e| self.parse_error(&e))?
        } else {
            let mut table: toml::Table = toml::from_str(&self.text).map_err(|e| self.parse_error(&e))?;
            for (key, value) in &self.overrides {
                set_path(&mut table, key, value).map_err(|p| self.error(key, None, p))?;
            }
            table.try_into().map_err(|e: toml::de::Error| {
                Error::Input(format!(
                    "{} with --set {}: {}. Fix: give each --set value the type the key has in the spec.",
                    self.path.display(),
                    self.overrides
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    e.message().trim()
                ))
            })?
        };
        let header = Header {
            version: raw.version,
            id: raw.id,
            title: raw.title,
            claim: raw.claim,
            anchor: raw.anchor,
            seed: raw.seed,
            replicates: raw.replicates,
        };
        self.validate_header(&header)?;
        raw.params
            .validate()
            .map_err(|inv| self.error(&format!("params.{}", inv.key), None, inv.problem))?;
        let knockout_claims = raw.knockouts.iter().flat_map(|k| k.claims.iter());
        for claim in raw.claims.iter().chain(knockout_claims) {
            claim
                .validate()
                .and_then(|()| claim_text(claim))
                .map_err(|p| self.error(&format!("claims.{}", crate::output::clip(&claim.id)), None, p))?;
        }
        let mut ids: Vec<&str> = raw.claims.iter().map(|c| c.id.as_str()).collect();
        ids.extend(
            raw.knockouts
                .iter()
                .flat_map(|k| k.claims.iter().map(|c| c.id.as_str())),
        );
        if let Some(dup) = first_duplicate(ids) {
            return Err(self.error(
                "claims",
                None,
                format!("claim id `{dup}` appears twice. Fix: give each claim (knock-out claims too) its own id"),
            ));
        }
        Ok(Spec {
            header,
            params: raw.params,
            claims: raw.claims,
            knockouts: raw.knockouts,
            robustness: raw.robustness,
            sha256: crate::manifest::sha256_hex(self.text.as_bytes()),
        })
    }

    /// Every knock-out names findings it breaks, claims it keeps, and overrides that
    /// make a valid spec.
    fn validate_knockouts<P: DeserializeOwned + Validate>(&self, spec: &Spec<P>) -> Result<()> {
        if let Some(dup) = first_duplicate(spec.knockouts.iter().map(|k| k.id.as_str()).collect()) {
            return Err(self.error(
                "knockouts",
                None,
                format!("knock-out id `{dup}` appears twice. Fix: give each knock-out its own id"),
            ));
        }
        for ko in &spec.knockouts {
            let at = |field: &str| format!("knockouts.{}.{field}", ko.id);
            if ko.set.is_empty() {
                return Err(self.error(&at("set"), None, "is empty: a knock-out must change the spec. Fix: name the overrides that remove the assumption, e.g. set = { \"params.beta\" = 0.0 }"));
            }
            if ko.breaks.is_empty() {
                return Err(self.error(
                    &at("breaks"),
                    None,
                    "is empty: a knock-out must name the findings its assumption carries. Fix: list finding ids",
                ));
            }
            for id in &ko.breaks {
                match spec.claims.iter().find(|c| &c.id == id) {
                    Some(c) if c.kind == Kind::Finding => {}
                    Some(c) => {
                        return Err(self.error(&at("breaks"), None, format!("names `{id}`, a {} (only findings are carried by an assumption). Fix: list finding ids", c.kind.name())))
                    }
                    None => {
                        return Err(self.error(&at("breaks"), None, format!("names claim `{id}`, which is not among [[claims]]. Fix: list ids of findings defined in this spec")))
                    }
                }
            }
            for id in &ko.survives {
                if !spec.claims.iter().any(|c| &c.id == id) {
                    return Err(self.error(&at("survives"), None, format!("names claim `{id}`, which is not among [[claims]]. Fix: list ids of claims defined in this spec")));
                }
                if ko.breaks.contains(id) {
                    return Err(self.error(
                        &at("survives"),
                        None,
                        format!("names `{id}`, which the knock-out also breaks. Fix: list it in one of the two"),
                    ));
                }
            }
            let knocked = self.clone().with_overrides(&ko.overrides());
            knocked.load_plain::<P>().map_err(|e| {
                Error::Input(format!(
                    "{}: key `{}`: the knock-out's overrides do not make a valid spec: {e}",
                    self.path.display(),
                    at("set")
                ))
            })?;
        }
        Ok(())
    }

    /// Every robustness map has a real grid over existing keys, a seed count and
    /// findings that exist; every grid point makes a valid spec.
    fn validate_robustness<P: DeserializeOwned + Validate>(&self, spec: &Spec<P>) -> Result<()> {
        if let Some(dup) = first_duplicate(spec.robustness.iter().map(|r| r.id.as_str()).collect()) {
            return Err(self.error(
                "robustness",
                None,
                format!("map id `{dup}` appears twice. Fix: give each map its own id"),
            ));
        }
        for map in &spec.robustness {
            let at = |field: &str| format!("robustness.{}.{field}", map.id);
            for (name, axis) in [("x", Some(&map.x)), ("y", map.y.as_ref())] {
                let Some(axis) = axis else { continue };
                if axis.values.is_empty() {
                    return Err(self.error(
                        &at(name),
                        None,
                        "has no values: a map needs a grid. Fix: give values = [at least two settings]",
                    ));
                }
                if axis.values.len() > 64 {
                    return Err(self.error(
                        &at(name),
                        None,
                        format!(
                            "has {} values, more than the 64 allowed. Fix: use a coarser grid",
                            axis.values.len()
                        ),
                    ));
                }
                if axis.values.iter().any(|v| numeric(v).is_none_or(|f| !f.is_finite())) {
                    return Err(self.error(
                        &at(name),
                        None,
                        "values must be finite numbers (or booleans). Fix: list numbers",
                    ));
                }
                let mut probe: toml::Table = toml::from_str(&self.text).map_err(|e| self.parse_error(&e))?;
                set_path(&mut probe, &axis.key, &axis.values[0].to_string())
                    .map_err(|p| self.error(&at(&format!("{name}.key")), None, format!("`{}` {p}", axis.key)))?;
            }
            if map.seeds == 0 || map.seeds > 100 {
                return Err(self.error(
                    &at("seeds"),
                    None,
                    format!("must be between 1 and 100, got {}. Fix: use e.g. seeds = 5", map.seeds),
                ));
            }
            if map.replicates == Some(0) {
                return Err(self.error(
                    &at("replicates"),
                    None,
                    "must be at least 1. Fix: give a replicate count or remove the key",
                ));
            }
            for id in &map.findings {
                if !spec.claims.iter().any(|c| &c.id == id && c.kind == Kind::Finding) {
                    return Err(self.error(
                        &at("findings"),
                        None,
                        format!("names `{id}`, which is not a finding of this spec. Fix: list finding ids"),
                    ));
                }
            }
            for point in map.points() {
                self.clone().with_overrides(&point).load_plain::<P>().map_err(|e| {
                    Error::Input(format!(
                        "{}: key `{}`: grid point {} does not make a valid spec: {e}",
                        self.path.display(),
                        at("x"),
                        show_point(&point)
                    ))
                })?;
            }
        }
        Ok(())
    }

    fn validate_header(&self, h: &Header) -> Result<()> {
        if h.version != VERSION {
            return Err(self.error(
                "version",
                None,
                format!("this build reads spec version {VERSION}, the file says {}. Fix: set version = {VERSION} and check the keys against README.md", h.version),
            ));
        }
        if h.replicates < MIN_REPLICATES {
            return Err(self.error(
                "replicates",
                None,
                format!("must be at least {MIN_REPLICATES}, got {} (a claim's 95% interval needs {MIN_REPLICATES} replicates: one gives a zero-width interval that every `separated` check passes). Fix: use the publication count given in the spec's comment", h.replicates),
            ));
        }
        if h.replicates > MAX_REPLICATES {
            return Err(self.error(
                "replicates",
                None,
                format!("must be at most {MAX_REPLICATES}, got {} (memory grows with every replicate). Fix: use the publication count given in the spec's comment, or shard the run with --shard", h.replicates),
            ));
        }
        if h.id.is_empty() {
            return Err(self.error("id", None, "must not be empty"));
        }
        for (key, text) in [("title", &h.title), ("claim", &h.claim), ("anchor", &h.anchor)] {
            single_line(key, text).map_err(|p| self.error(key, None, p))?;
        }
        Ok(())
    }

    /// The same source with a knock-out's overrides added on top.
    pub fn knocked_out(&self, knockout: &Knockout) -> Source {
        self.clone().with_overrides(&knockout.overrides())
    }

    /// The same source at another seed (seed `k` of `--seeds N`, see `rng::seed_k`).
    pub fn at_seed(&self, seed: u64) -> Source {
        self.clone().with_overrides(&[("seed".to_string(), seed.to_string())])
    }
}

/// The first id that appears twice, if any.
fn first_duplicate(mut ids: Vec<&str>) -> Option<&str> {
    ids.sort_unstable();
    ids.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// `key=value key=value`, as a grid point is shown in messages and tables.
pub fn show_point(point: &[(String, String)]) -> String {
    point
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sets `value` (TOML syntax; a bare word is taken as a string) at the dotted `key`,
/// which must already exist in the spec: an override cannot invent a parameter.
fn set_path(table: &mut toml::Table, key: &str, value: &str) -> std::result::Result<(), String> {
    let parsed = parse_value(value);
    let mut parts = key.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return match current.get_mut(part) {
                Some(slot) => {
                    *slot = parsed;
                    Ok(())
                }
                None => Err("is not a key of this spec, so --set cannot override it. Fix: use a key the spec defines (e.g. params.<name>, seed, replicates)".to_string()),
            };
        }
        current = match current.get_mut(part) {
            Some(toml::Value::Table(t)) => t,
            _ => {
                return Err(format!(
                "`{part}` is not a table of this spec. Fix: use a dotted path to an existing key, e.g. params.<name>"
            ))
            }
        };
    }
    Err("is empty. Fix: write --set key=value".to_string())
}

fn parse_value(value: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()))
}

/// 1-based line of byte offset `at` in `text`.
fn line_number(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The key assigned on 1-based `line`, if the line reads `key = …`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let (k, _) = l.split_once('=')?;
    let k = k.trim();
    (!k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')).then(|| k.to_string())
}

/// Best-effort line of a dotted `key` (its last segment at the start of a line).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let last = key.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(last)
                .map(|rest| rest.trim_start().starts_with('='))
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// What a claim writes into `numbers.tex` and check reports, and the rows it selects:
/// an id of letters, digits, `_` and `-`; `says` one line; selectors with names and a
/// finite `x` (an infinite one would match any row).
fn claim_text(claim: &Claim) -> std::result::Result<(), String> {
    if claim.id.is_empty()
        || claim.id.len() > 100
        || !claim
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("the id must be 1 to 100 letters, digits, `_` or `-`. Fix: e.g. id = \"drop_small\"".into());
    }
    single_line("says", &claim.says)?;
    for selector in std::iter::once(&claim.a).chain(claim.b.iter()) {
        if selector.arm.is_empty() || selector.metric.is_empty() {
            return Err("a selector needs a non-empty arm and metric. Fix: copy them from the figure's CSV".into());
        }
        match &selector.x {
            claim::At::Value(x) if !x.is_finite() => {
                return Err(format!("x must be a finite number, got {x}. Fix: give the x of a row, or \"first\", \"last\", \"max\", \"min\""))
            }
            claim::At::ArgmaxOf { argmax_of } if argmax_of.is_empty() => {
                return Err("argmax_of must name a metric. Fix: e.g. x = { argmax_of = \"accuracy\" }".into())
            }
            _ => {}
        }
    }
    Ok(())
}

/// Text that reaches one line of a CSV, TeX, SVG or shard header: no line breaks or
/// other control characters, at most `MAX_TEXT` characters.
pub fn single_line(key: &str, text: &str) -> std::result::Result<(), String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "must be one line of text, but holds the control character {:?}. Fix: remove line breaks and tabs from `{key}`",
            c
        ));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!(
            "is {} characters long; at most {MAX_TEXT} are allowed. Fix: shorten `{key}`",
            text.chars().count()
        ));
    }
    Ok(())
}

/// The longest `--set` value: a grid of a few hundred numbers fits.
pub const MAX_OVERRIDE: usize = 10_000;

/// Parses `key=value` as given to `--set`: one line, a key of letters, digits, `_` and
/// `.`, a value of at most `MAX_OVERRIDE` characters.
pub fn parse_override(arg: &str) -> std::result::Result<(String, String), String> {
    let shown = crate::output::clip(&arg.replace(|c: char| c.is_control(), "?"));
    if arg.chars().any(|c| c.is_control()) {
        return Err(format!(
            "`{shown}` holds a line break or another control character; a --set value is one line (e.g. --set params.window=50)"
        ));
    }
    if arg.len() > MAX_OVERRIDE {
        return Err(format!(
            "`{shown}` is longer than {MAX_OVERRIDE} characters; give a shorter value"
        ));
    }
    match arg.split_once('=') {
        Some((k, v))
            if !k.trim().is_empty()
                && k.trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
        {
            Ok((k.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("`{shown}` is not key=value (e.g. --set params.window=50)")),
    }
}
