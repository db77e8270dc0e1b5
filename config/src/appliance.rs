//! The appliance TOML: which interfaces sluice attaches to and their
//! addresses, the routes and policy rules of the FIB, where the firewall
//! files are, and how the dataplane is sized.
//!
//! ```toml
//! [[interface]]
//! name = "r0"                                # kernel netdev sluice attaches to
//! address = ["10.0.1.1/24", "fd00:1::1/64"]  # the router's own addresses
//! mtu = 1500                                 # optional, default 1500
//!
//! [[route]]
//! to = "0.0.0.0/0"        # prefix; host bits set = error, as `ip route`
//! via = "10.0.2.2"        # optional gateway, on a connected network
//! dev = "r1"              # optional; a declared interface
//! table = 100             # optional, default main; or "main"/"local"/"default"
//! metric = 0              # optional, default 0
//!
//! [[policy]]              # `ip rule` semantics
//! priority = 100
//! fwmark = "0x1/0xff"     # optional VALUE[/MASK]
//! from = "10.0.0.0/8"     # optional
//! to = "192.0.2.0/24"     # optional
//! iif = "r0"              # optional
//! oif = "r1"              # optional
//! not = false             # optional
//! table = 100
//!
//! [firewall]
//! rules = "rules.v4"      # iptables-restore file, relative to this file's folder
//! sets = "sets.save"      # optional ipset save file
//!
//! [dataplane]
//! workers = 1             # optional, default 1
//! conntrack_max = 262144  # optional, default 262144
//! ```
//!
//! Unknown keys are errors. Every error names the file, line and column of
//! the offending key or value: the TOML is read into private raw structs
//! that keep the span of every value ([`toml::Spanned`]), then validated into
//! the plain public model, where each item keeps the line it was declared on.
//!
//! What follows the kernel (iproute2 + `net/ipv4/fib_*.c`, `net/core/fib_rules.c`):
//!
//! * A route prefix with host bits set is refused, like `ip route`'s
//!   "Invalid prefix for given prefix length". A plain address is a host
//!   route (/32 or /128); `"default"` is `0.0.0.0/0` or `::/0` by the family
//!   of `via`.
//! * A route needs `via` or `dev`. A gateway must lie on a connected network
//!   (of `dev` when given) and not be one of the router's own addresses
//!   ("Nexthop has invalid gateway"); an IPv6 link-local gateway needs `dev`.
//!   A second route with the same table, prefix and metric is refused
//!   ("File exists").
//! * Policy `from`/`to` may have host bits; like the kernel, only the
//!   prefix bits take part in matching, so they are stored truncated.
//!   `"all"` means no selector.
//! * `fwmark` parses numbers as `strtoul(.., 0)` does (hex `0x`, octal `0`,
//!   decimal). Without a mask the mask is `0xffffffff`, except for the value
//!   0, where the kernel leaves the mask 0 (the rule then matches every mark).
//!
//! Deliberate differences, checked here because sluice owns the whole box:
//!
//! * `dev`, `iif` and `oif` must name a declared interface (`iif`/`oif` may
//!   also be `lo`, the kernel's name for locally generated traffic); the
//!   kernel accepts unknown names and leaves the rule inactive.
//! * A policy rule without `from`/`to` applies to both IPv4 and IPv6 (the
//!   kernel keeps one rule list per family); `from` and `to` must agree.
//! * The kernel's default rules are implied and not listed in
//!   [`Appliance::policies`]: 0 `lookup local`, 32766 `lookup main` and,
//!   for IPv4 only (as a fresh kernel has them), 32767 `lookup default`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, ErrorKind, Location};

/// The `main` routing table (`ip route` without `table`).
pub const TABLE_MAIN: u32 = 254;
/// The `local` routing table: the router's own and broadcast addresses.
pub const TABLE_LOCAL: u32 = 255;
/// The `default` routing table, consulted last by the default rules.
pub const TABLE_DEFAULT: u32 = 253;

/// Default interface MTU.
pub const DEFAULT_MTU: u16 = 1500;
/// Smallest MTU Linux accepts on an IPv4 interface (RFC 791: 68 octets).
pub const MIN_MTU: u16 = 68;
/// Smallest MTU for IPv6 (RFC 8200 §5); Linux drops IPv6 below it.
pub const MIN_MTU_IPV6: u16 = 1280;
/// Default number of dataplane worker cores.
pub const DEFAULT_WORKERS: u32 = 1;
/// Default size of the conntrack table (entries, summed over workers).
pub const DEFAULT_CONNTRACK_MAX: u32 = 262_144;
/// Longest Linux interface name (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// A whole appliance configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appliance {
    /// In file order; never empty.
    pub interfaces: Vec<Interface>,
    /// In file order.
    pub routes: Vec<Route>,
    /// In file order (the dataplane orders them by priority, stable).
    pub policies: Vec<PolicyRule>,
    pub firewall: Option<Firewall>,
    pub dataplane: Dataplane,
}

impl Appliance {
    /// The interface called `name`.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

/// One `[[interface]]`: a kernel netdev sluice attaches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// The router's own addresses with their prefix length
    /// (`10.0.1.1/24`: address 10.0.1.1 on the connected network 10.0.1.0/24).
    pub addresses: Vec<IpNet>,
    pub mtu: u16,
    /// Line of the `[[interface]]` header.
    pub line: usize,
}

/// One `[[route]]`, as `ip route add TO [via VIA] [dev DEV] [table T] [metric M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination prefix; no host bits set.
    pub to: IpNet,
    /// The gateway, same family as `to`.
    pub via: Option<IpAddr>,
    /// The egress interface as written (a declared interface). When absent,
    /// the interface whose connected network holds `via`.
    pub dev: Option<String>,
    pub table: u32,
    pub metric: u32,
    /// Line of the `[[route]]` header.
    pub line: usize,
}

/// One `[[policy]]`, as `ip rule add [not] priority P [fwmark V/M] [from P]
/// [to P] [iif I] [oif O] lookup T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub priority: u32,
    /// `(value, mask)`: matches when `(mark ^ value) & mask == 0`.
    pub fwmark: Option<(u32, u32)>,
    /// Source prefix, truncated to its network.
    pub from: Option<IpNet>,
    /// Destination prefix, truncated to its network.
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// Inverts the whole selector.
    pub not: bool,
    pub table: u32,
    /// Line of the `[[policy]]` header.
    pub line: usize,
}

