//! A restore file is bytes: what `iptables-restore` reads with `fgets`.
//! sluice's model holds text, so [`decode`] turns the bytes into UTF-8
//! text line by line (lines split on `\n` only, as `fgets` splits them),
//! or says exactly which byte of which line it cannot take:
//!
//! - A `#` line (a `#` in column 1) is ignored by iptables-restore
//!   whatever its bytes, and by sluice too: a Latin-1 or other non-UTF-8
//!   byte there is accepted (the line is dropped before decoding).
//! - A non-UTF-8 byte anywhere else is an error at `file:line:column`
//!   naming the byte (`byte 0xe9 is not UTF-8`). iptables-restore keeps
//!   such bytes as they are (in a `--comment` or `--log-prefix` string
//!   `iptables-legacy-save` prints them back byte for byte); sluice keeps
//!   only UTF-8 there for now, and says so.
//! - A UTF-8 byte-order mark (`EF BB BF`) at the start is an error at line
//!   1 naming it: the kernel's iptables-legacy-restore refuses such a file
//!   too ("line 1 failed"), since `*filter` is not the first character.
//! - A NUL byte outside a `#` line is an error naming it, its line and
//!   column. **A deliberate difference**: iptables-restore takes the line
//!   as a C string, so it ends at the NUL and loads what comes before it
//!   (`-A INPUT -p tcp --dport 22<NUL> -j ACCEPT` loads a rule without its
//!   `-j ACCEPT`); a rule silently cut short is never what was meant, so
//!   sluice refuses the file.
//! - A `\r` before the `\n` is left in the line; `restore` refuses it with
//!   its own message (a CRLF file).

use std::borrow::Cow;
use std::path::Path;

use super::restore::RestoreError;
use crate::error::{Error, ErrorKind, Location};

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The text of restore file `bytes` (named `file` in errors): borrowed when
/// the bytes are UTF-8 throughout with no NUL and no BOM; otherwise with
/// every `#` line reduced to `#` (line numbers are kept), or the error.
pub fn decode<'a>(bytes: &'a [u8], file: &Path) -> Result<Cow<'a, str>, Error> {
    let e = |line: usize, col: usize, msg: String| {
        Error::new(
            Location::new(file, line, Some(col)),
            ErrorKind::Rules(RestoreError(msg)),
        )
    };
    if bytes.starts_with(BOM) {
        return Err(e(
            1,
            1,
            "the file starts with a UTF-8 byte-order mark (bytes 0xef 0xbb 0xbf): iptables-restore refuses it (\"line 1 failed\"); save the file without the BOM".into(),
        ));
    }
    if !bytes.contains(&0) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Ok(Cow::Borrowed(text));
        }
    }
    let mut out = String::with_capacity(bytes.len());
    for (i, raw) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        if raw.first() == Some(&b'#') {
            // Ignored by iptables-restore whatever follows the `#`.
            out.push('#');
            if raw.ends_with(b"\n") {
                out.push('\n');
            }
            continue;
        }
        let nul = raw.iter().position(|&b| b == 0);
        let head = &raw[..nul.unwrap_or(raw.len())];
        match std::str::from_utf8(head) {
            Err(bad) => {
                let at = bad.valid_up_to();
                return Err(e(
                    line,
                    at + 1,
                    format!(
                        "byte 0x{:02x} is not UTF-8: sluice reads a restore file as UTF-8 outside `#' lines (iptables-restore would keep the byte as it is); write the text in UTF-8",
                        raw[at]
                    ),
                ));
            }
            Ok(text) => {
                if let Some(at) = nul {
                    return Err(e(
                        line,
                        at + 1,
                        format!(
                            "a NUL byte (0x00) in the line: iptables-restore would end the line there and load only `{}'; sluice refuses it; remove the NUL",
                            text.trim_end()
                        ),
                    ));
                }
                out.push_str(text);
            }
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> String {
        decode(bytes, Path::new("f")).unwrap_err().to_string()
    }

    #[test]
    fn utf8_without_nul_is_borrowed() {
        let b = "*filter\n# café\n-A INPUT -m comment --comment \"café\"\nCOMMIT\n".as_bytes();
        assert!(matches!(decode(b, Path::new("f")), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn hash_lines_keep_their_number_and_lose_their_bytes() {
        let t = decode(b"*filter\n# caf\xe9\n#\0\nCOMMIT", Path::new("f")).expect("decodes");
        assert_eq!(t, "*filter\n#\n#\nCOMMIT");
    }

    #[test]
    fn first_bad_byte_is_named_with_its_column() {
        assert!(err(b"*filter\n-A INPUT\xff\xe9\n").starts_with("f:2:9: byte 0xff is not UTF-8"));
    }

    #[test]
    fn nul_after_bad_byte_reports_the_byte() {
        assert!(err(b"\xe9\0").starts_with("f:1:1: byte 0xe9 is not UTF-8"));
    }
}
