//! `create` and `add` lines: the options of a set and the elements each
//! `add` puts in, checked as `ipset restore` (without `-exist`) and the
//! kernel check them.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::error::SetsError;
use super::expand::{
    bitmap_port_elems, ip_elems, net_elems, number, port_elems, port_number, split_pair,
    split_range,
};
use super::lex::Word;
use super::model::{
    Entry, Family, HashOptions, IpPortElem, IpSet, NetElem, NetPortElem, ProtoPort, SetEntries,
    SetFile, SetKind, DEFAULT_BUCKETSIZE, MAX_COMMENT_LEN, MAX_EXPANSION, MAX_SETNAME_LEN,
    MAX_TIMEOUT,
};

/// Other ipset types: known, but not read by sluice.
const UNSUPPORTED_KINDS: &[&str] = &[
    "bitmap:ip",
    "bitmap:ip,mac",
    "hash:mac",
    "hash:ip,mac",
    "hash:ip,mark",
    "hash:ip,port,ip",
    "hash:ip,port,net",
    "hash:net,net",
    "hash:net,port,net",
    "hash:net,iface",
    "list:set",
];

/// A set being built, with the line that added each element, keyed as the
/// kernel compares elements (a `nomatch` flag does not make another one).
struct Builder {
    set: IpSet,
    seen: HashMap<ElemKey, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ElemKey {
    Ip(IpAddr),
    Net(IpNet),
    IpPort(IpAddr, ProtoPort),
    NetPort(IpNet, ProtoPort),
    Port(u16),
}

/// The sets of a file so far, read one line at a time.
pub(super) struct Parser {
    sets: Vec<Builder>,
    by_name: HashMap<String, usize>,
}

/// A failure: the column it is at and the message.
pub(super) type Fail = (usize, SetsError);

impl Parser {
    pub(super) fn new() -> Self {
        Parser {
            sets: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// The sets read, in file order.
    pub(super) fn finish(self) -> SetFile {
        SetFile {
            sets: self.sets.into_iter().map(|b| b.set).collect(),
        }
    }

    /// One `create` or `add` line, already split into words (at least one).
    pub(super) fn line(&mut self, line: usize, words: &[Word]) -> Result<(), Fail> {
        let cmd = &words[0];
        match cmd.text.as_str() {
            "create" => self.create(line, words),
            "add" => self.add(line, words),
            other => Err((
                cmd.column,
                SetsError::UnsupportedCommand {
                    command: other.to_string(),
                },
            )),
        }
    }

    fn create(&mut self, line: usize, words: &[Word]) -> Result<(), Fail> {
        let (Some(name), Some(ty)) = (words.get(1), words.get(2)) else {
            return Err((words[0].column, SetsError::CreateArgs));
        };
        check_setname(name)?;
        if let Some(&i) = self.by_name.get(&name.text) {
            let first = self.sets.get(i).map_or(0, |b| b.set.line);
            return Err((
                name.column,
                SetsError::DuplicateSet {
                    name: name.text.clone(),
                    first,
                },
            ));
        }
        let kind = match SetKind::from_name(&ty.text) {
            Some(k) => k,
            None if UNSUPPORTED_KINDS.contains(&ty.text.as_str()) => {
                return Err((
                    ty.column,
                    SetsError::UnsupportedType {
                        kind: ty.text.clone(),
                    },
                ))
            }
            None => {
                return Err((
                    ty.column,
                    SetsError::UnknownType {
                        kind: ty.text.clone(),
                    },
                ))
            }
        };

        let mut family = None;
        let mut hash = HashOptions::default();
        let mut range = None;
        let mut timeout = None;
        let mut counters = false;
        let mut comment = false;
        let mut netmask: Option<(u8, usize)> = None;
        let mut seen: Vec<&str> = Vec::new();
        let mut rest = words[3..].iter();
        while let Some(opt) = rest.next() {
            let key = opt.text.as_str();
            let valid = match key {
                "family" | "hashsize" | "maxelem" | "bucketsize" | "initval" | "forceadd" => {
                    kind.is_hash()
                }
                "netmask" => kind.has_netmask(),
                "range" => kind == SetKind::BitmapPort,
                "timeout" | "counters" | "comment" => true,
                "skbinfo" | "revision" | "-exist" | "-!" => {
                    return Err((
                        opt.column,
                        SetsError::UnsupportedOption {
                            option: key.to_string(),
                        },
                    ))
                }
                _ => false,
            };
            if !valid {
                return Err((
                    opt.column,
                    SetsError::UnknownOption {
                        option: key.to_string(),
                        kind,
                    },
                ));
            }
            if seen.contains(&key) {
                return Err((opt.column, twice(key)));
            }
            seen.push(key);
            let mut value = || rest.next().ok_or_else(|| (opt.column, needs_value(key)));
            match key {
                "family" => {
                    let v = value()?;
                    family = Some(match v.text.as_str() {
                        "inet" | "ipv4" | "-4" => Family::Inet,
                        "inet6" | "ipv6" | "-6" => Family::Inet6,
                        other => {
                            return Err((
                                v.column,
                                SetsError::UnknownFamily {
                                    family: other.to_string(),
                                },
                            ))
                        }
                    });
                }
                "hashsize" => {
                    let v = value()?;
                    let n = number(v, u64::from(u32::MAX))? as u32;
                    hash.hashsize = n
                        .max(64)
                        .checked_next_power_of_two()
                        .ok_or((v.column, SetsError::Hashsize { hashsize: n }))?;
                }
                "maxelem" => hash.maxelem = number(value()?, u64::from(u32::MAX))? as u32,
                "bucketsize" => {
                    // The kernel's clamp: 2..=12, rounded up to even.
                    let n = number(value()?, 255)? as u8;
                    hash.bucketsize = n.clamp(2, DEFAULT_BUCKETSIZE);
                    hash.bucketsize += hash.bucketsize % 2;
                }
                "initval" => hash.initval = Some(number(value()?, u64::from(u32::MAX))? as u32),
                "forceadd" => hash.forceadd = true,
                "netmask" => {
                    let v = value()?;
                    netmask = Some((number(v, 255)? as u8, v.column));
                }
                "range" => {
                    let v = value()?;
                    let (a, b) = split_range(&v.text).ok_or_else(|| {
                        (
                            v.column,
                            SetsError::RangeForm {
                                text: v.text.clone(),
                            },
                        )
                    })?;
                    let a = port_number(v.column, a)?;
                    let b = port_number(v.column, b)?;
                    range = Some((a.min(b), a.max(b)));
                }
                "timeout" => timeout = Some(number(value()?, u64::from(MAX_TIMEOUT))? as u32),
                "counters" => counters = true,
                "comment" => comment = true,
                _ => {}
            }
        }

        let family = if kind.is_hash() {
            Some(family.unwrap_or(Family::Inet))
        } else {
            None
        };
        if let (Some((m, col)), Some(f)) = (netmask, family) {
            if m == 0 || m > f.max_prefix() {
                return Err((
                    col,
                    SetsError::Netmask {
                        netmask: m,
                        family: f,
                    },
                ));
            }
            // The full mask is no mask (the kernel prints none).
            hash.netmask = (m < f.max_prefix()).then_some(m);
        }
        if kind == SetKind::BitmapPort && range.is_none() {
            return Err((ty.column, SetsError::BitmapNeedsRange));
        }

        let set = IpSet {
            name: name.text.clone(),
            kind,
            family,
            hash: kind.is_hash().then_some(hash),
            range,
            timeout,
            counters,
            comment,
            entries: SetEntries::new(kind),
            line,
        };
        self.by_name.insert(set.name.clone(), self.sets.len());
        self.sets.push(Builder {
            set,
            seen: HashMap::new(),
        });
        Ok(())
    }

    fn add(&mut self, line: usize, words: &[Word]) -> Result<(), Fail> {
        let (Some(name), Some(elem)) = (words.get(1), words.get(2)) else {
            return Err((words[0].column, SetsError::AddArgs));
        };
        let Some(b) = self
            .by_name
            .get(&name.text)
            .and_then(|&i| self.sets.get_mut(i))
        else {
            return Err((
                name.column,
                SetsError::NoSuchSet {
                    name: name.text.clone(),
                },
            ));
        };
        let set = &b.set;

        // Per-element options.
        let mut timeout = None;
        let mut packets = None;
        let mut bytes = None;
        let mut comment = None;
        let mut nomatch = false;
        let mut seen: Vec<&str> = Vec::new();
        let mut rest = words[3..].iter();
        while let Some(opt) = rest.next() {
            let key = opt.text.as_str();
            let needs = match key {
                "timeout" => set.timeout.is_some().then_some(()).ok_or("timeout"),
                "packets" | "bytes" => set.counters.then_some(()).ok_or("counters"),
                "comment" => set.comment.then_some(()).ok_or("comment"),
                "nomatch" => {
                    if !set.kind.has_nomatch() {
                        return Err((opt.column, SetsError::Nomatch { kind: set.kind }));
                    }
                    Ok(())
                }
                _ => {
                    return Err((
                        opt.column,
                        SetsError::UnknownElementOption {
                            option: key.to_string(),
                            kind: set.kind,
                        },
                    ))
                }
            };
            if let Err(feature) = needs {
                return Err((
                    opt.column,
                    SetsError::ExtensionOff {
                        option: key.to_string(),
                        set: set.name.clone(),
                        feature,
                    },
                ));
            }
            if seen.contains(&key) {
                return Err((opt.column, twice(key)));
            }
            seen.push(key);
            let mut value = || rest.next().ok_or_else(|| (opt.column, needs_value(key)));
            match key {
                "timeout" => timeout = Some(number(value()?, u64::from(MAX_TIMEOUT))? as u32),
                "packets" => packets = Some(number(value()?, u64::MAX - 1)?),
                "bytes" => bytes = Some(number(value()?, u64::MAX - 1)?),
                "comment" => {
                    let v = value()?;
                    if v.text.is_empty() {
                        return Err((v.column, needs_value("comment")));
                    }
                    if v.text.chars().count() > MAX_COMMENT_LEN {
                        return Err((v.column, SetsError::CommentTooLong));
                    }
                    comment = Some(v.text.clone());
                }
                "nomatch" => nomatch = true,
                _ => {}
            }
        }

        let col = elem.column;
        let family = set.family.unwrap_or(Family::Inet);
        let netmask = set.hash.as_ref().and_then(|h| h.netmask);
        let elems: Vec<(ElemKey, Elem)> = match set.kind {
            SetKind::HashIp => ip_elems(col, &elem.text, family, netmask, MAX_EXPANSION)?
                .into_iter()
                .map(|ip| (ElemKey::Ip(ip), Elem::Ip(ip)))
                .collect(),
            SetKind::HashNet => net_elems(col, &elem.text, family)?
                .into_iter()
                .map(|net| (ElemKey::Net(net), Elem::Net(NetElem { net, nomatch })))
                .collect(),
            SetKind::HashIpPort => {
                let (ip, port) = split_pair(col, &elem.text, set.kind)?;
                let ports = port_elems(col, port, family)?;
                let ips = ip_elems(col, ip, family, netmask, MAX_EXPANSION)?;
                check_product(col, ips.len(), ports.len())?;
                ips.iter()
                    .flat_map(|&ip| {
                        ports.iter().map(move |&port| {
                            (
                                ElemKey::IpPort(ip, port),
                                Elem::IpPort(IpPortElem { ip, port }),
                            )
                        })
                    })
                    .collect()
            }
            SetKind::HashNetPort => {
                let (net, port) = split_pair(col, &elem.text, set.kind)?;
                let ports = port_elems(col, port, family)?;
                let nets = net_elems(col, net, family)?;
                check_product(col, nets.len(), ports.len())?;
                nets.iter()
                    .flat_map(|&net| {
                        ports.iter().map(move |&port| {
                            (
                                ElemKey::NetPort(net, port),
                                Elem::NetPort(NetPortElem { net, port, nomatch }),
                            )
                        })
                    })
                    .collect()
            }
            SetKind::BitmapPort => {
                let range = set.range.unwrap_or((0, u16::MAX));
                bitmap_port_elems(col, &elem.text, range)?
                    .into_iter()
                    .map(|p| (ElemKey::Port(p), Elem::Port(p)))
                    .collect()
            }
        };

        let extras = Extras {
            timeout,
            packets,
            bytes,
            comment,
            line,
        };
        let limit = set
            .hash
            .as_ref()
            .filter(|h| !h.forceadd)
            .map(|h| h.maxelem as usize);
        for (key, elem) in elems {
            if let Some(first) = b.seen.get(&key) {
                return Err((
                    col,
                    SetsError::DuplicateElement {
                        element: elem.to_string(),
                        set: b.set.name.clone(),
                        first: *first,
                    },
                ));
            }
            if limit.is_some_and(|max| b.set.entries.len() >= max) {
                return Err((
                    col,
                    SetsError::Full {
                        set: b.set.name.clone(),
                        maxelem: limit.unwrap_or(0),
                    },
                ));
            }
            b.seen.insert(key, line);
            let x = &extras;
            match (&mut b.set.entries, elem) {
                (SetEntries::HashIp(v), Elem::Ip(e)) => v.push(x.entry(e)),
                (SetEntries::HashNet(v), Elem::Net(e)) => v.push(x.entry(e)),
                (SetEntries::HashIpPort(v), Elem::IpPort(e)) => v.push(x.entry(e)),
                (SetEntries::HashNetPort(v), Elem::NetPort(e)) => v.push(x.entry(e)),
                (SetEntries::BitmapPort(v), Elem::Port(e)) => v.push(x.entry(e)),
                // The element was built for this set's kind.
                _ => {}
            }
        }
        Ok(())
    }
}

/// The per-element options of one `add` line.
struct Extras {
    timeout: Option<u32>,
    packets: Option<u64>,
    bytes: Option<u64>,
    comment: Option<String>,
    line: usize,
}

impl Extras {
    fn entry<T>(&self, elem: T) -> Entry<T> {
        Entry {
            elem,
            timeout: self.timeout,
            packets: self.packets,
            bytes: self.bytes,
            comment: self.comment.clone(),
            line: self.line,
        }
    }
}

/// An element of any kind, on its way into its set.
enum Elem {
    Ip(IpAddr),
    Net(NetElem),
    IpPort(IpPortElem),
    NetPort(NetPortElem),
    Port(u16),
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Elem::Ip(e) => e.fmt(f),
            Elem::Net(e) => e.fmt(f),
            Elem::IpPort(e) => e.fmt(f),
            Elem::NetPort(e) => e.fmt(f),
            Elem::Port(e) => e.fmt(f),
        }
    }
}

fn twice(option: &str) -> SetsError {
    SetsError::Twice {
        option: option.to_string(),
    }
}

fn needs_value(option: &str) -> SetsError {
    SetsError::NeedsValue {
        option: option.to_string(),
    }
}

fn check_setname(name: &Word) -> Result<(), Fail> {
    if name.text.is_empty() {
        return Err((name.column, SetsError::EmptySetName));
    }
    if name.text.len() > MAX_SETNAME_LEN {
        return Err((
            name.column,
            SetsError::SetNameTooLong {
                name: name.text.clone(),
            },
        ));
    }
    Ok(())
}

fn check_product(col: usize, a: usize, b: usize) -> Result<(), Fail> {
    let n = (a as u64).saturating_mul(b as u64);
    if n > MAX_EXPANSION {
        return Err((col, SetsError::Product { count: n }));
    }
    Ok(())
}
