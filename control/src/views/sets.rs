//! `sluice sets list [NAME]`: the snapshot's sets as `ipset list [NAME]`
//! (ipset 7.17) prints them.
//!
//! What it reads: the sets file the running snapshot was compiled from
//! ([`SetFile`]) and the ruleset (for `References:`, the rules naming
//! the set, as the kernel counts them). Differences from the kernel's
//! listing: `Size in memory:` is the size of sluice's compiled set, not
//! the kernel's hash; members come in the order they were added (the
//! kernel lists in hash order); per-element timeouts are the configured
//! ones, not counting down; `initval` is printed only when the file gave
//! one (the kernel draws one at random).

use std::fmt::Write as _;

use serde_json::json;
use sluice_config::ipset::{IpSet, SetFile, SetKind};
use sluice_config::iptables::{Match, Ruleset};

use super::ViewError;

/// The set type's revision ipset 7.17 creates on Linux 6.x.
fn revision(k: SetKind) -> u8 {
    match k {
        SetKind::HashIp => 6,
        SetKind::HashNet => 7,
        SetKind::HashIpPort => 7,
        SetKind::HashNetPort => 8,
        SetKind::BitmapPort => 3,
    }
}

/// How many rules of `rules` name set `name` (`-m set --match-set`).
pub fn references(rules: &Ruleset, name: &str) -> usize {
    rules
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.matches)
        .filter(
            |m| matches!(m, Match::Set(s) if s.match_set.as_ref().is_some_and(|m| m.name == name)),
        )
        .count()
}

/// The `create` options and the members of `set`, as `ipset save` prints
/// them.
fn parts(set: &IpSet) -> (String, Vec<String>) {
    let text = SetFile {
        sets: vec![set.clone()],
    }
    .save();
    let mut lines = text.lines();
    let create = lines.next().unwrap_or_default();
    let header = create.splitn(4, ' ').nth(3).unwrap_or_default().to_string();
    let prefix = format!("add {} ", set.name);
    let members = lines
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect();
    (header, members)
}

/// Bytes sluice's compiled form of `set` takes, roughly (entries and the
/// per-element extensions); printed as `Size in memory:`.
fn size(set: &IpSet) -> usize {
    let per = match set.kind {
        SetKind::HashIp => 24,
        SetKind::HashNet => 40,
        SetKind::HashIpPort => 32,
        SetKind::HashNetPort => 48,
        SetKind::BitmapPort => 1,
    };
    let ext = usize::from(set.counters) * 16 + usize::from(set.timeout.is_some()) * 8;
    200 + set.entries.len() * (per + ext)
}

/// `ipset list [NAME]`: every set (or the one named), separated by a blank
/// line. Unknown `name` is ipset's error.
pub fn sets_list(sets: &SetFile, rules: &Ruleset, name: Option<&str>) -> Result<String, ViewError> {
    if let Some(n) = name {
        if sets.set(n).is_none() {
            return Err(ViewError::NoSet(n.to_string()));
        }
    }
    let mut out = String::new();
    for (i, set) in sets
        .sets
        .iter()
        .filter(|s| name.is_none_or(|n| n == s.name))
        .enumerate()
    {
        if i > 0 {
            out.push('\n');
        }
        let (header, members) = parts(set);
        let _ = writeln!(out, "Name: {}", set.name);
        let _ = writeln!(out, "Type: {}", set.kind.name());
        let _ = writeln!(out, "Revision: {}", revision(set.kind));
        let _ = writeln!(out, "Header: {header}");
        let _ = writeln!(out, "Size in memory: {}", size(set));
        let _ = writeln!(out, "References: {}", references(rules, &set.name));
        let _ = writeln!(out, "Number of entries: {}", set.entries.len());
        out.push_str("Members:\n");
        for m in members {
            out.push_str(&m);
            out.push('\n');
        }
    }
    Ok(out)
}

/// `sets list --json`.
pub fn sets_list_json(
    sets: &SetFile,
    rules: &Ruleset,
    name: Option<&str>,
) -> Result<serde_json::Value, ViewError> {
    if let Some(n) = name {
        if sets.set(n).is_none() {
            return Err(ViewError::NoSet(n.to_string()));
        }
    }
    Ok(serde_json::Value::Array(
        sets.sets
            .iter()
            .filter(|s| name.is_none_or(|n| n == s.name))
            .map(|s| {
                let (header, members) = parts(s);
                json!({
                    "name": s.name,
                    "type": s.kind.name(),
                    "header": header,
                    "references": references(rules, &s.name),
                    "entries": s.entries.len(),
                    "members": members,
                })
            })
            .collect(),
    ))
}
