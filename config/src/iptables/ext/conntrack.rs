//! `-m conntrack`: the connection-tracking entry of the packet (libxt_conntrack,
//! revision 3 as iptables 1.8.9 uses it on current kernels; kernel
//! xt_conntrack.c `conntrack_mt` with `conntrack_mt_v3`).
//!
//! Kernel semantics, in the order the kernel tests them:
//! - `--ctstate`: the packet's state bit (one of INVALID, NEW, ESTABLISHED,
//!   RELATED, UNTRACKED) plus SNAT / DNAT when the entry has the source /
//!   destination NAT status bit; matches when any bit of the set is present
//!   (`!` inverts).
//! - Without a conntrack entry (INVALID or UNTRACKED packets) the match is
//!   true only when `--ctstate` was given (and matched); every other option
//!   then fails the match.
//! - `--ctdir`, `--ctproto`, the tuple addresses (`(tuple ^ addr) & mask ==
//!   0`), the tuple ports (`lo <= port <= hi`, with `lo > hi` matching
//!   nothing), `--ctstatus` (any bit of the set present; NONE is the empty
//!   set, which never matches unless inverted) and `--ctexpire` (seconds left
//!   within `min..=max`). Each may be inverted except `--ctdir`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::addr6::{ntop6, parse_hostmask6};
use super::parse::{
    inet_aton, mask_len, parse_protocol, port_range_opt, save_addr_mask, save_range, strtoui,
    uint_range_opt,
};
use super::{once, save_invert, Cx, Extension, Opt};
use crate::iptables::model::{Family, Rule};

// ---------------------------------------------------------------------------
// States and statuses.

/// A set of conntrack state bits, as the kernel numbers them
/// (`XT_CONNTRACK_STATE_*` in xt_conntrack.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CtStates(pub u16);

impl CtStates {
    /// No valid conntrack entry could be made for the packet.
    pub const INVALID: CtStates = CtStates(1 << 0);
    /// Part of a connection that has seen packets both ways.
    pub const ESTABLISHED: CtStates = CtStates(1 << 1);
    /// Starts a connection expected from another one (helper, ICMP error).
    pub const RELATED: CtStates = CtStates(1 << 2);
    /// Starts a new connection.
    pub const NEW: CtStates = CtStates(1 << 3);
    /// Marked not to be tracked (`-j NOTRACK` / `-j CT --notrack`).
    pub const UNTRACKED: CtStates = CtStates(1 << 6);
    /// The connection's source is NATed (status bit SRC_NAT).
    pub const SNAT: CtStates = CtStates(1 << 7);
    /// The connection's destination is NATed (status bit DST_NAT).
    pub const DNAT: CtStates = CtStates(1 << 8);

    /// Names in the order iptables prints them.
    pub const NAMES: [(&'static str, CtStates); 7] = [
        ("INVALID", CtStates::INVALID),
        ("NEW", CtStates::NEW),
        ("RELATED", CtStates::RELATED),
        ("ESTABLISHED", CtStates::ESTABLISHED),
        ("UNTRACKED", CtStates::UNTRACKED),
        ("SNAT", CtStates::SNAT),
        ("DNAT", CtStates::DNAT),
    ];

    pub fn contains(self, other: CtStates) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn intersects(self, other: CtStates) -> bool {
        self.0 & other.0 != 0
    }
}

/// A set of conntrack status bits (`IPS_*` in nf_conntrack_common.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CtStatus(pub u32);

impl CtStatus {
    /// The connection was created by an expectation (it is RELATED).
    pub const EXPECTED: CtStatus = CtStatus(1 << 0);
    /// A reply has been seen.
    pub const SEEN_REPLY: CtStatus = CtStatus(1 << 1);
    /// The connection is assured (not dropped early under pressure).
    pub const ASSURED: CtStatus = CtStatus(1 << 2);
    /// The entry is in the table (its first packet has left).
    pub const CONFIRMED: CtStatus = CtStatus(1 << 3);

