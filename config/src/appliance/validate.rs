//! The raw TOML checked and turned into the [`Appliance`] model: every
//! check the module docs list, each failure at the span of the value at
//! fault.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use toml::Spanned;

use super::error::ApplianceError;
use super::model::{
    Appliance, ConntrackConf, Control, Dataplane, Firewall, Interface, LogFormat, LogTarget,
    PolicyRule, Route, DEFAULT_CONNTRACK_MAX, DEFAULT_MTU, DEFAULT_WORKERS, MAX_CONNTRACK_TIMEOUT,
    MIN_MTU, MIN_MTU_IPV6, TABLE_MAIN,
};
use super::raw::{
    RawAppliance, RawConntrack, RawControl, RawDataplane, RawFirewall, RawInterface, RawPolicy,
    RawRoute, SysctlValue,
};
use super::values::{check_ifname, parse_address, parse_fwmark, resolve_table, DHCP};
use crate::error::{Error, ErrorKind, Location};

/// The text being parsed, to turn byte spans into locations.
pub(super) struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
    /// Byte offset of the start of each line, to find a line in O(log n).
    line_starts: Vec<usize>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(text: &'a str, file: &'a Path) -> Self {
        let line_starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        Cx {
            text,
            file,
            line_starts,
        }
    }

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

    pub(super) fn error(&self, kind: ErrorKind, span: &Range<usize>) -> Error {
        Error::new(self.location(span), kind)
    }

    pub(super) fn invalid(&self, span: &Range<usize>, e: ApplianceError) -> Error {
        self.error(ErrorKind::Invalid(e), span)
    }
}

impl RawAppliance {
    pub(super) fn validate(self, cx: &Cx<'_>) -> Result<Appliance, Error> {
        if self.interface.is_empty() {
            return Err(cx.invalid(&(0..0), ApplianceError::NoInterface));
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
                    ApplianceError::DuplicateRoute {
                        to: route.to,
                        table: route.table,
                        metric: route.metric,
                        first: *first,
                    },
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

        let conntrack = match self.conntrack {
            None => ConntrackConf::default(),
            Some(raw) => raw.validate(cx)?,
        };

        let control = match self.control {
            None => Control::default(),
            Some(raw) => raw.validate(cx)?,
        };

        Ok(Appliance {
            control,
            interfaces,
            routes,
            policies,
            firewall,
            dataplane,
            conntrack,
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
            return Err(cx.invalid(&name_span, ApplianceError::InterfaceName { name, why }));
        }
        if let Some(first) = by_name.get(&name).and_then(|&i| interfaces.get(i)) {
            return Err(cx.invalid(
                &name_span,
                ApplianceError::DuplicateInterface {
                    name,
                    first: first.line,
                },
            ));
        }

        let mut addresses = Vec::with_capacity(self.address.len());
        // The span of `"dhcp"`, and of the first static IPv4 address.
        let mut dhcp: Option<Range<usize>> = None;
        let mut static_v4: Option<(Range<usize>, IpNet)> = None;
        for a in self.address {
            let span = a.span();
            let text = a.into_inner();
            if text == DHCP {
                if dhcp.is_some() {
                    return Err(cx.invalid(&span, ApplianceError::DhcpTwice { interface: name }));
                }
                dhcp = Some(span);
                continue;
            }
            let Some(net) = parse_address(&text) else {
                return Err(cx.invalid(&span, ApplianceError::Address { text }));
            };
            if let Some((other, other_line)) = owner.get(&net.addr()) {
                return Err(cx.invalid(
                    &span,
                    ApplianceError::DuplicateAddress {
                        addr: net.addr(),
                        interface: other.clone(),
                        line: *other_line,
                    },
                ));
            }
            owner.insert(net.addr(), (name.clone(), line));
            if net.addr().is_ipv4() && static_v4.is_none() {
                static_v4 = Some((span, net));
            }
            addresses.push(net);
        }
        // DHCP owns the interface's IPv4 side: a static IPv4 address beside
        // it would be the primary address MASQUERADE and the box's own
        // packets pick, the lease a secondary one. Static IPv6 is fine.
        if let (Some(d), Some((s, addr))) = (&dhcp, &static_v4) {
            let at = if s.start > d.start { s } else { d };
            return Err(cx.invalid(
                at,
                ApplianceError::DhcpWithIpv4 {
                    interface: name,
                    addr: *addr,
                },
            ));
        }
        let mtu = match self.mtu {
            None => DEFAULT_MTU,
            Some(m) => {
                let span = m.span();
                let v = *m.get_ref();
                let mtu = u16::try_from(v)
                    .ok()
                    .filter(|&v| v >= MIN_MTU)
                    .ok_or_else(|| cx.invalid(&span, ApplianceError::Mtu { mtu: v }))?;
                if mtu < MIN_MTU_IPV6 && addresses.iter().any(|a| a.addr().is_ipv6()) {
                    return Err(cx.invalid(
                        &span,
                        ApplianceError::MtuBelowIpv6 {
                            mtu,
                            interface: name,
                        },
                    ));
                }
                mtu
            }
        };

        Ok(Interface {
            name,
            addresses,
            dhcp: dhcp.is_some(),
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
                    cx.invalid(&v.span(), ApplianceError::Gateway { text: text.clone() })
                })?)
            }
        };

