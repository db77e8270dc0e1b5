//! The command-line shapes of the operator views, for `main.rs` to
//! include once the API socket is there (every one is a client of the
//! daemon): `#[command(flatten)]` [`RulesViewCmd`] into `sluice rules`,
//! and [`ViewCmd`]'s variants as top-level commands. Each argument struct
//! turns itself into the options of its view function; the daemon side
//! gathers the data (see each view module) and calls that function.
//!
//! `--config FILE` names the appliance TOML whose `[control] socket`
//! the command talks to (the API's default socket without it).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use sluice_config::iptables::TableKind;

use super::conntrack::CtQuery;
use super::names::Names;
use super::rules_list::ListOptions;
use super::rules_save::SaveOptions;
use super::ViewError;

/// Which daemon to ask, and the output form; shared by every view.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct ViewCommon {
    /// The appliance TOML of the running daemon (its `[control] socket`).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The API socket (instead of --config's `[control] socket`).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Print JSON instead of the text layout.
    #[arg(long)]
    pub json: bool,
}

/// `sluice rules list|save|zero`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum RulesViewCmd {
    /// List the running ruleset as `iptables -L` lists it, counters summed
    /// over workers. Without -n, addresses are named from /etc/hosts and
    /// /etc/networks only (iptables also asks DNS); protocols, ports and
    /// ICMP types by their netbase names, as iptables does.
    List(RulesListArgs),
    /// Print the running ruleset as `iptables-save` prints it.
    Save(RulesSaveArgs),
    /// Zero the counters of CHAIN (every chain of the table without one),
    /// as `iptables -Z`.
    Zero(RulesZeroArgs),
}

/// `rules list [-t TABLE] [CHAIN] [-v] [-n] [-x] [--line-numbers]`.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct RulesListArgs {
    /// The table (raw, mangle, nat, filter, security).
    #[arg(short = 't', long = "table", default_value = "filter")]
    pub table: String,
    /// Only this chain.
    pub chain: Option<String>,
    /// Counters, interfaces and policy counters.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Numeric addresses, protocols and ports.
    #[arg(short = 'n', long)]
    pub numeric: bool,
    /// Exact counters (no K/M/G rounding).
    #[arg(short = 'x', long)]
    pub exact: bool,
    /// Number the rules.
    #[arg(long = "line-numbers")]
    pub line_numbers: bool,
    /// The running ip6tables ruleset (`[firewall] rules6`), as
    /// `ip6tables -L` lists it.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    #[command(flatten)]
    pub common: ViewCommon,
}

/// iptables' refusal of an unknown `-t`.
fn table(name: &str) -> Result<TableKind, String> {
    TableKind::from_name(name).ok_or_else(|| {
        format!(
            "iptables v1.8.9 (legacy): can't initialize iptables table `{name}': Table does not exist (do you need to insmod?)"
        )
    })
}

impl RulesListArgs {
    /// The options of [`super::rules_list::rules_list`]; without `-n`,
    /// names from this machine's /etc/hosts and /etc/networks.
    pub fn options(&self) -> Result<ListOptions, String> {
        Ok(ListOptions {
            table: table(&self.table)?,
            chain: self.chain.clone(),
            verbose: self.verbose,
            numeric: self.numeric,
            exact: self.exact,
            line_numbers: self.line_numbers,
            names: if self.numeric {
                Names::none()
            } else {
                Names::from_etc()
            },
            ipv6: self.ipv6,
        })
    }
}

/// `rules save [-c] [-t TABLE]`.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct RulesSaveArgs {
    /// `[packets:bytes]` before every rule.
    #[arg(short = 'c', long = "counters")]
    pub counters: bool,
    /// Only this table.
    #[arg(short = 't', long = "table")]
    pub table: Option<String>,
    /// The running ip6tables ruleset (`[firewall] rules6`), as
    /// `ip6tables-save` prints it, with its counters summed over workers
    /// (less what `sluice rules zero -6` zeroed).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// The daemon's appliance TOML.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The API socket (instead of --config's `[control] socket`).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Print JSON instead of the text layout.
    #[arg(long)]
    pub json: bool,
}

impl RulesSaveArgs {
    /// The options of [`super::rules_save::rules_save`].
    pub fn options(&self) -> Result<SaveOptions, String> {
        Ok(SaveOptions {
            counters: self.counters,
            table: self.table.as_deref().map(table).transpose()?,
            ipv6: self.ipv6,
        })
    }
}

/// `rules zero [-t TABLE] [CHAIN]`.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct RulesZeroArgs {
    /// The table.
    #[arg(short = 't', long = "table", default_value = "filter")]
    pub table: String,
    /// Only this chain.
    pub chain: Option<String>,
    /// The running ip6tables ruleset's counters (`ip6tables -Z`).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// The daemon's appliance TOML.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The API socket (instead of --config's `[control] socket`).
    #[arg(long)]
    pub socket: Option<PathBuf>,
}

impl RulesZeroArgs {
    /// `(table, chain)` for [`super::counters::Baseline::zero`].
    pub fn target(&self) -> Result<(TableKind, Option<String>), String> {
        Ok((table(&self.table)?, self.chain.clone()))
    }
}

