//! `sluice rules canon [-6] FILE [--sets SETS] [--nft]`: print an
//! iptables-restore file as `iptables-legacy-save` (or, with `--nft`,
//! `iptables-nft-save`) prints it after the restore; with `-6`, an
//! ip6tables-restore file as `ip6tables-legacy-save` prints it.
//!
//! The kernel refuses a rule naming a set that does not exist or is of the
//! wrong family, so canon checks sets too: a rule naming a set needs
//! `--sets` (an `ipset save` file); without it canon refuses rather than
//! print a ruleset the kernel might not load.

use std::io::Write;
use std::path::Path;

use sluice_config::iptables::Family;
use sluice_config::{bundle, ipset, iptables};

/// Runs canon, writing the ruleset to `out` and errors and warnings to
/// `err`. Returns whether the file was printed.
/// `nft`: as `iptables-nft-save` prints it instead; `family`: which
/// restore reads the file (`iptables` or `ip6tables`).
pub fn canon(
    file: &Path,
    sets: Option<&Path>,
    nft: bool,
    family: Family,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> bool {
    let rs = match iptables::load_family(file, family) {
        Ok(rs) => rs,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return false;
        }
    };
    match sets {
        Some(sets_path) => {
            let set_file = match ipset::load(sets_path) {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return false;
                }
            };
            let mut warnings = Vec::new();
            if let Err(e) = bundle::check_sets(&rs, &set_file, file, Some(sets_path), &mut warnings)
            {
                let _ = writeln!(err, "error: {e}");
                return false;
            }
            for w in &warnings {
                let _ = writeln!(err, "warning: {w}");
            }
        }
        None => {
            if let Some((name, line)) = bundle::first_set_reference(&rs) {
                let v = match family {
                    Family::Ipv4 => "IPv4",
                    Family::Ipv6 => "IPv6",
                };
                let _ = writeln!(
                    err,
                    "error: {}:{line}:1: rule names set `{name}': pass --sets FILE (an `ipset save` file) so canon can check that the set exists and is {v}, as the kernel does",
                    file.display()
                );
                return false;
            }
        }
    }
    let text = if nft {
        iptables::save::save_nft(&rs)
    } else {
        iptables::save::save(&rs)
    };
    // Non-UTF-8 bytes of --comment/--log-prefix texts go out as bytes.
    let _ = out.write_all(&iptables::bytes::to_bytes(&text));
    true
}
