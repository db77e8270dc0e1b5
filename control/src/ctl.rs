//! The operator commands that talk to a running daemon over the API
//! socket ([`crate::api`]): `apply`, `confirm`, `rollback`, `history`,
//! `diff`. Each prints one line on failure (`sluice: error: ...`) and
//! exits 1; none changes anything then.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_config::appliance::DEFAULT_SOCKET;

use crate::api::client;
use crate::api::proto::{Request, Response, ViewReq};
use crate::views::cli::{
    ConntrackArgs, ConntrackCmd, NeighCmd, RouteCmd, RulesViewCmd, SetsCmd, ShowCmd, TraceArgs,
    ViewCmd,
};

/// Where the socket is: `--socket`, else the config's `[control] socket`,
/// else the default.
pub fn socket(socket: Option<PathBuf>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s);
    }
    match config {
        Some(c) => sluice_config::appliance::load(c)
            .map(|a| a.control.socket)
            .map_err(|e| e.to_string()),
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("sluice: error: {}", e.replace('\n', " "));
    ExitCode::FAILURE
}

/// Validates the whole config here first (the operator sees file:line
/// before the daemon is asked), then asks the daemon, which loads it again.
fn checked(config: &Path) -> Result<PathBuf, String> {
    let abs = std::path::absolute(config).map_err(|e| format!("{}: {e}", config.display()))?;
    sluice_config::bundle::load(&abs).map_err(|e| e.to_string())?;
    Ok(abs)
}

/// Runs one command; what it prints on success comes from `show`.
fn run(socket: Result<PathBuf, String>, req: Result<Request, String>) -> ExitCode {
    let (socket, req) = match (socket, req) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    let json = matches!(
        req,
        Request::View { json: true, .. } | Request::Trace { json: true, .. }
    );
    match client::call(&socket, &req) {
        Err(e) => fail(&e),
        Ok(Response::Error { error }) => fail(&error),
        Ok(Response::Text { text, note }) => {
            // Text views print a --comment/--log-prefix byte that is not
            // UTF-8 as the byte, as iptables does; JSON keeps it a
            // character (sluice_config::iptables::bytes).
            if json {
                print!("{text}");
            } else {
                use std::io::Write;
                let _ =
                    std::io::stdout().write_all(&sluice_config::iptables::bytes::to_bytes(&text));
            }
            if !note.is_empty() {
                eprintln!("{note}");
            }
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print!("{}", show(&r));
            match r {
                // Published, but not every worker is known to run it.
                Response::Applied {
                    lagging,
                    generation,
                    ..
                } if !lagging.is_empty() => fail(&lag_line(&lagging, generation)),
                _ => ExitCode::SUCCESS,
            }
        }
    }
}

pub fn apply(config: &Path, confirm: Option<u64>, socket: Option<PathBuf>) -> ExitCode {
    let req = checked(config).map(|config| Request::Apply { config, confirm });
    run(self::socket(socket, Some(config)), req)
}

pub fn diff(config: &Path, socket: Option<PathBuf>) -> ExitCode {
    let req = checked(config).map(|config| Request::Diff { config });
    run(self::socket(socket, Some(config)), req)
}

pub fn simple(req: Request, config: Option<&Path>, socket: Option<PathBuf>) -> ExitCode {
    run(self::socket(socket, config), Ok(req))
}

/// An operator view: asked of the daemon, printed as it renders it.
pub fn view(view: ViewReq, json: bool, config: Option<&Path>, socket: Option<PathBuf>) -> ExitCode {
    run(
        self::socket(socket, config),
        Ok(Request::View { view, json }),
    )
}

/// `sluice rules list|save|zero`.
pub fn rules_view(cmd: RulesViewCmd) -> ExitCode {
    match cmd {
        RulesViewCmd::List(a) => view(
            ViewReq::RulesList {
                table: a.table,
                chain: a.chain,
                verbose: a.verbose,
                numeric: a.numeric,
                exact: a.exact,
                line_numbers: a.line_numbers,
                ipv6: a.ipv6,
            },
            a.common.json,
            a.common.config.as_deref(),
            a.common.socket,
        ),
        RulesViewCmd::Save(a) => view(
            ViewReq::RulesSave {
                counters: a.counters,
                table: a.table,
                ipv6: a.ipv6,
            },
            a.json,
            a.config.as_deref(),
            a.socket,
        ),
        RulesViewCmd::Zero(a) => view(
            ViewReq::RulesZero {
                table: a.table,
                chain: a.chain,
                ipv6: a.ipv6,
            },
            false,
            a.config.as_deref(),
            a.socket,
        ),
    }
}