        let to_span = self.to.span();
        let to_text = self.to.get_ref();
        let to = if to_text == "default" {
            match via {
                Some(IpAddr::V4(_)) => IpNet::V4(Default::default()),
                Some(IpAddr::V6(_)) => IpNet::V6(Default::default()),
                None => return Err(cx.invalid(&to_span, ApplianceError::DefaultWithoutGateway)),
            }
        } else {
            let net = parse_address(to_text).ok_or_else(|| {
                cx.invalid(
                    &to_span,
                    ApplianceError::RouteDestination {
                        text: to_text.clone(),
                    },
                )
            })?;
            if net.trunc() != net {
                return Err(cx.invalid(&to_span, ApplianceError::HostBits { net }));
            }
            net
        };

        let dev = match self.dev {
            None => None,
            Some(d) => {
                let span = d.span();
                let name = d.into_inner();
                if !by_name.contains_key(&name) {
                    return Err(cx.invalid(&span, ApplianceError::UnknownDev { name }));
                }
                Some(name)
            }
        };

        if let (Some(gw), Some(v)) = (via, &self.via) {
            let span = v.span();
            if gw.is_ipv4() != to.addr().is_ipv4() {
                return Err(cx.invalid(&span, ApplianceError::GatewayFamily { via: gw, to }));
            }
            if let Some((iface, _)) = owner.get(&gw) {
                return Err(cx.invalid(
                    &span,
                    ApplianceError::GatewayIsLocal {
                        via: gw,
                        interface: iface.clone(),
                    },
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
                    return Err(cx.invalid(&span, ApplianceError::LinkLocalWithoutDev { via: gw }));
                }
            } else if !candidates
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.trunc().contains(&gw)))
            {
                let e = match &dev {
                    Some(d) => ApplianceError::GatewayNotOnDev {
                        via: gw,
                        dev: d.clone(),
                    },
                    None => ApplianceError::GatewayNotConnected { via: gw },
                };
                return Err(cx.invalid(&span, e));
            }
        } else if via.is_none() && dev.is_none() {
            return Err(cx.invalid(&to_span, ApplianceError::NoNextHop { to }));
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
                    ApplianceError::Metric {
                        metric: *m.get_ref(),
                    },
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
                ApplianceError::Priority {
                    priority: *self.priority.get_ref(),
                },
            )
        })?;

        let fwmark = match &self.fwmark {
            None => None,
            Some(m) => Some(parse_fwmark(m.get_ref()).map_err(|why| cx.invalid(&m.span(), why))?),
        };

        let selector =
            |s: &Option<Spanned<String>>, key: &'static str| -> Result<Option<IpNet>, Error> {
                let Some(s) = s else { return Ok(None) };
                let text = s.get_ref();
                if text == "all" {
                    return Ok(None);
                }
                parse_address(text).map(|n| Some(n.trunc())).ok_or_else(|| {
                    cx.invalid(
                        &s.span(),
                        ApplianceError::Selector {
                            key,
                            text: text.clone(),
                        },
                    )
                })
            };
        let from = selector(&self.from, "from")?;
        let to = selector(&self.to, "to")?;
        if let (Some(f), Some(t), Some(ts)) = (from, to, &self.to) {
            if f.addr().is_ipv4() != t.addr().is_ipv4() {
                return Err(cx.invalid(
                    &ts.span(),
                    ApplianceError::SelectorFamily { from: f, to: t },
                ));
            }
        }

        let device = |s: Option<Spanned<String>>,
                      key: &'static str|
         -> Result<Option<String>, Error> {
            let Some(s) = s else { return Ok(None) };
            let span = s.span();
            let name = s.into_inner();
            if name != "lo" && !by_name.contains_key(&name) {
                return Err(cx.invalid(&span, ApplianceError::UnknownPolicyDevice { key, name }));
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
        let resolve = |s: Spanned<String>, key: &'static str| -> Result<PathBuf, Error> {
            let span = s.span();
            let p = s.into_inner();
            if p.is_empty() {
                return Err(cx.invalid(&span, ApplianceError::EmptyPath { key }));
            }
            Ok(dir.join(p))
        };
        let rules = resolve(self.rules, "rules")?;
        let rules6 = match self.rules6 {
            None => None,
            Some(s) => Some(resolve(s, "rules6")?),
        };
        let sets = match self.sets {
            None => None,
            Some(s) => Some(resolve(s, "sets")?),
        };
        Ok(Firewall {
            rules,
            rules6,
            sets,
            line,
        })
    }
}

