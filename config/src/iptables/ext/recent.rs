//! `-m recent`: a named list of recently seen addresses, added to and
//! checked by rules (libxt_recent revision 1, kernel xt_recent).
//!
//! Lists are shared by name between all rules of a namespace; each entry
//! keeps its last arrival times (at least as many as the largest
//! `--hitcount` of the rules using the list) and the TTL of the packet that
//! added it.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::addr6::{inet_pton6, ntop6};
use super::parse::{inet_aton, uint_opt};
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::{Family, Rule};

/// Largest `--hitcount` the kernel takes (`XT_RECENT_MAX_NSTAMPS - 1`;
/// 65535 on the kernels sluice follows, 6.x).
pub const MAX_HITCOUNT: u32 = 65535;
/// Size of the kernel's name buffer (`XT_RECENT_NAME_LEN`): names are cut to
/// 199 bytes by iptables.
pub const NAME_LEN: usize = 200;

/// What the rule does with the list (exactly one per rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecentCommand {
    /// `--set`: add or refresh the address; always matches.
    Set,
    /// `--rcheck`: match when the address is on the list.
    Check,
    /// `--update`: like `--rcheck`, and refresh the last-seen time.
    Update,
    /// `--remove`: match when on the list, and remove it.
    Remove,
}

impl RecentCommand {
    fn opt(self) -> &'static str {
        match self {
            RecentCommand::Set => "set",
            RecentCommand::Check => "rcheck",
            RecentCommand::Update => "update",
            RecentCommand::Remove => "remove",
        }
    }
}

/// Which address of the packet the list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecentSide {
    /// `--rsource` (default): the source address.
    #[default]
    Source,
    /// `--rdest`: the destination address.
    Dest,
}

/// The options of `-m recent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    /// `None` only before parsing is done.
    pub command: Option<RecentCommand>,
    /// `!` before the command: the match result is inverted.
    pub invert: bool,
    /// `--seconds N`: only entries seen within the last N seconds count
    /// (0: no limit). Only with `--rcheck`/`--update`.
    pub seconds: u32,
    /// `--reap`: purge entries older than `seconds` (needs `--seconds`).
    pub reap: bool,
    /// `--hitcount N`: the address must have been seen at least N times
    /// (0: no condition), at most [`MAX_HITCOUNT`].
    pub hit_count: u32,
    /// `--rttl`: the packet's TTL must equal the TTL of the packet that
    /// added the entry.
    pub rttl: bool,
    /// `--name`: the list (default `DEFAULT`).
    pub name: String,
    pub side: RecentSide,
    /// `--mask`: applied to the address before it is stored or looked up.
    pub mask: Ipv4Addr,
    /// `--mask` of an ip6tables rule (`Some` once the rule is read, all
    /// ones by default; `mask` is then unused).
    pub mask6: Option<Ipv6Addr>,
    /// Options seen, for "only once" and the combination checks.
    given: Given,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent {
            command: None,
            invert: false,
            seconds: 0,
            reap: false,
            hit_count: 0,
            rttl: false,
            name: "DEFAULT".to_string(),
            side: RecentSide::Source,
            mask: Ipv4Addr::BROADCAST,
            mask6: None,
            given: Given::default(),
        }
    }
}

impl Recent {
    /// The kernel's `union nf_inet_addr mask` as libxt_recent fills it, as
    /// a 128-bit big-endian value (the IPv4 word is the top 32 bits): an
    /// ip6tables rule's `--mask`; for an iptables rule all ones without
    /// `--mask` (`recent_init` sets every byte) and the IPv4 mask in the
    /// first word, zeros after, with one. A list shared by both families
    /// masks every address with the mask of the rule that created it, so
    /// an iptables `--mask 255.255.255.255` keeps only the first 32 bits
    /// of the IPv6 addresses (checked on Linux 6.18).
    pub fn table_mask(&self) -> u128 {
        match self.mask6 {
            Some(m) => u128::from(m),
            None if self.given.has(Self::OPTIONS, "mask") => u128::from(u32::from(self.mask)) << 96,
            None => u128::MAX,
        }
    }
}

/// `--mask`: libxtables `xtopt_parse_host`, whose numeric form is
/// `getaddrinfo`'s ([`inet_aton`]: `255.255.0` is 255.255.0.0, `255` is
/// 0.0.0.255). Host names are refused: sluice does not resolve names while
/// parsing.
fn parse_mask(s: &str) -> Result<Ipv4Addr, String> {
    inet_aton(s).ok_or_else(|| {
        format!("bad value for option \"--mask\": \"{s}\" (sluice takes a numeric address, not a host name)")
    })
}