/// The `[firewall]` section: the files that hold the ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    /// The `iptables-restore` file, resolved against the TOML file's folder.
    pub rules: PathBuf,
    /// The `ipset save` file, resolved the same way.
    pub sets: Option<PathBuf>,
    /// Line of the `[firewall]` header.
    pub line: usize,
}

/// The `[dataplane]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataplane {
    /// Worker cores, at least 1.
    pub workers: u32,
    /// Conntrack table size, at least 1.
    pub conntrack_max: u32,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            workers: DEFAULT_WORKERS,
            conntrack_max: DEFAULT_CONNTRACK_MAX,
        }
    }
}

/// Reads and parses the appliance TOML at `path`.
pub fn load(path: &Path) -> Result<Appliance, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            Location::new(path, 1, None),
            ErrorKind::Io(format!("{}: {e}", path.display())),
        )
    })?;
    parse(&text, path)
}

/// Parses appliance TOML `text`; `file` names it in errors and anchors the
/// relative firewall paths. Does not touch the filesystem.
pub fn parse(text: &str, file: &Path) -> Result<Appliance, Error> {
    let line_starts = std::iter::once(0)
        .chain(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let cx = Cx {
        text,
        file,
        line_starts,
    };
    let raw: RawAppliance = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.error(ErrorKind::Toml(one_line(e.message())), &span)
    })?;
    raw.validate(&cx)
}

// ---------------------------------------------------------------------------
// Raw shape, as written, with spans.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppliance {
    #[serde(default)]
    interface: Vec<Spanned<RawInterface>>,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    policy: Vec<Spanned<RawPolicy>>,
    firewall: Option<Spanned<RawFirewall>>,
    dataplane: Option<RawDataplane>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    #[serde(default)]
    address: Vec<Spanned<String>>,
    mtu: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    to: Spanned<String>,
    via: Option<Spanned<String>>,
    dev: Option<Spanned<String>>,
    table: Option<Spanned<TableRef>>,
    metric: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    priority: Spanned<i64>,
    fwmark: Option<Spanned<NumOrText>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    iif: Option<Spanned<String>>,
    oif: Option<Spanned<String>>,
    #[serde(default)]
    not: bool,
    table: Spanned<TableRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFirewall {
    rules: Spanned<String>,
    sets: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    workers: Option<Spanned<i64>>,
    conntrack_max: Option<Spanned<i64>>,
}

/// A routing table as written: a number or a name.
type TableRef = NumOrText;

