//! The appliance TOML: which interfaces sluice attaches to and their
//! addresses, the routes and policy rules of the FIB, where the firewall
//! files are, how the dataplane is sized, and the conntrack sysctls.
//!
//! ```toml
//! [[interface]]
//! name = "r0"                                # kernel netdev sluice attaches to
//! address = ["10.0.1.1/24", "fd00:1::1/64"]  # the router's own addresses
//! mtu = 1500                                 # optional, default 1500
//!
//! [[interface]]
//! name = "wan"
//! address = ["dhcp", "2001:db8::2/64"]   # IPv4 by DHCP (once; no static IPv4
//!                                        # beside it), static IPv6 is fine
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
//! rules6 = "rules.v6"     # optional ip6tables-restore file: IPv6 is forwarded
//!                         # (and filtered by it) only with one
//! sets = "sets.save"      # optional ipset save file
//!
//! [dataplane]
//! workers = 1             # optional, default 1
//! conntrack_max = 262144  # optional, default 262144
//! cores = [1]             # optional: the CPU of each worker, one per worker
//! busy_poll = false       # optional: never sleep (default: poll(2) when idle)
//!
//! [control]
//! socket = "/run/sluice/sluice.sock"  # optional: the daemon's API socket (this default)
//! metrics = "127.0.0.1:9469"  # optional: Prometheus text endpoint (absent: none);
//!                             # unauthenticated: the daemon warns at start when
//!                             # the address is not loopback
//! log = "stderr"          # optional: where LOG records go: "stderr" (default),
//!                         # "syslog" (/dev/log, facility daemon) or a file path
//!                         # containing a `/` ("./sluice.log": beside this file)
//! log_format = "kernel"   # optional: "kernel" (the kernel's line, default) or
//!                         # "json" (one object a line, the kernel's line as `line`)
//!
//! [conntrack]             # optional: net.netfilter.nf_conntrack_* sysctls
//! tcp_timeout_established = 432000  # seconds; every key optional, default the kernel's
//! udp_timeout = 30
//! tcp_loose = 1           # 0/1 switches also take false/true
//! ```
//!
//! Unknown keys are errors. Every error names the file, line and column of
//! the offending key or value: the TOML is read into private raw structs
//! that keep the span of every value ([`toml::Spanned`]), then validated into
//! the plain public model, where each item keeps the line it was declared on.
//!
//! What follows the kernel (iproute2 + `net/ipv4/fib_*.c`, `net/core/fib_rules.c`,
//! `net/netfilter/nf_conntrack_*.c`):
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
//! * `[conntrack]` keys are the `net.netfilter.nf_conntrack_*` sysctl names
//!   without the prefix, each defaulting to a fresh network namespace's
//!   value ([`ConntrackConf`]): the TCP state timeouts
//!   `tcp_timeout_{syn_sent, syn_recv, established, fin_wait, close_wait,
//!   last_ack, time_wait, close, max_retrans, unacknowledged}`, `udp_timeout`,
//!   `udp_timeout_stream`, `icmp_timeout`, `icmpv6_timeout` and
//!   `generic_timeout` (seconds); the 0/1 switches `tcp_loose`,
//!   `tcp_be_liberal`, `tcp_ignore_invalid_rst`, `acct` and `checksum`
//!   (`proc_dou8vec_minmax`: 0 or 1; `false`/`true` are taken too); and
//!   `tcp_max_retrans` (0..=255).
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
//! * A conntrack timeout is 1..=2147483 seconds. The kernel
//!   (`proc_dointvec_jiffies`) also takes 0 and negative values, with
//!   which every such connection ends as soon as it is made (`conntrack -L`
//!   shows no entry), and its upper bound is `INT_MAX / HZ`: 2147483 with
//!   `HZ` = 1000, more with a smaller `HZ` (8589934 at 250). sluice refuses
//!   0 and negatives, and takes the bound that holds whatever the `HZ`.
//! * The conntrack table's size is `[dataplane] conntrack_max` alone:
//!   `max` and `buckets` (`nf_conntrack_max`, `nf_conntrack_buckets`) in
//!   `[conntrack]` are refused with a pointer to it.
//!
//! Layout: `model` holds the public types (re-exported here), `raw` the
//! serde shape with spans, `validate` the checks, `values` the readers of
//! single values (interface names, addresses, tables, fwmarks) and the list
//! of `[conntrack]` keys.

mod error;
mod model;
mod raw;
#[cfg(test)]
mod tests;
mod validate;
mod values;

use std::path::Path;

pub use error::{ApplianceError, IfnameProblem};
pub use model::*;

use crate::error::{read_file, Error, ErrorKind};
use raw::RawAppliance;
use validate::Cx;
use values::one_line;

/// Reads and parses the appliance TOML at `path`.
pub fn load(path: &Path) -> Result<Appliance, Error> {
    parse(&read_file(path)?, path)
}

/// Parses appliance TOML `text`; `file` names it in errors and anchors the
/// relative firewall paths. Does not touch the filesystem.
pub fn parse(text: &str, file: &Path) -> Result<Appliance, Error> {
    let cx = Cx::new(text, file);
    let raw: RawAppliance = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.error(ErrorKind::Toml(one_line(e.message())), &span)
    })?;
    raw.validate(&cx)
}
