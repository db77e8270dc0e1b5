//! The Prometheus endpoint (`[control] metrics = "ADDR:PORT"`): a minimal
//! HTTP/1.1 server on its own thread of the daemon, std only.
//!
//! * `GET /metrics` (a query string is ignored) answers 200 with
//!   `Content-Type: text/plain; version=0.0.4` and the body of
//!   [`crate::views::metrics::render`]; any other request line answers 404,
//!   a request that is not HTTP 400. Every answer closes the connection.
//! * One connection at a time, each with a 2 s budget to send its request
//!   head (at most 8 KiB) and 2 s to take the answer: a slow or silent
//!   client holds the endpoint 2 s at most, others wait in the listen
//!   backlog. The API socket's requests and the scrapes take turns on the
//!   control state's lock (a scrape asks each worker's conntrack shard for
//!   its count, as `sluice stats` does).
//! * No authentication: the daemon warns at start when the address is not
//!   loopback. Such an address is one of the box's, reached through the
//!   dataplane and the host side's TAP, so the ruleset's INPUT chain
//!   decides who can scrape.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::api::Control;
use super::logsink::SinkCounts;

/// Time a client has to send its request head, and to take the answer.
const CLIENT_TIME: Duration = Duration::from_secs(2);
/// Longest request head read.
const MAX_HEAD: usize = 8192;

/// The bound listener.
pub struct Endpoint {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Endpoint {
    /// Listens on `addr`; a failure is one line naming it.
    pub fn bind(addr: SocketAddr) -> Result<Endpoint, String> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| format!("[control] metrics: cannot listen on {addr}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("[control] metrics: {addr}: {e}"))?;
        let addr = listener.local_addr().unwrap_or(addr);
        Ok(Endpoint { listener, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What the request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Ask {
    Metrics,
    NotFound,
    BadRequest,
}

/// Reads the request line of `head` (the bytes up to the blank line).
pub fn parse_head(head: &[u8]) -> Ask {
    let Ok(text) = std::str::from_utf8(head) else {
        return Ask::BadRequest;
    };
    let line = text.split("\r\n").next().unwrap_or("");
    let f: Vec<&str> = line.split(' ').collect();
    match f.as_slice() {
        [method, target, version] if version.starts_with("HTTP/1.") => {
            let path = target.split('?').next().unwrap_or("");
            if *method == "GET" && path == "/metrics" {
                Ask::Metrics
            } else {
                Ask::NotFound
            }
        }
        _ => Ask::BadRequest,
    }
}

/// The whole answer for a status and body.
pub fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads the request head within [`CLIENT_TIME`]; `None` when the
/// client was too slow or sent too much.
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let t0 = Instant::now();
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let left = CLIENT_TIME.checked_sub(t0.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

fn answer(mut stream: TcpStream, control: &Mutex<Control>, log: &SinkCounts) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(CLIENT_TIME));
    let resp = match read_head(&mut stream).map(|h| parse_head(&h)) {
        None => return,
        Some(Ask::BadRequest) => response("400 Bad Request", "text/plain", "bad request\n"),
        Some(Ask::NotFound) => response(
            "404 Not Found",
            "text/plain",
            "not found: the metrics are at GET /metrics\n",
        ),
        Some(Ask::Metrics) => {
            let body = match control.lock() {
                Ok(c) => c.metrics(log.get()),
                Err(_) => return,
            };
            response("200 OK", "text/plain; version=0.0.4; charset=utf-8", &body)
        }
    };
    let _ = stream.write_all(resp.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Serves `ep` until `stop`.
pub fn serve(
    ep: Endpoint,
    control: Arc<Mutex<Control>>,
    log: Arc<SinkCounts>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match ep.listener.accept() {
            Ok((stream, _)) => answer(stream, &control, &log),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x"),
            Ask::Metrics
        );
        assert_eq!(parse_head(b"GET /metrics?a=b HTTP/1.0"), Ask::Metrics);
        assert_eq!(parse_head(b"GET / HTTP/1.1"), Ask::NotFound);
        assert_eq!(parse_head(b"POST /metrics HTTP/1.1"), Ask::NotFound);
        assert_eq!(parse_head(b"GET /metricsx HTTP/1.1"), Ask::NotFound);
        assert_eq!(parse_head(b"hello"), Ask::BadRequest);
        assert_eq!(parse_head(b"GET /metrics SPDY/3"), Ask::BadRequest);
        assert_eq!(parse_head(&[0xff, 0xfe]), Ask::BadRequest);
        let r = response("200 OK", "text/plain; version=0.0.4", "a 1\n");
        assert_eq!(
            r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n"
        );
    }

    #[test]
    fn bind_failure_names_the_address() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        let e = Endpoint::bind(addr).err().unwrap();
        assert!(
            e.starts_with(&format!("[control] metrics: cannot listen on {addr}: ")),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    /// A client that connects and says nothing holds the endpoint for
    /// CLIENT_TIME at most.
    #[test]
    fn silent_client_times_out() {
        let ep = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let _c = TcpStream::connect(ep.addr()).unwrap();
        let (mut s, _) = loop {
            match ep.listener.accept() {
                Ok(x) => break x,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        s.set_nonblocking(false).unwrap();
        let t0 = Instant::now();
        assert!(read_head(&mut s).is_none());
        let took = t0.elapsed();
        assert!(took >= CLIENT_TIME && took < CLIENT_TIME * 2, "{took:?}");
    }
}
