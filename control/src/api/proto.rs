//! The wire protocol: one JSON line from the client, one back.
//!
//! ```text
//! → {"v":1,"cmd":"apply","config":"/etc/sluice/sluice.toml","confirm":30}
//! ← {"v":1,"ok":true,"reply":"applied","generation":2,"rules":31,"confirm":30}
//! ← {"v":1,"ok":false,"reply":"error","error":"restart needed: ..."}
//! ```
//!
//! `v` is [`VERSION`]; a line with another version, or that is not a
//! request, is answered with an error naming what was wrong. Fields are
//! added compatibly (unknown fields are ignored); a change of meaning
//! bumps `v`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest line either side reads (a diff of a 10 000-rule ruleset
/// fits).
pub const MAX_LINE: usize = 64 << 20;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Load, compile and swap in the config at `config` (absolute); with
    /// `confirm`, roll back by itself unless [`Request::Confirm`] comes
    /// within that many seconds.
    Apply {
        config: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confirm: Option<u64>,
    },
    /// Keep the configuration of the pending `apply --confirm`.
    Confirm,
    /// Go back to the configuration before the running one.
    Rollback,
    /// The configurations applied so far (the last 10).
    History,
    /// What applying `config` would change.
    Diff { config: PathBuf },
    /// The running generation and config file.
    Status,
    /// An operator view ([`crate::views`]), rendered by the daemon: text
    /// in the layout of the tool it imitates, or JSON.
    View {
        #[serde(flatten)]
        view: ViewReq,
        #[serde(default)]
        json: bool,
    },
    /// `sluice trace`: the path of `packet` through the running
    /// configuration, rendered by the daemon ([`crate::views::trace`]);
    /// answered with [`Response::Text`]. Nothing is sent.
    Trace {
        #[serde(flatten)]
        packet: TracePacket,
        #[serde(default)]
        json: bool,
    },
}

/// A packet to trace as the command line gives it; the side holding the
/// configuration checks it and resolves the interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracePacket {
    /// `-i`: the interface it arrives on (default: the one the route
    /// back to the source leaves by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    /// `-p`: `tcp`, `udp`, `icmp`, another name of /etc/protocols' or a
    /// number.
    pub proto: String,
    pub src: String,
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// `--icmp-type` as iptables takes it (name or `TYPE[/CODE]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<String>,
    /// `--tcp-flags`: the flags set, as a comma list (`SYN,ACK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<String>,
    /// `--mark M[/MASK]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
    /// `--state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Which view, with its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "view", rename_all = "snake_case")]
pub enum ViewReq {
    RulesList {
        table: String,
        #[serde(default)]
        chain: Option<String>,
        #[serde(default)]
        verbose: bool,
        #[serde(default)]
        numeric: bool,
        #[serde(default)]
        exact: bool,
        #[serde(default)]
        line_numbers: bool,
        /// The ip6tables ruleset (`ip6tables -L`).
        #[serde(default)]
        ipv6: bool,
    },
    RulesSave {
        #[serde(default)]
        counters: bool,
        #[serde(default)]
        table: Option<String>,
        /// The ip6tables ruleset.
        #[serde(default)]
        ipv6: bool,
    },
    RulesZero {
        table: String,
        #[serde(default)]
        chain: Option<String>,
        /// The ip6tables ruleset (`ip6tables -Z`).
        #[serde(default)]
        ipv6: bool,
    },
    /// `op`: list, count, delete, flush; `filter`: conntrack's options.
    Conntrack {
        op: String,
        #[serde(default)]
        filter: Vec<String>,
    },
    RouteShow {
        #[serde(default)]
        selector: Vec<String>,
    },
    RuleShow,
    /// `selector`: `[]` or `["dev", IF]`.
    NeighShow {
        #[serde(default)]
        selector: Vec<String>,
    },
    SetsList {
        #[serde(default)]
        name: Option<String>,
    },
    Stats,
}

