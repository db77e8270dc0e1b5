//! `sluice conntrack list|count`: the workers' conntrack shards as
//! `conntrack -L` / `conntrack -C` (conntrack-tools 1.4.7) show the
//! kernel's table, with its filters.
//!
//! The daemon asks every worker's [`Channel`] for
//! `Request::List(query.worker_filter())` (or `Request::Count`), collects
//! one answer per worker, and calls [`conntrack_list`] /
//! [`conntrack_count`]. The workers apply the whole query themselves
//! ([`Filter`]), so `delete` (`Request::Delete`) takes every option
//! `list` does; [`CtQuery::matches`] is the same test on listed entries.
//!
//! Lines are [`EntryView`]'s `Display` (the kernel's format, checked
//! against `conntrack -L` in bench/tests). Differences: entries come
//! worker by worker, each shard in its slot order (the kernel lists by
//! hash bucket; neither order means anything); a value conntrack-tools
//! reads with `atoi` and accepts whatever it is (`--sport x`, `--mark
//! 1/x`) is refused here with a one-line error.
//!
//! [`Channel`]: sluice_dataplane::conntrack::view::Channel

use std::net::IpAddr;

use serde_json::json;
use sluice_dataplane::conntrack::status;
use sluice_dataplane::conntrack::view::{Counts, EntryView, Filter};

use super::ViewError;

/// The TCP states `--state` takes, as conntrack-tools names them
/// (`LISTEN` is the kernel's SYN_SENT2 slot).
const TCP_STATES: [&str; 10] = [
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "LISTEN",
];

/// The protocols `-p` takes by name (conntrack-tools' protocol modules).
const PROTOS: [(&str, u8); 8] = [
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("icmp", 1),
    ("icmpv6", 58),
    ("sctp", 132),
    ("dccp", 33),
    ("gre", 47),
];

/// A `conntrack -L` / `-D` selection: the workers' [`Filter`], read from
/// conntrack's options ([`CtQuery::parse`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtQuery(pub Filter);

impl std::ops::Deref for CtQuery {
    type Target = Filter;
    fn deref(&self) -> &Filter {
        &self.0
    }
}

impl std::ops::DerefMut for CtQuery {
    fn deref_mut(&mut self) -> &mut Filter {
        &mut self.0
    }
}

fn err(m: impl Into<String>) -> ViewError {
    ViewError::Conntrack(m.into())
}

fn number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