/// The other views, as top-level `sluice` commands.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum ViewCmd {
    /// The workers' connection tracking tables, as `conntrack -L` / `-C`.
    Conntrack {
        #[command(subcommand)]
        cmd: ConntrackCmd,
    },
    /// The routing tables, as `ip route show`.
    Route {
        #[command(subcommand)]
        cmd: RouteCmd,
    },
    /// The policy routing rules, as `ip rule show`.
    Rule {
        #[command(subcommand)]
        cmd: ShowCmd,
    },
    /// The workers' neighbour tables, as `ip neigh show [dev IF]`.
    Neigh {
        #[command(subcommand)]
        cmd: NeighCmd,
    },
    /// The sets the rules use, as `ipset list [NAME]`.
    Sets {
        #[command(subcommand)]
        cmd: SetsCmd,
    },
    /// Frames, drops by reason, handoffs, conntrack occupancy and batch
    /// times, per worker and summed.
    Stats(StatsArgs),
}

/// `conntrack list|count [FILTER...]`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum ConntrackCmd {
    /// List entries as `conntrack -L` does. FILTER: conntrack's options
    /// -p PROTO, -s/-d ADDR (original direction), -r/-q ADDR (reply),
    /// --sport/--dport PORT and --state STATE (after -p), -m MARK[/MASK],
    /// -w ZONE, -u STATUS, -f ipv4|ipv6.
    List(ConntrackArgs),
    /// Count entries, as `conntrack -C` (with --json: by state).
    Count(ConntrackArgs),
    /// Delete the entries FILTER selects, as `conntrack -D` (the options
    /// of list; without any, refused: use flush).
    Delete(ConntrackArgs),
    /// Delete every entry, as `conntrack -F`.
    Flush(ViewCommon),
}

/// A conntrack command's filter, read as conntrack reads it.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct ConntrackArgs {
    #[command(flatten)]
    pub common: ViewCommon,
    /// conntrack's filter options.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub filter: Vec<String>,
}

impl ConntrackArgs {
    /// The query of [`super::conntrack::conntrack_list`].
    pub fn query(&self) -> Result<CtQuery, ViewError> {
        CtQuery::parse(&self.filter)
    }
}

/// `route show [table N|main|local|default|all]`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum RouteCmd {
    /// List a routing table (main without `table`).
    Show(RouteShowArgs),
}

#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct RouteShowArgs {
    #[command(flatten)]
    pub common: ViewCommon,
    /// `table N` (a number, main, local, default or all).
    pub selector: Vec<String>,
}

impl RouteShowArgs {
    /// The table for [`super::route::route_show`]: `Some(id)`, or `None`
    /// for all.
    pub fn table(&self) -> Result<Option<u32>, ViewError> {
        match self.selector.as_slice() {
            [] => Ok(Some(254)),
            [t, id] if t == "table" => super::route::parse_table(id),
            [other, ..] => Err(ViewError::RouteTable(other.clone())),
        }
    }
}

/// `rule show`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum ShowCmd {
    /// List them.
    Show(ViewCommon),
}

/// `neigh show [dev IF]`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum NeighCmd {
    /// List the neighbours (ARP), merged over the workers: an address
    /// several workers know is shown once, with the freshest state.
    Show(NeighShowArgs),
}

#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct NeighShowArgs {
    #[command(flatten)]
    pub common: ViewCommon,
    /// `dev IF`: one interface's neighbours.
    pub selector: Vec<String>,
}

/// `sets list [NAME]`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum SetsCmd {
    /// List every set, or NAME.
    List {
        name: Option<String>,
        #[command(flatten)]
        common: ViewCommon,
    },
}

