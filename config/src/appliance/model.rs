//! The plain appliance model: what the TOML says once validated, each item
//! with the line it was declared on.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;

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
/// Longest conntrack timeout, in seconds: `INT_MAX / HZ` with `HZ` = 1000,
/// the largest value `proc_dointvec_jiffies` accepts whatever the
/// `CONFIG_HZ` (100, 250, 300 or 1000; at 250 it takes up to 8589934).
pub const MAX_CONNTRACK_TIMEOUT: u32 = 2_147_483;

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
    /// The `[conntrack]` table; the kernel's defaults when absent.
    pub conntrack: ConntrackConf,
    /// The `[control]` section.
    pub control: Control,
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
    /// `"dhcp"` in `address`: the interface's IPv4 address, its connected
    /// network and a default route come from a DHCPv4 lease (the daemon's
    /// client); `addresses` then holds no IPv4 address.
    pub dhcp: bool,
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
    /// The `ip6tables-restore` file (`rules6`), resolved the same way.
    /// Without it sluice does not forward IPv6.
    pub rules6: Option<PathBuf>,
    /// The `ipset save` file, resolved the same way.
    pub sets: Option<PathBuf>,
    /// Line of the `[firewall]` header.
    pub line: usize,
}

/// Where `sluice run` serves its API when `[control] socket` is not set.
pub const DEFAULT_SOCKET: &str = "/run/sluice/sluice.sock";

/// The `[control]` section: the daemon's API, metrics and LOG records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// The Unix socket of the API (`[control] socket`, resolved against
    /// the TOML file's folder when relative); default [`DEFAULT_SOCKET`].
    pub socket: PathBuf,
    /// The Prometheus text endpoint (`[control] metrics = "ADDR:PORT"`);
    /// `None`: no endpoint.
    pub metrics: Option<SocketAddr>,
    /// Where LOG records go (`[control] log`); default stderr.
    pub log: LogTarget,
    /// How each LOG record is written (`[control] log_format`).
    pub log_format: LogFormat,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: PathBuf::from(DEFAULT_SOCKET),
            metrics: None,
            log: LogTarget::Stderr,
            log_format: LogFormat::Kernel,
        }
    }
}

/// `[control] log`: `"stderr"` (the default), `"syslog"` (the `/dev/log`
/// datagram socket) or a file path containing a `/` (resolved against the
/// TOML file's folder when relative: `"./sluice.log"` is beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    Syslog,
    File(PathBuf),
}

/// `[control] log_format`: `"kernel"` (the default: the kernel's line) or
/// `"json"` (one JSON object a line, the kernel's line in it as `line`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Kernel,
    Json,
}

/// The `[dataplane]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataplane {
    /// Worker cores, at least 1.
    pub workers: u32,
    /// Conntrack table size, at least 1.
    pub conntrack_max: u32,
    /// The CPU each worker is pinned to (`cores[w]` for worker `w`); empty:
    /// worker `w` takes the `w`-th CPU the daemon may run on.
    pub cores: Vec<u16>,
    /// Poll the rings without ever sleeping (one core at 100 % per worker);
    /// by default a worker sleeps in `poll(2)` after a run of empty turns.
    pub busy_poll: bool,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            workers: DEFAULT_WORKERS,
            conntrack_max: DEFAULT_CONNTRACK_MAX,
            cores: Vec::new(),
            busy_poll: false,
        }
    }
}

/// The `[conntrack]` section: the `net.netfilter.nf_conntrack_*` sysctls
/// sluice follows, each field named as its sysctl without the prefix.
/// Timeouts are in seconds, as the sysctls print them.
///
/// [`Default`] is a fresh kernel's network namespace (Linux 6.18; checked
/// against the running kernel by bench's `config_oracle` conntrack test).
/// The table size is not here: it is [`Dataplane::conntrack_max`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackConf {
    /// A SYN sent, no answer yet (`TCP_CONNTRACK_SYN_SENT`).
    pub tcp_timeout_syn_sent: u32,
    /// A SYN answered by a SYN-ACK, no final ACK yet.
    pub tcp_timeout_syn_recv: u32,
    pub tcp_timeout_established: u32,
    pub tcp_timeout_fin_wait: u32,
    pub tcp_timeout_close_wait: u32,
    pub tcp_timeout_last_ack: u32,
    pub tcp_timeout_time_wait: u32,
    pub tcp_timeout_close: u32,
    /// After `tcp_max_retrans` retransmissions of the same segment
    /// without an answer (when shorter than the state's own timeout).
    pub tcp_timeout_max_retrans: u32,
    /// While data sent is not acknowledged (when shorter than the state's
    /// own timeout).
    pub tcp_timeout_unacknowledged: u32,
    /// Pick up connections already established (mid-stream) as NEW.
    pub tcp_loose: bool,
    /// Of the segments outside the TCP window, mark only RSTs INVALID.
    pub tcp_be_liberal: bool,
    /// Retransmissions before `tcp_timeout_max_retrans` applies.
    pub tcp_max_retrans: u8,
    /// Do not mark RSTs with an unacceptable sequence or acknowledgement
    /// number INVALID.
    pub tcp_ignore_invalid_rst: bool,
    /// UDP until it is a stream.
    pub udp_timeout: u32,
    /// UDP seen in both directions and still going 2 seconds after its
    /// first packet (a stream, then ASSURED).
    pub udp_timeout_stream: u32,
    pub icmp_timeout: u32,
    pub icmpv6_timeout: u32,
    /// Any other layer-4 protocol.
    pub generic_timeout: u32,
    /// Per-connection packet and byte counters.
    pub acct: bool,
    /// Verify layer-4 checksums before tracking; a bad one is INVALID.
    pub checksum: bool,
}

