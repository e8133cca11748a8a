//! The one error type, and the only place errors become exit codes.
//!
//! | exit | meaning |
//! |------|---------|
//! | 0    | success: outputs written, every claim holds, every file verified |
//! | 1    | a claim failed (`check`) or an output differs from the manifest (`verify`) |
//! | 2    | bad input (spec, option, override) or an I/O failure; nothing was overwritten |

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can stop a command.
#[derive(Debug)]
pub enum Error {
    /// A spec or a command-line value is wrong. The message names the file, the key,
    /// what is allowed and how to fix it.
    Input(String),
    /// Reading or writing a file failed.
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A claim did not hold or an output did not verify: the report was already printed.
    Failed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The process exit code for this error (see the module table).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Failed(_) => 1,
            Error::Input(_) | Error::Io { .. } => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(msg) | Error::Failed(msg) => f.write_str(msg),
            Error::Io { action, path, source } => write!(
                f,
                "cannot {action} {}: {source}. Fix: check that the path exists and is writable.",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// An internal invariant of the analysis or rendering broke (never caused by user input).
pub fn internal(what: impl fmt::Display) -> Error {
    Error::Input(format!("internal error: {what}. Please report it."))
}
