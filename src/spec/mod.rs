//! Stage 1: spec files. Parse, apply overrides, validate.
//!
//! A spec (`specs/<id>.toml`) holds everything a figure depends on besides the code:
//! the model's parameters, the seed, the replicate count, the claims to check and the
//! ablation that must remove the effect. Unknown keys are errors, so a typo can never
//! silently fall back to a default. Every error names the file, the key (with its line
//! when the parser knows it) and what is allowed.

mod claim;
pub mod validate;

pub use claim::{At, Check, Claim, Position, Selector};
pub use validate::{Invalid, Validate};

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The only spec format version this build reads.
pub const VERSION: u32 = 1;

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

/// What must happen when the mechanism is switched off (DESIGN.md §3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ablation {
    /// One sentence: which setting removes the mechanism.
    pub says: String,
    /// Overrides applied to the spec, as `"params.key" = value`.
    pub set: toml::Table,
    /// Main claims that must *fail* under the ablation: proof that they can fail.
    pub breaks: Vec<String>,
    /// Checks that must hold under the ablation (the effect is gone).
    pub claims: Vec<Claim>,
}

/// A parsed, validated spec whose `[params]` table is `P`.
#[derive(Debug, Clone)]
pub struct Spec<P> {
    pub header: Header,
    pub params: P,
    pub claims: Vec<Claim>,
    pub ablation: Ablation,
    /// SHA-256 of the spec file's bytes (before overrides), for provenance.
    pub sha256: String,
}

/// The file as written: the header fields, `[params]`, `[[claims]]`, `[ablation]`.
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
    ablation: Ablation,
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
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Input(format!(
                "{}: cannot read the spec ({e}). Fix: give an existing spec file, or an id from `mismatch list --ids`.",
                path.display()
            ))
        })?;
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

    /// Parses and validates the spec as a spec of the model with parameters `P`.
    pub fn load<P: DeserializeOwned + Validate>(&self) -> Result<Spec<P>> {
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
        for claim in raw.claims.iter().chain(raw.ablation.claims.iter()) {
            claim
                .validate()
                .map_err(|p| self.error(&format!("claims.{}", claim.id), None, p))?;
        }
        let mut ids: Vec<&str> = raw.claims.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.error(
                "claims",
                None,
                format!("claim id `{}` appears twice. Fix: give each claim its own id", w[0]),
            ));
        }
        for id in &raw.ablation.breaks {
            if !raw.claims.iter().any(|c| &c.id == id) {
                return Err(self.error(
                    "ablation.breaks",
                    None,
                    format!("names claim `{id}`, which is not among [[claims]]. Fix: list ids of claims defined in this spec"),
                ));
            }
        }
        Ok(Spec {
            header,
            params: raw.params,
            claims: raw.claims,
            ablation: raw.ablation,
            sha256: crate::manifest::sha256_hex(self.text.as_bytes()),
        })
    }

    fn validate_header(&self, h: &Header) -> Result<()> {
        if h.version != VERSION {
            return Err(self.error(
                "version",
                None,
                format!("this build reads spec version {VERSION}, the file says {}. Fix: set version = {VERSION} and check the keys against README.md", h.version),
            ));
        }
        if h.replicates == 0 {
            return Err(self.error(
                "replicates",
                None,
                "must be at least 1, got 0. Fix: use the publication count given in the spec's comment",
            ));
        }
        if h.id.is_empty() {
            return Err(self.error("id", None, "must not be empty"));
        }
        Ok(())
    }

    /// The same source with the ablation's overrides added on top.
    pub fn ablated_with(&self, ablation: &Ablation) -> Source {
        let mut overrides = self.overrides.clone();
        for (k, v) in &ablation.set {
            overrides.push((k.clone(), v.to_string()));
        }
        Source {
            overrides,
            ..self.clone()
        }
    }
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

/// Parses `key=value` as given to `--set`.
pub fn parse_override(arg: &str) -> std::result::Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("`{arg}` is not key=value (e.g. --set params.window=50)")),
    }
}
