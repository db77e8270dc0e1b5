//! The client side of the API: one request, one answer, errors as one
//! line that says what to do.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::proto::{self, Request, Response};

/// How long the client waits for an answer (an apply of a large ruleset
/// compiles in the daemon).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `req` to the daemon serving `socket`; its answer (a
/// [`Response::Error`] is an answer too), or why there is none.
pub fn call(socket: &Path, req: &Request) -> Result<Response, String> {
    let s = socket.display();
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
            format!("{s}: socket missing / daemon not running (no sluice run with this config?)")
        }
        ErrorKind::PermissionDenied => format!(
            "{s}: permission denied: the sluice API answers root only (run this as root, e.g. with sudo)"
        ),
        _ => format!("{s}: cannot connect: {e}"),
    })?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    stream
        .write_all(proto::encode_request(req).as_bytes())
        .map_err(|e| format!("{s}: cannot send the request: {e}"))?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut line = String::new();
    BufReader::new(stream.take(proto::MAX_LINE as u64))
        .read_line(&mut line)
        .map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                format!("{s}: no answer from the daemon in {}s", TIMEOUT.as_secs())
            }
            _ => format!("{s}: cannot read the answer: {e}"),
        })?;
    if line.is_empty() {
        return Err(format!(
            "{s}: the daemon closed the connection without an answer (not root?)"
        ));
    }
    proto::decode_response(&line).map_err(|e| format!("{s}: {e}"))
}
