//! `sluice trace`: a described packet's whole path through a
//! configuration, rendered as text or JSON. The path itself comes from
//! the dataplane ([`sluice_dataplane::trace`]: the production traversal,
//! conntrack, NAT and routing run on the packet with fresh state); this
//! module checks the description ([`parse`], [`resolve`]) and renders.
//!
//! The daemon answers [`crate::api::proto::Request::Trace`] with the
//! running snapshot; `sluice trace --config FILE` loads FILE as `apply`
//! would and traces it here, without a daemon (what-if before apply).
//!
//! Text layout: the packet line, one block per step in the order the
//! kernel runs them (`HOOK table`, `conntrack`, `routing`), each rule
//! tested on its own line (`CHAIN #N <iptables-save text>  no match` or
//! `matched -> WHAT FOLLOWED`), then the `verdict:` line.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Value};
use sluice_config::iptables::ext::icmp::parse_icmp_type;
use sluice_config::iptables::ext::tcp::parse_flags;
use sluice_config::iptables::netdb::{proto_by_name, proto_by_number};
use sluice_dataplane::packet::Dest;
use sluice_dataplane::route::{RouteResult, Router, TableName};
use sluice_dataplane::snapshot::Snapshot;
use sluice_dataplane::trace::{
    self, CtWant, Endpoint, Probe, Trace, TraceEnd, TraceLine, TraceStep,
};

use super::route::{port_name, rule_text};
use crate::api::proto::TracePacket;

/// What of a [`TracePacket`] does not depend on the configuration,
/// checked: everything but the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub icmp: (u8, u8),
    pub tcp_flags: Option<u8>,
    pub mark: u32,
    pub state: CtWant,
}

fn addr(what: &str, s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("{what} `{s}`: not an IPv4 address"))
}

