//! Errors of the control path: every one names the file, line and (where the
//! source format gives one) the column of what failed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use crate::appliance::ApplianceError;
pub use crate::bundle::BundleError;
pub use crate::ipset::SetsError;
pub use crate::iptables::RestoreError;

/// Where in an operator's file something is. Printed `file:line:column`
/// (column 1 when only the line is known), or `file` alone for what
/// concerns the whole file (it cannot be read): one form for every
/// message, which editors and `grep -n`-style tools jump to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line; 0 for the file as a whole.
    pub line: usize,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: Option<usize>) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}", self.file.display());
        }
        write!(
            f,
            "{}:{}:{}",
            self.file.display(),
            self.line,
            self.column.unwrap_or(1)
        )
    }
}

/// A configuration error with its location. `Display` gives
/// `file:line[:col]: message`, the form compilers use, so editors jump to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct Error {
    pub at: Location,
    pub kind: ErrorKind,
}

impl Error {
    pub fn new(at: Location, kind: ErrorKind) -> Self {
        Error { at, kind }
    }
}

/// What went wrong. Each variant's `#[error]` is its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A file could not be read.
    #[error("cannot read file: {0}")]
    Io(ReadError),
    /// The appliance TOML is malformed or has the wrong shape: the toml
    /// crate's own message, on one line.
    #[error("{0}")]
    Toml(String),
    /// A value in the appliance config is out of range or inconsistent.
    #[error(transparent)]
    Invalid(#[from] ApplianceError),
    /// An iptables-restore ruleset error.
    #[error(transparent)]
    Rules(#[from] RestoreError),
    /// The appliance's files do not fit together (a rule names a set the
    /// sets file does not create).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// An ipset save-file error.
    #[error(transparent)]
    Sets(#[from] SetsError),
}

/// Why a file could not be read. `io::Error` is neither `Clone` nor `Eq`,
/// so its kind and its text are kept.
/// The file is named by the error's [`Location`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub kind: io::ErrorKind,
    /// `io::Error`'s text, e.g. "No such file or directory (os error 2)".
    pub reason: String,
}

impl ReadError {
    pub fn new(e: &io::Error) -> Self {
        ReadError {
            kind: e.kind(),
            reason: e.to_string(),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ReadError {}

/// Reads the UTF-8 file at `path`; a failure to read is about the whole
/// file (no line); a byte that is not UTF-8 is named at its line and column.
pub(crate) fn read_file(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            Location::new(path, 0, None),
            ErrorKind::Io(ReadError::new(&e)),
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let reason = format!("byte 0x{:02x} is not UTF-8", bytes[at]);
        Error::new(
            Location::new(path, line, Some(at - line_start + 1)),
            ErrorKind::Io(ReadError {
                kind: io::ErrorKind::InvalidData,
                reason,
            }),
        )
    })
}
