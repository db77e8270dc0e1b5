//! `sluice check --config FILE`: load everything the appliance config names,
//! report errors (exit 1) and lint warnings (exit 0).

use std::path::Path;
use std::process::ExitCode;

/// Runs the check, printing to stderr. Returns the process exit code.
pub fn run(config: &Path) -> ExitCode {
    match sluice_config::iptables::load(config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