/// A number as iptables takes marks: decimal, `0x` hex or `0` octal.
fn number(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Checks `p` (one line naming the option when it is wrong).
pub fn parse(p: &TracePacket) -> Result<Parsed, String> {
    let proto = match p.proto.to_ascii_lowercase().as_str() {
        "" => return Err("-p is required (tcp, udp, icmp or a protocol number)".into()),
        n => match n.parse::<u8>() {
            Ok(v) => v,
            Err(_) => {
                proto_by_name(n).ok_or_else(|| format!("-p `{}`: unknown protocol", p.proto))?
            }
        },
    };
    let ports = matches!(proto, 6 | 17);
    if !ports && (p.sport.is_some() || p.dport.is_some()) {
        return Err(format!(
            "--sport/--dport need -p tcp or -p udp (not `{}`)",
            p.proto
        ));
    }
    if proto != 1 && p.icmp_type.is_some() {
        return Err("--icmp-type needs -p icmp".into());
    }
    if proto != 6 && p.tcp_flags.is_some() {
        return Err("--tcp-flags needs -p tcp".into());
    }
    let icmp = match &p.icmp_type {
        None => (8, 0),
        Some(t) => {
            let (ty, lo, _) = parse_icmp_type(t).map_err(|e| format!("--icmp-type: {e}"))?;
            if ty == 255 {
                return Err("--icmp-type any: give one type".into());
            }
            (ty, lo)
        }
    };
    let tcp_flags = match &p.tcp_flags {
        None => None,
        Some(f) => Some(parse_flags(f).map_err(|e| format!("--tcp-flags: {e}"))?),
    };
    let mark = match &p.mark {
        None => 0,
        Some(m) => {
            let bad = || format!("--mark `{m}`: not a number or VALUE/MASK");
            match m.split_once('/') {
                Some((v, k)) => number(v).ok_or_else(bad)? & number(k).ok_or_else(bad)?,
                None => number(m).ok_or_else(bad)?,
            }
        }
    };
    let state = match &p.state {
        None => CtWant::New,
        Some(s) => CtWant::parse(s).ok_or_else(|| {
            format!("--state `{s}`: one of NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED")
        })?,
    };
    Ok(Parsed {
        proto,
        src: addr("-s", &p.src)?,
        dst: addr("-d", &p.dst)?,
        sport: if ports { p.sport.unwrap_or(40000) } else { 0 },
        dport: if ports { p.dport.unwrap_or(80) } else { 0 },
        icmp,
        tcp_flags,
        mark,
        state,
    })
}

/// `p` checked against `snap`: the interface named, or the one the route
/// back to the source leaves by.
pub fn resolve(snap: &Snapshot, p: &TracePacket) -> Result<Probe, String> {
    let x = parse(p)?;
    let router = &snap.net.router;
    let iif = match &p.iif {
        Some(name) => router.port_id(name).ok_or_else(|| {
            let names: Vec<&str> = snap.net.ports.iter().map(|p| p.name.as_str()).collect();
            format!(
                "-i `{name}`: no such interface (the config has {})",
                names.join(", ")
            )
        })?,
        None => trace::default_iif(snap, x.src).ok_or_else(|| {
            format!(
                "no route back to {}: give the interface it arrives on with -i",
                x.src
            )
        })?,
    };
    Ok(Probe {
        iif,
        proto: x.proto,
        src: x.src,
        dst: x.dst,
        sport: x.sport,
        dport: x.dport,
        tcp_flags: x.tcp_flags,
        icmp: x.icmp,
        mark: x.mark,
        state: x.state,
    })
}

fn proto_name(p: u8) -> String {
    proto_by_number(p).map_or_else(|| p.to_string(), str::to_string)
}

fn ep((a, port): Endpoint, proto: u8) -> String {
    if matches!(proto, 6 | 17) {
        format!("{a}:{port}")
    } else {
        a.to_string()
    }
}

/// `tcp 10.0.1.2:40000 -> 198.51.100.10:443 in r0 mark 0x0 state NEW`.
fn packet_line(router: &Router, p: &Probe) -> String {
    let (s, d) = (IpAddr::V4(p.src), IpAddr::V4(p.dst));
    let mut out = format!(
        "{} {} -> {}",
        proto_name(p.proto),
        ep((s, p.sport), p.proto),
        ep((d, p.dport), p.proto)
    );
    if p.proto == 1 {
        let _ = write!(out, " icmp-type {}/{}", p.icmp.0, p.icmp.1);
    }
    let _ = write!(
        out,
        " in {} mark {:#x} state {}",
        port_name(router, p.iif),
        p.mark,
        p.state.name()
    );
    out
}

fn hook_name(h: sluice_config::iptables::Hook) -> String {
    format!("{h:?}").to_ascii_uppercase()
}

fn line_text(l: &TraceLine) -> String {
    match l.rule {
        Some(n) if l.text.is_empty() => format!("{} #{n}  {}", l.chain, l.then),
        Some(n) if l.matched => format!("{} #{n} {}  matched -> {}", l.chain, l.text, l.then),
        Some(n) => format!("{} #{n} {}  {}", l.chain, l.text, l.then),
        None => format!("{} {}", l.chain, l.then),
    }
}

/// The policy rule that decided, as `ip rule show` prints it.
fn policy_rule(router: &Router, d: &sluice_dataplane::route::Decision) -> Option<String> {
    let (prio, line) = (d.priority?, d.line?);
    router
        .policy()
        .rules(false)
        .iter()
        .find(|r| r.priority == prio && r.line == line)
        .map(|r| format!("{prio} ({})", rule_text(router, r)))
}

fn route_result(router: &Router, r: &RouteResult, dst: Ipv4Addr) -> String {
    match *r {
        RouteResult::Local => "local: for the box (INPUT)".into(),
        RouteResult::Broadcast { .. } => "broadcast: for the box (INPUT)".into(),
        RouteResult::Forward { port, next_hop } if next_hop == IpAddr::V4(dst) => format!(
            "out {}, next hop {next_hop} (direct)",
            port_name(router, port)
        ),
        RouteResult::Forward { port, next_hop } => {
            format!("out {} via {next_hop}", port_name(router, port))
        }
        RouteResult::Unreachable => "unreachable".into(),
        RouteResult::Prohibit => "prohibit".into(),
        RouteResult::Blackhole => "blackhole".into(),
        RouteResult::NoRoute => "no route".into(),
    }
}

/// The routing step's text.
fn routing_text(router: &Router, step: &TraceStep) -> String {
    let TraceStep::Route {
        mark,
        dst,
        decision,
        dropped,
    } = step
    else {
        return String::new();
    };
    let mut s = format!("to {dst} mark {mark:#x}: ");
    match policy_rule(router, decision) {
        Some(r) => {
            let _ = write!(s, "policy rule {r}");
        }
        None => s.push_str("no policy rule found a route"),
    }
    if let Some(t) = decision.table {
        let _ = write!(s, " -> table {}", TableName(t));
    }
    let _ = write!(s, " -> {}", route_result(router, &decision.result, *dst));
    if let Some(c) = dropped {
        let _ = write!(s, "; dropped ({})", c.name());
    }
    s
}

/// What a table step's NAT did, as a line.
fn nat_text(step: &TraceStep, proto: u8, port_kept: bool) -> Option<String> {
    let TraceStep::Table { snat, dnat, .. } = step else {
        return None;
    };
    let mut parts = Vec::new();
    if let Some((a, b)) = dnat {
        parts.push(format!(
            "DNAT: destination {} becomes {}",
            ep(*a, proto),
            ep(*b, proto)
        ));
    }
    if let Some((a, b)) = snat {
        let kept = if matches!(proto, 6 | 17) && port_kept {
            " (port kept if free)"
        } else {
            ""
        };
        parts.push(format!(
            "SNAT: source {} becomes {}{kept}",
            ep(*a, proto),
            ep(*b, proto)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The last line: where the packet ends.
fn verdict_text(router: &Router, p: &Probe, t: &Trace) -> String {
    let kept = if matches!(p.proto, 6 | 17) && t.port_kept && t.src.0 != IpAddr::V4(p.src) {
        " (port kept if free)"
    } else {
        ""
    };
    match t.end {
        TraceEnd::Forwarded { oif, next_hop } => {
            let via = if next_hop == t.dst.0 {
                String::new()
            } else {
                format!(" via {next_hop}")
            };
            format!(
                "forwarded out {} to {}{via} from {}{kept}",
                port_name(router, oif),
                ep(t.dst, p.proto),
                ep(t.src, p.proto)
            )
        }
        TraceEnd::Local { dest } => format!(
            "delivered to the box{} ({} from {})",
            match dest {
                Dest::Broadcast => " (broadcast)",
                Dest::Multicast => " (multicast)",
                _ => "",
            },
            ep(t.dst, p.proto),
            ep(t.src, p.proto)
        ),
        TraceEnd::Dropped(c) => {
            let at = t.steps.iter().rev().find_map(|s| match s {
                TraceStep::Table {
                    hook,
                    table,
                    dropped: Some(_),
                    ..
                } => Some(format!("in {} {}", hook_name(*hook), table.name())),
                TraceStep::Route {
                    dropped: Some(_), ..
                } => Some("by routing".into()),
                TraceStep::Forward { .. } => Some("before FORWARD".into()),
                _ => None,
            });
            format!(
                "dropped {} ({})",
                at.unwrap_or_else(|| "on the way".into()),
                c.name()
            )
        }
    }
}

/// The text layout (see the module docs).
pub fn render(snap: &Snapshot, p: &Probe, t: &Trace) -> String {
    let router = &snap.net.router;
    let mut out = format!("packet: {}\n", packet_line(router, p));
    let col = 22;
    let block = |out: &mut String, head: &str, lines: &[String]| {
        for (k, l) in lines.iter().enumerate() {
            let h = if k == 0 { head } else { "" };
            let _ = writeln!(out, "{h:<col$} {l}");
        }
    };
    for s in &t.steps {
        match s {
            TraceStep::Table {
                hook,
                table,
                ran,
                lines,
                ..
            } => {
                let head = format!("{} {}", hook_name(*hook), table.name());
                let mut ls: Vec<String> = if *ran {
                    lines.iter().map(line_text).collect()
                } else {
                    vec!["not traversed (only a connection's first packet goes through nat)".into()]
                };
                if let Some(n) = nat_text(s, p.proto, t.port_kept) {
                    ls.push(format!("=> {n}"));
                }
                block(&mut out, &head, &ls);
            }
            TraceStep::Conntrack { hook, state, note } => {
                let head = format!("{} conntrack", hook_name(*hook));
                block(&mut out, &head, &[format!("{state} ({note})")]);
            }
            TraceStep::Route { .. } => block(&mut out, "routing", &[routing_text(router, s)]),
            TraceStep::Forward { dropped } => block(
                &mut out,
                "forward",
                &[format!("dropped ({})", dropped.name())],
            ),
        }
    }
    let _ = writeln!(out, "verdict: {}", verdict_text(router, p, t));
    out
}

/// The JSON form: the packet, every step, the verdict.
pub fn render_json(snap: &Snapshot, p: &Probe, t: &Trace) -> Value {
    let router = &snap.net.router;
    let endpoint = |e: Endpoint| json!({"addr": e.0.to_string(), "port": e.1});
    let steps: Vec<Value> = t
        .steps
        .iter()
        .map(|s| match s {
            TraceStep::Table {
                hook,
                table,
                ran,
                lines,
                snat,
                dnat,
                dropped,
            } => json!({
                "step": "table",
                "hook": hook_name(*hook),
                "table": table.name(),
                "traversed": ran,
                "rules": lines.iter().map(|l| json!({
                    "chain": l.chain,
                    "rule": l.rule,
                    "text": l.text,
                    "matched": l.matched,
                    "then": l.then,
                })).collect::<Vec<_>>(),
                "snat": snat.map(|(a, b)| json!({"from": endpoint(a), "to": endpoint(b)})),
                "dnat": dnat.map(|(a, b)| json!({"from": endpoint(a), "to": endpoint(b)})),
                "dropped": dropped.map(|c| c.name()),
            }),
            TraceStep::Conntrack { hook, state, note } => json!({
                "step": "conntrack",
                "hook": hook_name(*hook),
                "state": state,
                "note": note,
            }),
            TraceStep::Route {
                mark,
                dst,
                decision,
                dropped,
            } => json!({
                "step": "routing",
                "dst": dst.to_string(),
                "mark": mark,
                "priority": decision.priority,
                "rule": policy_rule(router, decision),
                "table": decision.table.map(|t| TableName(t).to_string()),
                "result": route_result(router, &decision.result, *dst),
                "dropped": dropped.map(|c| c.name()),
            }),
            TraceStep::Forward { dropped } => {
                json!({"step": "forward", "dropped": dropped.name()})
            }
        })
        .collect();
    let (fate, out, next_hop, reason) = match t.end {
        TraceEnd::Forwarded { oif, next_hop } => (
            "forwarded",
            Some(port_name(router, oif)),
            Some(next_hop.to_string()),
            None,
        ),
        TraceEnd::Local { .. } => ("local", None, None, None),
        TraceEnd::Dropped(c) => ("dropped", None, None, Some(c.name())),
    };
    json!({
        "packet": {
            "text": packet_line(router, p),
            "protocol": proto_name(p.proto),
            "src": endpoint((IpAddr::V4(p.src), p.sport)),
            "dst": endpoint((IpAddr::V4(p.dst), p.dport)),
            "in": port_name(router, p.iif),
            "mark": p.mark,
            "state": p.state.name(),
        },
        "steps": steps,
        "verdict": {
            "fate": fate,
            "out": out,
            "next_hop": next_hop,
            "reason": reason,
            "src": endpoint(t.src),
            "dst": endpoint(t.dst),
            "mark": t.mark,
            "port_kept": t.port_kept,
            "text": verdict_text(router, p, t),
        },
    })
}

/// Traces `packet` through `snap`: the text (or JSON, with a newline).
pub fn answer(snap: &Snapshot, packet: &TracePacket, json: bool) -> Result<String, String> {
    let probe = resolve(snap, packet)?;
    let t = trace::trace(snap, &probe);
    Ok(if json {
        let mut s = serde_json::to_string_pretty(&render_json(snap, &probe, &t))
            .expect("JSON values serialize");
        s.push('\n');
        s
    } else {
        render(snap, &probe, &t)
    })
}
