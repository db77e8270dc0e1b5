//! Where the daemon writes LOG records (`[control] log`, `log_format`):
//! the drain thread takes the records out of every worker's ring each
//! 50 ms ([`drain`]) and gives them to a [`LogSink`].
//!
//! The workers never wait for this side: their rings are bounded and a
//! full ring drops and counts (`log.ring_full`, in the dataplane). This
//! side never waits for its sink either: syslog's datagram socket is
//! non-blocking, so a syslog daemon that does not keep up (EAGAIN), a
//! missing `/dev/log`, a full disk or an unwritable file drop the record
//! and count it (`sink_dropped`, `sluice_log_dropped_total{reason="sink"}`).
//! A failure streak prints one error line when it starts and one line
//! when records are written again, never a line per record.
//!
//! Targets:
//!
//! * `stderr` (default): `sluice: LOG: <line>`, as before this sink.
//! * a file: appended, created mode 0640, each line
//!   `<RFC 3339 UTC time> sluice: <line>`; reopened on SIGHUP and when the
//!   path no longer names the open file (logrotate moved or removed it:
//!   checked by inode every drain).
//! * syslog: one datagram a record to `/dev/log`, RFC 3164:
//!   `<PRI>Mmm dd hh:mm:ss sluice: <line>`, facility daemon (3) — the
//!   kernel logs LOG's lines as facility kern, which a process cannot
//!   claim (glibc's `syslog(3)` turns kern into user) — and severity the
//!   rule's `--log-level` (default 4, warning), as the kernel does. The
//!   timestamp is UTC (the syslog daemon normally stamps its own).
//!
//! `<line>` is the kernel's text ([`LogRecord::line`], its trailing space
//! trimmed) with `log_format = "kernel"`, or a JSON object
//! ([`json`]) with `log_format = "json"`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use sluice_config::appliance::{LogFormat, LogTarget};
use sluice_dataplane::rules::log::{Icmp6Body, IcmpBody, IpLog, L4Log, LogRecord};
use sluice_dataplane::rules::RulesReader;

use super::log::Log;
use crate::views::metrics::LogCounts;
use crate::views::rules_save::{Civil, MONTHS};

/// The syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// Test hook: another datagram socket in place of `/dev/log`.
pub const SYSLOG_ENV: &str = "SLUICE_SYSLOG_SOCKET";
/// RFC 3164 facility daemon.
const FACILITY_DAEMON: u8 = 3;

/// What the sink counted, read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct SinkCounts {
    records: AtomicU64,
    dropped: AtomicU64,
}