impl RawControl {
    fn validate(self, cx: &Cx<'_>) -> Result<Control, Error> {
        let dir = cx.file.parent().unwrap_or_else(|| Path::new(""));
        let mut c = Control::default();
        if let Some(s) = self.socket {
            let span = s.span();
            let p = s.into_inner();
            if p.is_empty() {
                return Err(cx.invalid(&span, ApplianceError::EmptyPath { key: "socket" }));
            }
            c.socket = dir.join(p);
        }
        if let Some(s) = self.metrics {
            let span = s.span();
            let text = s.into_inner();
            let addr = text
                .parse::<SocketAddr>()
                .map_err(|_| cx.invalid(&span, ApplianceError::MetricsAddress { text }))?;
            c.metrics = Some(addr);
        }
        if let Some(s) = self.log {
            let span = s.span();
            let text = s.into_inner();
            c.log = match text.as_str() {
                "stderr" => LogTarget::Stderr,
                "syslog" => LogTarget::Syslog,
                p if p.contains('/') && !p.ends_with('/') => {
                    LogTarget::File(dir.join(p).components().collect())
                }
                _ => return Err(cx.invalid(&span, ApplianceError::LogTarget { text })),
            };
        }
        if let Some(s) = self.log_format {
            let span = s.span();
            let text = s.into_inner();
            c.log_format = match text.as_str() {
                "kernel" => LogFormat::Kernel,
                "json" => LogFormat::Json,
                _ => return Err(cx.invalid(&span, ApplianceError::LogFormat { text })),
            };
        }
        Ok(c)
    }
}

impl RawDataplane {
    fn validate(self, cx: &Cx<'_>) -> Result<Dataplane, Error> {
        let positive =
            |v: Option<Spanned<i64>>, key: &'static str, default: u32| -> Result<u32, Error> {
                let Some(v) = v else { return Ok(default) };
                u32::try_from(*v.get_ref())
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| {
                        cx.invalid(
                            &v.span(),
                            ApplianceError::DataplaneCount {
                                key,
                                value: *v.get_ref(),
                            },
                        )
                    })
            };
        let workers = positive(self.workers, "workers", DEFAULT_WORKERS)?;
        let mut cores = Vec::new();
        if let Some(list) = self.cores {
            let span = list.span();
            let list = list.into_inner();
            if list.len() != workers as usize {
                return Err(cx.invalid(
                    &span,
                    ApplianceError::CoresCount {
                        given: list.len(),
                        workers,
                    },
                ));
            }
            for c in list {
                let value = *c.get_ref();
                let why = match u16::try_from(value) {
                    Err(_) => Some("is not a CPU number (0..=65535)"),
                    Ok(n) if cores.contains(&n) => Some("is listed twice: one worker per core"),
                    Ok(_) => None,
                };
                if let Some(why) = why {
                    return Err(cx.invalid(&c.span(), ApplianceError::Core { value, why }));
                }
                cores.push(value as u16);
            }
        }
        Ok(Dataplane {
            workers,
            conntrack_max: positive(self.conntrack_max, "conntrack_max", DEFAULT_CONNTRACK_MAX)?,
            cores,
            busy_poll: self.busy_poll.is_some_and(|b| b.into_inner()),
        })
    }
}

