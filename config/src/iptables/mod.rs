//! The `iptables-restore` and `ip6tables-restore` language: parsing into
//! the typed model of [`model`], and printing back in `iptables-save` /
//! `ip6tables-save` form ([`save`]). One parser for both families: the
//! [`Family`] in [`RestoreOptions`] decides the address syntax and which
//! extensions exist.
//!
//! Behaviour reference: iptables v1.8 (`iptables-restore`, libxtables and
//! the extensions' userspace parsers) and the kernel's checks at table load.
//! Where sluice refuses something iptables accepts, the error says so and why.

pub mod bytes;
pub mod ext;
pub mod lex;
pub mod model;
pub mod netdb;
pub mod restore;
pub mod rule;
pub mod save;
pub mod validate;

use std::path::Path;

pub use ext::{Match, TargetExt};
pub use model::*;
pub use restore::RestoreError;

use crate::error::Error;

/// Parses a restore file from an empty ruleset (as `iptables-restore FILE`
/// on a fresh namespace).
pub fn parse(text: &str, file: &Path) -> Result<Ruleset, Error> {
    restore::restore(text, file, &Ruleset::default(), RestoreOptions::default())
}

/// Parses a restore file given as bytes, as iptables-restore reads it
/// (see [`bytes`] for what sluice accepts beyond UTF-8 text).
pub fn parse_bytes(bytes: &[u8], file: &Path) -> Result<Ruleset, Error> {
    parse(&bytes::decode(bytes, file)?, file)
}

/// Parses an `ip6tables-restore` file from an empty ruleset.
pub fn parse6(text: &str, file: &Path) -> Result<Ruleset, Error> {
    parse_family(text, file, Family::Ipv6)
}

/// Parses a restore file of `family` from an empty ruleset.
pub fn parse_family(text: &str, file: &Path, family: Family) -> Result<Ruleset, Error> {
    let opts = RestoreOptions {
        family,
        ..Default::default()
    };
    restore::restore(text, file, &Ruleset::default(), opts)
}

/// Reads and parses an `ip6tables-restore` file.
pub fn load6(path: &Path) -> Result<Ruleset, Error> {
    load_family(path, Family::Ipv6)
}

/// Reads and parses a restore file.
/// The file is taken whole or not at all (`error::read_bytes`).
pub fn load(path: &Path) -> Result<Ruleset, Error> {
    load_family(path, Family::Ipv4)
}

/// Reads and parses a restore file of `family`.
/// The file is taken whole or not at all (`error::read_bytes`).
pub fn load_family(path: &Path, family: Family) -> Result<Ruleset, Error> {
    let bytes = crate::error::read_bytes(path)?;
    parse_family(&bytes::decode(&bytes, path)?, path, family)
}

/// The canonical form: what `iptables-save` prints after restoring `text`.
pub fn canon(text: &str, file: &Path) -> Result<String, Error> {
    Ok(save::save(&parse(text, file)?))
}
