//! The operator views served on the API socket: the daemon gathers what
//! each [`crate::views`] function needs from the running snapshot and the
//! workers (rule counters through their readers, conntrack through their
//! channels, counters and batch times through their published blocks)
//! and renders text or JSON.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sluice_config::iptables::TableKind;
use sluice_dataplane::conntrack::view::{Channel, Counts, EntryView, Reply, Request};
use sluice_dataplane::packet::{CounterBlock, LatencyBlock};
use sluice_dataplane::route::Port;
use sluice_dataplane::rules::{Program, RuleCounters, RulesReader};
use sluice_dataplane::worker::NeighChannel;

use crate::api::proto::{Response, ViewReq};
use crate::views::conntrack::{self, CtQuery};
use crate::views::counters::{self, Baseline};
use crate::views::names::Names;
use crate::views::rules_list::{self, ListOptions};
use crate::views::rules_save::{self, SaveOptions};
use crate::views::stats::{self, WorkerStats};
use crate::views::{route, sets};

/// How long the control thread waits for a worker's conntrack answer.
const CT_WAIT: Duration = Duration::from_secs(3);

/// What the control thread reads of one worker.
pub struct WorkerView {
    pub counters: Arc<CounterBlock>,
    pub times: Arc<LatencyBlock>,
    /// The worker's turn times (stalls).
    pub turns: Arc<LatencyBlock>,
    pub rules: Arc<arc_swap::ArcSwapOption<RulesReader>>,
    pub ct: Channel,
    pub neigh: NeighChannel,
    /// The generation the worker runs ([`sluice_dataplane::worker::Worker::running_generation`]).
    pub running: Arc<std::sync::atomic::AtomicU64>,
    /// Each port's counters, as the worker publishes them.
    pub ports: Arc<sluice_dataplane::io::PortsBlock>,
}