impl CtQuery {
    /// Parses the filter options of `conntrack -L` (what follows `-L`), with
    /// conntrack-tools' messages: `--sport`, `--dport` and `--state` are
    /// options of the protocol given with `-p` before them ("unknown
    /// option" otherwise, as conntrack says).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<CtQuery, ViewError> {
        let mut q = CtQuery::default();
        let mut it = args.iter().map(AsRef::as_ref);
        while let Some(opt) = it.next() {
            let mut val = |name: &str| {
                it.next()
                    .ok_or_else(|| err(format!("option `{name}' requires an argument")))
            };
            match opt {
                "-f" | "--family" => {
                    q.family = Some(match val(opt)? {
                        "ipv4" => 4,
                        "ipv6" => 6,
                        v => return Err(err(format!("`{v}' unsupported protocol"))),
                    })
                }
                "-p" | "--proto" | "--protonum" => {
                    let v = val(opt)?;
                    let p = PROTOS
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(v))
                        .map(|(_, p)| *p)
                        .or_else(|| v.parse::<u8>().ok())
                        .ok_or_else(|| err(format!("`{v}' unsupported protocol")))?;
                    q.proto = Some(p);
                }
                "-s" | "--src" | "--orig-src" => q.orig_src = Some(addr(val(opt)?)?),
                "-d" | "--dst" | "--orig-dst" => q.orig_dst = Some(addr(val(opt)?)?),
                "-r" | "--reply-src" => q.reply_src = Some(addr(val(opt)?)?),
                "-q" | "--reply-dst" => q.reply_dst = Some(addr(val(opt)?)?),
                "--sport" | "--orig-port-src" | "--dport" | "--orig-port-dst" => {
                    if !matches!(q.proto, Some(6 | 17 | 136 | 132 | 33)) {
                        return Err(err(format!("unknown option `{opt}'")));
                    }
                    let v = val(opt)?;
                    let p = number(v)
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or_else(|| err(format!("invalid port `{v}'")))?;
                    if opt.contains("src") || opt == "--sport" {
                        q.sport = Some(p);
                    } else {
                        q.dport = Some(p);
                    }
                }
                "--state" => {
                    if q.proto != Some(6) {
                        return Err(err(format!("unknown option `{opt}'")));
                    }
                    let v = val(opt)?;
                    let s = TCP_STATES
                        .iter()
                        .find(|s| **s == v)
                        .ok_or_else(|| err(format!("unknown TCP state `{v}'")))?;
                    q.state = Some(s);
                }
                "-m" | "--mark" => {
                    let v = val(opt)?;
                    let (m, mask) = match v.split_once('/') {
                        Some((m, k)) => (m, Some(k)),
                        None => (v, None),
                    };
                    let bad = || err(format!("invalid mark `{v}'"));
                    let m = number(m)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(bad)?;
                    let mask = match mask {
                        Some(k) => number(k)
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(bad)?,
                        None => u32::MAX,
                    };
                    q.mark = Some((m, mask));
                }
                "-w" | "--zone" => {
                    let v = val(opt)?;
                    q.zone = Some(
                        number(v)
                            .and_then(|n| u16::try_from(n).ok())
                            .ok_or_else(|| err(format!("invalid zone `{v}'")))?,
                    );
                }
                "-u" | "--status" => {
                    let v = val(opt)?;
                    let mut bits = 0;
                    for w in v.split(',') {
                        bits |= match w {
                            "EXPECTED" => status::EXPECTED,
                            "SEEN_REPLY" => status::SEEN_REPLY,
                            "ASSURED" => status::ASSURED,
                            "CONFIRMED" => status::CONFIRMED,
                            "SNAT" => status::SRC_NAT,
                            "DNAT" => status::DST_NAT,
                            "FIXED_TIMEOUT" => status::FIXED_TIMEOUT,
                            "UNSET" => 0,
                            _ => return Err(err(format!("Bad parameter `{w}'"))),
                        };
                    }
                    q.status = Some(bits);
                }
                _ => return Err(err(format!("unknown option `{opt}'"))),
            }
        }
        Ok(q)
    }

    /// The query as the workers apply it (all of it).
    pub fn worker_filter(&self) -> Filter {
        self.0.clone()
    }

    /// Whether `e` is selected (the whole query).
    pub fn matches(&self, e: &EntryView) -> bool {
        self.0.matches_view(e)
    }
}

/// An address as conntrack reads one (`inet_pton`, IPv4 then IPv6).
fn addr(s: &str) -> Result<IpAddr, ViewError> {
    s.parse()
        .map_err(|_| err(format!("Invalid IP address `{s}'")))
}

/// What `conntrack -L` prints on stdout for the workers' answers (one
/// list per worker), filtered by `q`, and how many entries that is (the
/// count conntrack reports on stderr: [`shown_line`]).
pub fn conntrack_list(workers: &[Vec<EntryView>], q: &CtQuery) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    for e in workers.iter().flatten().filter(|e| q.matches(e)) {
        out.push_str(&e.to_string());
        out.push('\n');
        n += 1;
    }
    (out, n)
}

/// conntrack's stderr line after a listing.
pub fn shown_line(n: usize) -> String {
    format!("conntrack v1.4.7 (conntrack-tools): {n} flow entries have been shown.")
}