/// A TOML value that may be an integer or a string (`table`, `fwmark`).
enum NumOrText {
    Num(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumOrText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumOrText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrText, E> {
                Ok(NumOrText::Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrText, E> {
                i64::try_from(v)
                    .map(NumOrText::Num)
                    .map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrText, E> {
                Ok(NumOrText::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<NumOrText, E> {
                Ok(NumOrText::Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Validation.

/// The text being parsed, to turn byte spans into locations.
struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
    /// Byte offset of the start of each line, to find a line in O(log n).
    line_starts: Vec<usize>,
}

impl Cx<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let bytes = self.text.as_bytes();
        let offset = offset.min(bytes.len());
        let upto = &bytes[..offset];
        // Index of the last line start <= offset.
        let idx = self.line_starts.partition_point(|&s| s <= offset).max(1) - 1;
        let line = idx + 1;
        let line_start = self.line_starts[idx];
        // Count characters, not bytes: skip UTF-8 continuation bytes.
        let column = 1 + upto[line_start..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        (line, column)
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.line_col(span.start).0
    }

    fn location(&self, span: &Range<usize>) -> Location {
        let (line, column) = self.line_col(span.start);
        Location::new(self.file, line, Some(column))
    }

    fn error(&self, kind: ErrorKind, span: &Range<usize>) -> Error {
        Error::new(self.location(span), kind)
    }

    fn invalid(&self, span: &Range<usize>, msg: impl Into<String>) -> Error {
        self.error(ErrorKind::Invalid(msg.into()), span)
    }
}

impl RawAppliance {
    fn validate(self, cx: &Cx<'_>) -> Result<Appliance, Error> {
        if self.interface.is_empty() {
            return Err(cx.invalid(
                &(0..0),
                "no [[interface]] defined: sluice needs at least one interface to attach to",
            ));
        }
        let mut interfaces = Vec::with_capacity(self.interface.len());
        // Name -> index into `interfaces`; address -> (interface, line).
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut owner: HashMap<IpAddr, (String, usize)> = HashMap::new();
        for raw in self.interface {
            let span = raw.span();
            let raw = raw.into_inner();
            let iface = raw.validate(cx, cx.line(&span), &interfaces, &by_name, &mut owner)?;
            by_name.insert(iface.name.clone(), interfaces.len());
            interfaces.push(iface);
        }

        let mut routes: Vec<Route> = Vec::with_capacity(self.route.len());
        let mut seen_routes: HashMap<(u32, IpNet, u32), usize> = HashMap::new();
        for raw in self.route {
            let span = raw.span();
            let raw = raw.into_inner();
            let to_span = raw.to.span();
            let route = raw.validate(cx, cx.line(&span), &interfaces, &by_name, &owner)?;
            let key = (route.table, route.to, route.metric);
            if let Some(first) = seen_routes.get(&key) {
                return Err(cx.invalid(
                    &to_span,
                    format!(
                        "route {} in table {} with metric {} is already defined at line {first}",
                        route.to,
                        table_name(route.table),
                        route.metric
                    ),
                ));
            }
            seen_routes.insert(key, route.line);
            routes.push(route);
        }

        let mut policies = Vec::with_capacity(self.policy.len());
        for raw in self.policy {
            let span = raw.span();
            policies.push(raw.into_inner().validate(cx, cx.line(&span), &by_name)?);
        }

        let firewall = match self.firewall {
            None => None,
            Some(raw) => {
                let span = raw.span();
                Some(raw.into_inner().validate(cx, cx.line(&span))?)
            }
        };

        let dataplane = match self.dataplane {
            None => Dataplane::default(),
            Some(raw) => raw.validate(cx)?,
        };

        Ok(Appliance {
            interfaces,
            routes,
            policies,
            firewall,
            dataplane,
        })
    }
}

impl RawInterface {
    fn validate(
        self,
        cx: &Cx<'_>,
        line: usize,
        interfaces: &[Interface],
        by_name: &HashMap<String, usize>,
        owner: &mut HashMap<IpAddr, (String, usize)>,
    ) -> Result<Interface, Error> {
        let name_span = self.name.span();
        let name = self.name.into_inner();
        if let Err(why) = check_ifname(&name) {
            return Err(cx.invalid(
                &name_span,
                format!("invalid interface name {name:?}: {why}"),
            ));
        }
        if let Some(first) = by_name.get(&name).and_then(|&i| interfaces.get(i)) {
            return Err(cx.invalid(
                &name_span,
                format!(
                    "interface {name:?} is already defined at line {}",
                    first.line
                ),
            ));
        }

        let mut addresses = Vec::with_capacity(self.address.len());
        for a in self.address {
            let span = a.span();
            let text = a.into_inner();
            let net = parse_address(&text).ok_or_else(|| {
                cx.invalid(
                    &span,
                    format!(
                        "invalid address {text:?}: expected ADDRESS/PREFIXLEN, \
                         e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\""
                    ),
                )
            })?;
            if let Some((other, other_line)) = owner.get(&net.addr()) {
                return Err(cx.invalid(
                    &span,
                    format!(
                        "address {} is already assigned to interface {other:?} at line {other_line}",
                        net.addr()
                    ),
                ));
            }
            owner.insert(net.addr(), (name.clone(), line));
            addresses.push(net);
        }
        let mtu = match self.mtu {
            None => DEFAULT_MTU,
            Some(m) => {
                let span = m.span();
                let v = *m.get_ref();
                let mtu = u16::try_from(v)
                    .ok()
                    .filter(|&v| v >= MIN_MTU)
                    .ok_or_else(|| {
                        cx.invalid(&span, format!("mtu {v} is out of range {MIN_MTU}..=65535"))
                    })?;
                if mtu < MIN_MTU_IPV6 && addresses.iter().any(|a| a.addr().is_ipv6()) {
                    return Err(cx.invalid(
                        &span,
                        format!(
                            "mtu {mtu} is below {MIN_MTU_IPV6}, the IPv6 minimum (RFC 8200), \
                             and interface {name:?} has an IPv6 address"
                        ),
                    ));
                }
                mtu
            }
        };

        Ok(Interface {
            name,
            addresses,
            mtu,
            line,
        })
    }
}

impl RawRoute {
    fn validate(
        self,
        cx: &Cx<'_>,
        line: usize,
        interfaces: &[Interface],
        by_name: &HashMap<String, usize>,
        owner: &HashMap<IpAddr, (String, usize)>,
    ) -> Result<Route, Error> {
        let via = match &self.via {
            None => None,
            Some(v) => {
                let text = v.get_ref();
                Some(text.parse::<IpAddr>().map_err(|_| {
                    cx.invalid(
                        &v.span(),
                        format!("invalid gateway {text:?}: expected an IPv4 or IPv6 address"),
                    )
                })?)
            }
        };

        let to_span = self.to.span();
        let to_text = self.to.get_ref();
        let to = if to_text == "default" {
            match via {
                Some(IpAddr::V4(_)) => IpNet::V4(Default::default()),
                Some(IpAddr::V6(_)) => IpNet::V6(Default::default()),
                None => {
                    return Err(cx.invalid(
                        &to_span,
                        "\"default\" takes its family from `via`; without a gateway \
                         write \"0.0.0.0/0\" or \"::/0\"",
                    ))
                }
            }
        } else {
            let net = parse_address(to_text).ok_or_else(|| {
                cx.invalid(
                    &to_span,
                    format!(
                        "invalid route destination {to_text:?}: expected PREFIX/LEN, \
                         e.g. \"10.0.0.0/8\", \"::/0\" or \"default\""
                    ),
                )
            })?;
            if net.trunc() != net {
                return Err(cx.invalid(
                    &to_span,
                    format!(
                        "invalid prefix for given prefix length: {net} has host bits set \
                         (the network is {})",
                        net.trunc()
                    ),
                ));
            }
            net
        };

        let dev = match self.dev {
            None => None,
            Some(d) => {
                let span = d.span();
                let name = d.into_inner();
                if !by_name.contains_key(&name) {
                    return Err(cx.invalid(
                        &span,
                        format!("dev {name:?} is not a declared [[interface]]"),
                    ));
                }
                Some(name)
            }
        };

        if let (Some(gw), Some(v)) = (via, &self.via) {
            let span = v.span();
            if gw.is_ipv4() != to.addr().is_ipv4() {
                return Err(cx.invalid(
                    &span,
                    format!(
                        "gateway {gw} is {} but destination {to} is {}",
                        family_name(gw),
                        family_name(to.addr())
                    ),
                ));
            }
            if let Some((iface, _)) = owner.get(&gw) {
                return Err(cx.invalid(
                    &span,
                    format!(
                        "invalid gateway {gw}: it is the router's own address on interface {iface:?}"
                    ),
                ));
            }
            let candidates: Vec<&Interface> = match &dev {
                Some(d) => by_name
                    .get(d)
                    .and_then(|&i| interfaces.get(i))
                    .into_iter()
                    .collect(),
                None => interfaces.iter().collect(),
            };
            let link_local = matches!(gw, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if link_local {
                if dev.is_none() {
                    return Err(cx.invalid(
                        &span,
                        format!("link-local gateway {gw} needs `dev` to say which link"),
                    ));
                }
            } else if !candidates
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.trunc().contains(&gw)))
            {
                let msg = match &dev {
                    Some(d) => format!(
                        "invalid gateway {gw}: not on a connected network of interface {d:?}"
                    ),
                    None => {
                        format!("invalid gateway {gw}: not on a connected network of any interface")
                    }
                };
                return Err(cx.invalid(&span, msg));
            }
        } else if via.is_none() && dev.is_none() {
            return Err(cx.invalid(&to_span, format!("route {to} needs `via` or `dev`")));
        }

        let table = match self.table {
            None => TABLE_MAIN,
            Some(t) => resolve_table(cx, &t)?,
        };
        let metric = match self.metric {
            None => 0,
            Some(m) => u32::try_from(*m.get_ref()).map_err(|_| {
                cx.invalid(
                    &m.span(),
                    format!("metric {} is out of range 0..=4294967295", m.get_ref()),
                )
            })?,
        };

        Ok(Route {
            to,
            via,
            dev,
            table,
            metric,
            line,
        })
    }
}

impl RawPolicy {
    fn validate(
        self,
        cx: &Cx<'_>,
        line: usize,
        by_name: &HashMap<String, usize>,
    ) -> Result<PolicyRule, Error> {
        let priority = u32::try_from(*self.priority.get_ref()).map_err(|_| {
            cx.invalid(
                &self.priority.span(),
                format!(
                    "priority {} is out of range 0..=4294967295",
                    self.priority.get_ref()
                ),
            )
        })?;

        let fwmark = match &self.fwmark {
            None => None,
            Some(m) => Some(parse_fwmark(m.get_ref()).map_err(|why| cx.invalid(&m.span(), why))?),
        };

        let selector = |s: &Option<Spanned<String>>, key: &str| -> Result<Option<IpNet>, Error> {
            let Some(s) = s else { return Ok(None) };
            let text = s.get_ref();
            if text == "all" {
                return Ok(None);
            }
            parse_address(text).map(|n| Some(n.trunc())).ok_or_else(|| {
                cx.invalid(
                    &s.span(),
                    format!("invalid `{key}` prefix {text:?}: expected PREFIX/LEN or \"all\""),
                )
            })
        };
        let from = selector(&self.from, "from")?;
        let to = selector(&self.to, "to")?;
        if let (Some(f), Some(t), Some(ts)) = (from, to, &self.to) {
            if f.addr().is_ipv4() != t.addr().is_ipv4() {
                return Err(cx.invalid(
                    &ts.span(),
                    format!(
                        "`to` {t} is {} but `from` {f} is {}",
                        family_name(t.addr()),
                        family_name(f.addr())
                    ),
                ));
            }
        }

        let device = |s: Option<Spanned<String>>, key: &str| -> Result<Option<String>, Error> {
            let Some(s) = s else { return Ok(None) };
            let span = s.span();
            let name = s.into_inner();
            if name != "lo" && !by_name.contains_key(&name) {
                return Err(cx.invalid(
                    &span,
                    format!("{key} {name:?} is not a declared [[interface]] (nor \"lo\")"),
                ));
            }
            Ok(Some(name))
        };
        let iif = device(self.iif, "iif")?;
        let oif = device(self.oif, "oif")?;
        let table = resolve_table(cx, &self.table)?;

        Ok(PolicyRule {
            priority,
            fwmark,
            from,
            to,
            iif,
            oif,
            not: self.not,
            table,
            line,
        })
    }
}

impl RawFirewall {
    fn validate(self, cx: &Cx<'_>, line: usize) -> Result<Firewall, Error> {
        let dir = cx.file.parent().unwrap_or_else(|| Path::new(""));
        let resolve = |s: Spanned<String>, key: &str| -> Result<PathBuf, Error> {
            let span = s.span();
            let p = s.into_inner();
            if p.is_empty() {
                return Err(cx.invalid(&span, format!("`{key}` is an empty path")));
            }
            Ok(dir.join(p))
        };
        let rules = resolve(self.rules, "rules")?;
        let sets = match self.sets {
            None => None,
            Some(s) => Some(resolve(s, "sets")?),
        };
        Ok(Firewall { rules, sets, line })
    }
}

impl RawDataplane {
    fn validate(self, cx: &Cx<'_>) -> Result<Dataplane, Error> {
        let positive = |v: Option<Spanned<i64>>, key: &str, default: u32| -> Result<u32, Error> {
            let Some(v) = v else { return Ok(default) };
            u32::try_from(*v.get_ref())
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    cx.invalid(
                        &v.span(),
                        format!("{key} = {} is out of range 1..=4294967295", v.get_ref()),
                    )
                })
        };
        Ok(Dataplane {
            workers: positive(self.workers, "workers", DEFAULT_WORKERS)?,
            conntrack_max: positive(self.conntrack_max, "conntrack_max", DEFAULT_CONNTRACK_MAX)?,
        })
    }
}

// ---------------------------------------------------------------------------
// Value parsers.

/// toml's messages may span lines ("invalid string\nexpected ..."); errors
/// print as one `file:line:col: message` line.
fn one_line(msg: &str) -> String {
    msg.trim_end()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// `dev_valid_name()` in net/core/dev.c.
fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(format!("longer than {MAX_IFNAME_LEN} bytes"));
    }
    if name == "." || name == ".." {
        return Err("reserved".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!("contains {c:?}"));
    }
    Ok(())
}

/// `ADDR/LEN` keeping host bits, or a plain address as a host prefix.
fn parse_address(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

fn table_name(t: u32) -> String {
    match t {
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        TABLE_DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

fn resolve_table(cx: &Cx<'_>, t: &Spanned<TableRef>) -> Result<u32, Error> {
    let span = t.span();
    match t.get_ref() {
        NumOrText::Num(n) => u32::try_from(*n)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| cx.invalid(&span, format!("table {n} is out of range 1..=4294967295"))),
        NumOrText::Text(s) => match s.as_str() {
            "main" => Ok(TABLE_MAIN),
            "local" => Ok(TABLE_LOCAL),
            "default" => Ok(TABLE_DEFAULT),
            _ => Err(cx.invalid(
                &span,
                format!(
                    "unknown table {s:?}: expected \"main\", \"local\", \"default\" \
                     or a number 1..=4294967295"
                ),
            )),
        },
    }
}

/// `strtoul(text, .., 0)` for a whole string: `0x` hex, leading `0` octal,
/// else decimal. No sign, no surrounding space.
fn parse_c_u32(text: &str) -> Option<u32> {
    let (digits, radix) =
        if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (h, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// `fwmark VALUE[/MASK]` as `ip rule` reads it, with the kernel's default
/// mask (`fib_nl2rule()` in net/core/fib_rules.c: all ones when the value is
/// non-zero, otherwise 0).
fn parse_fwmark(m: &NumOrText) -> Result<(u32, u32), String> {
    let default_mask = |v: u32| if v == 0 { 0 } else { u32::MAX };
    match m {
        NumOrText::Num(n) => {
            let v = u32::try_from(*n)
                .map_err(|_| format!("fwmark {n} is out of range 0..=0xffffffff"))?;
            Ok((v, default_mask(v)))
        }
        NumOrText::Text(s) => {
            let bad = || {
                format!(
                    "invalid fwmark {s:?}: expected VALUE[/MASK], numbers in decimal or 0x hex, \
                     e.g. \"0x1/0xff\""
                )
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Appliance, Error> {
        parse(text, Path::new("/etc/sluice/appliance.toml"))
    }

    /// Parses `text`, expecting an error; returns "line:col: message".
    fn err(text: &str) -> String {
        match p(text) {
            Ok(a) => panic!("expected an error, parsed {a:?}"),
            Err(e) => {
                assert_eq!(e.at.file, Path::new("/etc/sluice/appliance.toml"));
                format!(
                    "{}:{}: {}",
                    e.at.line,
                    e.at.column.expect("every appliance error has a column"),
                    e.kind
                )
            }
        }
    }

    const IFACES: &str = r#"
[[interface]]
name = "r0"
address = ["10.0.1.1/24", "fd00:1::1/64"]

[[interface]]
name = "r1"
address = ["10.0.2.1/24"]

"#;

    fn with_ifaces(rest: &str) -> String {
        format!("{IFACES}{rest}")
    }

    #[test]
    fn full_example() {
        let text = r#"# the branch office box
[[interface]]
name = "r0"
address = ["10.0.1.1/24", "fd00:1::1/64"]
mtu = 9000

[[interface]]
name = "r1"
address = ["10.0.2.1/24", "fd00:2::1/64"]

[[route]]
to = "0.0.0.0/0"
via = "10.0.2.2"
dev = "r1"

[[route]]
to = "192.0.2.0/24"
via = "10.0.1.254"
table = 100
metric = 10

[[route]]
to = "::/0"
via = "fe80::1"
dev = "r1"
table = "main"

[[route]]
to = "198.51.100.7"
dev = "r0"
table = "local"

[[policy]]
priority = 100
fwmark = "0x1/0xff"
from = "10.0.0.0/8"
to = "192.0.2.0/24"
iif = "r0"
oif = "r1"
not = true
table = 100

[[policy]]
priority = 200
fwmark = 7
table = "default"

[firewall]
rules = "rules.v4"
sets = "/var/lib/sluice/sets.save"

[dataplane]
workers = 4
conntrack_max = 1048576
"#;
        let a = p(text).unwrap();
        assert_eq!(
            a.interfaces,
            vec![
                Interface {
                    name: "r0".into(),
                    addresses: vec![
                        "10.0.1.1/24".parse().unwrap(),
                        "fd00:1::1/64".parse().unwrap()
                    ],
                    mtu: 9000,
                    line: 2,
                },
                Interface {
                    name: "r1".into(),
                    addresses: vec![
                        "10.0.2.1/24".parse().unwrap(),
                        "fd00:2::1/64".parse().unwrap()
                    ],
                    mtu: 1500,
                    line: 7,
                },
            ]
        );
        // The address keeps its host bits.
        assert_eq!(a.interfaces[0].addresses[0].addr().to_string(), "10.0.1.1");
        assert_eq!(
            a.routes,
            vec![
                Route {
                    to: "0.0.0.0/0".parse().unwrap(),
                    via: Some("10.0.2.2".parse().unwrap()),
                    dev: Some("r1".into()),
                    table: TABLE_MAIN,
                    metric: 0,
                    line: 11,
                },
                Route {
                    to: "192.0.2.0/24".parse().unwrap(),
                    via: Some("10.0.1.254".parse().unwrap()),
                    dev: None,
                    table: 100,
                    metric: 10,
                    line: 16,
                },
                Route {
                    to: "::/0".parse().unwrap(),
                    via: Some("fe80::1".parse().unwrap()),
                    dev: Some("r1".into()),
                    table: TABLE_MAIN,
                    metric: 0,
                    line: 22,
                },
                Route {
                    to: "198.51.100.7/32".parse().unwrap(),
                    via: None,
                    dev: Some("r0".into()),
                    table: TABLE_LOCAL,
                    metric: 0,
                    line: 28,
                },
            ]
        );
        assert_eq!(
            a.policies,
            vec![
                PolicyRule {
                    priority: 100,
                    fwmark: Some((1, 0xff)),
                    from: Some("10.0.0.0/8".parse().unwrap()),
                    to: Some("192.0.2.0/24".parse().unwrap()),
                    iif: Some("r0".into()),
                    oif: Some("r1".into()),
                    not: true,
                    table: 100,
                    line: 33,
                },
                PolicyRule {
                    priority: 200,
                    fwmark: Some((7, u32::MAX)),
                    from: None,
                    to: None,
                    iif: None,
                    oif: None,
                    not: false,
                    table: TABLE_DEFAULT,
                    line: 43,
                },
            ]
        );
        assert_eq!(
            a.firewall,
            Some(Firewall {
                rules: PathBuf::from("/etc/sluice/rules.v4"),
                sets: Some(PathBuf::from("/var/lib/sluice/sets.save")),
                line: 48,
            })
        );
        assert_eq!(
            a.dataplane,
            Dataplane {
                workers: 4,
                conntrack_max: 1_048_576
            }
        );
        assert_eq!(a.interface("r1").map(|i| i.line), Some(7));
        assert!(a.interface("r9").is_none());
    }

    #[test]
    fn minimal_uses_defaults() {
        let a = p("[[interface]]\nname = \"eth0\"\n").unwrap();
        assert_eq!(a.interfaces.len(), 1);
        assert_eq!(a.interfaces[0].mtu, DEFAULT_MTU);
        assert!(a.interfaces[0].addresses.is_empty());
        assert!(a.routes.is_empty() && a.policies.is_empty() && a.firewall.is_none());
        assert_eq!(a.dataplane, Dataplane::default());
        assert_eq!(a.dataplane.workers, 1);
        assert_eq!(a.dataplane.conntrack_max, 262_144);
    }

    #[test]
    fn relative_paths_without_a_folder() {
        let a = parse(
            "[[interface]]\nname = \"r0\"\n[firewall]\nrules = \"rules.v4\"\n",
            Path::new("appliance.toml"),
        )
        .unwrap();
        let fw = a.firewall.unwrap();
        assert_eq!(fw.rules, PathBuf::from("rules.v4"));
        assert_eq!(fw.sets, None);
        let a = parse(
            "[[interface]]\nname = \"r0\"\n[firewall]\nrules = \"../r/rules.v4\"\n",
            Path::new("conf/appliance.toml"),
        )
        .unwrap();
        assert_eq!(
            a.firewall.unwrap().rules,
            PathBuf::from("conf/../r/rules.v4")
        );
    }

    #[test]
    fn no_interface() {
        assert_eq!(
            err("[dataplane]\nworkers = 2\n"),
            "1:1: no [[interface]] defined: sluice needs at least one interface to attach to"
        );
        assert_eq!(
            err(""),
            "1:1: no [[interface]] defined: sluice needs at least one interface to attach to"
        );
    }

    #[test]
    fn unknown_key() {
        assert_eq!(
            err("[[interface]]\nnmae = \"r0\"\n"),
            "2:1: unknown field `nmae`, expected one of `name`, `address`, `mtu`"
        );
        assert_eq!(
            err(&with_ifaces("[dataplane]\nworkers = 1\nthreads = 2\n")),
            "12:1: unknown field `threads`, expected `workers` or `conntrack_max`"
        );
        let e = err(&with_ifaces("[routes]\nto = \"0.0.0.0/0\"\n"));
        assert!(e.starts_with("10:2: unknown field `routes`"), "{e}");
    }

    #[test]
    fn toml_syntax_and_shape() {
        assert_eq!(
            err("[[interface]]\nname = r0\n"),
            "2:8: invalid string: expected `\"`, `'`"
        );
        let e = err("[[interface]]\nname = \"r0\"\naddress = \"10.0.1.1/24\"\n");
        assert!(e.starts_with("3:11: invalid type: string"), "{e}");
        let e = err("[[interface]]\naddress = []\n");
        assert!(e.starts_with("1:1: missing field `name`"), "{e}");
    }

    #[test]
    fn bad_cidr() {
        assert_eq!(
            err("[[interface]]\nname = \"r0\"\naddress = [\"10.0.1.1/24\", \"10.0.1.300/24\"]\n"),
            "3:27: invalid address \"10.0.1.300/24\": expected ADDRESS/PREFIXLEN, \
             e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\""
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.0.0.0/33\"\ndev = \"r0\"\n"
            )),
            "11:6: invalid route destination \"10.0.0.0/33\": expected PREFIX/LEN, \
             e.g. \"10.0.0.0/8\", \"::/0\" or \"default\""
        );
    }

    #[test]
    fn host_bits_in_route() {
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.0.0.1/8\"\ndev = \"r0\"\n"
            )),
            "11:6: invalid prefix for given prefix length: 10.0.0.1/8 has host bits set \
             (the network is 10.0.0.0/8)"
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"fd00::1/64\"\ndev = \"r0\"\n"
            )),
            "11:6: invalid prefix for given prefix length: fd00::1/64 has host bits set \
             (the network is fd00::/64)"
        );
    }

    #[test]
    fn route_dev_undeclared() {
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r7\"\n"
            )),
            "12:7: dev \"r7\" is not a declared [[interface]]"
        );
    }

