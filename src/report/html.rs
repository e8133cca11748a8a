//! The page as HTML: the template (`page.html`) and style sheet (`page.css`) are asset
//! files compiled in; this file fills them with the sections of every figure.

use super::inputs::{Committed, Figure, SeedRow};
use crate::spec::{show_point, Claim, Kind, Knockout};

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");

/// What the page says about reproduction at the top, and the verify section if any.
pub struct Page<'a> {
    pub figures: &'a [Figure],
    /// The figures folder as given on the command line.
    pub folder: &'a str,
    /// Per figure id: whether its files were reproduced, and how that was judged.
    pub reproduced: Vec<(String, bool)>,
    pub reproduced_how: &'a str,
    /// The differences section of `verify --report` (HTML), or `None`.
    pub differences: Option<String>,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// A table inside a horizontally scrolling box, so a phone can read it.
pub fn table(class: &str, head: &[&str], rows: &[String]) -> String {
    let head: String = head.iter().map(|h| format!("<th>{}</th>", escape(h))).collect();
    format!(
        "<div class=\"scroll\"><table class=\"{class}\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{}</tbody></table></div>\n",
        rows.concat()
    )
}

/// The whole page.
pub fn page(p: &Page) -> String {
    let title = "mismatch: reproduction report";
    TEMPLATE
        .replace("{{STYLE}}", STYLE)
        .replace("{{TITLE}}", title)
        .replace("{{LEAD}}", &lead(p))
        .replace("{{TOOL}}", &escape(&format!("mismatch {}", env!("CARGO_PKG_VERSION"))))
        .replace("{{FOLDER}}", &escape(p.folder))
        .replace("{{SUMMARY}}", &summary(p))
        .replace("{{DIFFERENCES}}", p.differences.as_deref().unwrap_or(""))
        .replace("{{CONTENTS}}", &contents(p.figures))
        .replace("{{FIGURES}}", &p.figures.iter().map(figure).collect::<String>())
}

fn lead(p: &Page) -> String {
    format!(
        "Every figure of the paper on self-correction under distribution mismatch, with its claims, what carries them, where they hold and how they compare with the papers they anchor on. Figures from {}; {}.",
        code(p.folder),
        escape(p.reproduced_how)
    )
}

fn card(big: String, class: &str, text: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"big {class}\">{big}</div><p>{}</p></div>\n",
        escape(text)
    )
}

fn summary(p: &Page) -> String {
    let done = p.reproduced.iter().filter(|(_, ok)| *ok).count();
    let total = p.reproduced.len();
    let seeds = p.figures.iter().filter_map(|f| f.seed_count()).max();
    let mut cards = vec![card(
        format!("{done} of {total}"),
        if done == total { "ok" } else { "bad" },
        "figures reproduced",
    )];
    for (kind, label) in [
        (Kind::Finding, "findings"),
        (Kind::Premise, "premises (assumptions, not results)"),
        (Kind::Sanity, "sanity checks against analytic values"),
    ] {
        cards.push(kind_card(p.figures, kind, label, seeds));
    }
    format!(
        "<section class=\"cards\" id=\"summary\">\n{}</section>\n",
        cards.concat()
    )
}

fn kind_card(figures: &[Figure], kind: Kind, label: &str, seeds: Option<u32>) -> String {
    let (mut now, mut across, mut total) = (0, 0, 0);
    for f in figures {
        let (a, b, c) = f.tally(kind);
        (now, across, total) = (now + a, across + b, total + c);
    }
    let across_text = match seeds {
        Some(n) => format!("; {across} of {total} as their kind demands across {n} seeds"),
        None => "; no multi-seed table".to_string(),
    };
    card(
        format!("{now} of {total}"),
        if now == total && (seeds.is_none() || across == total) {
            "ok"
        } else {
            "bad"
        },
        &format!("{label} hold at the committed seed{across_text}"),
    )
}

