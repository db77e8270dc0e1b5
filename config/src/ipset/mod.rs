//! `ipset save` files (what `ipset restore` reads): `create` and `add`
//! lines, `#` comment lines and blank lines.
//!
//! ```text
//! create blocked hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x2d0f8b43
//! add blocked 10.0.0.0/8
//! add blocked 192.0.2.0/24 nomatch
//! create web hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12
//! add web 10.0.0.1,tcp:443
//! create ports bitmap:port range 1000-2000
//! add ports 1022-1024
//! ```
//!
//! Set types: `hash:ip`, `hash:net`, `hash:ip,port`, `hash:net,port` and
//! `bitmap:port`. The behaviour reference is ipset 7.17 with its kernel
//! side (`net/netfilter/ipset/`), checked against the real tool:
//!
//! * Words split on blanks; a `"` opens or closes a quoted run and is
//!   dropped (`comment "a  b"` keeps both spaces). There are no escapes.
//!   A `#` starts a comment only as the first word of a line.
//! * Numbers read as `strtoull(.., 0)`: `0x` hex, a leading `0` octal.
//!   Ports may also be service names (looked up as TCP, as ipset does).
//! * Element expansion as the kernel's `uadt` functions do it: an IPv4
//!   range or CIDR in `hash:ip` / `hash:ip,port` becomes every address of
//!   it (masked by `netmask`, then one element per netmask block); an IPv4
//!   range in `hash:net` / `hash:net,port` becomes the fewest CIDR blocks
//!   that cover it; port ranges become every port; reversed ranges are
//!   swapped. `hash:net` keeps a network's prefix bits only
//!   (`10.0.0.5/8` is `10.0.0.0/8`). IPv6 takes no ranges, and in `hash:ip`
//!   no networks but `/128`.
//! * `hashsize` is rounded up to a power of two, at least 64; `bucketsize`
//!   is clamped to 2..=12 and rounded up to even, as the kernel stores them.
//! * As `ipset restore` without `-exist`: adding an element that is already
//!   in the set, creating a set twice, adding to a set not created before,
//!   or adding past `maxelem` (unless `forceadd`) is an error.
//! * Per-element `timeout`, `packets`/`bytes` and `comment` need the set to
//!   have been created with `timeout`, `counters` and `comment`.
//!
//! Deliberate limits: one `add` line expands to at most [`MAX_EXPANSION`]
//! elements (the kernel allows up to 2^20); addresses must be numeric
//! (ipset would resolve host names and accepts `inet_aton` shorthands such
//! as `10.1`); only `create` and `add` lines are read.
//!
//! Layout: `model` holds the public types (re-exported here), `lex`
//! splits a line into words, `parse` reads `create`/`add` lines, `expand`
//! turns an element value into the elements it names, `print` writes the
//! file back as `ipset save` does.

mod error;
mod expand;
mod lex;
mod model;
mod parse;
mod print;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::SetsError;
pub use model::{
    Entry, Family, HashOptions, IpPortElem, IpSet, NetElem, NetPortElem, ProtoPort, SetEntries,
    SetFile, SetKind, DEFAULT_BUCKETSIZE, DEFAULT_HASHSIZE, DEFAULT_MAXELEM, MAX_COMMENT_LEN,
    MAX_EXPANSION, MAX_SETNAME_LEN, MAX_TIMEOUT,
};

use crate::error::{read_file, Error, ErrorKind, Location};
use lex::split;
use parse::Parser;

/// Reads and parses the sets file at `path`.
pub fn load(path: &Path) -> Result<SetFile, Error> {
    parse(&read_file(path)?, path)
}

/// Parses a sets file; `file` names it in errors. Does not touch the
/// filesystem.
pub fn parse(text: &str, file: &Path) -> Result<SetFile, Error> {
    let mut p = Parser::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let at = |column: usize| Location::new(file, lineno, Some(column));
        let words = split(line).map_err(|(col, msg)| Error::new(at(col), ErrorKind::Sets(msg)))?;
        let Some(first) = words.first() else { continue };
        if first.text.starts_with('#') && first.quoted_from.is_none() {
            continue;
        }
        p.line(lineno, &words)
            .map_err(|(col, msg)| Error::new(at(col), ErrorKind::Sets(msg)))?;
    }
    Ok(p.finish())
}
