//! Every figure's claims across seeds, in CI: `mismatch check --all --seeds N` with
//! N = 3 by default (`MISMATCH_SEEDS` overrides it; `make robustness` runs N = 20).
//! At N = 3 a finding must hold at all 3 seeds (⌈0.95·3⌉ = 3), and each knock-out
//! must break its findings at all 3: a claim that holds only at the committed seed
//! fails here.

use std::process::Command;

#[test]
fn every_claim_holds_across_seeds_and_every_knockout_breaks_its_findings() {
    let seeds = std::env::var("MISMATCH_SEEDS").unwrap_or_else(|_| "3".to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_mismatch"))
        .args(["check", "--all", "--seeds", &seeds])
        .output()
        .expect("run mismatch");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("{seeds} seeds:")), "{text}");
}
