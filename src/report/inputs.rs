//! What the page shows about one figure, read from the files `mismatch run` and
//! `mismatch robustness` wrote and from the figure's spec. Nothing is simulated here:
//! the verdict at the committed seed is judged on the committed summary table.

use super::anchors::{self, AnchorRow};
use crate::analysis::{claims, Summary};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::pipeline::{self, Claims};
use crate::spec::{Header, Kind, Source};
use std::path::Path;

/// One row of `robustness/data/ID.seeds.csv`: a claim under a condition across seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedRow {
    /// `spec`, or `knockout:ID`.
    pub condition: String,
    /// `holds`, `breaks` or `survives`.
    pub role: String,
    pub claim: String,
    /// Seeds at which the role was met (held, or failed for `breaks`).
    pub met: u32,
    pub seeds: u32,
    pub required: u32,
    pub passes: bool,
    /// (min, median, max) of the claim's number over the seeds.
    pub spread: (String, String, String),
}

/// A claim judged on the committed summary: whether it holds, its number, the numbers
/// compared; or why it could not be judged.
pub type Committed = std::result::Result<claims::Verdict, String>;

/// Everything the page shows about one figure.
pub struct Figure {
    pub header: Header,
    pub claims: Claims,
    /// The SHA-256 of the spec file now, and the one the figures' MANIFEST records.
    pub spec_sha: String,
    pub manifest_spec_sha: Option<String>,
    /// `key=value` pairs of the provenance written into the figure's SVG.
    pub provenance: Vec<(String, String)>,
    /// One per spec claim, in spec order.
    pub committed: Vec<Committed>,
    /// Rows of the multi-seed table (empty when there is none).
    pub seeds: Vec<SeedRow>,
    /// `robustness/ID.regions.txt`, if present.
    pub regions: Option<String>,
    pub anchors: Vec<AnchorRow>,
    pub anchor_source: String,
    /// Which outputs exist (relative to the figures folder), and which match MANIFEST.
    pub files: Vec<FileState>,
}

/// An output file of a figure the page links or shows.
#[derive(Debug, Clone)]
pub struct FileState {
    pub path: String,
    pub present: bool,
    /// Its SHA-256 equals the one the folder's MANIFEST records.
    pub matches_manifest: bool,
}

impl Figure {
    /// Reads figure `id` from the figures folder `dir` and its spec in `specs`.
    pub fn read(dir: &Path, specs: &Path, id: &str, manifests: &Manifests) -> Result<Figure> {
        let source = Source::read(&specs.join(format!("{id}.toml")))?;
        let experiment = pipeline::find(id)?;
        let header = experiment.analyse_header(&source)?;
        let claims = experiment.claims_of(&source)?;
        let summary = read_text(&dir.join(format!("data/{id}.csv")));
        let committed = judge(summary.as_deref(), &claims);
        let (anchor_source, anchors) = anchors::rows(id, summary.as_deref());
        Ok(Figure {
            spec_sha: manifest::sha256_hex(source.text.as_bytes()),
            manifest_spec_sha: manifests.figures.specs.get(id).cloned(),
            provenance: svg_provenance(&read_text(&dir.join(format!("{id}.svg"))).unwrap_or_default()),
            committed,
            seeds: read_text(&dir.join(format!("robustness/data/{id}.seeds.csv")))
                .map(|t| parse_seeds(&t))
                .unwrap_or_default(),
            regions: read_text(&dir.join(format!("robustness/{id}.regions.txt"))),
            anchors,
            anchor_source,
            files: figure_files(id).iter().map(|rel| manifests.state(dir, rel)).collect(),
            header,
            claims,
        })
    }

    /// The row of the multi-seed table for `claim` under `condition` in `role`.
    pub fn seed_row(&self, condition: &str, role: &str, claim: &str) -> Option<&SeedRow> {
        self.seeds
            .iter()
            .find(|r| r.condition == condition && r.role == role && r.claim == claim)
    }

    /// The seed count of the multi-seed table, if there is one.
    pub fn seed_count(&self) -> Option<u32> {
        self.seeds.first().map(|r| r.seeds)
    }

    pub fn file(&self, rel: &str) -> Option<&FileState> {
        self.files.iter().find(|f| f.path == rel)
    }

    /// Claims of `kind`: (how many hold at the committed seed, how many hold across
    /// seeds as their kind demands, how many there are).
    pub fn tally(&self, kind: Kind) -> (usize, usize, usize) {
        let mut out = (0, 0, 0);
        for (claim, verdict) in self.claims.claims.iter().zip(&self.committed) {
            if claim.kind != kind {
                continue;
            }
            out.2 += 1;
            out.0 += usize::from(matches!(verdict, Ok(v) if v.holds));
            out.1 += usize::from(self.seed_row("spec", "holds", &claim.id).is_some_and(|r| r.passes));
        }
        out
    }
}

