//! Readers and names of single values: interface names, addresses,
//! routing tables and fwmarks; the list of `[conntrack]` keys.

use std::net::IpAddr;

use ipnet::IpNet;
use toml::Spanned;

use super::error::{ApplianceError, IfnameProblem};
use super::model::{ConntrackConf, MAX_IFNAME_LEN, TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use super::raw::{NumOrText, TableRef};
use super::validate::Cx;
use crate::error::Error;
use crate::num;

/// toml's messages may span lines ("invalid string\nexpected ..."); errors
/// print as one `file:line:col: message` line.
pub(super) fn one_line(msg: &str) -> String {
    msg.trim_end()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The `[conntrack]` keys as serde lists expected fields: `` `a`, `b` ``.
pub(super) fn conntrack_keys() -> String {
    ConntrackConf::keys().map(|k| format!("`{k}`")).join(", ")
}

/// `dev_valid_name()` in net/core/dev.c.
pub(super) fn check_ifname(name: &str) -> Result<(), IfnameProblem> {
    if name.is_empty() {
        return Err(IfnameProblem::Empty);
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(IfnameProblem::TooLong);
    }
    if name == "." || name == ".." {
        return Err(IfnameProblem::Reserved);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(IfnameProblem::BadChar(c));
    }
    Ok(())
}

/// The `address` entry that asks for a DHCPv4 lease.
pub const DHCP: &str = "dhcp";

/// `ADDR/LEN` keeping host bits, or a plain address as a host prefix.
pub(super) fn parse_address(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

pub(super) fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

pub(super) fn table_name(t: u32) -> String {
    match t {
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        TABLE_DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

pub(super) fn resolve_table(cx: &Cx<'_>, t: &Spanned<TableRef>) -> Result<u32, Error> {
    let span = t.span();
    match t.get_ref() {
        NumOrText::Num(n) => u32::try_from(*n)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| cx.invalid(&span, ApplianceError::TableNumber { table: *n })),
        NumOrText::Text(s) => match s.as_str() {
            "main" => Ok(TABLE_MAIN),
            "local" => Ok(TABLE_LOCAL),
            "default" => Ok(TABLE_DEFAULT),
            _ => Err(cx.invalid(&span, ApplianceError::TableName { name: s.clone() })),
        },
    }
}

/// `strtoul(text, .., 0)` for a whole string ([`num::plain`]): `0x` hex,
/// leading `0` octal, else decimal. No sign, no surrounding space.
fn parse_c_u32(text: &str) -> Option<u32> {
    num::plain(text).ok().and_then(|n| u32::try_from(n).ok())
}

/// `fwmark VALUE[/MASK]` as `ip rule` reads it, with the kernel's default
/// mask (`fib_nl2rule()` in net/core/fib_rules.c: all ones when the value is
/// non-zero, otherwise 0).
pub(super) fn parse_fwmark(m: &NumOrText) -> Result<(u32, u32), ApplianceError> {
    let default_mask = |v: u32| if v == 0 { 0 } else { u32::MAX };
    match m {
        NumOrText::Num(n) => {
            let v = u32::try_from(*n).map_err(|_| ApplianceError::FwmarkNumber { mark: *n })?;
            Ok((v, default_mask(v)))
        }
        NumOrText::Text(s) => {
            let bad = || ApplianceError::Fwmark { text: s.clone() };
            let (v, mask) = match s.split_once('/') {
                Some((v, m)) => (v, Some(m)),
                None => (s.as_str(), None),
            };
            let v = parse_c_u32(v).ok_or_else(bad)?;
            let mask = match mask {
                Some(m) => parse_c_u32(m).ok_or_else(bad)?,
                None => default_mask(v),
            };
            Ok((v, mask))
        }
    }
}
