//! `sluice`: the appliance's command line.
//!
//! The daemon (`sluice run`), the config check, and rulesets printed in
//! canonical form.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Work with iptables-restore rulesets.
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Print FILE as `iptables-legacy-save` prints it after
    /// `iptables-legacy-restore FILE`, for the tables FILE names, in the
    /// order FILE first names them (without the `#` header/footer lines;
    /// counters are zero). With --nft, as `iptables-nft-save` prints it.
    Canon {
        /// Print as `iptables-nft-save` (the nf_tables backend, Debian 12's
        /// default `iptables-save`) prints it after `iptables-nft-restore
        /// FILE`: its table order (mangle, security, raw, filter, nat).
        #[arg(long)]
        nft: bool,
        /// An iptables-restore file (IPv4).
        file: PathBuf,
        /// An `ipset save` file with the sets the rules name; required when
        /// a rule uses `-m set --match-set` (checked as the kernel checks:
        /// the set exists and is IPv4).
        #[arg(long)]
        sets: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { config } => sluice_control::run::run(&config),
        Cmd::Check { config } => sluice_control::check::run(&config),
        Cmd::Rules {
            cmd: RulesCmd::Canon { nft, file, sets },
        } => {
            let ok = sluice_control::canon::canon(
                &file,
                sets.as_deref(),
                nft,
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