    /// Names in the order iptables prints them.
    pub const NAMES: [(&'static str, CtStatus); 4] = [
        ("EXPECTED", CtStatus::EXPECTED),
        ("SEEN_REPLY", CtStatus::SEEN_REPLY),
        ("ASSURED", CtStatus::ASSURED),
        ("CONFIRMED", CtStatus::CONFIRMED),
    ];
}

/// Whether `word` (non-empty) is a case-insensitive prefix of `name`, as
/// `strncasecmp(word, name, strlen(word)) == 0` decides.
fn abbrev_of(word: &str, name: &str) -> bool {
    !word.is_empty()
        && name
            .as_bytes()
            .get(..word.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(word.as_bytes()))
}

/// A comma list of names as libxt_conntrack reads `--ctstate`/`--ctstatus`
/// (each item any abbreviation; the first name it abbreviates wins).
/// `bad` formats the error for the rest of the list from the failing item.
fn parse_name_list<T: Copy>(
    arg: &str,
    names: &[(&str, T)],
    mut add: impl FnMut(T),
    bad: impl Fn(&str) -> String,
) -> Result<(), String> {
    let mut rest = arg;
    loop {
        let (item, next) = match rest.split_once(',') {
            Some((i, n)) => (i, Some(n)),
            None => (rest, None),
        };
        match names.iter().find(|(n, _)| abbrev_of(item, n)) {
            Some((_, v)) => add(*v),
            None => return Err(bad(rest)),
        }
        match next {
            Some(n) => rest = n,
            None => return Ok(()),
        }
    }
}

/// `--ctstate` list (with SNAT and DNAT) as conntrack revision 3 reads it.
pub fn parse_ctstates(arg: &str) -> Result<CtStates, String> {
    let mut s = CtStates::default();
    parse_name_list(
        arg,
        &CtStates::NAMES,
        |v| s.0 |= v.0,
        |r| format!("Bad ctstate \"{r}\""),
    )?;
    Ok(s)
}

/// `--state` list of the `state` match: no SNAT/DNAT, and an empty last
/// item gets iptables' "no spaces" hint.
pub fn parse_states(arg: &str) -> Result<CtStates, String> {
    let names = &CtStates::NAMES[..5];
    let mut s = CtStates::default();
    let mut rest = arg;
    loop {
        match rest.split_once(',') {
            Some((item, next)) => {
                match names.iter().find(|(n, _)| abbrev_of(item, n)) {
                    Some((_, v)) => s.0 |= v.0,
                    None => return Err(format!("Bad state \"{rest}\"")),
                }
                rest = next;
            }
            None if rest.is_empty() => {
                return Err(
                    "\"--state\" requires a list of states with no spaces, e.g. \
                            ESTABLISHED,RELATED"
                        .into(),
                )
            }
            None => {
                return match names.iter().find(|(n, _)| abbrev_of(rest, n)) {
                    Some((_, v)) => Ok(CtStates(s.0 | v.0)),
                    None => Err(format!("Bad state \"{rest}\"")),
                }
            }
        }
    }
}

/// Prints a state list as iptables does (` NAME,NAME`).
pub fn save_states(out: &mut String, s: CtStates) {
    let mut sep = ' ';
    for (name, bit) in CtStates::NAMES {
        if s.intersects(bit) {
            out.push(sep);
            out.push_str(name);
            sep = ',';
        }
    }
}

// ---------------------------------------------------------------------------
// The match.

/// `--ctstate` / `--state`: the set and its inversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtStateMatch {
    pub states: CtStates,
    pub invert: bool,
}

impl CtStateMatch {
    /// Whether a packet with these state bits (state plus SNAT/DNAT) matches.
    pub fn matches(&self, packet: CtStates) -> bool {
        self.states.intersects(packet) != self.invert
    }
}

/// `--ctproto`: the layer-4 protocol of the connection (0 matches nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtProto {
    pub proto: u8,
    pub invert: bool,
}

/// `--ctorigsrc` and friends: a tuple address under a mask. The address is
/// kept as written (not masked), as iptables keeps and prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtAddr {
    pub addr: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub invert: bool,
}

impl CtAddr {
    /// Whether a tuple address matches (after `!`).
    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        ((u32::from(ip) ^ u32::from(self.addr)) & u32::from(self.mask) == 0) != self.invert
    }
}

/// `--ctorigsrc` and friends of an ip6tables rule: the address as written
/// and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtAddr6 {
    pub addr: Ipv6Addr,
    pub len: u8,
    pub invert: bool,
}

