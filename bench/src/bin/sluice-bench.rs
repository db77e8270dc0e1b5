//! `sluice-bench`: the AF_XDP traffic generator (`gen`: stateless, or real
//! TCP connections with `--tcp-conns`), receiver (`sink`, or a TCP echo
//! server with `--tcp-listen`), the side-by-side with the kernel
//! (`compare`) and the instruction counts (`cost`) of issue 12.
//!
//! Exit status: 0 done, 1 runtime error (interface, permissions), 2 usage.

use std::process::ExitCode;

use sluice_bench::gen::{cli, gen_run, sink_run};
use sluice_bench::{compare, cost};

const USAGE: &str = "\
usage: sluice-bench gen  ...   AF_XDP traffic generator (stateless, or TCP
                               connections with --tcp-conns)
       sluice-bench sink ...   AF_XDP receiver: loss, reordering, latency
                               (or a TCP echo server with --tcp-listen)
       sluice-bench compare ...  kernel (iptables-legacy, -nft) vs sluice in the lab
       sluice-bench cost ...   callgrind instructions per packet
       sluice-bench COMMAND --help
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
        "compare" => match compare::parse(rest) {
            Ok(Some(a)) => runtime("compare", compare::main(&a)),
            Ok(None) => {
                print!("{}", compare::USAGE);
                ExitCode::SUCCESS
            }
            Err(e) => usage_error("compare", &e),
        },
        "cost" => match cost::parse(rest) {
            Ok(Some(a)) => runtime("cost", cost::main(&a)),
            Ok(None) => {
                print!("{}", cost::USAGE);
                ExitCode::SUCCESS
            }
            Err(e) => usage_error("cost", &e),
        },
        "--help" | "-h" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("sluice-bench: error: unknown command {other:?} (gen, sink, compare, cost)");
            ExitCode::from(2)
        }
    }
}