/// The workers' counts summed (`conntrack -C` prints `total`).
pub fn conntrack_count(workers: &[Counts]) -> Counts {
    let mut c = Counts::default();
    for w in workers {
        c.total += w.total;
        c.assured += w.assured;
        c.unreplied += w.unreplied;
        c.udp += w.udp;
        c.icmp += w.icmp;
        c.other += w.other;
        for (name, k) in &w.tcp {
            match c.tcp.iter_mut().find(|(n, _)| n == name) {
                Some((_, t)) => *t += k,
                None => c.tcp.push((name, *k)),
            }
        }
    }
    c
}

/// One entry as JSON.
pub fn entry_json(e: &EntryView) -> serde_json::Value {
    let tuple = |t: &sluice_dataplane::conntrack::Tuple| {
        json!({
            "src": t.src_ip().to_string(),
            "dst": t.dst_ip().to_string(),
            "sport": t.sport,
            "dport": t.dport,
        })
    };
    json!({
        "family": e.orig.family,
        "proto": e.orig.proto,
        "timeout": e.timeout,
        "state": e.state,
        "orig": tuple(&e.orig),
        "reply": tuple(&e.reply),
        "status": e.status,
        "assured": e.status & status::ASSURED != 0,
        "unreplied": e.status & status::SEEN_REPLY == 0,
        "mark": e.mark,
        "zone": e.orig.zone,
        "packets": e.acct.map(|a| a.packets),
        "bytes": e.acct.map(|a| a.bytes),
    })
}

/// `conntrack list --json`: the selected entries.
pub fn conntrack_list_json(workers: &[Vec<EntryView>], q: &CtQuery) -> serde_json::Value {
    serde_json::Value::Array(
        workers
            .iter()
            .flatten()
            .filter(|e| q.matches(e))
            .map(entry_json)
            .collect(),
    )
}

