//! `sluice`: the appliance's command line.
//!
//! The daemon (`sluice run`), the config check, and rulesets printed in
//! canonical form.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sluice_control::api::proto::Request;
use sluice_control::ctl;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Userspace router/firewall on AF_XDP"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway: attach to every [[interface]] of the config over
    /// AF_XDP, start the workers and the host-side TAP devices (`sl-IF`),
    /// and forward until SIGINT or SIGTERM. Logs one line per start-up step
    /// to stderr; SIGUSR1 prints the counters. Exit 1 (touching nothing)
    /// when the config is invalid, an interface is missing or busy, or
    /// not run as root.
    Run {
        /// The appliance TOML file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate an appliance config and the files it names (rules, sets).
    /// Exit 0 when valid (warnings go to stderr), 1 with errors on stderr.
    Check {
        /// The appliance TOML file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Apply a config to the running daemon atomically: validated here
    /// (errors name file:line, exit 1, nothing sent), then loaded,
    /// compiled and swapped in by the daemon at a batch boundary;
    /// established flows keep their conntrack entries and NAT bindings.
    Apply {
        /// The appliance TOML file.
        #[arg(long, short)]
        config: PathBuf,
        /// Roll back by itself unless `sluice confirm` comes within SECS.
        #[arg(long, value_name = "SECS")]
        confirm: Option<u64>,
        /// The API socket (default: the config's `[control] socket`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Keep the configuration of a pending `apply --confirm`.
    Confirm(Target),
    /// Go back to the configuration before the running one.
    Rollback(Target),
    /// The last 10 configurations (generation, time, file, rules, state).
    History(Target),
    /// What `sluice apply --config FILE` would change, rule by rule.
    Diff {
        /// The appliance TOML file.
        #[arg(long, short)]
        config: PathBuf,
        /// The API socket (default: the config's `[control] socket`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Work with iptables-restore rulesets, and the running daemon's
    /// ruleset (list, save, zero).
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
    /// Print the whole path a described packet would take through the
    /// running configuration, without sending anything: every hook,
    /// table, chain and rule it is tested against and what decides, the
    /// NAT it gets, the policy rule and route chosen, the egress
    /// interface and next hop. With --config FILE, through FILE's
    /// configuration instead (what-if before apply; no daemon needed).
    /// Exit 2 when the packet is described wrongly, 1 on other errors.
    Trace(sluice_control::views::cli::TraceArgs),
    #[command(flatten)]
    View(sluice_control::views::cli::ViewCmd),
}

/// Which daemon: `--socket`, or the `[control] socket` of `--config`,
/// else /run/sluice/sluice.sock.
#[derive(clap::Args)]
struct Target {
    /// An appliance TOML whose `[control] socket` names the socket.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The API socket.
    #[arg(long)]
    socket: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Print FILE as `iptables-legacy-save` prints it after
    /// `iptables-legacy-restore FILE`, for the tables FILE names, in the
    /// order FILE first names them (without the `#` header/footer lines;
    /// counters are zero). With --nft, as `iptables-nft-save` prints it.
    /// With -6, FILE is an ip6tables-restore file, printed as
    /// `ip6tables-legacy-save` prints it.
    Canon {
        /// FILE is an ip6tables-restore file (IPv6).
        #[arg(short = '6', long = "ipv6", conflicts_with = "nft")]
        ipv6: bool,
        /// Print as `iptables-nft-save` (the nf_tables backend, Debian 12's
        /// default `iptables-save`) prints it after `iptables-nft-restore
        /// FILE`: its table order (mangle, security, raw, filter, nat).
        #[arg(long)]
        nft: bool,
        /// An iptables-restore file (IPv4; with -6 an ip6tables-restore
        /// file).
        file: PathBuf,
        /// An `ipset save` file with the sets the rules name; required when
        /// a rule uses `-m set --match-set` (checked as the kernel checks:
        /// the set exists and is IPv4).
        #[arg(long)]
        sets: Option<PathBuf>,
    },
    #[command(flatten)]
    View(sluice_control::views::cli::RulesViewCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { config } => sluice_control::run::run(&config),
        Cmd::Check { config } => sluice_control::check::run(&config),
        Cmd::Apply {
            config,
            confirm,
            socket,
        } => ctl::apply(&config, confirm, socket),
        Cmd::Diff { config, socket } => ctl::diff(&config, socket),
        Cmd::Confirm(t) => ctl::simple(Request::Confirm, t.config.as_deref(), t.socket),
        Cmd::Rollback(t) => ctl::simple(Request::Rollback, t.config.as_deref(), t.socket),
        Cmd::History(t) => ctl::simple(Request::History, t.config.as_deref(), t.socket),
        Cmd::View(v) => ctl::view_cmd(v),
        Cmd::Trace(a) => ctl::trace(a),
        Cmd::Rules {
            cmd: RulesCmd::View(v),
        } => ctl::rules_view(v),
        Cmd::Rules {
            cmd:
                RulesCmd::Canon {
                    ipv6,
                    nft,
                    file,
                    sets,
                },
        } => {
            let family = if ipv6 {
                sluice_config::iptables::Family::Ipv6
            } else {
                sluice_config::iptables::Family::Ipv4
            };
            let ok = sluice_control::canon::canon(
                &file,
                sets.as_deref(),
                nft,
                family,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
