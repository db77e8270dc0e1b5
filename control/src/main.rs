//! `sluice`: the appliance's command line.
//!
//! Today it checks configurations and prints rulesets in canonical form;
//! the daemon (`sluice run`) arrives with the AF_XDP ports.

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
    /// Print FILE as `iptables-save` prints it after `iptables-restore FILE`
    /// (without the `#` header/footer lines; counters are zero).
    Canon {
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
        Cmd::Check { config } => sluice_control::check::run(&config),
        Cmd::Rules {
            cmd: RulesCmd::Canon { file, sets },
        } => {
            let ok = sluice_control::canon::canon(
                &file,
                sets.as_deref(),
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