impl Default for ConntrackConf {
    /// The kernel's: `tcp_timeouts[]` in net/netfilter/nf_conntrack_proto_tcp.c,
    /// `udp_timeouts[]` in nf_conntrack_proto_udp.c, `nf_ct_icmp_timeout`,
    /// `nf_ct_icmpv6_timeout`, `nf_ct_generic_timeout`, `nf_ct_acct` and
    /// `sysctl_checksum` (nf_conntrack_standalone.c).
    fn default() -> Self {
        const MINUTES: u32 = 60;
        const DAYS: u32 = 24 * 60 * MINUTES;
        ConntrackConf {
            tcp_timeout_syn_sent: 2 * MINUTES,
            tcp_timeout_syn_recv: 60,
            tcp_timeout_established: 5 * DAYS,
            tcp_timeout_fin_wait: 2 * MINUTES,
            tcp_timeout_close_wait: 60,
            tcp_timeout_last_ack: 30,
            tcp_timeout_time_wait: 2 * MINUTES,
            tcp_timeout_close: 10,
            tcp_timeout_max_retrans: 5 * MINUTES,
            tcp_timeout_unacknowledged: 5 * MINUTES,
            tcp_loose: true,
            tcp_be_liberal: false,
            tcp_max_retrans: 3,
            tcp_ignore_invalid_rst: false,
            udp_timeout: 30,
            udp_timeout_stream: 2 * MINUTES,
            icmp_timeout: 30,
            icmpv6_timeout: 30,
            generic_timeout: 10 * MINUTES,
            acct: false,
            checksum: true,
        }
    }
}

impl ConntrackConf {
    /// Every setting as `(key, value)`, in the order of the fields, the
    /// value as `sysctl net.netfilter.nf_conntrack_<key>` prints it (a
    /// switch as 0 or 1). The keys are those `[conntrack]` takes.
    pub fn sysctls(&self) -> [(&'static str, u32); 21] {
        // No `..`: a new field does not compile until it is listed here.
        let ConntrackConf {
            tcp_timeout_syn_sent,
            tcp_timeout_syn_recv,
            tcp_timeout_established,
            tcp_timeout_fin_wait,
            tcp_timeout_close_wait,
            tcp_timeout_last_ack,
            tcp_timeout_time_wait,
            tcp_timeout_close,
            tcp_timeout_max_retrans,
            tcp_timeout_unacknowledged,
            tcp_loose,
            tcp_be_liberal,
            tcp_max_retrans,
            tcp_ignore_invalid_rst,
            udp_timeout,
            udp_timeout_stream,
            icmp_timeout,
            icmpv6_timeout,
            generic_timeout,
            acct,
            checksum,
        } = *self;
        [
            ("tcp_timeout_syn_sent", tcp_timeout_syn_sent),
            ("tcp_timeout_syn_recv", tcp_timeout_syn_recv),
            ("tcp_timeout_established", tcp_timeout_established),
            ("tcp_timeout_fin_wait", tcp_timeout_fin_wait),
            ("tcp_timeout_close_wait", tcp_timeout_close_wait),
            ("tcp_timeout_last_ack", tcp_timeout_last_ack),
            ("tcp_timeout_time_wait", tcp_timeout_time_wait),
            ("tcp_timeout_close", tcp_timeout_close),
            ("tcp_timeout_max_retrans", tcp_timeout_max_retrans),
            ("tcp_timeout_unacknowledged", tcp_timeout_unacknowledged),
            ("tcp_loose", u32::from(tcp_loose)),
            ("tcp_be_liberal", u32::from(tcp_be_liberal)),
            ("tcp_max_retrans", u32::from(tcp_max_retrans)),
            ("tcp_ignore_invalid_rst", u32::from(tcp_ignore_invalid_rst)),
            ("udp_timeout", udp_timeout),
            ("udp_timeout_stream", udp_timeout_stream),
            ("icmp_timeout", icmp_timeout),
            ("icmpv6_timeout", icmpv6_timeout),
            ("generic_timeout", generic_timeout),
            ("acct", u32::from(acct)),
            ("checksum", u32::from(checksum)),
        ]
    }

    /// The keys `[conntrack]` takes, in the order of the fields.
    pub fn keys() -> [&'static str; 21] {
        ConntrackConf::default().sysctls().map(|(k, _)| k)
    }
}
