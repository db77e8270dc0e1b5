//! The typed rule model: what an `iptables-restore` file means once parsed.
//!
//! Both families: `iptables` (IPv4) and `ip6tables` (IPv6) rulesets share
//! the model; a rule's addresses are in `src`/`dst` (IPv4) or
//! `src6`/`dst6` (IPv6), whichever its [`Family`] has. Everything a rule
//! says is kept in typed form, in the order the operator wrote it where order matters to
//! `iptables-save` (matches print in load order).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::ext::{Match, TargetExt};

/// The address family a ruleset is for: `iptables-restore` (IPv4) or
/// `ip6tables-restore` (IPv6) reads it. The language is the same but for
/// the addresses, the ICMP, TTL/hop-limit and REJECT forms, and the
/// extensions only one family has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Family {
    #[default]
    Ipv4,
    Ipv6,
}

impl Family {
    /// The command whose language this is (for messages).
    pub fn command(self) -> &'static str {
        match self {
            Family::Ipv4 => "iptables",
            Family::Ipv6 => "ip6tables",
        }
    }
}

/// How to apply a restore file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// `--noflush`: edit the tables in place instead of replacing them.
    pub noflush: bool,
    /// Which restore reads the file: `iptables-restore` (IPv4, the
    /// default) or `ip6tables-restore`.
    pub family: Family,
}

/// The netfilter tables sluice understands, in the order the kernel runs
/// them at a hook (raw -300, mangle -150, nat -100/+100, filter 0,
/// security 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    Raw,
    Mangle,
    Nat,
    Filter,
    /// Accepted and kept for SELinux-labelling rulesets; sluice runs its
    /// chains after filter, as the kernel does, but it has no SECMARK target.
    Security,
}

impl TableKind {
    pub const ALL: [TableKind; 5] = [
        TableKind::Raw,
        TableKind::Mangle,
        TableKind::Nat,
        TableKind::Filter,
        TableKind::Security,
    ];

