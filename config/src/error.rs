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
///
/// The file is taken whole or not at all: a file being rewritten in
/// place while it is read (an editor or a script truncating and writing
/// it) could otherwise be read half-written, and a half iptables-restore
/// file cut after a `COMMIT` is a valid, smaller ruleset. So a read
/// counts only when the file held still: same inode, size and mtime
/// before and after the read, the size what was read, and not modified
/// within the last [`QUIET`] ([`EMPTY_QUIET`] when it is empty). Otherwise it is read again, up to
/// [`SETTLE_TRIES`] times [`QUIET`] apart, then refused with a message
/// saying so. (A writer that pauses longer than [`QUIET`] mid-file can
/// still be read half-written; writing a new file beside it and
/// `rename(2)`-ing it into place is always seen whole.)
pub(crate) fn read_file(path: &Path) -> Result<String, Error> {
    let bytes = read_bytes(path)?;
    utf8(bytes, path)
}

/// The bytes of the file at `path`, whole ([`read_file`]'s rules).
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    let io_err = |e: &io::Error| {
        Error::new(
            Location::new(path, 0, None),
            ErrorKind::Io(ReadError::new(e)),
        )
    };
    let mut tries = 0;
    let bytes = loop {
        let (bytes, still) = read_once(path).map_err(|e| io_err(&e))?;
        if still {
            break bytes;
        }
        tries += 1;
        if tries >= SETTLE_TRIES {
            return Err(Error::new(
                Location::new(path, 0, None),
                ErrorKind::Io(ReadError {
                    kind: io::ErrorKind::Interrupted,
                    reason: format!(
                        "the file kept changing while it was read ({tries} tries in {} ms): something is writing it; nothing was taken from it (write the new file beside it and rename it into place)",
                        tries * QUIET.as_millis() as u32
                    ),
                }),
            ));
        }
        std::thread::sleep(QUIET);
    };
    Ok(bytes)
}

/// `bytes` as UTF-8, or the line and column of the first byte that is not.
fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String, Error> {
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

/// How long a file must have been left alone to be read ([`read_file`]).
pub const QUIET: std::time::Duration = std::time::Duration::from_millis(50);
/// How long an empty file must have been left alone to be read: well
/// within the retries' second, so a file that is empty on purpose is
/// still read.
pub const EMPTY_QUIET: std::time::Duration = std::time::Duration::from_millis(400);
/// Reads of a changing file before [`read_file`] gives up (one second).
pub const SETTLE_TRIES: u32 = 20;

/// One read of `path`; whether the file held still around it.
fn read_once(path: &Path) -> io::Result<(Vec<u8>, bool)> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::File::open(path)?;
    let before = f.metadata()?;
    let mut bytes = Vec::with_capacity(before.len() as usize);
    f.read_to_end(&mut bytes)?;
    let after = f.metadata()?;
    let named = std::fs::metadata(path)?;
    let same = |a: &std::fs::Metadata, b: &std::fs::Metadata| {
        a.ino() == b.ino()
            && a.dev() == b.dev()
            && a.len() == b.len()
            && (a.mtime(), a.mtime_nsec()) == (b.mtime(), b.mtime_nsec())
    };
    // A modification time in the future (a clock set back) counts as old.
    // An empty file must have been left alone longer: truncating is how a
    // rewrite in place starts, and on ext4 the first write after the
    // truncation can wait on the journal for tens of milliseconds (seen:
    // 78 ms) — an empty file that held still for QUIET was a rewrite
    // caught between its two steps, and applying it would flush the
    // whole firewall.
    let quiet_for = if after.len() == 0 { EMPTY_QUIET } else { QUIET };
    let quiet = after
        .modified()
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
        .is_none_or(|age| age >= quiet_for);
    // Not a regular file (a pipe, /dev/stdin): read once, as it is.
    let still = !after.is_file()
        || (same(&before, &after)
            && same(&after, &named)
            && after.len() == bytes.len() as u64
            && quiet);
    Ok((bytes, still))
}

#[cfg(test)]
mod read_tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-read-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    /// A file just truncated (a rewrite in place caught between its two
    /// steps) is not taken as an empty file: the read waits, and takes
    /// what the writer puts there.
    #[test]
    fn a_file_just_truncated_is_read_once_rewritten() {
        let p = temp("trunc");
        std::fs::write(&p, "old\n").unwrap();
        std::fs::write(&p, "").unwrap();
        let q = p.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(120));
            std::fs::write(&q, "new\n").unwrap();
        });
        let got = read_bytes(&p).unwrap();
        writer.join().unwrap();
        assert_eq!(got, b"new\n");
        let _ = std::fs::remove_file(&p);
    }

    /// A file that is empty on purpose is read, once it has been left
    /// alone for EMPTY_QUIET.
    #[test]
    fn a_file_empty_on_purpose_is_read() {
        let p = temp("empty");
        std::fs::write(&p, "").unwrap();
        let t = Instant::now();
        assert_eq!(read_bytes(&p).unwrap(), b"");
        assert!(t.elapsed() >= EMPTY_QUIET - QUIET, "{:?}", t.elapsed());
        let _ = std::fs::remove_file(&p);
    }
}