/// One configuration the daemon ran, for `sluice history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub generation: u64,
    /// Seconds since the Unix epoch when it was applied.
    pub time: u64,
    pub file: PathBuf,
    pub rules: usize,
    /// `started`, `applied`, `pending`, `confirmed` or `rolled-back`.
    pub state: String,
    /// It is the one running now.
    pub running: bool,
    /// How it came: `start`, `apply`, `SIGHUP`.
    pub by: String,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    Applied {
        generation: u64,
        rules: usize,
        /// Seconds left to confirm, when applied with `--confirm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confirm: Option<u64>,
        /// The workers running `generation` when the daemon answered.
        #[serde(default)]
        workers: usize,
        /// Microseconds from the request to the last worker's swap
        /// (load, compile, publish, swap).
        #[serde(default)]
        took_us: u64,
        /// Of which from the publication to the last worker's swap.
        #[serde(default)]
        swap_us: u64,
        /// Workers not running `generation` yet after
        /// [`SWAP_WAIT`](crate::run::api::SWAP_WAIT) (each takes it at its
        /// next poll turn).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lagging: Vec<usize>,
    },
    Confirmed {
        generation: u64,
    },
    RolledBack {
        /// The generation that was running and is rolled back.
        from: u64,
        /// The generation running now.
        to: u64,
    },
    History {
        entries: Vec<HistoryEntry>,
    },
    Diff {
        /// Unified-diff-like text; empty when nothing would change.
        text: String,
        /// Lines added or removed.
        changes: usize,
    },
    Status {
        generation: u64,
        config: PathBuf,
        pid: u32,
        /// Seconds left before a pending `--confirm` rolls back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confirm: Option<u64>,
    },
    /// A view: `text` for stdout, `note` for stderr (conntrack's count
    /// line).
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        note: String,
    },
    /// The request failed and changed nothing; one line.
    Error {
        error: String,
    },
}

#[derive(Serialize)]
struct Out<'a, T> {
    v: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(flatten)]
    body: &'a T,
}

/// `req` as one line (with its `\n`).
pub fn encode_request(req: &Request) -> String {
    line(&Out {
        v: VERSION,
        ok: None,
        body: req,
    })
}

/// `resp` as one line (with its `\n`).
pub fn encode_response(resp: &Response) -> String {
    line(&Out {
        v: VERSION,
        ok: Some(!matches!(resp, Response::Error { .. })),
        body: resp,
    })
}

fn line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).expect("protocol values always serialize");
    s.push('\n');
    s
}

/// A line's JSON object once its version is checked.
fn versioned(line: &str, what: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_str(line.trim_end())
        .map_err(|e| format!("bad {what} line (not JSON: {e})"))?;
    let Some(obj) = v.as_object() else {
        return Err(format!("bad {what} line (not a JSON object)"));
    };
    match obj.get("v").and_then(|v| v.as_u64()) {
        None => Err(format!("bad {what} line (no protocol version \"v\")")),
        Some(n) if n != u64::from(VERSION) => Err(format!(
            "unsupported protocol version {n} (this sluice speaks v{VERSION}): use the sluice binary of the running daemon"
        )),
        Some(_) => Ok(v),
    }
}

/// Parses a request line.
pub fn decode_request(line: &str) -> Result<Request, String> {
    let v = versioned(line, "request")?;
    serde_json::from_value(v).map_err(|e| format!("bad request: {e}"))
}