/// `stats [--watch SECS]`.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: ViewCommon,
    /// Print again every SECS seconds until interrupted.
    #[arg(long, value_name = "SECS")]
    pub watch: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Rules {
            #[command(subcommand)]
            cmd: RulesViewCmd,
        },
        #[command(flatten)]
        View(ViewCmd),
    }

    fn parse(args: &[&str]) -> Result<Top, String> {
        Cli::try_parse_from(std::iter::once("sluice").chain(args.iter().copied()))
            .map(|c| c.cmd)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rules_list_flags_as_iptables() {
        let Top::Rules {
            cmd: RulesViewCmd::List(a),
        } = parse(&[
            "rules",
            "list",
            "-t",
            "nat",
            "POSTROUTING",
            "-v",
            "-n",
            "-x",
            "--line-numbers",
        ])
        .unwrap()
        else {
            panic!("not rules list");
        };
        let o = a.options().unwrap();
        assert_eq!(o.table, TableKind::Nat);
        assert_eq!(o.chain.as_deref(), Some("POSTROUTING"));
        assert!(o.verbose && o.numeric && o.exact && o.line_numbers);
        let Top::Rules {
            cmd: RulesViewCmd::List(a),
        } = parse(&["rules", "list", "-vnx", "-t", "bogus"]).unwrap()
        else {
            panic!("not rules list");
        };
        assert!(a
            .options()
            .unwrap_err()
            .contains("can't initialize iptables table `bogus'"));
        let Top::Rules {
            cmd: RulesViewCmd::Save(s),
        } = parse(&["rules", "save", "-c"]).unwrap()
        else {
            panic!("not rules save");
        };
        assert!(s.options().unwrap().counters);
        let Top::Rules {
            cmd: RulesViewCmd::List(a),
        } = parse(&["rules", "list", "-6", "FORWARD", "-vnx"]).unwrap()
        else {
            panic!("not rules list");
        };
        let o = a.options().unwrap();
        assert!(o.ipv6 && o.verbose && o.numeric && o.exact);
        let Top::Rules {
            cmd: RulesViewCmd::Zero(z),
        } = parse(&["rules", "zero", "-6", "FORWARD"]).unwrap()
        else {
            panic!("not rules zero");
        };
        assert!(z.ipv6);
        assert_eq!(z.chain.as_deref(), Some("FORWARD"));
    }

    #[test]
    fn conntrack_filters_pass_through() {
        let Top::View(ViewCmd::Conntrack {
            cmd: ConntrackCmd::List(a),
        }) = parse(&[
            "conntrack",
            "list",
            "--json",
            "-p",
            "tcp",
            "--dport",
            "443",
            "-s",
            "10.0.1.2",
        ])
        .unwrap()
        else {
            panic!("not conntrack list");
        };
        assert!(a.common.json);
        let q = a.query().unwrap();
        assert_eq!((q.proto, q.dport), (Some(6), Some(443)));
    }

    #[test]
    fn route_show_tables() {
        let t = |args: &[&str]| match parse(args).unwrap() {
            Top::View(ViewCmd::Route {
                cmd: RouteCmd::Show(a),
            }) => a.table().map_err(|e| e.to_string()),
            _ => panic!("not route show"),
        };
        assert_eq!(t(&["route", "show"]), Ok(Some(254)));
        assert_eq!(t(&["route", "show", "table", "100"]), Ok(Some(100)));
        assert_eq!(t(&["route", "show", "table", "local"]), Ok(Some(255)));
        assert_eq!(t(&["route", "show", "table", "all"]), Ok(None));
        assert!(t(&["route", "show", "table", "x"]).is_err());
    }
}

/// `sluice trace`: a packet, described as iptables rules describe one,
/// and where to trace it.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
pub struct TraceArgs {
    /// The interface it arrives on (default: the one the route back to
    /// the source leaves by).
    #[arg(short = 'i', long = "in-interface", value_name = "IF")]
    pub iif: Option<String>,
    /// tcp, udp, icmp, another /etc/protocols name or a number.
    #[arg(short = 'p', long = "protocol", value_name = "PROTO")]
    pub proto: String,
    /// Source address (IPv4).
    #[arg(short = 's', long = "source", value_name = "ADDR")]
    pub src: std::net::Ipv4Addr,
    /// Destination address (IPv4).
    #[arg(short = 'd', long = "destination", value_name = "ADDR")]
    pub dst: std::net::Ipv4Addr,
    /// Source port (tcp, udp; default 40000).
    #[arg(long, value_name = "PORT")]
    pub sport: Option<u16>,
    /// Destination port (tcp, udp; default 80).
    #[arg(long, value_name = "PORT")]
    pub dport: Option<u16>,
    /// ICMP type (name or TYPE[/CODE], as iptables; default echo-request).
    #[arg(long = "icmp-type", value_name = "TYPE")]
    pub icmp_type: Option<String>,
    /// The TCP flags set, comma-separated (default SYN for NEW, ACK
    /// otherwise).
    #[arg(long = "tcp-flags", value_name = "FLAGS", conflicts_with = "syn")]
    pub tcp_flags: Option<String>,
    /// Same as --tcp-flags SYN.
    #[arg(long)]
    pub syn: bool,
    /// The packet's mark when it arrives: VALUE, or VALUE/MASK for
    /// VALUE & MASK (hex 0x.., octal 0.., or decimal).
    #[arg(long, value_name = "M[/MASK]")]
    pub mark: Option<String>,
    /// The conntrack state the rules see: NEW (default), ESTABLISHED,
    /// RELATED, INVALID, UNTRACKED.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Trace against this appliance TOML instead of the running daemon:
    /// loaded and compiled here as `apply` would (no daemon, no root).
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "socket")]
    pub config: Option<PathBuf>,
    /// The running daemon's API socket (default /run/sluice/sluice.sock).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print JSON instead of the text layout.
    #[arg(long)]
    pub json: bool,
}

impl TraceArgs {
    /// The packet as the protocol carries it.
    pub fn packet(&self) -> crate::api::proto::TracePacket {
        crate::api::proto::TracePacket {
            iif: self.iif.clone(),
            proto: self.proto.clone(),
            src: self.src.to_string(),
            dst: self.dst.to_string(),
            sport: self.sport,
            dport: self.dport,
            icmp_type: self.icmp_type.clone(),
            tcp_flags: if self.syn {
                Some("SYN".into())
            } else {
                self.tcp_flags.clone()
            },
            mark: self.mark.clone(),
            state: self.state.clone(),
        }
    }
}