fn contents(figures: &[Figure]) -> String {
    let items: String = figures
        .iter()
        .map(|f| {
            format!(
                "<li><a href=\"#{id}\">{}</a>: {}</li>\n",
                code(&f.header.id),
                escape(&f.header.title),
                id = escape(&f.header.id)
            )
        })
        .collect();
    format!("<nav><h2>Figures</h2><ol>\n{items}</ol></nav>\n")
}

fn figure(f: &Figure) -> String {
    let id = &f.header.id;
    format!(
        "<section class=\"figure\" id=\"{}\">\n<h2>{}: {}</h2>\n<p class=\"claim\">{}</p>\n{}{}{}{}{}{}</section>\n",
        escape(id),
        code(id),
        escape(&f.header.title),
        escape(&f.header.claim),
        image(f),
        claims_table(f),
        knockouts_table(f),
        robustness(f),
        anchors_table(f),
        provenance(f)
    )
}

fn image(f: &Figure) -> String {
    let id = &f.header.id;
    let png = format!("figures/{id}.png");
    if !f.file(&format!("{id}.png")).is_some_and(|s| s.present) {
        return format!("<p class=\"bad\">{} is missing.</p>\n", code(&png));
    }
    format!(
        "<figure><a href=\"figures/{id}.svg\"><img src=\"{png}\" alt=\"{alt}\"></a><figcaption>The figure as committed (PNG). Open the <a href=\"figures/{id}.svg\">SVG</a> or the <a href=\"figures/{id}.pdf\">PDF</a>.</figcaption></figure>\n",
        id = escape(id),
        png = escape(&png),
        alt = escape(&format!("{id}: {}", f.header.title))
    )
}

/// The verdict at the committed seed: holds or fails, with the claim's number.
fn committed_cell(verdict: &Committed) -> String {
    match verdict {
        Ok(v) => format!(
            "<td class=\"verdict\"><span class=\"{}\">{}</span> {}<span class=\"detail\">{}</span></td>",
            if v.holds { "ok" } else { "bad" },
            if v.holds { "✓ holds" } else { "✗ fails" },
            escape(&number(v.value)),
            escape(&v.detail)
        ),
        Err(why) => format!(
            "<td><span class=\"warn\">not judged</span><span class=\"detail\">{}</span></td>",
            escape(why)
        ),
    }
}

/// A claim's number with four significant decimals and a true minus.
pub fn number(v: f64) -> String {
    format!("{v:.4}").replace('-', "−")
}

/// A number from a table, as [`number`] writes it (text that is not a number as is).
fn short(text: &str) -> String {
    escape(&text.parse::<f64>().map_or(text.to_string(), number))
}

/// k of N seeds, what is needed, and the spread of the claim's number.
fn seeds_cell(row: Option<&SeedRow>, verb: &str) -> String {
    match row {
        None => "<td class=\"nowrap muted\">not run</td>".to_string(),
        Some(r) => format!(
            "<td class=\"seeds\"><span class=\"{}\">{} {verb} at {} of {}</span> <span class=\"muted\">(needs {})</span><span class=\"detail\">median {}, range {} to {}</span></td>",
            if r.passes { "ok" } else { "bad" },
            if r.passes { "✓" } else { "✗" },
            r.met,
            r.seeds,
            r.required,
            short(&r.spread.1),
            short(&r.spread.0),
            short(&r.spread.2)
        ),
    }
}

fn kind_badge(kind: Kind) -> String {
    format!("<span class=\"kind {0}\">{0}</span>", kind.name())
}

fn claim_row(f: &Figure, claim: &Claim, verdict: &Committed) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td class=\"says\">{}</td>{}{}</tr>\n",
        code(&claim.id),
        kind_badge(claim.kind),
        escape(&claim.says),
        committed_cell(verdict),
        seeds_cell(f.seed_row("spec", "holds", &claim.id), "holds")
    )
}