impl SinkCounts {
    pub fn get(&self) -> LogCounts {
        LogCounts {
            records: self.records.load(Ordering::Relaxed),
            sink_dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

enum Out {
    Stderr,
    File {
        path: PathBuf,
        file: Option<(File, u64)>,
    },
    Syslog {
        path: PathBuf,
        sock: Option<UnixDatagram>,
    },
}

/// A record's text after the prefix of its target.
pub fn text(rec: &LogRecord, format: LogFormat, now: SystemTime) -> String {
    match format {
        LogFormat::Kernel => rec.line().trim_end().to_string(),
        LogFormat::Json => json(rec, now).to_string(),
    }
}

/// One record as a JSON object: `ts` (RFC 3339, when it was drained),
/// `level` (syslog severity), `prefix`, `in`, `out`, `mac` (as `MAC=`
/// prints it; null without an input interface), `src`, `dst`, `len`,
/// `tos`, `ttl`, `id`, `proto` (`TCP`, `UDP`, `UDPLITE`, `ICMP`,
/// `ICMPv6`, `AH`, `ESP` or the number), `spt`, `dpt` (TCP/UDP), `type`,
/// `code` (ICMP, ICMPv6), `mark`, and `line`, the kernel's line. For IPv6
/// `tos` is the traffic class, `ttl` the hop limit, `id` null, and
/// `flowlbl` the flow label.
pub fn json(rec: &LogRecord, now: SystemTime) -> serde_json::Value {
    let (src, dst, len, tos, ttl, ip_id, l4, flowlbl) = match &rec.ip {
        IpLog::V4(ip) => (
            ip.src.to_string(),
            ip.dst.to_string(),
            u32::from(ip.len),
            ip.tos,
            ip.ttl,
            Some(ip.id),
            &ip.l4,
            None,
        ),
        IpLog::V6(ip) => (
            ip.src.to_string(),
            ip.dst.to_string(),
            ip.len,
            ip.tc,
            ip.hop_limit,
            None,
            &ip.l4,
            Some(ip.flow_label),
        ),
    };
    let mac = rec.mac.map(|m| {
        let [a, b] = m.ethertype.to_be_bytes();
        format!("{}:{}:{a:02x}:{b:02x}", m.dst, m.src)
    });
    let (mut spt, mut dpt, mut ty, mut code) = (None, None, None, None);
    let proto = match l4 {
        L4Log::Tcp(t) => {
            spt = Some(t.sport);
            dpt = Some(t.dport);
            json!("TCP")
        }
        L4Log::TcpFragment | L4Log::TcpIncomplete(_) => json!("TCP"),
        L4Log::Udp {
            lite, sport, dport, ..
        } => {
            spt = Some(*sport);
            dpt = Some(*dport);
            json!(if *lite { "UDPLITE" } else { "UDP" })
        }
        L4Log::UdpFragment { lite } | L4Log::UdpIncomplete { lite, .. } => {
            json!(if *lite { "UDPLITE" } else { "UDP" })
        }
        L4Log::Icmp { ty: t, code: c, .. } => {
            ty = Some(*t);
            code = Some(*c);
            json!("ICMP")
        }
        L4Log::IcmpFragment | L4Log::IcmpIncomplete(_) => json!("ICMP"),
        L4Log::Ah { .. } | L4Log::AhFragment | L4Log::AhIncomplete(_) => json!("AH"),
        L4Log::Esp { .. } | L4Log::EspFragment | L4Log::EspIncomplete(_) => json!("ESP"),
        L4Log::Other(p) => json!(p),
        L4Log::Icmp6 { ty: t, code: c, .. } => {
            ty = Some(*t);
            code = Some(*c);
            json!("ICMPv6")
        }
        L4Log::Icmp6Fragment | L4Log::Icmp6Incomplete(_) => json!("ICMPv6"),
    };
    let (id, seq) = match l4 {
        L4Log::Icmp {
            body: IcmpBody::Echo { id, seq },
            ..
        }
        | L4Log::Icmp6 {
            body: Icmp6Body::Echo { id, seq },
            ..
        } => (Some(*id), Some(*seq)),
        _ => (None, None),
    };
    let mut o = json!({
        "ts": Civil::utc(now).rfc3339(),
        "level": rec.level as u8,
        "prefix": rec.prefix.as_str(),
        "in": rec.in_iface.as_str(),
        "out": rec.out_iface.as_str(),
        "mac": mac,
        "src": src,
        "dst": dst,
        "len": len,
        "tos": tos,
        "ttl": ttl,
        "id": ip_id,
        "proto": proto,
        "spt": spt,
        "dpt": dpt,
        "mark": rec.mark,
        "line": rec.line().trim_end(),
    });
    if ty.is_some() {
        o["type"] = json!(ty);
        o["code"] = json!(code);
    }
    if id.is_some() {
        o["icmp_id"] = json!(id);
        o["icmp_seq"] = json!(seq);
    }
    if flowlbl.is_some() {
        o["flowlbl"] = json!(flowlbl);
    }
    o
}

/// The RFC 3164 datagram of one line.
pub fn syslog_message(severity: u8, now: SystemTime, line: &str) -> String {
    let c = Civil::utc(now);
    format!(
        "<{}>{} {:>2} {:02}:{:02}:{:02} sluice: {line}",
        FACILITY_DAEMON * 8 + severity,
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.minute,
        c.second
    )
}

/// The LOG records' destination; lives on the drain thread.
pub struct LogSink {
    out: Out,
    format: LogFormat,
    counts: Arc<SinkCounts>,
    log: Log,
    /// In a failure streak: records dropped since it began.
    failing: Option<u64>,
    /// Failure streaks reported (one error line each).
    pub streaks: u64,
}

fn open_file(path: &Path) -> std::io::Result<(File, u64)> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)?;
    let ino = f.metadata()?.ino();
    Ok((f, ino))
}

impl LogSink {
    /// The sink of `target`. A file that cannot be opened is a start-up
    /// error (one line naming it); a syslog socket that is not there yet
    /// is not (records are dropped and counted until it is).
    pub fn open(target: &LogTarget, format: LogFormat, log: Log) -> Result<LogSink, String> {
        let out =
            match target {
                LogTarget::Stderr => Out::Stderr,
                LogTarget::File(path) => Out::File {
                    file: Some(open_file(path).map_err(|e| {
                        format!("[control] log: cannot open {}: {e}", path.display())
                    })?),
                    path: path.clone(),
                },
                LogTarget::Syslog => {
                    let path = std::env::var_os(SYSLOG_ENV)
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from(DEV_LOG));
                    Out::Syslog {
                        sock: connect(&path).ok(),
                        path,
                    }
                }
            };
        Ok(LogSink {
            out,
            format,
            counts: Arc::new(SinkCounts::default()),
            log,
            failing: None,
            streaks: 0,
        })
    }

