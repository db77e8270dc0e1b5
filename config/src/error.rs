//! Errors of the control path: every one names the file, line and (where the
//! source format gives one) the column of what failed.

use std::fmt;
use std::path::PathBuf;

/// Where in an operator's file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line.
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
        write!(f, "{}:{}", self.file.display(), self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
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

/// What went wrong. The doc comment of each variant is its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A file could not be read.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The appliance TOML is malformed or has the wrong shape.
    #[error("{0}")]
    Toml(String),
    /// A value in the appliance config is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// An iptables-restore ruleset error.
    #[error("{0}")]
    Rules(String),
    /// An ipset save-file error.
    #[error("{0}")]
    Sets(String),
}
