//! `sluice-bench`: the AF_XDP traffic generator (`gen`: stateless, or real
//! TCP connections with `--tcp-conns`) and receiver (`sink`, or a TCP echo
//! server with `--tcp-listen`) of issue 12. `compare` and `cost` are not
//! built yet.
//!
//! Exit status: 0 done, 1 runtime error (interface, permissions), 2 usage.

use std::process::ExitCode;

use sluice_bench::gen::{cli, gen_run, sink_run};

const USAGE: &str = "\
usage: sluice-bench gen  ...   AF_XDP traffic generator (stateless, or TCP
                               connections with --tcp-conns)
       sluice-bench sink ...   AF_XDP receiver: loss, reordering, latency
                               (or a TCP echo server with --tcp-listen)
       sluice-bench COMMAND --help
(compare and cost are not built yet)
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