impl CtAddr6 {
    /// Whether a tuple address matches (after `!`).
    pub fn matches(&self, ip: Ipv6Addr) -> bool {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0);
        ((u128::from(ip) ^ u128::from(self.addr)) & mask == 0) != self.invert
    }
}

/// `--ctorigsrcport` and friends: a tuple port within `lo..=hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtPortRange {
    pub lo: u16,
    /// May be below `lo` (iptables 1.8.9 accepts `4:3`); nothing matches then.
    pub hi: u16,
    pub invert: bool,
}

impl CtPortRange {
    pub fn matches(&self, port: u16) -> bool {
        (self.lo <= port && port <= self.hi) != self.invert
    }
}

/// `--ctstatus`: the status bits, any of which must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtStatusMatch {
    /// The empty set is `NONE`.
    pub status: CtStatus,
    pub invert: bool,
}

/// `--ctexpire MIN[:MAX]`: seconds the entry has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtExpire {
    pub min: u32,
    /// May be below `min` (iptables 1.8.9 accepts `4:3`); nothing matches then.
    pub max: u32,
    pub invert: bool,
}

impl CtExpire {
    /// Whether an entry with `secs` seconds left matches (after `!`).
    pub fn matches(&self, secs: u32) -> bool {
        (self.min <= secs && secs <= self.max) != self.invert
    }
}

/// `--ctdir`: which direction the packet travels in its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtDir {
    Original,
    Reply,
}

/// The options of `-m conntrack` (each at most once, at least one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conntrack {
    pub state: Option<CtStateMatch>,
    pub proto: Option<CtProto>,
    pub orig_src: Option<CtAddr>,
    pub orig_dst: Option<CtAddr>,
    pub repl_src: Option<CtAddr>,
    pub repl_dst: Option<CtAddr>,
    /// The same four of an ip6tables rule: origsrc, origdst, replsrc,
    /// repldst.
    pub addrs6: [Option<CtAddr6>; 4],
    pub orig_src_port: Option<CtPortRange>,
    pub orig_dst_port: Option<CtPortRange>,
    pub repl_src_port: Option<CtPortRange>,
    pub repl_dst_port: Option<CtPortRange>,
    pub status: Option<CtStatusMatch>,
    pub expire: Option<CtExpire>,
    pub direction: Option<CtDir>,
}

/// The tuple address options, in the order of [`Conntrack::addrs6`].
const ADDR_OPTS: [&str; 4] = ["ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"];

/// XTTYPE_HOSTMASK: `HOST[/MASK]`, MASK a prefix length 0..=32 or a dotted
/// mask (a non-contiguous one becomes /32, as libxtables 1.8.9 does).
fn parse_hostmask(arg: &str, opt: &str) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let (host, mask) = match arg.split_once('/') {
        Some((h, m)) => (h, Some(m)),
        None => (arg, None),
    };
    let Some(addr) = inet_aton(host) else {
        return Err(format!(
            "host `{host}' not found: sluice takes numeric IPv4 addresses only \
             (getaddrinfo: Name or service not known)"
        ));
    };
    let mask = match mask {
        None => u32::MAX,
        Some(m) => {
            let len = match strtoui(m, 0, 32) {
                Some(n) => n as u32,
                None => match inet_aton(m) {
                    Some(dotted) => mask_len(u32::from(dotted)).unwrap_or(32),
                    None => {
                        return Err(format!(
                            "bad value for option \"--{opt}\", neither a valid network mask \
                             nor valid CIDR (0-32)."
                        ))
                    }
                },
            };
            u32::MAX.checked_shl(32 - len).unwrap_or(0)
        }
    };
    Ok((addr, Ipv4Addr::from(mask)))
}