/// Parses a response line.
pub fn decode_response(line: &str) -> Result<Response, String> {
    let v = versioned(line, "response")?;
    serde_json::from_value(v).map_err(|e| format!("bad response: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Apply {
                config: "/etc/sluice/sluice.toml".into(),
                confirm: None,
            },
            Request::Apply {
                config: "/x.toml".into(),
                confirm: Some(30),
            },
            Request::Confirm,
            Request::Rollback,
            Request::History,
            Request::Diff {
                config: "/x.toml".into(),
            },
            Request::Status,
            Request::Trace {
                packet: TracePacket {
                    iif: Some("r0".into()),
                    proto: "tcp".into(),
                    src: "10.0.1.2".into(),
                    dst: "198.51.100.10".into(),
                    sport: Some(40000),
                    dport: Some(443),
                    mark: Some("0x1/0xff".into()),
                    state: Some("NEW".into()),
                    ..TracePacket::default()
                },
                json: true,
            },
        ] {
            let l = encode_request(&r);
            assert!(l.ends_with('\n') && !l[..l.len() - 1].contains('\n'), "{l}");
            assert_eq!(decode_request(&l), Ok(r));
        }
        assert_eq!(
            encode_request(&Request::Apply {
                config: "/x.toml".into(),
                confirm: Some(3)
            }),
            "{\"v\":1,\"cmd\":\"apply\",\"config\":\"/x.toml\",\"confirm\":3}\n"
        );
    }

    #[test]
    fn responses_round_trip() {
        for r in [
            Response::Applied {
                generation: 2,
                rules: 31,
                confirm: Some(3),
                workers: 2,
                took_us: 40_000,
                swap_us: 120,
                lagging: vec![1],
            },
            Response::Confirmed { generation: 2 },
            Response::RolledBack { from: 3, to: 2 },
            Response::History {
                entries: vec![HistoryEntry {
                    generation: 1,
                    time: 1_700_000_000,
                    file: "/etc/sluice/sluice.toml".into(),
                    rules: 31,
                    state: "started".into(),
                    running: true,
                    by: "start".into(),
                }],
            },
            Response::Diff {
                text: "+ -A FORWARD -j DROP\n".into(),
                changes: 1,
            },
            Response::Status {
                generation: 4,
                config: "/x.toml".into(),
                pid: 42,
                confirm: None,
            },
            Response::Error { error: "no".into() },
        ] {
            let l = encode_response(&r);
            assert_eq!(decode_response(&l), Ok(r));
        }
        assert_eq!(
            encode_response(&Response::Error { error: "x".into() }),
            "{\"v\":1,\"ok\":false,\"reply\":\"error\",\"error\":\"x\"}\n"
        );
        assert!(encode_response(&Response::Confirmed { generation: 2 })
            .starts_with("{\"v\":1,\"ok\":true,"));
    }

    #[test]
    fn rules_views_without_ipv6_still_decode() {
        // An older client sends no "ipv6": the iptables ruleset.
        for view in [
            ViewReq::RulesList {
                table: "filter".into(),
                chain: None,
                verbose: true,
                numeric: true,
                exact: false,
                line_numbers: false,
                ipv6: false,
            },
            ViewReq::RulesZero {
                table: "filter".into(),
                chain: Some("FORWARD".into()),
                ipv6: false,
            },
        ] {
            let req = Request::View { view, json: false };
            let line = encode_request(&req);
            assert!(line.contains(",\"ipv6\":false"), "{line}");
            let old = line.replace(",\"ipv6\":false", "");
            assert_eq!(decode_request(&old).unwrap(), req);
        }
    }

    #[test]
    fn unknown_version_is_refused() {
        let e = decode_request("{\"v\":2,\"cmd\":\"history\"}").unwrap_err();
        assert_eq!(
            e,
            "unsupported protocol version 2 (this sluice speaks v1): use the sluice binary of the running daemon"
        );
        let e = decode_request("{\"cmd\":\"history\"}").unwrap_err();
        assert_eq!(e, "bad request line (no protocol version \"v\")");
    }

    #[test]
    fn garbage_is_refused() {
        let e = decode_request("GET / HTTP/1.0").unwrap_err();
        assert!(e.starts_with("bad request line (not JSON: "), "{e}");
        assert!(!e.contains('\n'));
        assert_eq!(
            decode_request("[1,2]").unwrap_err(),
            "bad request line (not a JSON object)"
        );
        let e = decode_request("{\"v\":1,\"cmd\":\"reboot\"}").unwrap_err();
        assert!(
            e.starts_with("bad request: unknown variant `reboot`"),
            "{e}"
        );
        let e = decode_request("{\"v\":1,\"cmd\":\"apply\"}").unwrap_err();
        assert!(e.contains("missing field `config`"), "{e}");
    }
}