fn table(name: &str) -> Result<TableKind, String> {
    TableKind::from_name(name).ok_or_else(|| {
        format!(
            "iptables v1.8.9 (legacy): can't initialize iptables table `{name}': Table does not exist (do you need to insmod?)"
        )
    })
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn text(text: String) -> Response {
    Response::Text {
        text,
        note: String::new(),
    }
}

/// The rule counters of `prog` summed over the workers running it (a
/// worker still on the previous program after a swap is waited for, a
/// second at most).
pub fn rule_counters(workers: &[WorkerView], prog: &Arc<Program>) -> RuleCounters {
    summed(
        workers,
        prog,
        |r| r.counters(),
        || counters::from_ruleset(prog.ruleset()),
    )
}

/// The ip6tables rule counters of `prog`, summed as [`rule_counters`].
pub fn rule_counters6(workers: &[WorkerView], prog: &Arc<Program>) -> RuleCounters {
    summed(
        workers,
        prog,
        |r| r.counters6(),
        || {
            prog.ruleset6()
                .map(counters::from_ruleset)
                .unwrap_or_default()
        },
    )
}

/// `read` of every worker's counters of `prog`, summed; `none` when no
/// worker runs it yet.
fn summed(
    workers: &[WorkerView],
    prog: &Arc<Program>,
    read: impl Fn(&sluice_dataplane::rules::RulesReader) -> RuleCounters,
    none: impl Fn() -> RuleCounters,
) -> RuleCounters {
    let t0 = Instant::now();
    loop {
        let readers: Vec<_> = workers.iter().map(|w| w.rules.load_full()).collect();
        let on: Vec<RuleCounters> = readers
            .iter()
            .flatten()
            .filter(|r| Arc::ptr_eq(r.program(), prog))
            .map(|r| read(r))
            .collect();
        if on.len() == workers.len() || t0.elapsed() > Duration::from_secs(1) {
            return if on.is_empty() {
                none()
            } else {
                counters::sum(&on)
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asks every worker `req` through the channel `chan` picks; their
/// answers in worker order. `what` names the request in errors.
fn ask_each<Q: Clone, A>(
    workers: &[WorkerView],
    chan: impl Fn(&WorkerView) -> &sluice_dataplane::ask::Channel<Q, A>,
    req: &Q,
    what: &str,
) -> Result<Vec<A>, String> {
    for w in workers {
        let c = chan(w);
        // An answer left from a request that timed out is not this one's.
        while c.answer().is_some() {}
        c.ask(req.clone())
            .map_err(|_| format!("a worker has too many {what} requests queued: try again"))?;
    }
    let mut out = Vec::with_capacity(workers.len());
    for (i, w) in workers.iter().enumerate() {
        let t0 = Instant::now();
        loop {
            if let Some(r) = chan(w).answer() {
                out.push(r);
                break;
            }
            if t0.elapsed() > CT_WAIT {
                return Err(format!(
                    "worker {i} did not answer the {what} request in {}s",
                    CT_WAIT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(out)
}

/// Asks every worker's conntrack shard `req`.
fn ask_all(workers: &[WorkerView], req: &Request) -> Result<Vec<Reply>, String> {
    ask_each(workers, |w| &w.ct, req, "conntrack")
}

/// Every worker's neighbour table, as [`route::NeighEntry`]s.
fn neighbours(workers: &[WorkerView]) -> Result<Vec<route::NeighEntry>, String> {
    Ok(ask_each(workers, |w| &w.neigh, &(), "neighbour table")?
        .into_iter()
        .enumerate()
        .flat_map(|(w, rows)| rows.into_iter().map(move |(p, ip, i)| (w, p, ip, i)))
        .collect())
}

/// The entries each worker answers `req` (a list, or a delete) with.
fn entries(workers: &[WorkerView], req: Request) -> Result<Vec<Vec<EntryView>>, String> {
    ask_all(workers, &req)?
        .into_iter()
        .map(|r| match r {
            Reply::Entries(e) => Ok(e),
            _ => Err("a worker answered another conntrack request".into()),
        })
        .collect()
}

fn counts(workers: &[WorkerView]) -> Result<Vec<Counts>, String> {
    ask_all(workers, &Request::Count)?
        .into_iter()
        .map(|r| match r {
            Reply::Counts(c) => Ok(c),
            _ => Err("a worker answered another conntrack request".into()),
        })
        .collect()
}

fn deleted(replies: Vec<Reply>) -> usize {
    replies
        .into_iter()
        .map(|r| match r {
            Reply::Deleted(n) => n,
            _ => 0,
        })
        .sum()
}

/// The daemon's state a view reads.
pub struct Sources<'a> {
    pub workers: &'a [WorkerView],
    pub baseline: &'a mut Baseline,
    /// `rules zero -6`'s.
    pub baseline6: &'a mut Baseline,
    pub bundle: &'a sluice_config::bundle::Bundle,
    pub snap: &'a sluice_dataplane::snapshot::Snapshot,
    /// The DHCP clients' status.
    pub dhcp: &'a [crate::dhcp::Status],
}

const NO_RULES6: &str = "no ip6tables ruleset is running ([firewall] rules6 names none)";

/// The iptables ruleset (the ip6tables one with `ipv6`) and its counters
/// less what `rules zero` zeroed.
fn shown_rules<'p>(
    s: &Sources<'_>,
    prog: &'p Arc<Program>,
    ipv6: bool,
) -> Result<(&'p sluice_config::iptables::Ruleset, RuleCounters), String> {
    if ipv6 {
        let rs = prog.ruleset6().ok_or(NO_RULES6)?;
        Ok((rs, s.baseline6.shown(&rule_counters6(s.workers, prog))))
    } else {
        Ok((
            prog.ruleset(),
            s.baseline.shown(&rule_counters(s.workers, prog)),
        ))
    }
}

/// Renders `v`; an error is one line, what the imitated tool says.
pub fn view(s: Sources<'_>, v: ViewReq, json: bool) -> Result<Response, String> {
    let prog = s.snap.rules.clone();
    let no_rules = || "no [firewall] ruleset is configured: there are no rules".to_string();
    let no_rules6 = || NO_RULES6.to_string();
    match v {
        ViewReq::RulesList {
            table: t,
            chain,
            verbose,
            numeric,
            exact,
            line_numbers,
            ipv6,
        } => {
            let prog = prog.ok_or_else(no_rules)?;
            let opts = ListOptions {
                table: table(&t)?,
                chain,
                verbose,
                numeric,
                exact,
                line_numbers,
                names: if numeric {
                    Names::none()
                } else {
                    Names::from_etc()
                },
                ipv6,
            };
            let (rules, c) = shown_rules(&s, &prog, ipv6)?;
            if json {
                rules_list::rules_list_json(rules, &c, &opts)
                    .map(|j| text(pretty(&j)))
                    .map_err(|e| e.to_string())
            } else {
                rules_list::rules_list(rules, &c, &opts)
                    .map(text)
                    .map_err(|e| e.to_string())
            }
        }
        ViewReq::RulesSave {
            counters,
            table: t,
            ipv6,
        } => {
            let prog = prog.ok_or_else(no_rules)?;
            let opts = SaveOptions {
                counters,
                table: t.as_deref().map(table).transpose()?,
                ipv6,
            };
            let (rules, c) = shown_rules(&s, &prog, ipv6)?;
            Ok(text(if json {
                pretty(&rules_save::rules_save_json(rules, &c, &opts))
            } else {
                rules_save::rules_save(rules, &c, &opts, Some(SystemTime::now()))
            }))
        }
        ViewReq::RulesZero {
            table: t,
            chain,
            ipv6,
        } => {
            let prog = prog.ok_or_else(no_rules)?;
            if ipv6 {
                prog.ruleset6().ok_or_else(no_rules6)?;
                let live = rule_counters6(s.workers, &prog);
                s.baseline6
                    .zero(&live, table(&t)?, chain.as_deref())
                    .map_err(|e| e.to_string())?;
            } else {
                let live = rule_counters(s.workers, &prog);
                s.baseline
                    .zero(&live, table(&t)?, chain.as_deref())
                    .map_err(|e| e.to_string())?;
            }
            Ok(text(String::new()))
        }
        ViewReq::Conntrack { op, filter } => {
            let q = CtQuery::parse(&filter).map_err(|e| e.to_string())?;
            let max = s.bundle.appliance.dataplane.conntrack_max as usize;
            match op.as_str() {
                "list" => {
                    let e = entries(s.workers, Request::List(q.worker_filter()))?;
                    if json {
                        Ok(text(pretty(&conntrack::conntrack_list_json(&e, &q))))
                    } else {
                        let (out, n) = conntrack::conntrack_list(&e, &q);
                        Ok(Response::Text {
                            text: out,
                            note: conntrack::shown_line(n),
                        })
                    }
                }
                "count" => {
                    let c = conntrack::conntrack_count(&counts(s.workers)?);
                    Ok(text(if json {
                        pretty(&conntrack::conntrack_count_json(&c, Some(max)))
                    } else {
                        format!("{}\n", c.total)
                    }))
                }
                "delete" => {
                    if q == CtQuery::default() {
                        return Err("conntrack delete needs a filter (use `sluice conntrack flush` for all)".into());
                    }
                    // conntrack -D prints each entry it deleted.
                    let gone = entries(s.workers, Request::Delete(q.worker_filter()))?;
                    let n: usize = gone.iter().map(Vec::len).sum();
                    Ok(Response::Text {
                        text: if json {
                            let mut j = conntrack::conntrack_list_json(&gone, &q);
                            j = serde_json::json!({ "deleted": n, "entries": j });
                            pretty(&j)
                        } else {
                            conntrack::conntrack_list(&gone, &q).0
                        },
                        note: format!(
                            "conntrack v1.4.7 (conntrack-tools): {n} flow entries have been deleted."
                        ),
                    })
                }
                "flush" => {
                    let n = deleted(ask_all(s.workers, &Request::Flush)?);
                    Ok(Response::Text {
                        text: if json {
                            pretty(&serde_json::json!({ "deleted": n }))
                        } else {
                            String::new()
                        },
                        note: "conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.".into(),
                    })
                }
                other => Err(format!("unknown conntrack operation {other:?}")),
            }
        }
        ViewReq::RouteShow { selector } => {
            let t = match selector.as_slice() {
                [] => Some(254),
                [t, id] if t == "table" => route::parse_table(id).map_err(|e| e.to_string())?,
                [other, ..] => {
                    return Err(crate::views::ViewError::RouteTable(other.clone()).to_string())
                }
            };
            let ports = ports(s.bundle);
            let router = &s.snap.net.router;
            if json {
                Ok(text(pretty(&route::route_show_json(router, &ports, t))))
            } else {
                route::route_show(router, &ports, t)
                    .map(text)
                    .map_err(|e| e.to_string().replace('\n', "; "))
            }
        }
        ViewReq::RuleShow => {
            let router = &s.snap.net.router;
            Ok(text(if json {
                pretty(&route::rule_show_json(router))
            } else {
                route::rule_show(router)
            }))
        }
        ViewReq::NeighShow { selector } => {
            let router = &s.snap.net.router;
            let dev = route::parse_neigh_selector(router, &selector).map_err(|e| e.to_string())?;
            let n = neighbours(s.workers)?;
            Ok(text(if json {
                pretty(&route::neigh_show_json(router, &n, dev))
            } else {
                route::neigh_show(router, &n, dev)
            }))
        }
        ViewReq::SetsList { name } => {
            let rules = &s.bundle.rules;
            let sets = &s.bundle.sets;
            if json {
                sets::sets_list_json(sets, rules, name.as_deref())
                    .map(|j| text(pretty(&j)))
                    .map_err(|e| e.to_string())
            } else {
                sets::sets_list(sets, rules, name.as_deref())
                    .map(text)
                    .map_err(|e| e.to_string())
            }
        }
        ViewReq::Stats => {
            let w = worker_stats(s.workers);
            let max = s.bundle.appliance.dataplane.conntrack_max as usize;
            let names = port_names(s.bundle);
            Ok(text(if json {
                let mut j = stats::stats_json(&w, max, &names);
                j["dhcp"] = s.dhcp.iter().map(|d| d.json()).collect();
                pretty(&j)
            } else {
                let mut t = stats::stats(&w, max, &names);
                for d in s.dhcp {
                    t.push_str(&d.line());
                    t.push('\n');
                }
                t
            }))
        }
    }
}

/// Each worker's counters, batch times and conntrack count (`None` for
/// all when a shard did not answer).
pub fn worker_stats(workers: &[WorkerView]) -> Vec<WorkerStats> {
    let ct = counts(workers).ok();
    workers
        .iter()
        .enumerate()
        .map(|(i, w)| WorkerStats {
            counters: w.counters.read(),
            batch_times: w.times.read(),
            turn_times: w.turns.read(),
            conntrack: ct.as_ref().and_then(|c| c.get(i).cloned()),
            ports: w.ports.read(),
        })
        .collect()
}

/// The body of a scrape of the metrics endpoint.
pub fn metrics(
    workers: &[WorkerView],
    bundle: &sluice_config::bundle::Bundle,
    snap: &sluice_dataplane::snapshot::Snapshot,
    log: crate::views::metrics::LogCounts,
    dhcp: &[crate::dhcp::Status],
) -> String {
    let w = worker_stats(workers);
    let rules = snap.rules.as_ref().map(|p| rule_counters(workers, p));
    crate::views::metrics::render(&crate::views::metrics::MetricsInput {
        workers: &w,
        conntrack_max: bundle.appliance.dataplane.conntrack_max as usize,
        rules: rules.as_ref(),
        log,
        port_names: &port_names(bundle),
        dhcp,
    })
}

/// The ports' names, in port order (the `[[interface]]` order).
pub fn port_names(b: &sluice_config::bundle::Bundle) -> Vec<String> {
    b.appliance
        .interfaces
        .iter()
        .map(|i| i.name.clone())
        .collect()
}

fn ports(b: &sluice_config::bundle::Bundle) -> Vec<Port> {
    b.appliance
        .interfaces
        .iter()
        .map(|i| Port {
            name: i.name.clone(),
            addresses: i.addresses.clone(),
            line: i.line,
        })
        .collect()
}