/// `sluice conntrack|route|rule|sets|stats ...`.
pub fn view_cmd(cmd: ViewCmd) -> ExitCode {
    let ct = |op: &str, mut a: ConntrackArgs| {
        // The filter takes the rest of the line: --config/--socket/--json
        // after it are still sluice's.
        let mut filter = Vec::new();
        let mut it = std::mem::take(&mut a.filter).into_iter();
        while let Some(x) = it.next() {
            match x.as_str() {
                "--json" => a.common.json = true,
                "--config" => a.common.config = it.next().map(PathBuf::from),
                "--socket" => a.common.socket = it.next().map(PathBuf::from),
                _ => filter.push(x),
            }
        }
        a.filter = filter;
        // conntrack's own errors before the daemon is asked.
        if let Err(e) = a.query() {
            return fail(&e.to_string());
        }
        view(
            ViewReq::Conntrack {
                op: op.into(),
                filter: a.filter,
            },
            a.common.json,
            a.common.config.as_deref(),
            a.common.socket,
        )
    };
    match cmd {
        ViewCmd::Conntrack { cmd } => match cmd {
            ConntrackCmd::List(a) => ct("list", a),
            ConntrackCmd::Count(a) => ct("count", a),
            ConntrackCmd::Delete(a) => ct("delete", a),
            ConntrackCmd::Flush(c) => view(
                ViewReq::Conntrack {
                    op: "flush".into(),
                    filter: Vec::new(),
                },
                c.json,
                c.config.as_deref(),
                c.socket,
            ),
        },
        ViewCmd::Route {
            cmd: RouteCmd::Show(a),
        } => view(
            ViewReq::RouteShow {
                selector: a.selector,
            },
            a.common.json,
            a.common.config.as_deref(),
            a.common.socket,
        ),
        ViewCmd::Neigh {
            cmd: NeighCmd::Show(a),
        } => view(
            ViewReq::NeighShow {
                selector: a.selector,
            },
            a.common.json,
            a.common.config.as_deref(),
            a.common.socket,
        ),
        ViewCmd::Rule {
            cmd: ShowCmd::Show(c),
        } => view(ViewReq::RuleShow, c.json, c.config.as_deref(), c.socket),
        ViewCmd::Sets {
            cmd: SetsCmd::List { name, common },
        } => view(
            ViewReq::SetsList { name },
            common.json,
            common.config.as_deref(),
            common.socket,
        ),
        ViewCmd::Stats(a) => loop {
            let r = view(
                ViewReq::Stats,
                a.common.json,
                a.common.config.as_deref(),
                a.common.socket.clone(),
            );
            match a.watch {
                Some(s) if r == ExitCode::SUCCESS => {
                    std::thread::sleep(std::time::Duration::from_secs(s.max(1)));
                    println!();
                }
                _ => break r,
            }
        },
    }
}

/// The line naming the workers an apply did not see swap in time.
fn lag_line(lagging: &[usize], generation: u64) -> String {
    let w: Vec<String> = lagging.iter().map(usize::to_string).collect();
    format!(
        "worker {} not yet running generation {generation} after {} ms (it takes it at its next poll turn)",
        w.join(", "),
        crate::run::api::SWAP_WAIT.as_millis()
    )
}

/// `sluice trace`: the packet checked here (a wrong description is a
/// usage error: exit 2), then traced by the daemon, or with `--config`
/// against that file, loaded here as the daemon would load it.
pub fn trace(a: TraceArgs) -> ExitCode {
    let packet = a.packet();
    if let Err(e) = crate::views::trace::parse(&packet) {
        eprintln!("sluice: error: {e}");
        return ExitCode::from(2);
    }
    let Some(config) = &a.config else {
        return run(
            self::socket(a.socket, None),
            Ok(Request::Trace {
                packet,
                json: a.json,
            }),
        );
    };
    let loaded = std::path::absolute(config)
        .map_err(|e| format!("{}: {e}", config.display()))
        .and_then(|abs| crate::run::api::load(&abs, 0));
    match loaded.and_then(|l| crate::views::trace::answer(&l.snap, &packet, a.json)) {
        Ok(text) if a.json => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(text) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&sluice_config::iptables::bytes::to_bytes(&text));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// What a successful answer prints.
pub fn show(r: &Response) -> String {
    match r {
        Response::Applied {
            generation,
            rules,
            confirm,
            workers,
            took_us,
            swap_us,
            ..
        } => {
            let mut s = format!(
                "applied generation {generation} ({rules} rules) on {workers} worker{} in {:.1} ms (swap {:.1} ms)",
                if *workers == 1 { "" } else { "s" },
                *took_us as f64 / 1000.0,
                *swap_us as f64 / 1000.0,
            );
            if let Some(c) = confirm {
                s.push_str(&format!("; rolls back in {c}s unless `sluice confirm`"));
            }
            s.push('\n');
            s
        }
        Response::Confirmed { generation } => format!("confirmed generation {generation}\n"),
        Response::RolledBack { from, to } => {
            format!("rolled back generation {from}; generation {to} runs\n")
        }
        Response::History { entries } => {
            let mut s = format!(
                "  {:>4}  {:<20}  {:>6}  {:<11}  {:<6}  {}\n",
                "GEN", "TIME (UTC)", "RULES", "STATE", "BY", "FILE"
            );
            for e in entries {
                s.push_str(&format!(
                    "{} {:>4}  {:<20}  {:>6}  {:<11}  {:<6}  {}\n",
                    if e.running { '*' } else { ' ' },
                    e.generation,
                    utc(e.time),
                    e.rules,
                    e.state,
                    e.by,
                    e.file.display()
                ));
            }
            s
        }
        Response::Diff { text, changes } => {
            if *changes == 0 {
                "no changes\n".to_string()
            } else {
                format!("{text}{changes} line(s) changed\n")
            }
        }
        Response::Status {
            generation,
            config,
            pid,
            confirm,
        } => format!(
            "pid {pid}, generation {generation} from {}{}\n",
            config.display(),
            confirm.map_or(String::new(), |s| format!(
                ", rolls back in {s}s unless confirmed"
            ))
        ),
        Response::Text { text, .. } => text.clone(),
        Response::Error { error } => format!("error: {error}\n"),
    }
}

/// `YYYY-MM-DD HH:MM:SS` of Unix time `t` (UTC).
fn utc(t: u64) -> String {
    let c = crate::views::rules_save::Civil::utc(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t),
    );
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_796_420_740), "2026-12-04 21:45:40");
    }
}
