//! The one error type, and the only place errors become exit codes.
//!
//! | exit | meaning |
//! |------|---------|
//! | 0    | success: outputs written, every claim holds, every file verified |
//! | 1    | a claim failed (`check`) or an output differs from the manifest (`verify`) |
//! | 2    | bad input (spec, option, override) or an I/O failure; nothing was overwritten |
//! | 141  | the reader of stdout went away (`mismatch list \| head -1`): ended quietly |

use std::fmt;
use std::path::{Path, PathBuf};

/// The exit code of a process whose standard output was closed: 128 + SIGPIPE, what a
/// shell reports for a command stopped by a closed pipe.
pub const CLOSED_STREAM: i32 = 141;

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
    /// Standard output was closed by its reader (a pipe into `head`): end quietly.
    Closed,
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

    /// The same error with `what` (a file, a claim) in front of an input error's
    /// message, so it names where the problem is; other errors already do.
    pub fn within(self, what: &str) -> Self {
        match self {
            Error::Input(msg) if !msg.starts_with(what) => Error::Input(format!("{what}: {msg}")),
            other => other,
        }
    }

    /// The process exit code for this error (see the module table).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Failed(_) => 1,
            Error::Input(_) | Error::Io { .. } => 2,
            Error::Closed => CLOSED_STREAM,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(msg) | Error::Failed(msg) => f.write_str(msg),
            Error::Closed => f.write_str("standard output was closed"),
            Error::Io { action, path, source } => {
                let fix = match source.kind() {
                    std::io::ErrorKind::InvalidData => "give a UTF-8 text file (the file mismatch wrote, unedited)",
                    std::io::ErrorKind::StorageFull => "free space on the disk (the old outputs are intact)",
                    _ => "check that the path exists and is writable",
                };
                write!(f, "cannot {action} {}: {source}. Fix: {fix}.", path.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// An internal invariant of the analysis or rendering broke (never caused by user input).
pub fn internal(what: impl fmt::Display) -> Error {
    Error::Input(format!("internal error: {what}. Please report it."))
}