/// The outputs of figure `id` the page links, relative to the figures folder.
pub fn figure_files(id: &str) -> Vec<String> {
    let mut out: Vec<String> = ["png", "svg", "pdf"].iter().map(|e| format!("{id}.{e}")).collect();
    out.extend(["png", "svg", "pdf"].iter().map(|e| format!("robustness/{id}.{e}")));
    out.extend([
        format!("data/{id}.csv"),
        format!("robustness/data/{id}.seeds.csv"),
        format!("robustness/{id}.regions.txt"),
    ]);
    out
}

/// The MANIFESTs of the figures folder and of its robustness folder.
pub struct Manifests {
    pub figures: Manifest,
    pub robustness: Manifest,
}

impl Manifests {
    pub fn read(dir: &Path) -> Manifests {
        let parse = |p: &Path| read_text(p).and_then(|t| Manifest::parse(&t).ok()).unwrap_or_default();
        Manifests {
            figures: parse(&dir.join(manifest::FILE_NAME)),
            robustness: parse(&dir.join("robustness").join(manifest::FILE_NAME)),
        }
    }

    fn state(&self, dir: &Path, rel: &str) -> FileState {
        let bytes = std::fs::read(dir.join(rel)).ok();
        let recorded = match rel.strip_prefix("robustness/") {
            Some(inner) => self.robustness.files.get(inner),
            None => self.figures.files.get(rel),
        };
        FileState {
            path: rel.to_string(),
            present: bytes.is_some(),
            matches_manifest: match (&bytes, recorded) {
                (Some(b), Some(sha)) => manifest::sha256_hex(b) == *sha,
                _ => false,
            },
        }
    }
}

/// A text file, or `None` if it is missing or not UTF-8.
pub fn read_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Judges every claim of the spec on the summary CSV text (when there is one).
fn judge(summary_csv: Option<&str>, claims: &Claims) -> Vec<Committed> {
    let outcomes: Vec<(String, String)> = claims
        .claims
        .iter()
        .filter(|c| c.check.is_share())
        .map(|c| (c.a.arm.clone(), c.a.metric.clone()))
        .collect();
    let summary: std::result::Result<Summary, String> = match summary_csv {
        None => Err("no summary table".to_string()),
        Some(text) => Summary::from_csv(text, &outcomes).map_err(|e| e.to_string()),
    };
    claims
        .claims
        .iter()
        .map(|c| match &summary {
            Ok(s) => claims::evaluate(s, c).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        })
        .collect()
}

/// The provenance `<metadata>` of a figure's SVG as `key=value` pairs.
pub fn svg_provenance(svg: &str) -> Vec<(String, String)> {
    let Some(start) = svg.find("<metadata>") else {
        return Vec::new();
    };
    let rest = &svg[start + "<metadata>".len()..];
    let Some(end) = rest.find("</metadata>") else {
        return Vec::new();
    };
    let text = unescape(&rest[..end]);
    // The overrides come last and may themselves hold "; ": they take the rest.
    let (fields, overrides) = match text.split_once("; overrides=") {
        Some((fields, overrides)) => (fields, Some(overrides)),
        None => (text.as_str(), None),
    };
    let mut out: Vec<(String, String)> = fields
        .split("; ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend(overrides.map(|o| ("overrides".to_string(), o.to_string())));
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Parses `robustness/data/ID.seeds.csv`; rows that do not parse are skipped.
pub fn parse_seeds(text: &str) -> Vec<SeedRow> {
    text.lines().skip(1).filter_map(seed_row).collect()
}

fn seed_row(line: &str) -> Option<SeedRow> {
    let c: Vec<&str> = line.split(',').collect();
    if c.len() != 11 {
        return None;
    }
    Some(SeedRow {
        condition: c[0].to_string(),
        role: c[1].to_string(),
        claim: c[2].to_string(),
        met: c[4].parse().ok()?,
        seeds: c[5].parse().ok()?,
        required: c[6].parse().ok()?,
        passes: c[7] == "true",
        spread: (c[8].to_string(), c[9].to_string(), c[10].to_string()),
    })
}

/// The figure ids in paper order.
pub fn ids() -> Vec<&'static str> {
    pipeline::experiments().iter().map(|e| e.id()).collect()
}

/// Refuses a figures folder that does not exist.
pub fn check_folder(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "--figures {}: no such folder. Fix: name the folder `mismatch run` wrote (default: figures)",
            crate::output::clip(&dir.display().to_string())
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_and_seed_rows_parse() {
        let svg = "<svg>\n<metadata>figure=a; spec-sha256=ff; seed=7; replicates=2; tool=mismatch 0.1.0; overrides=params.x=1; y=&quot;a&amp;b&quot;</metadata>";
        let p = svg_provenance(svg);
        assert_eq!(p[2], ("seed".to_string(), "7".to_string()));
        assert_eq!(p[5], ("overrides".to_string(), "params.x=1; y=\"a&b\"".to_string()));
        let rows = parse_seeds("condition,role,claim,kind,met,seeds,required,passes,min,median,max\nspec,holds,c,finding,3,3,3,true,0.1,0.2,0.3\nbad\n");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].met, rows[0].seeds, rows[0].passes), (3, 3, true));
    }
}