/// Where a `[conntrack]` key's value goes, by the kind of sysctl it is.
enum Slot<'a> {
    /// Seconds, 1..=[`MAX_CONNTRACK_TIMEOUT`] (`proc_dointvec_jiffies`).
    Timeout(&'a mut u32),
    /// 0 or 1 (`proc_dou8vec_minmax` between 0 and 1); `false`/`true` too.
    Switch(&'a mut bool),
    /// 0..=255 (`proc_dou8vec_minmax`).
    Count(&'a mut u8),
}

/// The field of `c` that `key` sets, `None` for an unknown key. Every key
/// of [`ConntrackConf::keys`] has one (a test checks it).
fn slot<'a>(c: &'a mut ConntrackConf, key: &str) -> Option<Slot<'a>> {
    use Slot::{Count, Switch, Timeout};
    Some(match key {
        "tcp_timeout_syn_sent" => Timeout(&mut c.tcp_timeout_syn_sent),
        "tcp_timeout_syn_recv" => Timeout(&mut c.tcp_timeout_syn_recv),
        "tcp_timeout_established" => Timeout(&mut c.tcp_timeout_established),
        "tcp_timeout_fin_wait" => Timeout(&mut c.tcp_timeout_fin_wait),
        "tcp_timeout_close_wait" => Timeout(&mut c.tcp_timeout_close_wait),
        "tcp_timeout_last_ack" => Timeout(&mut c.tcp_timeout_last_ack),
        "tcp_timeout_time_wait" => Timeout(&mut c.tcp_timeout_time_wait),
        "tcp_timeout_close" => Timeout(&mut c.tcp_timeout_close),
        "tcp_timeout_max_retrans" => Timeout(&mut c.tcp_timeout_max_retrans),
        "tcp_timeout_unacknowledged" => Timeout(&mut c.tcp_timeout_unacknowledged),
        "tcp_loose" => Switch(&mut c.tcp_loose),
        "tcp_be_liberal" => Switch(&mut c.tcp_be_liberal),
        "tcp_max_retrans" => Count(&mut c.tcp_max_retrans),
        "tcp_ignore_invalid_rst" => Switch(&mut c.tcp_ignore_invalid_rst),
        "udp_timeout" => Timeout(&mut c.udp_timeout),
        "udp_timeout_stream" => Timeout(&mut c.udp_timeout_stream),
        "icmp_timeout" => Timeout(&mut c.icmp_timeout),
        "icmpv6_timeout" => Timeout(&mut c.icmpv6_timeout),
        "generic_timeout" => Timeout(&mut c.generic_timeout),
        "acct" => Switch(&mut c.acct),
        "checksum" => Switch(&mut c.checksum),
        _ => return None,
    })
}

/// Why `key` is no `[conntrack]` key: the table size (kept in
/// `[dataplane]`), a known key written with the sysctl's prefix, or
/// unknown.
fn unknown_conntrack_key(key: String) -> ApplianceError {
    let bare = key.strip_prefix("nf_conntrack_").unwrap_or(&key);
    if bare == "max" || bare == "buckets" {
        return ApplianceError::ConntrackSize { key };
    }
    if bare.len() < key.len() {
        if let Some(bare) = ConntrackConf::keys().into_iter().find(|k| *k == bare) {
            return ApplianceError::ConntrackPrefix { key, bare };
        }
    }
    ApplianceError::ConntrackKey { key }
}

impl RawConntrack {
    /// The kernel's defaults with the settings written here, checked as
    /// the sysctl checks them, except that a timeout of 0 or below (which
    /// the kernel takes, ending every such connection at once) is refused,
    /// and so is one too large for a kernel with `HZ` = 1000.
    fn validate(self, cx: &Cx<'_>) -> Result<ConntrackConf, Error> {
        let mut conf = ConntrackConf::default();
        for (key, value) in self.0 {
            let key_span = key.span();
            let key = key.into_inner();
            let span = value.span();
            let value = value.into_inner();
            let Some(slot) = slot(&mut conf, &key) else {
                return Err(cx.invalid(&key_span, unknown_conntrack_key(key)));
            };
            let bad = |e| Err(cx.invalid(&span, e));
            match (slot, value) {
                (Slot::Timeout(t), SysctlValue::Int(n)) => match u32::try_from(n) {
                    Ok(0) => return bad(ApplianceError::ConntrackTimeoutZero { key }),
                    Ok(n) if n <= MAX_CONNTRACK_TIMEOUT => *t = n,
                    _ => return bad(ApplianceError::ConntrackTimeout { key, value: n }),
                },
                (Slot::Switch(b), SysctlValue::Bool(v)) => *b = v,
                (Slot::Switch(b), SysctlValue::Int(n)) => match n {
                    0 | 1 => *b = n == 1,
                    _ => return bad(ApplianceError::ConntrackSwitch { key, value: n }),
                },
                (Slot::Count(c), SysctlValue::Int(n)) => match u8::try_from(n) {
                    Ok(n) => *c = n,
                    Err(_) => return bad(ApplianceError::ConntrackCount { key, value: n }),
                },
                (Slot::Timeout(_) | Slot::Count(_), SysctlValue::Bool(v)) => {
                    return bad(ApplianceError::ConntrackBool { key, value: v })
                }
            }
        }
        Ok(conf)
    }
}