    pub fn from_name(name: &str) -> Option<TableKind> {
        Some(match name {
            "raw" => TableKind::Raw,
            "mangle" => TableKind::Mangle,
            "nat" => TableKind::Nat,
            "filter" => TableKind::Filter,
            "security" => TableKind::Security,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TableKind::Raw => "raw",
            TableKind::Mangle => "mangle",
            TableKind::Nat => "nat",
            TableKind::Filter => "filter",
            TableKind::Security => "security",
        }
    }

    /// Built-in chains in the order `iptables-save` prints them.
    pub fn builtin_hooks(self) -> &'static [Hook] {
        use Hook::*;
        match self {
            TableKind::Raw => &[Prerouting, Output],
            TableKind::Mangle => &[Prerouting, Input, Forward, Output, Postrouting],
            TableKind::Nat => &[Prerouting, Input, Output, Postrouting],
            TableKind::Filter | TableKind::Security => &[Input, Forward, Output],
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The five netfilter hooks; each is a built-in chain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub const ALL: [Hook; 5] = [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
    ];

    pub fn chain_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }

    pub fn from_chain_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.chain_name() == name)
    }

    /// Bit for hook sets ([`HookMask`]).
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of hooks (bit per [`Hook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookMask(pub u8);

impl HookMask {
    pub fn contains(self, h: Hook) -> bool {
        self.0 & h.bit() != 0
    }
    pub fn of(hooks: &[Hook]) -> HookMask {
        HookMask(hooks.iter().fold(0, |m, h| m | h.bit()))
    }
    pub fn hooks(self) -> impl Iterator<Item = Hook> {
        Hook::ALL.into_iter().filter(move |h| self.contains(*h))
    }
}

/// Packet and byte counters as `[pkts:bytes]` / `-c pkts bytes` give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// Built-in chain policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        }
    }
}

/// A whole ruleset: the tables in the order the file first named them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// Which restore read it: iptables (IPv4) or ip6tables.
    pub family: Family,
    pub tables: Vec<Table>,
    /// Tables a restore file opened and committed without naming any of
    /// their chains: iptables-legacy has them (with empty built-in
    /// chains), iptables-nft does not create them, so `iptables-nft-save`
    /// omits them ([`crate::iptables::save::save_nft`]).
    pub nft_absent: Vec<TableKind>,
}

impl Ruleset {
    pub fn table(&self, kind: TableKind) -> Option<&Table> {
        self.tables.iter().find(|t| t.kind == kind)
    }
    pub fn table_mut(&mut self, kind: TableKind) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.kind == kind)
    }
}

/// One table: its built-in chains (always present, in kernel order) and
/// user chains (kept sorted by name, as libiptc keeps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub kind: TableKind,
    pub chains: Vec<Chain>,
}

impl Table {
    /// A fresh table: built-in chains with policy ACCEPT, no rules.
    pub fn new(kind: TableKind) -> Table {
        Table {
            kind,
            chains: kind
                .builtin_hooks()
                .iter()
                .map(|h| Chain {
                    name: h.chain_name().to_string(),
                    hook: Some(*h),
                    policy: Some(Policy::Accept),
                    counters: Counters::default(),
                    rules: Vec::new(),
                    line: 0,
                })
                .collect(),
        }
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chain_index(name).map(|i| &self.chains[i])
    }
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chain_index(name).map(|i| &mut self.chains[i])
    }
    /// Position of chain `name`: the built-in chains, then a binary search
    /// of the user chains (kept sorted by name), so lookups cost O(log n);
    /// a table built out of order by hand falls back to a linear search
    /// when the name is not found.
    pub fn chain_index(&self, name: &str) -> Option<usize> {
        let builtins = self.kind.builtin_hooks().len().min(self.chains.len());
        if let Some(i) = self.chains[..builtins].iter().position(|c| c.name == name) {
            return Some(i);
        }
        match self.chains[builtins..].binary_search_by(|c| c.name.as_str().cmp(name)) {
            Ok(i) => Some(builtins + i),
            Err(_) => self.chains.iter().position(|c| c.name == name),
        }
    }

    /// Adds a user chain, keeping user chains sorted by name.
    pub fn add_user_chain(&mut self, name: &str, line: usize) {
        let builtins = self.kind.builtin_hooks().len();
        let pos = self.chains[builtins..]
            .iter()
            .position(|c| c.name.as_str() > name)
            .map(|p| p + builtins)
            .unwrap_or(self.chains.len());
        self.chains.insert(
            pos,
            Chain {
                name: name.to_string(),
                hook: None,
                policy: None,
                counters: Counters::default(),
                rules: Vec::new(),
                line,
            },
        );
    }

    pub fn user_chains(&self) -> impl Iterator<Item = &Chain> {
        self.chains.iter().filter(|c| c.hook.is_none())
    }
}

/// A chain: built-in (with a hook and a policy) or user-defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub hook: Option<Hook>,
    pub policy: Option<Policy>,
    pub counters: Counters,
    pub rules: Vec<Rule>,
    /// Line that declared it (0 for built-in chains not named in the file).
    pub line: usize,
}

/// An address type `-s`/`-d` take: its bits as a number, for masks.
pub trait IpBits: Copy + Eq + fmt::Display {
    /// How many bits an address has (32 or 128).
    const BITS: u32;
    /// The unspecified address (`0.0.0.0`, `::`).
    const ZERO: Self;
    /// The address as a number, right-aligned.
    fn bits(self) -> u128;
}

impl IpBits for Ipv4Addr {
    const BITS: u32 = 32;
    const ZERO: Self = Ipv4Addr::UNSPECIFIED;
    fn bits(self) -> u128 {
        u32::from(self).into()
    }
}

impl IpBits for Ipv6Addr {
    const BITS: u32 = 128;
    const ZERO: Self = Ipv6Addr::UNSPECIFIED;
    fn bits(self) -> u128 {
        u128::from(self)
    }
}

/// `-s` / `-d`: an address under a mask (contiguous or not); IPv4 unless
/// said otherwise ([`Addr6Match`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrMatch<A = Ipv4Addr> {
    pub addr: A,
    pub mask: A,
    pub invert: bool,
}

/// `-s` / `-d` of an ip6tables rule.
pub type Addr6Match = AddrMatch<Ipv6Addr>;

impl<A: IpBits> AddrMatch<A> {
    /// Whether `ip` is inside (before inversion).
    pub fn contains(&self, ip: A) -> bool {
        ip.bits() & self.mask.bits() == self.addr.bits()
    }
    /// Prefix length when the mask is contiguous.
    pub fn prefix_len(&self) -> Option<u8> {
        let m = self.mask.bits() << (128 - A::BITS);
        let ones = m.leading_ones();
        (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
    }
    /// A zero mask, not inverted: no condition at all.
    pub fn is_any(&self) -> bool {
        self.mask == A::ZERO && !self.invert
    }
}

/// `-i` / `-o`: an interface name, `+` at the end matching any suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceMatch {
    /// Name without the trailing `+`.
    pub name: String,
    pub wildcard: bool,
    pub invert: bool,
}

impl IfaceMatch {
    /// Whether interface `ifname` matches (before inversion).
    pub fn matches(&self, ifname: &str) -> bool {
        if self.wildcard {
            ifname.starts_with(&self.name)
        } else {
            ifname == self.name
        }
    }
}

/// `-p`: protocol number (0 is "all" and never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoMatch {
    pub proto: u8,
    pub invert: bool,
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// No `-j`: the rule only counts.
    None,
    Accept,
    Drop,
    Return,
    /// `-j CHAIN` (call) or `-g CHAIN` (goto).
    Chain {
        name: String,
        goto: bool,
    },
    /// A target extension (REJECT, LOG, DNAT, ...).
    Ext(TargetExt),
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Line of the file the rule came from.
    pub line: usize,
    pub counters: Counters,
    pub src: Option<AddrMatch>,
    pub dst: Option<AddrMatch>,
    /// `-s` of an ip6tables rule (`src` is then `None`).
    pub src6: Option<Addr6Match>,
    /// `-d` of an ip6tables rule (`dst` is then `None`).
    pub dst6: Option<Addr6Match>,
    pub in_iface: Option<IfaceMatch>,
    pub out_iface: Option<IfaceMatch>,
    pub proto: Option<ProtoMatch>,
    /// `-f` (IPv4 only): `Some(false)` for `-f`, `Some(true)` for `! -f`.
    pub fragment: Option<bool>,
    pub matches: Vec<Match>,
    pub target: Target,
}

impl Rule {
    pub fn new(line: usize) -> Rule {
        Rule {
            line,
            counters: Counters::default(),
            src: None,
            dst: None,
            src6: None,
            dst6: None,
            in_iface: None,
            out_iface: None,
            proto: None,
            fragment: None,
            matches: Vec::new(),
            target: Target::None,
        }
    }

    /// The protocol the rule is restricted to (positively), if any.
    pub fn proto_is(&self, p: u8) -> bool {
        matches!(self.proto, Some(ProtoMatch { proto, invert: false }) if proto == p)
    }
}
