//! The `mismatch` command: parse the arguments, run, turn the outcome into an exit code.

use clap::Parser;

fn main() {
    let args = match mismatch::cli::Args::try_parse() {
        Ok(args) => args,
        // A bad option: one line (a --set value may hold line breaks), exit 2.
        Err(e) if e.use_stderr() && e.kind() != clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            mismatch::cli::note(&mismatch::cli::one_line(&e.to_string()));
            std::process::exit(2);
        }
        // --help, --version: clap prints them (ignoring a closed stdout) and exits 0.
        Err(e) => e.exit(),
    };
    if let Err(code) = mismatch::cli::run(args) {
        std::process::exit(code);
    }
}
