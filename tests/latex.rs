//! The figures and macros in a real LaTeX build, as an author uses them: a two-column
//! `article` whose column and text widths are the paper style's
//! (`specs/style/paper.toml`) `\input`s `figures/numbers.tex`, uses every macro in text
//! and in math, and includes every committed `figures/ID.pdf` unscaled in the float its
//! declared width calls for (`figure` for `column`, `figure*` for `text`).
//!
//! Fails on any LaTeX error or warning, on any overfull box, on a PDF whose page is
//! not the declared width, and on any font `pdffonts` reports as not embedded. Needs
//! `pdflatex` and poppler's `pdfinfo`/`pdffonts` (`.ci/run` installs them); without
//! them the test is skipped with a message, except under `CI=true`, where it fails.
//! The built document is left in the test's scratch folder (path printed) to look at.

use mismatch::pipeline::experiments;
use mismatch::render::style::{self, BP_PER_PT};
use std::path::{Path, PathBuf};
use std::process::Command;

/// True if `tool` runs; otherwise skips (returns false) or, under CI, panics.
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("-v").output().is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "`{tool}` is not installed, and CI=true: install texlive-latex-base and poppler-utils (.ci/run does)"
            );
        }
        eprintln!("skipped: `{tool}` is not installed (apt-get install texlive-latex-base poppler-utils)");
    }
    found
}

/// The macro names defined in `numbers.tex`, in order.
fn macro_names(numbers: &str) -> Vec<String> {
    numbers
        .lines()
        .filter_map(|l| l.strip_prefix("\\newcommand{\\"))
        .filter_map(|l| l.split('}').next())
        .map(str::to_string)
        .collect()
}

fn document(style: &style::Style, numbers: &str) -> String {
    let column_sep = style.text_width_pt - 2.0 * style.column_width_pt;
    let mut doc = format!(
        "\\documentclass[twocolumn,10pt,letterpaper]{{article}}\n\
         \\usepackage{{graphicx}}\n\
         \\setlength{{\\textwidth}}{{{}pt}}\n\
         \\setlength{{\\columnsep}}{{{}pt}}\n\
         \\setlength{{\\oddsidemargin}}{{\\dimexpr(\\paperwidth-\\textwidth)/2-1in\\relax}}\n\
         \\setlength{{\\evensidemargin}}{{\\oddsidemargin}}\n\
         \\setlength{{\\textheight}}{{9in}}\n\
         \\setlength{{\\topmargin}}{{-0.5in}}\n\
         \\input{{figures/numbers.tex}}\n\
         \\begin{{document}}\n\
         \\twocolumn\n\
         \\typeout{{columnwidth=\\the\\columnwidth; textwidth=\\the\\textwidth}}\n\
         \\section*{{Numbers}}\n",
        style.text_width_pt,
        column_sep.max(0.0)
    );
    for (i, name) in macro_names(numbers).iter().enumerate() {
        doc.push_str(&format!(
            "Claim {}: in text \\{name}{{}} units, in math $x_{{{}}} = \\{name}$, and $\\{name} < 10^{{6}}$.\n\n",
            i + 1,
            i + 1
        ));
    }
    for e in experiments() {
        let id = e.id();
        let (length, float) = style.placement(id).width.latex();
        doc.push_str(&format!(
            "\\begin{{{float}}}[tbp]\n\\centering\n\\includegraphics{{figures/{id}.pdf}}\n\
             \\caption{{The figure \\texttt{{{}}}, included unscaled at \\texttt{{\\string{length}}}.}}\n\\end{{{float}}}\n",
            id.replace('_', "\\_")
        ));
    }
    doc.push_str("\\end{document}\n");
    doc
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run tool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The problems pdflatex's log reports: errors, warnings, overfull boxes.
fn log_problems(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.starts_with('!')
                || l.contains("LaTeX Warning")
                || l.contains("Package Warning")
                || l.starts_with("Overfull")
                || l.contains("Font Warning")
        })
        .map(str::to_string)
        .collect()
}

