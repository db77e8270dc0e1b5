//! `sluice-bench`: the AF_XDP traffic generator (`gen`, stateless mode) and
//! receiver (`sink`) of issue 12. `compare`, `cost` and gen's stateful TCP
//! mode are not built yet.
//!
//! Exit status: 0 done, 1 runtime error (interface, permissions), 2 usage.

use std::process::ExitCode;

use sluice_bench::gen::{cli, gen_run, sink_run};

const USAGE: &str = "\
usage: sluice-bench gen  ...   AF_XDP traffic generator (stateless)
       sluice-bench sink ...   AF_XDP receiver: loss, reordering, latency
       sluice-bench COMMAND --help
(compare, cost and gen's stateful TCP mode are not built yet)
";

fn usage_error(cmd: &str, e: &str) -> ExitCode {
    eprintln!("sluice-bench {cmd}: error: {e} (see `sluice-bench {cmd} --help`)");
    ExitCode::from(2)
}

fn runtime(cmd: &str, r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-bench {cmd}: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "gen" => match cli::parse_gen(rest) {
            Ok(Some(a)) => runtime("gen", gen_run::main(&a)),
            Ok(None) => {
                print!("{}", cli::GEN_USAGE);
                ExitCode::SUCCESS
            }
            Err(e) => usage_error("gen", &e),
        },
        "sink" => match cli::parse_sink(rest) {
            Ok(Some(a)) => runtime("sink", sink_run::main(&a)),
            Ok(None) => {
                print!("{}", cli::SINK_USAGE);
                ExitCode::SUCCESS
            }
            Err(e) => usage_error("sink", &e),
        },
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("sluice-bench: error: unknown command {other:?} (gen, sink)");
            ExitCode::from(2)
        }
    }
}