    /// What it counts, for the metrics endpoint.
    pub fn counts(&self) -> Arc<SinkCounts> {
        Arc::clone(&self.counts)
    }

    /// Where it writes, for the daemon's lines.
    pub fn describe(&self) -> String {
        match &self.out {
            Out::Stderr => "stderr".into(),
            Out::File { path, .. } => path.display().to_string(),
            Out::Syslog { path, .. } => format!("syslog ({})", path.display()),
        }
    }

    /// Reopens the file (SIGHUP) or reconnects syslog.
    pub fn reopen(&mut self) {
        match &mut self.out {
            Out::Stderr => {}
            Out::File { path, file } => *file = open_file(path).ok(),
            Out::Syslog { path, sock } => *sock = connect(path).ok(),
        }
    }

    /// Once a drain: a file rotated away is reopened, a syslog socket that
    /// was missing is tried again.
    pub fn tick(&mut self) {
        let stale = match &self.out {
            Out::Stderr => false,
            Out::File { path, file } => match (std::fs::metadata(path), file) {
                (Ok(m), Some((_, ino))) => m.ino() != *ino,
                _ => true,
            },
            Out::Syslog { sock, .. } => sock.is_none(),
        };
        if stale {
            self.reopen();
        }
    }

    /// Writes one record; a failure drops it and counts.
    pub fn write(&mut self, rec: &LogRecord, now: SystemTime) {
        let line = text(rec, self.format, now);
        // A --log-prefix byte that is not UTF-8 goes out as the byte, as
        // the kernel logs it (JSON keeps it a character: JSON is text).
        let out = |s: &str| -> Vec<u8> {
            match self.format {
                LogFormat::Kernel => sluice_config::iptables::bytes::to_bytes(s).into_owned(),
                LogFormat::Json => s.as_bytes().to_vec(),
            }
        };
        let r = match &mut self.out {
            Out::Stderr => {
                let mut e = std::io::stderr().lock();
                e.write_all(&out(&format!("sluice: LOG: {line}\n")))
            }
            Out::File { file, .. } => match file {
                Some((f, _)) => {
                    let l = format!("{} sluice: {line}\n", Civil::utc(now).rfc3339());
                    f.write_all(&out(&l))
                }
                None => Err(ErrorKind::NotFound.into()),
            },
            Out::Syslog { sock, .. } => match sock {
                Some(s) => {
                    let m = syslog_message(rec.level as u8, now, &line);
                    s.send(&out(&m)).map(|_| ())
                }
                None => Err(std::io::Error::new(
                    ErrorKind::NotConnected,
                    "the syslog socket is not there",
                )),
            },
        };
        match r {
            Ok(()) => {
                self.counts.records.fetch_add(1, Ordering::Relaxed);
                if let Some(n) = self.failing.take() {
                    self.log.step(&format!(
                        "LOG sink {}: writing again ({n} record(s) dropped)",
                        self.describe()
                    ));
                }
            }
            Err(e) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
                match &mut self.failing {
                    Some(n) => *n += 1,
                    None => {
                        self.failing = Some(1);
                        self.streaks += 1;
                        let why = if e.kind() == ErrorKind::WouldBlock {
                            "full (the reader does not keep up)".to_string()
                        } else {
                            e.to_string()
                        };
                        self.log.error(&format!(
                            "LOG sink {}: {why}: dropping LOG records until it recovers (counted in sluice_log_dropped_total{{reason=\"sink\"}})",
                            self.describe()
                        ));
                    }
                }
                if matches!(self.out, Out::Syslog { .. }) && e.kind() != ErrorKind::WouldBlock {
                    // The syslog daemon restarted: reconnect next tick.
                    if let Out::Syslog { sock, .. } = &mut self.out {
                        *sock = None;
                    }
                }
            }
        }
    }
}

