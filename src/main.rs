//! The `mismatch` command: parse the arguments, run, turn the outcome into an exit code.

use clap::Parser;

fn main() {
    let args = mismatch::cli::Args::parse();
    if let Err(code) = mismatch::cli::run(args) {
        std::process::exit(code);
    }
}