impl Extension for Recent {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("set", 0),
        Opt::new("rcheck", 0),
        Opt::new("update", 0),
        Opt::new("remove", 0),
        Opt::new("seconds", 1),
        Opt::new("reap", 0),
        Opt::new("hitcount", 1),
        Opt::new("rttl", 0),
        Opt::new("name", 1),
        Opt::new("rsource", 0),
        Opt::new("rdest", 0),
        Opt::new("mask", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        cx: &Cx,
    ) -> Result<(), String> {
        let command = match id {
            "set" => Some(RecentCommand::Set),
            "rcheck" => Some(RecentCommand::Check),
            "update" => Some(RecentCommand::Update),
            "remove" => Some(RecentCommand::Remove),
            _ => None,
        };
        if command.is_some() {
            self.given.take_invertible(Self::OPTIONS, id)?;
        } else {
            self.given.take(Self::OPTIONS, id, invert)?;
        }
        if let Some(c) = command {
            if let Some(prev) = self.command {
                return Err(format!(
                    "option \"--{}\" cannot be used together with \"--{id}\".",
                    prev.opt()
                ));
            }
            self.command = Some(c);
            self.invert |= invert;
            return Ok(());
        }
        let arg = args.first().map(String::as_str).unwrap_or("");
        match id {
            "seconds" => {
                self.seconds = uint_opt(arg, id, 1, u64::from(u32::MAX))? as u32;
            }
            "hitcount" => {
                self.hit_count = uint_opt(arg, id, 0, u64::from(u32::MAX))? as u32;
            }
            "reap" => self.reap = true,
            "rttl" => self.rttl = true,
            "name" => {
                // Cut to the kernel's buffer as strncpy does (at a byte
                // boundary; a cut inside a character drops that character).
                let mut end = arg.len().min(NAME_LEN - 1);
                while !arg.is_char_boundary(end) {
                    end -= 1;
                }
                self.name = arg[..end].to_string();
            }
            "rsource" => self.side = RecentSide::Source,
            "rdest" => self.side = RecentSide::Dest,
            "mask" if cx.family == Family::Ipv6 => {
                self.mask6 = Some(inet_pton6(arg).ok_or_else(|| {
                    format!("bad value for option \"--mask\": \"{arg}\" (sluice takes a numeric IPv6 address, not a host name)")
                })?)
            }
            "mask" => self.mask = parse_mask(arg)?,
            _ => return Err(format!("unknown option \"--{id}\"")),
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, cx: &Cx) -> Result<(), String> {
        if cx.family == Family::Ipv6 {
            self.mask6.get_or_insert(Ipv6Addr::from(u128::MAX));
        }
        let Some(command) = self.command else {
            return Err(
                "you must specify one of `--set', `--rcheck' `--update' or `--remove'".into(),
            );
        };
        if self.reap && self.seconds == 0 {
            return Err("option \"--reap\" also requires \"--seconds\".".into());
        }
        if self.rttl && matches!(command, RecentCommand::Set | RecentCommand::Remove) {
            return Err(format!(
                "option \"--rttl\" cannot be used together with \"--{}\".",
                command.opt()
            ));
        }
        // xt_recent checkentry.
        if matches!(command, RecentCommand::Set | RecentCommand::Remove)
            && (self.seconds != 0 || self.hit_count != 0)
        {
            return Err(format!(
                "the kernel refuses --seconds, --hitcount and --reap with --{} (EINVAL)",
                command.opt()
            ));
        }
        if self.hit_count > MAX_HITCOUNT {
            return Err(format!(
                "hitcount ({}) is larger than allowed maximum ({MAX_HITCOUNT})",
                self.hit_count
            ));
        }
        if self.name.is_empty() || self.name == "." || self.name == ".." || self.name.contains('/')
        {
            return Err(format!(
                "the kernel refuses the list name \"{}\" (it names a /proc/net/xt_recent file: not empty, \".\", \"..\" or with '/')",
                self.name
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if self.invert {
            out.push_str(" !");
        }
        if let Some(c) = self.command {
            out.push_str(" --");
            out.push_str(c.opt());
        }
        if self.seconds != 0 {
            // libxt_recent prints it with %d.
            let _ = write!(out, " --seconds {}", self.seconds as i32);
        }
        if self.reap {
            out.push_str(" --reap");
        }
        if self.hit_count != 0 {
            let _ = write!(out, " --hitcount {}", self.hit_count as i32);
        }
        if self.rttl {
            out.push_str(" --rttl");
        }
        match self.mask6 {
            Some(m) => {
                let _ = write!(out, " --name {} --mask {}", self.name, ntop6(m));
            }
            None => {
                let _ = write!(out, " --name {} --mask {}", self.name, self.mask);
            }
        }
        out.push_str(match self.side {
            RecentSide::Source => " --rsource",
            RecentSide::Dest => " --rdest",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{first_match, refused_in};
    use crate::iptables::Match;

    fn one(rule: &str) -> Result<(Recent, String), String> {
        first_match!("filter", "INPUT", rule, Match::Recent)
    }

    fn err(rule: &str) -> String {
        refused_in("filter", "INPUT", rule)
    }

    #[test]
    fn defaults_are_printed() {
        let (r, s) = one("-m recent --set").unwrap();
        assert_eq!(r.command, Some(RecentCommand::Set));
        assert_eq!(
            (r.name.as_str(), r.side, r.mask),
            ("DEFAULT", RecentSide::Source, Ipv4Addr::BROADCAST)
        );
        assert_eq!(
            s,
            "-A INPUT -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource"
        );
    }

    #[test]
    fn all_options() {
        let (r, s) = one(
            "-m recent --rdest --mask 255.255.0.0 ! --update --rttl --hitcount 0x10 --reap --seconds 60 --name ssh",
        )
        .unwrap();
        assert_eq!(r.command, Some(RecentCommand::Update));
        assert!(r.invert && r.reap && r.rttl);
        assert_eq!((r.seconds, r.hit_count), (60, 16));
        assert_eq!(r.side, RecentSide::Dest);
        assert_eq!(r.mask, Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(
            s,
            "-A INPUT -m recent ! --update --seconds 60 --reap --hitcount 16 --rttl --name ssh --mask 255.255.0.0 --rdest"
        );
        let (_, s) = one("-m recent --rcheck --hitcount 255 --rdest --rsource").unwrap();
        assert_eq!(s, "-A INPUT -m recent --rcheck --hitcount 255 --name DEFAULT --mask 255.255.255.255 --rsource");
        let (r, s) =
            one("-m recent --rcheck --seconds 4294967295 --hitcount 65535 --mask 255.255.0")
                .unwrap();
        assert_eq!((r.seconds, r.hit_count), (u32::MAX, 65535));
        assert_eq!(
            s,
            "-A INPUT -m recent --rcheck --seconds -1 --hitcount 65535 --name DEFAULT --mask 255.255.0.0 --rsource"
        );
        assert_eq!(inet_aton("255"), Some(Ipv4Addr::new(0, 0, 0, 255)));
        assert_eq!(inet_aton("1.65536"), Some(Ipv4Addr::new(1, 1, 0, 0)));
        assert_eq!(inet_aton("0x1.010.3.4"), Some(Ipv4Addr::new(1, 8, 3, 4)));
        assert_eq!(inet_aton("4294967295"), Some(Ipv4Addr::BROADCAST));
        let long = "n".repeat(250);
        let (r, _) = one(&format!("-m recent --set --name {long}")).unwrap();
        assert_eq!(r.name.len(), 199);
    }

    #[test]
    fn table_masks() {
        let (r, _) = one("-m recent --set").unwrap();
        assert_eq!(r.table_mask(), u128::MAX);
        let (r, _) = one("-m recent --set --mask 255.255.255.255").unwrap();
        assert_eq!(r.table_mask(), 0xffff_ffff << 96);
        let (r, _) = one("-m recent --set --mask 255.255.255.0").unwrap();
        assert_eq!(r.table_mask(), 0xffff_ff00 << 96);
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-m recent", "you must specify one of"),
            ("-m recent --set --rttl", "cannot be used together"),
            ("-m recent --remove --rttl", "cannot be used together"),
            ("-m recent --set --rcheck", "cannot be used together"),
            ("-m recent --set --set", "only be used once"),
            ("-m recent --rcheck --reap", "also requires \"--seconds\""),
            ("-m recent --rcheck --seconds 0", "out of range"),
            ("-m recent --rcheck --hitcount 65536", "larger than allowed"),
            ("-m recent --set --seconds 5", "kernel refuses"),
            ("-m recent --remove --hitcount 5", "kernel refuses"),
            ("-m recent --set --name a/b", "list name"),
            ("-m recent --set --name ..", "list name"),
            ("-m recent --set ! --rttl", "cannot be inverted"),
            ("-m recent --set --mask localhost", "--mask"),
            ("-m recent --set --mask 08.1.1.1", "--mask"),
            ("-m recent --set --mask 1.2.3.4.", "--mask"),
            ("-m recent --set --mask 1.256.0", "--mask"),
        ] {
            let e = err(rule);
            assert!(e.contains(msg), "{rule}: {e}");
        }
    }
}