fn connect(path: &Path) -> std::io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Moves every worker's LOG records to `sink` (`buf` is reused).
pub fn drain(
    workers: &[Arc<arc_swap::ArcSwapOption<RulesReader>>],
    sink: &mut LogSink,
    buf: &mut Vec<LogRecord>,
) {
    sink.tick();
    let now = SystemTime::now();
    for w in workers {
        if let Some(r) = w.load_full() {
            buf.clear();
            r.drain_log(buf);
            for rec in buf.iter() {
                sink.write(rec, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::iptables::ext::t_log::LogLevel;
    use sluice_dataplane::rules::log::{InlineStr, IpOptionsLog, Ipv4Log, MacHeader};
    use sluice_dataplane::wire::MacAddr;
    use std::net::Ipv4Addr;
    use std::time::{Duration, UNIX_EPOCH};

    fn udp_record() -> LogRecord {
        LogRecord {
            time_ns: 0,
            level: LogLevel::Info,
            flags: 0,
            prefix: InlineStr::new("sluice drop: "),
            in_iface: InlineStr::new("r1"),
            out_iface: InlineStr::new("r0"),
            mac: Some(MacHeader {
                dst: MacAddr([2, 0x5c, 0, 0, 0, 1]),
                src: MacAddr([2, 0x5c, 0, 0, 1, 1]),
                ethertype: 0x0800,
            }),
            ip: IpLog::V4(Ipv4Log {
                src: Ipv4Addr::new(10, 0, 2, 2),
                dst: Ipv4Addr::new(10, 0, 1, 2),
                len: 33,
                tos: 0,
                ttl: 63,
                id: 4660,
                frag_off: 0x4000,
                protocol: 17,
                options: IpOptionsLog::None,
                l4: L4Log::Udp {
                    lite: false,
                    sport: 40000,
                    dport: 9999,
                    len: 13,
                },
            }),
            inner: None,
            mark: 0,
            uid_gid: None,
        }
    }

    const LINE: &str = "sluice drop: IN=r1 OUT=r0 MAC=02:5c:00:00:00:01:02:5c:00:00:01:01:08:00 SRC=10.0.2.2 DST=10.0.1.2 LEN=33 TOS=0x00 PREC=0x00 TTL=63 ID=4660 DF PROTO=UDP SPT=40000 DPT=9999 LEN=13";

    fn at() -> SystemTime {
        // Sat Dec  5 05:07:09.250 2026 UTC.
        UNIX_EPOCH + Duration::from_millis(1_796_447_229_250)
    }

    #[test]
    fn ipv6_json() {
        use sluice_dataplane::rules::log::{Ext6End, Ext6Log, Ipv6Log, EXT6_MAX};
        let mut r = udp_record();
        r.ip = IpLog::V6(Ipv6Log {
            src: "fd00:2::2".parse().unwrap(),
            dst: "fd00:1::2".parse().unwrap(),
            len: 53,
            tc: 0,
            hop_limit: 63,
            flow_label: 74565,
            ext: [Ext6Log::Opts; EXT6_MAX],
            ext_len: 0,
            end: Ext6End::Upper,
            l4: L4Log::Icmp6 {
                ty: 128,
                code: 0,
                body: Icmp6Body::Echo { id: 7, seq: 1 },
            },
        });
        let j = json(&r, at());
        assert_eq!(
            (&j["src"], &j["dst"], &j["ttl"], &j["id"], &j["flowlbl"]),
            (
                &json!("fd00:2::2"),
                &json!("fd00:1::2"),
                &json!(63),
                &json!(null),
                &json!(74565)
            )
        );
        assert_eq!(
            (&j["proto"], &j["type"], &j["icmp_id"], &j["icmp_seq"]),
            (&json!("ICMPv6"), &json!(128), &json!(7), &json!(1))
        );
        assert!(j["line"]
            .as_str()
            .unwrap()
            .ends_with("FLOWLBL=74565 PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1"));
    }

    #[test]
    fn kernel_and_json_text() {
        let r = udp_record();
        assert_eq!(text(&r, LogFormat::Kernel, at()), LINE);
        let j: serde_json::Value = serde_json::from_str(&text(&r, LogFormat::Json, at())).unwrap();
        assert_eq!(j["ts"], "2026-12-05T05:07:09.250Z");
        assert_eq!(j["level"], 6);
        assert_eq!(j["prefix"], "sluice drop: ");
        assert_eq!(j["in"], "r1");
        assert_eq!(j["out"], "r0");
        assert_eq!(j["mac"], "02:5c:00:00:00:01:02:5c:00:00:01:01:08:00");
        assert_eq!(j["src"], "10.0.2.2");
        assert_eq!(j["dst"], "10.0.1.2");
        assert_eq!(j["len"], 33);
        assert_eq!(j["ttl"], 63);
        assert_eq!(j["proto"], "UDP");
        assert_eq!(j["spt"], 40000);
        assert_eq!(j["dpt"], 9999);
        assert_eq!(j["line"], LINE);
        assert!(j.get("type").is_none());
        let mut icmp = udp_record();
        icmp.mac = None;
        if let IpLog::V4(ip) = &mut icmp.ip {
            ip.l4 = L4Log::Icmp {
                ty: 8,
                code: 0,
                body: IcmpBody::Echo { id: 7, seq: 1 },
            };
        }
        let j = json(&icmp, at());
        assert_eq!(
            (&j["proto"], &j["type"], &j["code"], &j["icmp_id"]),
            (&json!("ICMP"), &json!(8), &json!(0), &json!(7))
        );
        assert_eq!((&j["mac"], &j["spt"]), (&json!(null), &json!(null)));
    }

    #[test]
    fn rfc3164_message() {
        assert_eq!(
            syslog_message(6, at(), "x"),
            "<30>Dec  5 05:07:09 sluice: x"
        );
        assert_eq!(
            syslog_message(4, UNIX_EPOCH, "y"),
            "<28>Jan  1 00:00:00 sluice: y"
        );
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-logsink-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A --log-prefix byte that is not UTF-8 is written as the byte, as
    /// the kernel logs it.
    #[test]
    fn a_raw_prefix_byte_is_written_as_the_byte() {
        use sluice_config::iptables::bytes::raw_char;
        let d = tmp("raw");
        let path = d.join("sluice.log");
        let mut s = LogSink::open(
            &LogTarget::File(path.clone()),
            LogFormat::Kernel,
            Log::new(),
        )
        .unwrap();
        let mut rec = udp_record();
        let prefix = format!("caf{}{} ", raw_char(0xe9), raw_char(0xff)).repeat(5);
        rec.prefix = InlineStr::new(&prefix);
        s.write(&rec, at());
        let got = std::fs::read(&path).unwrap();
        let want = [
            &b"2026-12-05T05:07:09.250Z sluice: "[..],
            &b"caf\xe9\xff ".repeat(5),
            LINE.strip_prefix("sluice drop: ").unwrap().as_bytes(),
            b"\n",
        ]
        .concat();
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&got));
    }

    #[test]
    fn file_appends_0640_and_follows_rotation() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmp("file");
        let path = d.join("sluice.log");
        let mut s = LogSink::open(
            &LogTarget::File(path.clone()),
            LogFormat::Kernel,
            Log::new(),
        )
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        s.write(&udp_record(), at());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("2026-12-05T05:07:09.250Z sluice: {LINE}\n")
        );
        // logrotate moves the file away: the next drain writes a new one.
        std::fs::rename(&path, d.join("sluice.log.1")).unwrap();
        s.tick();
        s.write(&udp_record(), at());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert_eq!(
            std::fs::read_to_string(d.join("sluice.log.1"))
                .unwrap()
                .lines()
                .count(),
            1
        );
        assert_eq!(
            s.counts().get(),
            LogCounts {
                records: 2,
                sink_dropped: 0
            }
        );
        // SIGHUP reopens: after a rename without a drain in between, the
        // next record goes to a new file at the path.
        std::fs::rename(&path, d.join("sluice.log.2")).unwrap();
        s.reopen();
        s.write(&udp_record(), at());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert_eq!(
            std::fs::read_to_string(d.join("sluice.log.2"))
                .unwrap()
                .lines()
                .count(),
            1
        );
        // An unopenable file is one start-up line naming it.
        let e = LogSink::open(
            &LogTarget::File(d.join("no/such/dir.log")),
            LogFormat::Kernel,
            Log::new(),
        )
        .err()
        .unwrap();
        assert!(
            e.starts_with("[control] log: cannot open ") && e.contains("no/such/dir.log"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A full disk (`/dev/full`: every write fails with ENOSPC): each
    /// record is dropped and counted, one error line for the streak.
    #[test]
    fn disk_full_drops_and_counts() {
        let mut s = LogSink::open(
            &LogTarget::File("/dev/full".into()),
            LogFormat::Kernel,
            Log::new(),
        )
        .unwrap();
        for _ in 0..100 {
            s.tick();
            s.write(&udp_record(), at());
        }
        assert_eq!(
            s.counts().get(),
            LogCounts {
                records: 0,
                sink_dropped: 100
            }
        );
        assert_eq!(s.streaks, 1);
    }

    /// A syslog reader that does not read: the datagram queue fills, the
    /// sink drops and counts without blocking and reports one streak;
    /// once the reader reads, records flow again.
    #[test]
    fn syslog_datagrams_and_a_full_reader_counts_drops() {
        let d = tmp("syslog");
        let path = d.join("log.sock");
        let reader = UnixDatagram::bind(&path).unwrap();
        let mut s = LogSink {
            out: Out::Syslog {
                sock: connect(&path).ok(),
                path: path.clone(),
            },
            format: LogFormat::Json,
            counts: Arc::new(SinkCounts::default()),
            log: Log::new(),
            failing: None,
            streaks: 0,
        };
        let t0 = std::time::Instant::now();
        for _ in 0..2000 {
            s.write(&udp_record(), at());
        }
        assert!(t0.elapsed() < Duration::from_secs(2), "never blocks");
        let c = s.counts().get();
        assert_eq!(c.records + c.sink_dropped, 2000);
        assert!(c.records >= 1 && c.sink_dropped >= 1, "{c:?}");
        assert_eq!(s.streaks, 1, "one error line for the streak");
        let mut buf = [0u8; 4096];
        let n = reader.recv(&mut buf).unwrap();
        let m = std::str::from_utf8(&buf[..n]).unwrap();
        let json = m.strip_prefix("<30>Dec  5 05:07:09 sluice: ").expect(m);
        let j: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(j["line"], LINE);
        // The reader catches up: records are written again.
        reader.set_nonblocking(true).unwrap();
        while reader.recv(&mut buf).is_ok() {}
        s.write(&udp_record(), at());
        assert_eq!(s.counts().get().records, c.records + 1);
        assert!(s.failing.is_none());
        // The syslog daemon goes away: drops, counted, a second streak.
        drop(reader);
        let _ = std::fs::remove_file(&path);
        s.write(&udp_record(), at());
        s.tick();
        s.write(&udp_record(), at());
        assert_eq!(s.counts().get().sink_dropped, c.sink_dropped + 2);
        assert_eq!(s.streaks, 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}
