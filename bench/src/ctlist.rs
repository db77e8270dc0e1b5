//! Conntrack tables in one comparable form: the kernel's `conntrack -L`
//! and a sluice shard both become sorted lines of
//!
//! ```text
//! tcp ESTABLISHED ~432000 src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 | src=10.0.2.2 dst=10.0.2.1 sport=80 dport=40000 [ASSURED] mark=0
//! udp ~30 src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=53 | src=10.0.2.2 dst=10.0.2.1 sport=53 dport=40000 [UNREPLIED] mark=0
//! icmp ~30 src=10.0.1.2 dst=10.0.2.2 type=8 code=0 id=7 | src=10.0.2.2 dst=10.0.2.1 type=0 code=0 id=7 mark=0
//! ```
//!
//! The kernel's lines are read from `conntrack -L`; sluice's are printed
//! by its own read side and read back the same way. The protocol, the TCP
//! state name, both tuples, `[UNREPLIED]` (no
//! SEEN_REPLY) and `[ASSURED]`, the mark and a non-zero zone are compared
//! as they are; the time left is compared by its *timeout class*
//! ([`timeout_class`]): the smallest of the kernel's default timeouts that
//! is at least the seconds left, so that the two clocks (the kernel's real
//! one, sluice's simulated one) need not agree to the second.

use std::time::Instant;

use sluice_dataplane::conntrack::{self, status, Shard};

/// The default timeouts (s) of every protocol and TCP state, in order.
const CLASSES: [u64; 7] = [10, 30, 60, 120, 300, 600, 432_000];

/// The class of `secs` seconds left: the smallest default timeout that is
/// at least `secs` (`secs` itself past the largest).
pub fn timeout_class(secs: u64) -> u64 {
    CLASSES.iter().copied().find(|&c| c >= secs).unwrap_or(secs)
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        n => format!("proto{n}"),
    }
}

/// The lines of `conntrack -L` output `text`, in the form of the module
/// docs, sorted. Lines it cannot read are kept whole, prefixed `?`.
pub fn from_conntrack_l(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_line(l).unwrap_or_else(|| format!("? {l}")))
        .collect();
    out.sort();
    out
}

fn parse_line(line: &str) -> Option<String> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let num: u8 = toks.get(1)?.parse().ok()?;
    let secs: u64 = toks.get(2)?.parse().ok()?;
    let mut rest = &toks[3..];
    let mut state = None;
    if num == 6 {
        state = Some(*rest.first()?);
        rest = &rest[1..];
    }
    let mut tuples: Vec<Vec<String>> = Vec::new();
    let (mut unreplied, mut assured) = (false, false);
    let (mut mark, mut zone) = ("0".to_string(), None);
    for t in rest {
        match *t {
            "[UNREPLIED]" => unreplied = true,
            "[ASSURED]" => assured = true,
            _ => {
                let (k, v) = t.split_once('=')?;
                match k {
                    "src" => tuples.push(vec![t.to_string()]),
                    "dst" | "sport" | "dport" | "type" | "code" | "id" => {
                        tuples.last_mut()?.push(t.to_string())
                    }
                    "mark" => mark = v.to_string(),
                    "zone" => zone = Some(v.to_string()),
                    _ => {}
                }
            }
        }
    }
    if tuples.len() != 2 {
        return None;
    }
    Some(line_of(
        num,
        state,
        secs,
        &tuples[0].join(" "),
        &tuples[1].join(" "),
        unreplied,
        assured,
        &mark,
        zone.as_deref(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn line_of(
    proto: u8,
    state: Option<&str>,
    secs: u64,
    orig: &str,
    reply: &str,
    unreplied: bool,
    assured: bool,
    mark: &str,
    zone: Option<&str>,
) -> String {
    let mut s = proto_name(proto);
    if let Some(st) = state {
        s.push(' ');
        s.push_str(st);
    }
    s.push_str(&format!(" ~{} {orig} | {reply}", timeout_class(secs)));
    if unreplied {
        s.push_str(" [UNREPLIED]");
    }
    if assured {
        s.push_str(" [ASSURED]");
    }
    s.push_str(&format!(" mark={mark}"));
    if let Some(z) = zone {
        s.push_str(&format!(" zone={z}"));
    }
    s
}

/// The confirmed, unexpired entries of `shard` at `now`, printed as
/// `conntrack -L` lines by sluice's own read side
/// ([`conntrack::view::EntryView`]) and read back as above: so sluice's
/// listing format is checked too.
pub fn from_shard(shard: &Shard, now: Instant) -> Vec<String> {
    let clock = shard.clock(now);
    let text: String = shard
        .iter()
        .filter(|(_, e)| {
            e.status & status::CONFIRMED != 0 && !e.expired(sluice_dataplane::conntrack::ms(clock))
        })
        .filter_map(|(slot, _)| conntrack::view::EntryView::new(shard, slot, clock))
        .map(|v| format!("{v}\n"))
        .collect();
    from_conntrack_l(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conntrack_l() {
        let text = "\
tcp      6 431999 ESTABLISHED src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 src=10.0.2.2 dst=10.0.2.1 sport=80 dport=40000 [ASSURED] mark=0 use=1
udp      17 28 src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=53 [UNREPLIED] src=10.0.2.2 dst=10.0.2.1 sport=53 dport=40000 mark=3 zone=2 use=1
icmp     1 29 src=10.0.1.2 dst=10.0.2.2 type=8 code=0 id=7 src=10.0.2.2 dst=10.0.2.1 type=0 code=0 id=7 mark=0 use=1
";
        assert_eq!(
            from_conntrack_l(text),
            vec![
                "icmp ~30 src=10.0.1.2 dst=10.0.2.2 type=8 code=0 id=7 | \
                 src=10.0.2.2 dst=10.0.2.1 type=0 code=0 id=7 mark=0",
                "tcp ESTABLISHED ~432000 src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=80 | \
                 src=10.0.2.2 dst=10.0.2.1 sport=80 dport=40000 [ASSURED] mark=0",
                "udp ~30 src=10.0.1.2 dst=10.0.2.2 sport=40000 dport=53 | \
                 src=10.0.2.2 dst=10.0.2.1 sport=53 dport=40000 [UNREPLIED] mark=3 zone=2",
            ]
        );
        assert_eq!(timeout_class(119), 120);
        assert_eq!(timeout_class(0), 10);
        assert_eq!(timeout_class(500_000), 500_000);
    }
}