fn claims_table(f: &Figure) -> String {
    let seed = f
        .provenance
        .iter()
        .find(|(k, _)| k == "seed")
        .map_or("the spec's seed".to_string(), |(_, v)| format!("seed {v}"));
    let rows: Vec<String> = f
        .claims
        .claims
        .iter()
        .zip(&f.committed)
        .map(|(c, v)| claim_row(f, c, v))
        .collect();
    let across = match f.seed_count() {
        Some(n) => format!("across {n} seeds"),
        None => "across seeds".to_string(),
    };
    format!(
        "<h3>Claims</h3>\n<p class=\"muted\">At the committed {} the claim is judged on {} (its number and the comparison below the verdict); {across} from {} (a finding must hold at ≥ 95% of the seeds, a premise or sanity check at all).</p>\n{}",
        escape(&seed),
        code(&format!("data/{}.csv", f.header.id)),
        code(&format!("robustness/data/{}.seeds.csv", f.header.id)),
        table(
            "claims",
            &["claim", "kind", "says", "committed seed", &across],
            &rows
        )
    )
}

/// A list of claims with their outcome under a knock-out.
fn outcome_list(f: &Figure, ko: &Knockout, role: &str, ids: &[String], verb: &str) -> String {
    if ids.is_empty() {
        return "—".to_string();
    }
    let condition = format!("knockout:{}", ko.id);
    let items: String = ids
        .iter()
        .map(|id| {
            let outcome = match f.seed_row(&condition, role, id) {
                Some(r) => format!(
                    " <span class=\"{}\" title=\"{verb} at {} of {} seeds\">{} {}/{}</span>",
                    if r.passes { "ok" } else { "bad" },
                    r.met,
                    r.seeds,
                    if r.passes { "✓" } else { "✗" },
                    r.met,
                    r.seeds
                ),
                None => String::new(),
            };
            format!("<li>{}{outcome}</li>", code(id))
        })
        .collect();
    format!("<ul class=\"cell\">{items}</ul>")
}

fn knockout_row(f: &Figure, ko: &Knockout) -> String {
    let own: Vec<String> = ko.claims.iter().map(|c| c.id.clone()).collect();
    let own_list = if own.is_empty() {
        String::new()
    } else {
        format!(
            "<span class=\"detail\">and its own checks:</span>{}",
            outcome_list(f, ko, "holds", &own, "holds")
        )
    };
    format!(
        "<tr><td>{}</td><td class=\"says\">{}</td><td class=\"wrap\">{}</td><td>{}</td><td>{}{own_list}</td></tr>\n",
        code(&ko.id),
        escape(&ko.assumption),
        code(&show_point(&ko.overrides())),
        outcome_list(f, ko, "breaks", &ko.breaks, "broken"),
        outcome_list(f, ko, "survives", &ko.survives, "holds")
    )
}

fn knockouts_table(f: &Figure) -> String {
    if f.claims.knockouts.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = f.claims.knockouts.iter().map(|k| knockout_row(f, k)).collect();
    format!(
        "<h3>What carries the findings: knock-outs</h3>\n<p class=\"muted\">Each knock-out removes one assumption (the spec values it sets). The findings it carries must break (fail at ≥ 95% of seeds) and the others named must survive.</p>\n{}",
        table(
            "knockouts",
            &[
                "knock-out",
                "assumption it removes",
                "set",
                "findings it carries: broken at k/N seeds",
                "must survive: holds at k/N",
            ],
            &rows
        )
    )
}

fn robustness(f: &Figure) -> String {
    let id = &f.header.id;
    let present = f.file(&format!("robustness/{id}.png")).is_some_and(|s| s.present);
    let map = if present {
        format!(
            "<details class=\"map\"><summary>The robustness map: share of seeds at which each finding holds over each grid</summary><figure><a href=\"figures/robustness/{id}.svg\"><img src=\"figures/robustness/{id}.png\" alt=\"{id}: robustness map\"></a><figcaption>Open the <a href=\"figures/robustness/{id}.svg\">SVG</a> or the <a href=\"figures/robustness/{id}.pdf\">PDF</a>.</figcaption></figure></details>\n",
            id = escape(id)
        )
    } else {
        "<p class=\"warn\">No robustness map in this folder (run <code>make robustness</code>).</p>\n".to_string()
    };
    let maps: String = f
        .claims
        .robustness
        .iter()
        .map(|m| format!("<li>{}: {}</li>", code(&m.id), escape(&m.says)))
        .collect();
    format!(
        "<h3>Where the findings hold: robustness</h3>\n<ul>{maps}</ul>\n{}{map}",
        regions(f)
    )
}