    #[test]
    fn route_gateway_checks() {
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"fd00:1::2\"\n"
            )),
            "12:7: gateway fd00:1::2 is IPv6 but destination 10.9.0.0/16 is IPv4"
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.9.9\"\n"
            )),
            "12:7: invalid gateway 10.0.9.9: not on a connected network of any interface"
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.2.2\"\ndev = \"r0\"\n"
            )),
            "12:7: invalid gateway 10.0.2.2: not on a connected network of interface \"r0\""
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.2.1\"\n"
            )),
            "12:7: invalid gateway 10.0.2.1: it is the router's own address on interface \"r1\""
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"::/0\"\nvia = \"fe80::1\"\n"
            )),
            "12:7: link-local gateway fe80::1 needs `dev` to say which link"
        );
        assert_eq!(
            err(&with_ifaces(
                "[[route]]\nto = \"10.9.0.0/16\"\nvia = \"10.0.2\"\n"
            )),
            "12:7: invalid gateway \"10.0.2\": expected an IPv4 or IPv6 address"
        );
        assert_eq!(
            err(&with_ifaces("[[route]]\nto = \"10.9.0.0/16\"\n")),
            "11:6: route 10.9.0.0/16 needs `via` or `dev`"
        );
        // IPv6 gateway on a connected IPv6 network.
        let a = p(&with_ifaces(
            "[[route]]\nto = \"fd00:9::/48\"\nvia = \"fd00:1::99\"\n",
        ))
        .unwrap();
        assert_eq!(a.routes[0].via, Some("fd00:1::99".parse().unwrap()));
    }

    #[test]
    fn route_default_keyword() {
        let a = p(&with_ifaces(
            "[[route]]\nto = \"default\"\nvia = \"10.0.2.2\"\n",
        ))
        .unwrap();
        assert_eq!(a.routes[0].to, "0.0.0.0/0".parse::<IpNet>().unwrap());
        let a = p(&with_ifaces(
            "[[route]]\nto = \"default\"\nvia = \"fd00:1::2\"\n",
        ))
        .unwrap();
        assert_eq!(a.routes[0].to, "::/0".parse::<IpNet>().unwrap());
        assert_eq!(
            err(&with_ifaces("[[route]]\nto = \"default\"\ndev = \"r0\"\n")),
            "11:6: \"default\" takes its family from `via`; without a gateway \
             write \"0.0.0.0/0\" or \"::/0\""
        );
    }

    #[test]
    fn duplicate_route() {
        let text = with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\n\
             [[route]]\nto = \"10.9.0.0/16\"\ndev = \"r1\"\ntable = 254\n",
        );
        assert_eq!(
            err(&text),
            "14:6: route 10.9.0.0/16 in table main with metric 0 is already defined at line 10"
        );
        // Another metric or another table is another route.
        let ok = with_ifaces(
            "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\n\
             [[route]]\nto = \"10.9.0.0/16\"\ndev = \"r1\"\nmetric = 5\n\
             [[route]]\nto = \"10.9.0.0/16\"\ndev = \"r1\"\ntable = 7\n",
        );
        assert_eq!(p(&ok).unwrap().routes.len(), 3);
    }

    #[test]
    fn tables() {
        let route = |t: &str| {
            with_ifaces(&format!(
                "[[route]]\nto = \"10.9.0.0/16\"\ndev = \"r0\"\ntable = {t}\n"
            ))
        };
        assert_eq!(p(&route("\"local\"")).unwrap().routes[0].table, 255);
        assert_eq!(p(&route("\"default\"")).unwrap().routes[0].table, 253);
        assert_eq!(p(&route("4294967295")).unwrap().routes[0].table, u32::MAX);
        assert_eq!(
            err(&route("\"mian\"")),
            "13:9: unknown table \"mian\": expected \"main\", \"local\", \"default\" \
             or a number 1..=4294967295"
        );
        assert_eq!(
            err(&route("0")),
            "13:9: table 0 is out of range 1..=4294967295"
        );
        assert_eq!(
            err(&route("4294967296")),
            "13:9: table 4294967296 is out of range 1..=4294967295"
        );
        assert_eq!(
            err(&route("1.5")),
            "13:9: invalid type: floating point `1.5`, expected an integer or a string"
        );
    }

    #[test]
    fn bad_fwmark() {
        let rule = |m: &str| {
            with_ifaces(&format!(
                "[[policy]]\npriority = 10\nfwmark = {m}\ntable = 100\n"
            ))
        };
        assert_eq!(
            err(&rule("\"0xzz\"")),
            "12:10: invalid fwmark \"0xzz\": expected VALUE[/MASK], numbers in decimal or 0x hex, \
             e.g. \"0x1/0xff\""
        );
        assert_eq!(
            err(&rule("\"1/\"")),
            "12:10: invalid fwmark \"1/\": expected VALUE[/MASK], numbers in decimal or 0x hex, \
             e.g. \"0x1/0xff\""
        );
        assert_eq!(
            err(&rule("\"0x100000000\"")),
            "12:10: invalid fwmark \"0x100000000\": expected VALUE[/MASK], numbers in decimal \
             or 0x hex, e.g. \"0x1/0xff\""
        );
        assert_eq!(
            err(&rule("-1")),
            "12:10: fwmark -1 is out of range 0..=0xffffffff"
        );
        let mark = |m: &str| p(&rule(m)).unwrap().policies[0].fwmark;
        assert_eq!(mark("\"0x10\""), Some((16, u32::MAX)));
        assert_eq!(mark("\"010/0xf0\""), Some((8, 0xf0)));
        assert_eq!(mark("\"42/255\""), Some((42, 255)));
        // fib_nl2rule(): a zero mark without a mask leaves the mask 0.
        assert_eq!(mark("\"0\""), Some((0, 0)));
        assert_eq!(mark("0"), Some((0, 0)));
        assert_eq!(mark("\"0/0xff\""), Some((0, 0xff)));
    }

    #[test]
    fn policy_checks() {
        let rule = |body: &str| with_ifaces(&format!("[[policy]]\n{body}\n"));
        assert_eq!(
            err(&rule("priority = 1\niif = \"r5\"\ntable = 1")),
            "12:7: iif \"r5\" is not a declared [[interface]] (nor \"lo\")"
        );
        assert_eq!(
            err(&rule("priority = 1\noif = \"eth0\"\ntable = 1")),
            "12:7: oif \"eth0\" is not a declared [[interface]] (nor \"lo\")"
        );
        assert_eq!(
            err(&rule("priority = -1\ntable = 1")),
            "11:12: priority -1 is out of range 0..=4294967295"
        );
        assert_eq!(
            err(&rule(
                "priority = 1\nfrom = \"10.0.0.0/8\"\nto = \"fd00::/8\"\ntable = 1"
            )),
            "13:6: `to` fd00::/8 is IPv6 but `from` 10.0.0.0/8 is IPv4"
        );
        assert_eq!(
            err(&rule("priority = 1\nfrom = \"10.0.0.0/40\"\ntable = 1")),
            "12:8: invalid `from` prefix \"10.0.0.0/40\": expected PREFIX/LEN or \"all\""
        );
        let e = err(&rule("priority = 1"));
        assert!(e.starts_with("10:1: missing field `table`"), "{e}");
        let a = p(&rule(
            "priority = 5\nfrom = \"10.1.2.3/8\"\nto = \"all\"\niif = \"lo\"\ntable = \"main\"",
        ))
        .unwrap();
        let r = &a.policies[0];
        assert_eq!(r.from, Some("10.0.0.0/8".parse().unwrap()));
        assert_eq!(r.to, None);
        assert_eq!(r.iif.as_deref(), Some("lo"));
        assert_eq!(r.table, TABLE_MAIN);
        assert!(!r.not);
        assert_eq!(r.line, 10);
    }

    #[test]
    fn workers_zero() {
        assert_eq!(
            err(&with_ifaces("[dataplane]\nworkers = 0\n")),
            "11:11: workers = 0 is out of range 1..=4294967295"
        );
        assert_eq!(
            err(&with_ifaces("[dataplane]\nconntrack_max = -5\n")),
            "11:17: conntrack_max = -5 is out of range 1..=4294967295"
        );
        let e = err(&with_ifaces("[dataplane]\nworkers = \"2\"\n"));
        assert!(
            e.starts_with("11:11: invalid type: string \"2\", expected i64"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_interface() {
        assert_eq!(
            err(&with_ifaces("[[interface]]\nname = \"r0\"\n")),
            "11:8: interface \"r0\" is already defined at line 2"
        );
        // Also when the first one has no addresses.
        assert_eq!(
            err("[[interface]]\nname = \"a\"\n\n[[interface]]\nname = \"a\"\n"),
            "5:8: interface \"a\" is already defined at line 1"
        );
    }

    #[test]
    fn duplicate_address() {
        assert_eq!(
            err(&with_ifaces(
                "[[interface]]\nname = \"r2\"\naddress = [\"10.0.2.1/16\"]\n"
            )),
            "12:12: address 10.0.2.1 is already assigned to interface \"r1\" at line 6"
        );
        assert_eq!(
            err("[[interface]]\nname = \"r0\"\naddress = [\"fd00::1/64\", \"fd00::1/128\"]\n"),
            "3:26: address fd00::1 is already assigned to interface \"r0\" at line 1"
        );
    }

    #[test]
    fn interface_checks() {
        assert_eq!(
            err("[[interface]]\nname = \"averyveryverylongname\"\n"),
            "2:8: invalid interface name \"averyveryverylongname\": longer than 15 bytes"
        );
        assert_eq!(
            err("[[interface]]\nname = \"r0:1\"\n"),
            "2:8: invalid interface name \"r0:1\": contains ':'"
        );
        assert_eq!(
            err("[[interface]]\nname = \"\"\n"),
            "2:8: invalid interface name \"\": empty"
        );
        assert_eq!(
            err("[[interface]]\nname = \"r0\"\nmtu = 67\n"),
            "3:7: mtu 67 is out of range 68..=65535"
        );
        assert_eq!(
            err("[[interface]]\nname = \"r0\"\nmtu = 65536\n"),
            "3:7: mtu 65536 is out of range 68..=65535"
        );
        assert_eq!(
            err("[[interface]]\nname = \"r0\"\naddress = [\"fd00::1/64\"]\nmtu = 1000\n"),
            "4:7: mtu 1000 is below 1280, the IPv6 minimum (RFC 8200), \
             and interface \"r0\" has an IPv6 address"
        );
        // A plain address is a host prefix, as `ip addr add`.
        let a = p("[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1\"]\nmtu = 68\n").unwrap();
        assert_eq!(
            a.interfaces[0].addresses,
            vec!["10.0.0.1/32".parse::<IpNet>().unwrap()]
        );
    }

    #[test]
    fn firewall_checks() {
        assert_eq!(
            err(&with_ifaces("[firewall]\nrules = \"\"\n")),
            "11:9: `rules` is an empty path"
        );
        let e = err(&with_ifaces("[firewall]\nsets = \"s\"\n"));
        assert!(e.starts_with("10:1: missing field `rules`"), "{e}");
    }

    #[test]
    fn columns_count_characters() {
        // A multi-byte character before the bad value on the same line.
        assert_eq!(
            err("[[interface]]\nname = \"r0\"\naddress = [ \"é\" ]\n"),
            "3:13: invalid address \"é\": expected ADDRESS/PREFIXLEN, \
             e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\""
        );
        assert_eq!(
            err("# café\n[[interface]]\nname = \"r0\"\naddress = [\"x\", \"é\", \"y\"]\n"),
            "4:12: invalid address \"x\": expected ADDRESS/PREFIXLEN, \
             e.g. \"10.0.1.1/24\" or \"fd00:1::1/64\""
        );
    }

    #[test]
    fn load_reports_io_errors_with_the_path() {
        let path = Path::new("/nonexistent/sluice/appliance.toml");
        let e = load(path).unwrap_err();
        assert_eq!(e.at.file, path);
        assert!(
            matches!(e.kind, ErrorKind::Io(ref m) if m.starts_with("/nonexistent/sluice/appliance.toml: "))
        );
    }

    #[test]
    fn load_reads_a_file() {
        let dir = std::env::temp_dir().join(format!("sluice-appliance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("appliance.toml");
        std::fs::write(
            &path,
            "[[interface]]\nname = \"r0\"\n[firewall]\nrules = \"rules.v4\"\n",
        )
        .unwrap();
        let a = load(&path).unwrap();
        assert_eq!(a.firewall.unwrap().rules, dir.join("rules.v4"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const LINES: &[&str] = &[
            "[[interface]]",
            "name = \"r0\"",
            "name = \"r1\"",
            "name = \"\"",
            "address = [\"10.0.1.1/24\", \"fd00:1::1/64\"]",
            "address = [\"10.0.2.1/24\"]",
            "address = [\"x\"]",
            "mtu = 1280",
            "mtu = 0",
            "mtu = 99999999999",
            "[[route]]",
            "to = \"0.0.0.0/0\"",
            "to = \"default\"",
            "to = \"10.0.0.1/8\"",
            "to = \"::/0\"",
            "via = \"10.0.1.2\"",
            "via = \"fe80::1\"",
            "via = \"nope\"",
            "dev = \"r0\"",
            "dev = \"r9\"",
            "table = 100",
            "table = \"main\"",
            "table = -1",
            "table = \"x\"",
            "metric = 5",
            "metric = -5",
            "[[policy]]",
            "priority = 10",
            "priority = 99999999999",
            "fwmark = \"0x1/0xff\"",
            "fwmark = \"/\"",
            "fwmark = 7",
            "from = \"10.0.0.0/8\"",
            "to = \"fd00::/8\"",
            "iif = \"lo\"",
            "oif = \"r1\"",
            "not = true",
            "[firewall]",
            "rules = \"r.v4\"",
            "sets = \"\"",
            "[dataplane]",
            "workers = 0",
            "workers = 4",
            "conntrack_max = 1",
            "x = 1",
            "[",
            "]",
            "\"",
        ];

        fn file() -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(LINES), 0..24).prop_map(|l| l.join("\n"))
        }

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
                let _ = p(&text);
            }

            #[test]
            fn arbitrary_lines_never_panic_and_errors_have_locations(text in file()) {
                if let Err(e) = p(&text) {
                    prop_assert!(e.at.line >= 1);
                    prop_assert!(e.at.line <= text.lines().count().max(1));
                    prop_assert!(e.at.column.is_some_and(|c| c >= 1));
                }
            }
        }
    }
}
