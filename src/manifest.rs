//! The manifest (`figures/MANIFEST`): the SHA-256 of every output, each figure's spec
//! hash and the tool version. Plain sorted text, so a diff of it reads as a change log.
//!
//! ```text
//! # mismatch manifest v1 ...
//! tool mismatch 0.1.0
//! spec context_accumulation <sha256 of specs/context_accumulation.toml>
//! file <sha256>  context_accumulation.png
//! ```

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const FILE_NAME: &str = "MANIFEST";

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parsed manifest: spec hashes by figure id, file hashes by relative path.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Manifest {
    pub tool: String,
    pub specs: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    pub fn new() -> Self {
        Manifest {
            tool: format!("mismatch {}", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        }
    }

    /// Parses manifest text; unknown or malformed lines are reported by line number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let bad = || {
                format!(
                    "line {}: `{line}` is not `tool …`, `spec ID SHA` or `file SHA  PATH`",
                    i + 1
                )
            };
            match line.split_once(' ') {
                Some(("tool", rest)) => m.tool = rest.to_string(),
                Some(("spec", rest)) => {
                    let (id, sha) = rest.split_once(' ').ok_or_else(bad)?;
                    m.specs.insert(id.to_string(), sha.to_string());
                }
                Some(("file", rest)) => {
                    let (sha, path) = rest.split_once("  ").ok_or_else(bad)?;
                    m.files.insert(path.to_string(), sha.to_string());
                }
                _ => return Err(bad()),
            }
        }
        Ok(m)
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# mismatch manifest v1: sha256 of every output in this folder; check with `mismatch verify`.\n",
        );
        out.push_str(&format!("tool {}\n", self.tool));
        for (id, sha) in &self.specs {
            out.push_str(&format!("spec {id} {sha}\n"));
        }
        for (path, sha) in &self.files {
            out.push_str(&format!("file {sha}  {path}\n"));
        }
        out
    }

    /// Replaces everything recorded for figure `id` (its spec and files).
    pub fn record(&mut self, id: &str, spec_sha: &str, files: &[(String, String)]) {
        self.tool = Manifest::new().tool;
        self.specs.insert(id.to_string(), spec_sha.to_string());
        for (path, sha) in files {
            self.files.insert(path.clone(), sha.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip() {
        let mut m = Manifest::new();
        m.record(
            "a",
            "00ff",
            &[("a.svg".into(), "11".into()), ("data/a.csv".into(), "22".into())],
        );
        assert_eq!(Manifest::parse(&m.render()).unwrap(), m);
        assert!(Manifest::parse("bogus line").is_err());
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
