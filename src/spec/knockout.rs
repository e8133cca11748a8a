//! Knock-outs (DESIGN.md §3, "what carries it"): each names one load-bearing assumption
//! of a model, the `--set` overrides that remove it, the findings that must fail once
//! it is gone and the claims that must survive. `mismatch check` rebuilds the figure
//! under every knock-out, so a finding that survives the removal of the mechanism the
//! text credits is caught.

use super::Claim;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knockout {
    pub id: String,
    /// The assumption this removes, in one sentence.
    pub assumption: String,
    /// Overrides applied to the spec, as `"params.key" = value`.
    pub set: toml::Table,
    /// Findings that must *fail* under the knock-out: what the assumption carries.
    pub breaks: Vec<String>,
    /// Claims that must still hold under the knock-out.
    #[serde(default)]
    pub survives: Vec<String>,
    /// Further checks that must hold under the knock-out (the effect is gone).
    #[serde(default)]
    pub claims: Vec<Claim>,
}

impl Knockout {
    /// The overrides as `(key, TOML value)` pairs, in key order.
    pub fn overrides(&self) -> Vec<(String, String)> {
        self.set.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
    }
}
