//! A sets file printed back as `ipset save` (ipset 7.17) prints it: the
//! `create` options in its order, then one `add` line per element.

use std::fmt::{self, Write as _};

use ipnet::IpNet;

use super::model::{
    icmp_name, Entry, IpPortElem, IpSet, NetElem, NetPortElem, ProtoPort, SetEntries, SetFile,
    SetKind, ICMPV6_NAMES, ICMP_NAMES,
};
use crate::iptables::netdb;

impl SetFile {
    /// The file in the format `ipset save` prints (and `ipset restore` reads).
    pub fn save(&self) -> String {
        let mut out = String::new();
        for set in &self.sets {
            set.save_into(&mut out);
        }
        out
    }
}

impl fmt::Display for SetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl IpSet {
    fn save_into(&self, out: &mut String) {
        // Option order as ipset 7.17 prints it.
        let _ = write!(out, "create {} {}", self.name, self.kind);
        if let Some(range) = self.range {
            let _ = write!(out, " range {}-{}", range.0, range.1);
        }
        if let (Some(family), Some(h)) = (self.family, &self.hash) {
            let _ = write!(
                out,
                " family {} hashsize {} maxelem {}",
                family.name(),
                h.hashsize,
                h.maxelem
            );
            if let (SetKind::HashIp, Some(m)) = (self.kind, h.netmask) {
                let _ = write!(out, " netmask {m}");
            }
        }
        if let Some(t) = self.timeout {
            let _ = write!(out, " timeout {t}");
        }
        if self.counters {
            out.push_str(" counters");
        }
        if self.comment {
            out.push_str(" comment");
        }
        if let Some(h) = &self.hash {
            if h.forceadd {
                out.push_str(" forceadd");
            }
            let _ = write!(out, " bucketsize {}", h.bucketsize);
            if let Some(iv) = h.initval {
                let _ = write!(out, " initval 0x{iv:08x}");
            }
            if let (SetKind::HashIpPort, Some(m)) = (self.kind, h.netmask) {
                let _ = write!(out, " netmask {m}");
            }
        }
        out.push('\n');

        match &self.entries {
            SetEntries::HashIp(v) => self.save_entries(out, v, |_| false),
            SetEntries::HashNet(v) => self.save_entries(out, v, |e| e.nomatch),
            SetEntries::HashIpPort(v) => self.save_entries(out, v, |_| false),
            SetEntries::HashNetPort(v) => self.save_entries(out, v, |e| e.nomatch),
            SetEntries::BitmapPort(v) => self.save_entries(out, v, |_| false),
        }
    }

    fn save_entries<T: fmt::Display>(
        &self,
        out: &mut String,
        entries: &[Entry<T>],
        nomatch: impl Fn(&T) -> bool,
    ) {
        for e in entries {
            let _ = write!(out, "add {} {}", self.name, e.elem);
            if let Some(t) = e.timeout {
                let _ = write!(out, " timeout {t}");
            }
            if nomatch(&e.elem) {
                out.push_str(" nomatch");
            }
            if self.counters {
                let _ = write!(
                    out,
                    " packets {} bytes {}",
                    e.packets.unwrap_or(0),
                    e.bytes.unwrap_or(0)
                );
            }
            if let Some(c) = &e.comment {
                let _ = write!(out, " comment \"{c}\"");
            }
            out.push('\n');
        }
    }
}

impl fmt::Display for ProtoPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.proto();
        match netdb::proto_by_number(proto) {
            Some(name) => f.write_str(name)?,
            None => write!(f, "{proto}")?,
        }
        f.write_str(":")?;
        match *self {
            ProtoPort::Icmp { ty, code } => match icmp_name(ICMP_NAMES, ty, code) {
                Some(name) => f.write_str(name),
                None => write!(f, "{ty}/{code}"),
            },
            ProtoPort::Icmpv6 { ty, code } => match icmp_name(ICMPV6_NAMES, ty, code) {
                Some(name) => f.write_str(name),
                None => write!(f, "{ty}/{code}"),
            },
            other => write!(f, "{}", other.port()),
        }
    }
}

impl fmt::Display for NetElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_net(f, self.net)
    }
}

impl fmt::Display for IpPortElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.ip, self.port)
    }
}

impl fmt::Display for NetPortElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_net(f, self.net)?;
        write!(f, ",{}", self.port)
    }
}

/// A host prefix prints as a plain address, as ipset does.
fn write_net(f: &mut fmt::Formatter<'_>, net: IpNet) -> fmt::Result {
    if net.prefix_len() == net.max_prefix_len() {
        write!(f, "{}", net.addr())
    } else {
        write!(f, "{net}")
    }
}