impl Extension for Conntrack {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("ctstate", 1),
        Opt::new("ctproto", 1),
        Opt::new("ctorigsrc", 1),
        Opt::new("ctorigdst", 1),
        Opt::new("ctreplsrc", 1),
        Opt::new("ctrepldst", 1),
        Opt::new("ctstatus", 1),
        Opt::new("ctexpire", 1),
        Opt::new("ctorigsrcport", 1),
        Opt::new("ctorigdstport", 1),
        Opt::new("ctreplsrcport", 1),
        Opt::new("ctrepldstport", 1),
        Opt::new("ctdir", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        let arg = args[0].as_str();
        match id {
            "ctstate" => {
                once(&self.state, id)?;
                let states = parse_ctstates(arg)?;
                self.state = Some(CtStateMatch { states, invert });
            }
            "ctproto" => {
                once(&self.proto, id)?;
                let proto = parse_protocol(arg)?;
                self.proto = Some(CtProto { proto, invert });
            }
            "ctorigsrc" | "ctorigdst" | "ctreplsrc" | "ctrepldst" => {
                let slot = match id {
                    "ctorigsrc" => &mut self.orig_src,
                    "ctorigdst" => &mut self.orig_dst,
                    "ctreplsrc" => &mut self.repl_src,
                    _ => &mut self.repl_dst,
                };
                once(slot, id)?;
                if cx.family == Family::Ipv6 {
                    let i = ADDR_OPTS.iter().position(|o| *o == id).unwrap_or(0);
                    once(&self.addrs6[i], id)?;
                    let (addr, len) = parse_hostmask6(arg, id)?;
                    self.addrs6[i] = Some(CtAddr6 { addr, len, invert });
                    return Ok(());
                }
                let (addr, mask) = parse_hostmask(arg, id)?;
                *slot = Some(CtAddr { addr, mask, invert });
            }
            "ctorigsrcport" | "ctorigdstport" | "ctreplsrcport" | "ctrepldstport" => {
                let slot = match id {
                    "ctorigsrcport" => &mut self.orig_src_port,
                    "ctorigdstport" => &mut self.orig_dst_port,
                    "ctreplsrcport" => &mut self.repl_src_port,
                    _ => &mut self.repl_dst_port,
                };
                once(slot, id)?;
                let (lo, hi) = port_range_opt(arg, id)?;
                *slot = Some(CtPortRange { lo, hi, invert });
            }
            "ctstatus" => {
                once(&self.status, id)?;
                let mut status = CtStatus::default();
                let names = [("NONE", CtStatus(0))]
                    .into_iter()
                    .chain(CtStatus::NAMES)
                    .collect::<Vec<_>>();
                parse_name_list(
                    arg,
                    &names,
                    |v| status.0 |= v.0,
                    |r| format!("Bad ctstatus \"{r}\""),
                )?;
                self.status = Some(CtStatusMatch { status, invert });
            }
            "ctexpire" => {
                once(&self.expire, id)?;
                let (min, max) = uint_range_opt(arg, id, u32::MAX.into())?;
                self.expire = Some(CtExpire {
                    min: min as u32,
                    max: max as u32,
                    invert,
                });
            }
            "ctdir" => {
                once(&self.direction, id)?;
                if invert {
                    return Err("option \"--ctdir\" cannot be inverted.".into());
                }
                self.direction = Some(if arg.eq_ignore_ascii_case("ORIGINAL") {
                    CtDir::Original
                } else if arg.eq_ignore_ascii_case("REPLY") {
                    CtDir::Reply
                } else {
                    return Err(format!("Bad value for \"--ctdir\" option: \"{arg}\""));
                });
            }
            _ => return Err(format!("unknown option \"--{id}\"")),
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        if *self == Conntrack::default() {
            return Err("At least one option is required".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(s) = self.state {
            save_invert(out, s.invert);
            out.push_str(" --ctstate");
            save_states(out, s.states);
        }
        if let Some(p) = self.proto {
            save_invert(out, p.invert);
            let _ = write!(out, " --ctproto {}", p.proto);
        }
        for (i, (name, a)) in [
            ("ctorigsrc", &self.orig_src),
            ("ctorigdst", &self.orig_dst),
            ("ctreplsrc", &self.repl_src),
            ("ctrepldst", &self.repl_dst),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(a) = a {
                save_invert(out, a.invert);
                let _ = write!(out, " --{name}");
                save_addr_mask(out, a.addr, a.mask);
            }
            if let Some(a) = self.addrs6[i] {
                // As libxt_conntrack prints it: no suffix for /128.
                save_invert(out, a.invert);
                let _ = write!(out, " --{name} {}", ntop6(a.addr));
                if a.len != 128 {
                    let _ = write!(out, "/{}", a.len);
                }
            }
        }
        for (name, p) in [
            ("ctorigsrcport", &self.orig_src_port),
            ("ctorigdstport", &self.orig_dst_port),
            ("ctreplsrcport", &self.repl_src_port),
            ("ctrepldstport", &self.repl_dst_port),
        ] {
            if let Some(p) = p {
                save_invert(out, p.invert);
                let _ = write!(out, " --{name} ");
                // conntrack_dump_ports: a high end of 0 prints as one port.
                save_range(out, p.lo, if p.hi == 0 { p.lo } else { p.hi });
            }
        }
        if let Some(s) = self.status {
            save_invert(out, s.invert);
            out.push_str(" --ctstatus");
            let mut sep = ' ';
            for (name, bit) in CtStatus::NAMES {
                if s.status.0 & bit.0 != 0 {
                    out.push(sep);
                    out.push_str(name);
                    sep = ',';
                }
            }
            if s.status.0 == 0 {
                out.push_str(" NONE");
            }
        }
        if let Some(e) = self.expire {
            save_invert(out, e.invert);
            out.push_str(" --ctexpire ");
            save_range(out, e.min, e.max);
        }
        match self.direction {
            Some(CtDir::Original) => out.push_str(" --ctdir ORIGINAL"),
            Some(CtDir::Reply) => out.push_str(" --ctdir REPLY"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Conntrack, String), String> {
        first_match!("filter", "INPUT", rule, Match::Conntrack)
    }

    fn saved(rule: &str) -> String {
        match one(rule) {
            Ok((_, s)) => s.trim_start_matches("-A INPUT -m conntrack").to_string(),
            Err(e) => panic!("{rule}: {e}"),
        }
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn states_in_kernel_bits_and_print_order() {
        let (m, s) = one("-m conntrack --ctstate ESTABLISHED,new,NEW").unwrap();
        let st = m.state.unwrap();
        assert_eq!(
            st.states,
            CtStates(CtStates::NEW.0 | CtStates::ESTABLISHED.0)
        );
        assert!(st.matches(CtStates::NEW) && !st.matches(CtStates::INVALID));
        assert_eq!(s, "-A INPUT -m conntrack --ctstate NEW,ESTABLISHED");
        assert_eq!(
            saved("-m conntrack ! --ctstate D,S,U,I,R,E,N"),
            " ! --ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT"
        );
        assert!(err("-m conntrack --ctstate NEW,").contains("conntrack: Bad ctstate \"\""));
        assert!(err("-m conntrack --ctstate ,NEW").contains("Bad ctstate \",NEW\""));
        assert!(err("-m conntrack --ctstate NEW,wrong,EST").contains("Bad ctstate \"wrong,EST\""));
        assert!(err("-m conntrack --ctstate NEW --ctstate NEW")
            .contains("conntrack: option \"--ctstate\" can only be used once."));
    }

    #[test]
    fn status_proto_expire_dir() {
        let (m, s) = one(
            "-m conntrack --ctstatus CONFIRMED,none,a --ctproto ICMP --ctexpire 5: --ctdir reply",
        )
        .unwrap();
        assert_eq!(
            m.status.unwrap().status,
            CtStatus(CtStatus::CONFIRMED.0 | CtStatus::ASSURED.0)
        );
        assert_eq!(
            m.proto,
            Some(CtProto {
                proto: 1,
                invert: false
            })
        );
        assert_eq!(
            m.expire,
            Some(CtExpire {
                min: 5,
                max: u32::MAX,
                invert: false
            })
        );
        assert_eq!(m.direction, Some(CtDir::Reply));
        assert_eq!(
            s,
            "-A INPUT -m conntrack --ctproto 1 --ctstatus ASSURED,CONFIRMED --ctexpire 5:4294967295 --ctdir REPLY"
        );
        assert_eq!(saved("-m conntrack --ctstatus NONE"), " --ctstatus NONE");
        assert_eq!(saved("-m conntrack ! --ctproto 0"), " ! --ctproto 0");
        assert_eq!(saved("-m conntrack --ctproto all"), " --ctproto 0");
        assert_eq!(saved("-m conntrack --ctexpire 3:3"), " --ctexpire 3");
        assert_eq!(saved("-m conntrack --ctexpire \"\""), " --ctexpire 0");
        assert_eq!(
            saved("-m conntrack ! --ctexpire :0x10"),
            " ! --ctexpire 0:16"
        );
        // 1.8.9 keeps a reversed range (nothing matches it).
        assert_eq!(saved("-m conntrack --ctexpire 4:3"), " --ctexpire 4:3");
        assert!(err("-m conntrack --ctexpire 5:x").contains(
            "bad value for option \"--ctexpire\" near \"x\", or out of range (0-4294967295)."
        ));
        assert!(err("-m conntrack --ctexpire 42949672956").contains("out of range (0-4294967295)"));
        assert!(err("-m conntrack --ctexpire 1:2:3")
            .contains("Too many components for option \"--ctexpire\" (max: 2)"));
        assert!(err("-m conntrack --ctexpire 5x").contains("unexpected characters near \"x\"."));
        assert!(err("-m conntrack --ctproto UDPLITE")
            .contains("unknown protocol \"UDPLITE\" specified"));
        assert!(
            err("-m conntrack ! --ctdir REPLY").contains("option \"--ctdir\" cannot be inverted.")
        );
        assert!(
            err("-m conntrack --ctdir foo").contains("Bad value for \"--ctdir\" option: \"foo\"")
        );
        assert!(err("-m conntrack --ctstatus SEEN_X").contains("Bad ctstatus \"SEEN_X\""));
        assert_eq!(
            saved("-m conntrack --ctstatus seen"),
            " --ctstatus SEEN_REPLY"
        );
        assert!(err("-m conntrack").contains("conntrack: At least one option is required"));
    }

    #[test]
    fn addresses_keep_their_host_bits() {
        let (m, s) = one("-m conntrack ! --ctorigsrc 1.2.3.4/24 --ctrepldst 10").unwrap();
        let a = m.orig_src.unwrap();
        assert_eq!(
            (a.addr, a.mask, a.invert),
            (
                Ipv4Addr::new(1, 2, 3, 4),
                Ipv4Addr::new(255, 255, 255, 0),
                true
            )
        );
        assert!(!a.matches(Ipv4Addr::new(1, 2, 3, 99)) && a.matches(Ipv4Addr::new(1, 2, 4, 1)));
        assert_eq!(
            s,
            "-A INPUT -m conntrack ! --ctorigsrc 1.2.3.4/24 --ctrepldst 0.0.0.10"
        );
        assert_eq!(
            saved("-m conntrack --ctorigdst 1.2.3.4/255.255.0.0"),
            " --ctorigdst 1.2.3.4/16"
        );
        // A non-contiguous dotted mask or a number above 32 ends up as /32.
        assert_eq!(
            saved("-m conntrack --ctreplsrc 1.2.3.4/255.0.255.0"),
            " --ctreplsrc 1.2.3.4"
        );
        assert_eq!(
            saved("-m conntrack --ctreplsrc 1.2.3.4/33"),
            " --ctreplsrc 1.2.3.4"
        );
        assert_eq!(
            saved("-m conntrack --ctreplsrc 1.2.3.4/0x18"),
            " --ctreplsrc 1.2.3.4/24"
        );
        assert_eq!(
            saved("-m conntrack --ctreplsrc 0.0.0.0/0"),
            " --ctreplsrc 0.0.0.0/0"
        );
        assert!(err("-m conntrack --ctorigsrc 1.2.3.4/").contains(
            "bad value for option \"--ctorigsrc\", neither a valid network mask nor valid CIDR (0-32)."
        ));
        assert!(err("-m conntrack --ctorigsrc 256.1.1.1").contains("numeric IPv4 addresses only"));
        assert!(err("-m conntrack --ctorigsrc localhost").contains("numeric IPv4 addresses only"));
    }

    #[test]
    fn ports() {
        let (m, s) = one("-m conntrack --ctorigsrcport ssh:http ! --ctrepldstport 4:").unwrap();
        assert_eq!(
            m.orig_src_port,
            Some(CtPortRange {
                lo: 22,
                hi: 80,
                invert: false
            })
        );
        assert_eq!(
            m.repl_dst_port,
            Some(CtPortRange {
                lo: 4,
                hi: 65535,
                invert: true
            })
        );
        assert_eq!(
            s,
            "-A INPUT -m conntrack --ctorigsrcport 22:80 ! --ctrepldstport 4:65535"
        );
        assert_eq!(
            saved("-m conntrack --ctorigdstport :"),
            " --ctorigdstport 0:65535"
        );
        assert_eq!(
            saved("-m conntrack --ctorigdstport 4:4"),
            " --ctorigdstport 4"
        );
        // 1.8.9 keeps a reversed range, and prints a high end of 0 as nothing.
        let (m, s) = one("-m conntrack --ctreplsrcport 4:3").unwrap();
        assert!(!m.repl_src_port.unwrap().matches(3));
        assert_eq!(s, "-A INPUT -m conntrack --ctreplsrcport 4:3");
        assert_eq!(
            saved("-m conntrack --ctreplsrcport 5:0"),
            " --ctreplsrcport 5"
        );
        assert_eq!(
            saved("-m conntrack --ctreplsrcport 65536"),
            " --ctreplsrcport 0"
        );
        assert!(err("-m conntrack --ctorigsrcport 1:2:3")
            .contains("Too many components for option \"--ctorigsrcport\" (max: 2)"));
        assert!(err("-m conntrack --ctorigsrcport 0x10")
            .contains("Port \"0x10\" does not resolve to anything."));
    }

    #[test]
    fn fixed_save_order() {
        let r = "-m conntrack --ctdir REPLY --ctexpire 5 --ctstatus ASSURED --ctrepldstport 4 \
                 --ctreplsrcport 3 --ctorigdstport 2 --ctorigsrcport 1 --ctrepldst 4.4.4.4 \
                 --ctreplsrc 3.3.3.3 --ctorigdst 2.2.2.2 --ctorigsrc 1.1.1.1 --ctproto tcp \
                 --ctstate NEW";
        assert_eq!(
            saved(r),
            " --ctstate NEW --ctproto 6 --ctorigsrc 1.1.1.1 --ctorigdst 2.2.2.2 --ctreplsrc 3.3.3.3 \
             --ctrepldst 4.4.4.4 --ctorigsrcport 1 --ctorigdstport 2 --ctreplsrcport 3 \
             --ctrepldstport 4 --ctstatus ASSURED --ctexpire 5 --ctdir REPLY"
        );
    }

    #[test]
    fn ipv6_tuple_addresses_as_ip6tables() {
        use crate::iptables::ext::testing::{assert_refused6, assert_saved6};
        // Each as ip6tables-legacy-save 1.8.9 printed it (Debian 12).
        assert_saved6(
            "conntrack",
            &[
                ("--ctorigsrc 2001:db8::1/64", " --ctorigsrc 2001:db8::1/64"),
                (
                    "--ctorigsrc ::1/128 ! --ctorigdst ::/0",
                    " --ctorigsrc ::1 ! --ctorigdst ::/0",
                ),
                (
                    "--ctreplsrc fe80::1/ffff:ffff:: --ctrepldst ::102:304/96",
                    " --ctreplsrc fe80::1/32 --ctrepldst ::1.2.3.4/96",
                ),
                ("--ctorigsrc fe80::1/ffff:0:ffff::", " --ctorigsrc fe80::1"),
                (
                    "--ctstate NEW --ctorigsrc ::1 --ctorigsrcport 5",
                    " --ctstate NEW --ctorigsrc ::1 --ctorigsrcport 5",
                ),
            ],
        );
        assert_refused6(
            "conntrack",
            &[
                ("--ctorigsrc 1.2.3.4", "numeric IPv6 addresses only"),
                (
                    "--ctorigsrc 2001:db8::1/129",
                    "neither a valid network mask nor valid CIDR (0-128)",
                ),
                ("--ctorigsrc ::1 --ctorigsrc ::2", "can only be used once"),
            ],
        );
        let a = CtAddr6 {
            addr: "2001:db8::1".parse().unwrap(),
            len: 32,
            invert: false,
        };
        assert!(a.matches("2001:db8:ffff::9".parse().unwrap()));
        assert!(!a.matches("2001:db9::1".parse().unwrap()));
    }
}