/// `conntrack count --json`: the summed counts, TCP by state.
pub fn conntrack_count_json(c: &Counts, max: Option<usize>) -> serde_json::Value {
    json!({
        "total": c.total,
        "max": max,
        "assured": c.assured,
        "unreplied": c.unreplied,
        "tcp": c.tcp.iter().map(|(n, k)| (n.to_string(), json!(k))).collect::<serde_json::Map<_, _>>(),
        "udp": c.udp,
        "icmp": c.icmp,
        "other": c.other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::conntrack::tuple::addr as ct_addr;
    use sluice_dataplane::conntrack::Tuple;
    use std::net::Ipv4Addr;

    fn entry(
        src: [u8; 4],
        sport: u16,
        dport: u16,
        state: Option<&'static str>,
        mark: u32,
    ) -> EntryView {
        let t = |s: [u8; 4], d: [u8; 4], sp, dp| Tuple {
            src: ct_addr(IpAddr::V4(Ipv4Addr::from(s))),
            dst: ct_addr(IpAddr::V4(Ipv4Addr::from(d))),
            sport: sp,
            dport: dp,
            proto: if state.is_some() { 6 } else { 17 },
            family: 4,
            zone: 0,
        };
        EntryView {
            orig: t(src, [198, 51, 100, 10], sport, dport),
            reply: t([198, 51, 100, 10], src, dport, sport),
            timeout: 100,
            state,
            status: status::CONFIRMED | status::SEEN_REPLY | status::ASSURED,
            mark,
            acct: None,
        }
    }

    #[test]
    fn parse_errors_are_conntracks() {
        let e = |a: &[&str]| CtQuery::parse(a).unwrap_err().to_string();
        let pre = "conntrack v1.4.7 (conntrack-tools): ";
        assert_eq!(
            e(&["--sport", "22"]),
            format!("{pre}unknown option `--sport'")
        );
        assert_eq!(
            e(&["-p", "icmp", "--sport", "5"]),
            format!("{pre}unknown option `--sport'")
        );
        assert_eq!(
            e(&["--state", "ESTABLISHED"]),
            format!("{pre}unknown option `--state'")
        );
        assert_eq!(
            e(&["-p", "udp", "--state", "ESTABLISHED"]),
            format!("{pre}unknown option `--state'")
        );
        assert_eq!(
            e(&["-p", "tcp", "--state", "established"]),
            format!("{pre}unknown TCP state `established'")
        );
        assert_eq!(
            e(&["-p", "foo"]),
            format!("{pre}`foo' unsupported protocol")
        );
        assert_eq!(e(&["-s", "foo"]), format!("{pre}Invalid IP address `foo'"));
        assert_eq!(e(&["--bogus"]), format!("{pre}unknown option `--bogus'"));
        assert_eq!(
            e(&["-p", "tcp", "--dport", "70000"]),
            format!("{pre}invalid port `70000'")
        );
    }

    #[test]
    fn filters_select_as_conntrack() {
        let w0 = vec![
            entry([10, 0, 1, 2], 40000, 443, Some("ESTABLISHED"), 0),
            entry([10, 0, 1, 3], 40001, 80, Some("TIME_WAIT"), 0x101),
        ];
        let w1 = vec![entry([10, 0, 1, 2], 5353, 53, None, 1)];
        let workers = vec![w0, w1];
        let q = |a: &[&str]| CtQuery::parse(a).unwrap();
        let n = |a: &[&str]| conntrack_list(&workers, &q(a)).1;
        assert_eq!(n(&[]), 3);
        assert_eq!(n(&["-p", "tcp"]), 2);
        assert_eq!(n(&["-p", "udp", "--dport", "53"]), 1);
        assert_eq!(n(&["-s", "10.0.1.2"]), 2);
        assert_eq!(
            n(&["-d", "198.51.100.10", "-p", "tcp", "--sport", "40001"]),
            1
        );
        assert_eq!(n(&["-r", "198.51.100.10", "-q", "10.0.1.3"]), 1);
        assert_eq!(n(&["-p", "tcp", "--state", "ESTABLISHED"]), 1);
        assert_eq!(n(&["--mark", "1"]), 1);
        assert_eq!(n(&["--mark", "1/0xff"]), 2);
        assert_eq!(n(&["-u", "ASSURED"]), 3);
        assert_eq!(n(&["-f", "ipv6"]), 0);
        let (text, k) = conntrack_list(&workers, &q(&["-p", "tcp", "--dport", "443"]));
        assert_eq!(k, 1);
        assert_eq!(
            text,
            "tcp      6 100 ESTABLISHED src=10.0.1.2 dst=198.51.100.10 sport=40000 dport=443 src=198.51.100.10 dst=10.0.1.2 sport=443 dport=40000 [ASSURED] mark=0 use=1\n"
        );
        assert_eq!(
            shown_line(1),
            "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown."
        );
        // The workers get the whole query (a delete selects as a list).
        let f = q(&["-p", "tcp", "-s", "10.0.1.2", "--mark", "5", "--dport", "1"]).worker_filter();
        assert_eq!(f.proto, Some(6));
        assert_eq!(f.mark, Some((5, u32::MAX)));
        assert_eq!(f.dport, Some(1));
        assert_eq!(q(&["--mark", "5/0xf"]).worker_filter().mark, Some((5, 0xf)));
        let j = conntrack_list_json(&workers, &q(&["-p", "udp"]));
        assert_eq!(j[0]["orig"]["dport"], 53);
    }

    #[test]
    fn counts_sum_over_workers() {
        let a = Counts {
            total: 3,
            assured: 1,
            unreplied: 1,
            tcp: vec![("ESTABLISHED", 2)],
            udp: 1,
            icmp: 0,
            other: 0,
        };
        let b = Counts {
            total: 2,
            tcp: vec![("ESTABLISHED", 1), ("TIME_WAIT", 1)],
            ..Counts::default()
        };
        let c = conntrack_count(&[a, b]);
        assert_eq!(c.total, 5);
        assert_eq!(c.tcp, vec![("ESTABLISHED", 3), ("TIME_WAIT", 1)]);
        assert_eq!(
            conntrack_count_json(&c, Some(65536))["tcp"]["ESTABLISHED"],
            3
        );
    }
}
