//! The README's per-figure claims and knock-out tables are generated from the specs
//! (`mismatch tables ID`): the README must hold each one verbatim.

use std::process::Command;

#[test]
fn readme_holds_every_figures_generated_tables() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mismatch"))
        .args(["tables", "--all"])
        .output()
        .expect("run mismatch");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for part in text.split("<!-- tables:").skip(1) {
        let block = format!("<!-- tables:{part}");
        let id = part.split_whitespace().next().unwrap_or("");
        assert!(
            readme.contains(&block),
            "README.md does not hold the current tables of {id}: run `mismatch tables {id}` and paste them into its gallery entry"
        );
    }
}
