//! Robustness maps (DESIGN.md §3, "where it holds"): a grid over one or two parameters
//! that carry the findings, each point run at several seeds. `mismatch robustness`
//! reports, per finding and grid point, the share of seeds at which it holds.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Robustness {
    pub id: String,
    /// What the map shows, in one sentence.
    pub says: String,
    /// The first axis.
    pub x: GridAxis,
    /// The second axis (a heat map); absent, the map is a line per finding.
    pub y: Option<GridAxis>,
    /// Seeds per grid point (seed 0 is the spec's, then the derived seeds).
    pub seeds: u32,
    /// Replicates per grid point (default: the spec's).
    pub replicates: Option<u32>,
    /// The findings mapped (default: every finding of the spec).
    #[serde(default)]
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridAxis {
    /// A dotted spec key, e.g. `params.window`.
    pub key: String,
    pub values: Vec<toml::Value>,
}

impl Robustness {
    /// The axes, x first.
    pub fn axes(&self) -> Vec<&GridAxis> {
        std::iter::once(&self.x).chain(self.y.as_ref()).collect()
    }

    /// Every grid point as `--set` overrides, x varying fastest.
    pub fn points(&self) -> Vec<Vec<(String, String)>> {
        let ys: Vec<Option<&toml::Value>> = match &self.y {
            Some(y) => y.values.iter().map(Some).collect(),
            None => vec![None],
        };
        let mut out = Vec::new();
        for yv in &ys {
            for xv in &self.x.values {
                let mut point = vec![(self.x.key.clone(), xv.to_string())];
                if let (Some(y), Some(yv)) = (&self.y, yv) {
                    point.push((y.key.clone(), yv.to_string()));
                }
                out.push(point);
            }
        }
        out
    }
}

/// A grid value as a number, for plotting (booleans as 0/1; anything else is refused
/// at validation).
pub fn numeric(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Boolean(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}
