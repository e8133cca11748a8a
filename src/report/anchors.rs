//! The anchor papers' numbers beside ours (`anchors.toml`, compiled in): each row names
//! the row of the committed summary table that is ours.

use crate::analysis::{claims, Summary};
use crate::spec::Selector;
use serde::Deserialize;
use std::collections::BTreeMap;

const TABLE: &str = include_str!("anchors.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    source: String,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    quantity: String,
    anchor: String,
    ours: Selector,
    minus: Option<Selector>,
    scale: f64,
    digits: usize,
    #[serde(default)]
    note: String,
}

/// One row as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorRow {
    pub quantity: String,
    pub anchor: String,
    /// Our value, formatted, or why it is missing.
    pub ours: String,
    pub note: String,
}

fn table() -> BTreeMap<String, Entry> {
    // The file is compiled in and tested below: a parse error is a bug of this build.
    toml::from_str(TABLE).unwrap_or_default()
}

/// The anchor source and rows of figure `id`, our values read from its summary CSV.
pub fn rows(id: &str, summary_csv: Option<&str>) -> (String, Vec<AnchorRow>) {
    let Some(entry) = table().remove(id) else {
        return (String::new(), Vec::new());
    };
    let summary = summary_csv.and_then(|t| Summary::from_csv(t, &[]).ok());
    let rows = entry
        .rows
        .iter()
        .map(|r| AnchorRow {
            quantity: r.quantity.clone(),
            anchor: r.anchor.clone(),
            ours: summary
                .as_ref()
                .map_or("(no summary table)".to_string(), |s| ours(s, r)),
            note: r.note.clone(),
        })
        .collect();
    (entry.source, rows)
}

fn ours(summary: &Summary, row: &Row) -> String {
    let value = |sel: &Selector| claims::select(summary, sel).map(|r| r.mean);
    let v = match (&row.ours, &row.minus) {
        (a, Some(b)) => value(a).and_then(|a| value(b).map(|b| a - b)),
        (a, None) => value(a),
    };
    match v {
        Ok(v) => format!("{:.*}", row.digits, v * row.scale).replace('-', "−"),
        Err(_) => "(not in the summary table)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_only_known_figures() {
        let parsed: BTreeMap<String, Entry> = toml::from_str(TABLE).unwrap();
        let ids: Vec<&str> = crate::pipeline::experiments().iter().map(|e| e.id()).collect();
        for (id, entry) in &parsed {
            assert!(ids.contains(&id.as_str()), "{id}");
            assert!(!entry.rows.is_empty(), "{id}");
        }
        assert_eq!(parsed.len(), ids.len());
    }

    #[test]
    fn every_row_finds_its_number_in_the_committed_tables() {
        for id in crate::pipeline::experiments().iter().map(|e| e.id()) {
            let csv = std::fs::read_to_string(format!("figures/data/{id}.csv")).unwrap();
            let (_, rows) = rows(id, Some(&csv));
            for r in rows {
                assert!(!r.ours.starts_with('('), "{id}: {}: {}", r.quantity, r.ours);
            }
        }
    }
}