/// `regions.txt` as a table: map, finding, where it holds, the grid points in a fold.
fn regions(f: &Figure) -> String {
    let Some(text) = &f.regions else { return String::new() };
    let mut heading = String::new();
    let mut rows: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("# ") {
            heading = h.to_string();
        } else if let Some(row) = region_row(line) {
            rows.push(row);
        }
    }
    format!(
        "<p class=\"muted\">The stated region ({}): {}</p>\n{}",
        code(&format!("robustness/{}.regions.txt", f.header.id)),
        escape(&heading),
        table("regions", &["map", "finding", "where it holds"], &rows)
    )
}

fn region_row(line: &str) -> Option<String> {
    let (name, rest) = line.split_once(": ")?;
    let (map, finding) = name.split_once(" / ")?;
    let (count, points) = match rest.split_once("): ") {
        Some((c, p)) => (format!("{c})"), p),
        None => (rest.to_string(), ""),
    };
    let fold = if points.is_empty() {
        String::new()
    } else {
        format!(
            "<details><summary>grid points</summary><p class=\"points\">{}</p></details>",
            escape(points)
        )
    };
    Some(format!(
        "<tr><td>{}</td><td>{}</td><td>{}{fold}</td></tr>\n",
        code(map),
        code(finding),
        escape(&count)
    ))
}

fn anchors_table(f: &Figure) -> String {
    if f.anchors.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = f
        .anchors
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
                escape(&r.quantity),
                escape(&r.anchor),
                escape(&r.ours),
                escape(&r.note)
            )
        })
        .collect();
    format!(
        "<h3>Against the anchor</h3>\n<p class=\"muted\">{}. Their numbers: {}; ours: the committed summary table at the spec's seed.</p>\n{}",
        escape(&f.header.anchor),
        escape(&f.anchor_source),
        table("anchors", &["quantity", "anchor", "ours", "note"], &rows)
    )
}

fn provenance(f: &Figure) -> String {
    let mut items: Vec<(String, String)> = f
        .provenance
        .iter()
        .filter(|(k, _)| k != "figure")
        .map(|(k, v)| (escape(k), code(v)))
        .collect();
    if !f.provenance.iter().any(|(k, _)| k == "overrides") {
        items.push(("overrides".into(), "none (the committed spec)".into()));
    }
    items.push(("spec file now".into(), spec_state(f)));
    if let Some(n) = f.seed_count() {
        items.push(("multi-seed table".into(), format!("{n} seeds (seed 0 is the spec's)")));
    }
    items.push(("files".into(), files_state(f)));
    let body: String = items.iter().map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>")).collect();
    format!("<h3>Provenance</h3>\n<dl class=\"provenance\">{body}</dl>\n")
}

fn spec_state(f: &Figure) -> String {
    let path = code(&format!("specs/{}.toml", f.header.id));
    match &f.manifest_spec_sha {
        Some(sha) if *sha == f.spec_sha => format!("{path}: sha256 as in MANIFEST"),
        Some(_) => format!(
            "{path}: <span class=\"bad\">changed since these figures were made</span> (sha256 {})",
            code(&f.spec_sha)
        ),
        None => format!("{path}: <span class=\"warn\">not in MANIFEST</span>"),
    }
}

fn files_state(f: &Figure) -> String {
    let bad: Vec<String> = f
        .files
        .iter()
        .filter(|s| !s.matches_manifest)
        .map(|s| {
            format!(
                "{} {}",
                code(&s.path),
                if s.present {
                    "differs from its MANIFEST hash"
                } else {
                    "missing"
                }
            )
        })
        .collect();
    if bad.is_empty() {
        format!("all {} shown or linked match their MANIFEST hashes", f.files.len())
    } else {
        format!("<span class=\"bad\">{}</span>", bad.join("; "))
    }
}