/// Page width of a PDF in PostScript points, from `pdfinfo`.
fn page_width_bp(pdf: &Path) -> f64 {
    let (ok, out) = run(Command::new("pdfinfo").arg(pdf));
    assert!(ok, "pdfinfo {}: {out}", pdf.display());
    let line = out.lines().find(|l| l.starts_with("Page size:")).expect("Page size");
    line.split_whitespace()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .expect("width")
}

/// Fonts `pdffonts` lists as not embedded.
fn unembedded_fonts(pdf: &Path) -> Vec<String> {
    let (ok, out) = run(Command::new("pdffonts").arg(pdf));
    assert!(ok, "pdffonts {}: {out}", pdf.display());
    let mut lines = out.lines();
    let header = lines.next().expect("pdffonts header");
    let emb = header.find(" emb ").expect("emb column") + 1;
    lines
        .skip(1)
        .filter(|l| l.get(emb..emb + 3) != Some("yes"))
        .map(str::to_string)
        .collect()
}

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("latex");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("figures")).unwrap();
    dir
}

#[test]
fn every_figure_and_macro_typesets_at_its_declared_width() {
    if !(have("pdflatex") && have("pdffonts") && have("pdfinfo")) {
        return;
    }
    let style = style::paper().expect("paper style");
    let dir = scratch();
    let numbers = std::fs::read_to_string("figures/numbers.tex").expect("figures/numbers.tex");
    assert!(!macro_names(&numbers).is_empty(), "numbers.tex defines no macro");
    std::fs::write(dir.join("figures/numbers.tex"), &numbers).unwrap();
    for e in experiments() {
        let id = e.id();
        let pdf = dir.join(format!("figures/{id}.pdf"));
        std::fs::copy(format!("figures/{id}.pdf"), &pdf).expect("committed figure PDF");
        let want = style.width_pt(id) * BP_PER_PT;
        let got = page_width_bp(&pdf);
        assert!(
            got <= want + 0.01 && got >= want - 0.5,
            "figures/{id}.pdf is {got} bp wide; its declared width is {want:.2} bp: run `make figures`"
        );
        let fonts = unembedded_fonts(&pdf);
        assert!(fonts.is_empty(), "figures/{id}.pdf has fonts not embedded: {fonts:?}");
    }
    std::fs::write(dir.join("paper.tex"), document(style, &numbers)).unwrap();
    let (ok, out) = run(Command::new("pdflatex")
        .args(["-interaction=nonstopmode", "-halt-on-error", "paper.tex"])
        .current_dir(&dir));
    let log = std::fs::read_to_string(dir.join("paper.log")).unwrap_or(out);
    let problems = log_problems(&log);
    assert!(
        ok && problems.is_empty(),
        "pdflatex in {}: {}",
        dir.display(),
        if problems.is_empty() {
            "failed".to_string()
        } else {
            problems.join("\n")
        }
    );
    let widths = format!(
        "columnwidth={}pt; textwidth={}pt",
        style.column_width_pt, style.text_width_pt
    );
    let typed = log.lines().find(|l| l.starts_with("columnwidth=")).unwrap_or("");
    assert_eq!(
        typed.replace(".0pt", "pt"),
        widths.replace(".0pt", "pt"),
        "the test document's widths are not the style's"
    );
    let fonts = unembedded_fonts(&dir.join("paper.pdf"));
    assert!(fonts.is_empty(), "paper.pdf has fonts not embedded: {fonts:?}");
    eprintln!("built {}", dir.join("paper.pdf").display());
}

/// The README's table says, per figure, the float and `\includegraphics` line its
/// declared width calls for.
#[test]
fn the_readme_says_how_to_include_each_figure() {
    let style = style::paper().expect("paper style");
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    for e in experiments() {
        let id = e.id();
        let (length, float) = style.placement(id).width.latex();
        let row = format!("| `{id}` | `{float}` | `\\includegraphics[width={length}]{{figures/{id}.pdf}}` |");
        assert!(readme.contains(&row), "README.md lacks the row: {row}");
    }
}
