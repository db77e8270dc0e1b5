//! A restore file is bytes: what `iptables-restore` reads with `fgets`.
//! sluice's model holds text, so [`decode`] turns the bytes into UTF-8
//! text line by line (lines split on `\n` only, as `fgets` splits them),
//! or says exactly which byte of which line it cannot take:
//!
//! - A `#` line (a `#` in column 1) is ignored by iptables-restore
//!   whatever its bytes, and by sluice too: a Latin-1 or other non-UTF-8
//!   byte there is accepted (the line is dropped before decoding).
//! - A non-UTF-8 byte in the argument of `--comment` or `--log-prefix` is
//!   kept, as iptables-restore keeps it, and printed back byte for byte as
//!   `iptables-legacy-save` prints it. The model holds text, so such a
//!   byte `b` (always 0x80 or above) is held as the character
//!   U+10FF00 + `b` ([`raw_char`]), a private-use code point no restore
//!   file may contain itself (one that does is refused, naming it), and
//!   turned back into the byte wherever sluice writes text out
//!   ([`to_bytes`]). Lengths the kernel limits count bytes ([`byte_len`]).
//! - A non-UTF-8 byte anywhere else is an error at `file:line:column`
//!   naming the byte (`byte 0xe9 is not UTF-8`): iptables would take it in
//!   a chain or interface name too, but no tool an operator uses prints
//!   such a name readably.
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

/// Where the characters standing for raw bytes start: byte `b` is
/// `RAW_BASE + b`, so bytes 0x80..=0xff are U+10FF80..=U+10FFFF.
const RAW_BASE: u32 = 0x10_ff00;

/// The character that stands for non-UTF-8 byte `b` (0x80 or above).
pub fn raw_char(b: u8) -> char {
    char::from_u32(RAW_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The byte `c` stands for, when it stands for one.
pub fn raw_byte(c: char) -> Option<u8> {
    let v = u32::from(c);
    (RAW_BASE + 0x80..=RAW_BASE + 0xff)
        .contains(&v)
        .then(|| (v - RAW_BASE) as u8)
}

/// Whether `s` holds a raw byte.
pub fn has_raw(s: &str) -> bool {
    s.chars().any(|c| raw_byte(c).is_some())
}

/// The first raw byte of `s`, with the number of bytes before it in the
/// original file's terms.
pub fn first_raw(s: &str) -> Option<(usize, u8)> {
    let mut before = 0;
    for c in s.chars() {
        match raw_byte(c) {
            Some(b) => return Some((before, b)),
            None => before += c.len_utf8(),
        }
    }
    None
}

/// The length of `s` in bytes as iptables counts them (a raw byte is one).
pub fn byte_len(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if raw_byte(c).is_some() {
                1
            } else {
                c.len_utf8()
            }
        })
        .sum()
}

/// The first `n` bytes of `s` as iptables cuts a string: a UTF-8
/// character the cut splits keeps its leading bytes, as raw bytes.
pub fn truncate_bytes(s: &str, n: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    for c in s.chars() {
        let w = if raw_byte(c).is_some() {
            1
        } else {
            c.len_utf8()
        };
        if len + w <= n {
            out.push(c);
            len += w;
            continue;
        }
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes().iter().take(n - len) {
            out.push(raw_char(b));
        }
        break;
    }
    out
}

/// `s` as the bytes iptables would print: each raw-byte character turned
/// back into its byte (borrowed when there is none).
pub fn to_bytes(s: &str) -> Cow<'_, [u8]> {
    if !has_raw(s) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match raw_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
    Cow::Owned(out)
}

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
            if !has_raw(text) {
                return Ok(Cow::Borrowed(text));
            }
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
        let mut text = String::with_capacity(head.len());
        let mut off = 0;
        for chunk in head.utf8_chunks() {
            let valid = chunk.valid();
            if let Some((i, c)) = valid.char_indices().find(|&(_, c)| raw_byte(c).is_some()) {
                return Err(e(
                    line,
                    off + i + 1,
                    format!(
                        "character U+{:X} is reserved by sluice (it stands for a non-UTF-8 byte of a --comment or --log-prefix text); remove it",
                        u32::from(c)
                    ),
                ));
            }
            text.push_str(valid);
            text.extend(chunk.invalid().iter().map(|&b| raw_char(b)));
            off += valid.len() + chunk.invalid().len();
        }
        if let Some(at) = nul {
            return Err(e(
                line,
                at + 1,
                format!(
                    "a NUL byte (0x00) in the line: iptables-restore would end the line there and load only `{}'; sluice refuses it; remove the NUL",
                    String::from_utf8_lossy(to_bytes(&text).as_ref()).trim_end()
                ),
            ));
        }
        out.push_str(&text);
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
    fn bad_bytes_become_raw_characters_and_go_back_out() {
        let b = b"*filter\n-A INPUT\xff\xe9 \xc3\xa9\n";
        let t = decode(b, Path::new("f")).expect("decodes");
        assert_eq!(
            t,
            format!(
                "*filter\n-A INPUT{}{} \u{e9}\n",
                raw_char(0xff),
                raw_char(0xe9)
            )
        );
        assert_eq!(to_bytes(&t).as_ref(), b);
        assert_eq!(byte_len(&t), b.len());
        assert_eq!(first_raw(&t), Some((16, 0xff)));
    }

    #[test]
    fn a_reserved_character_in_the_file_is_refused() {
        let mut b = b"*filter\n-A INPUT ".to_vec();
        b.extend("\u{10ff80}".as_bytes());
        assert!(
            err(&b).starts_with("f:2:10: character U+10FF80 is reserved by sluice"),
            "{}",
            err(&b)
        );
        b.push(0xe9);
        assert!(err(&b).starts_with("f:2:10: character U+10FF80"));
    }

    #[test]
    fn nul_after_bad_byte_is_the_nul() {
        assert!(err(b"\xe9\0").starts_with("f:1:2: a NUL byte (0x00)"));
    }

    #[test]
    fn cuts_count_bytes() {
        assert_eq!(truncate_bytes("aé", 2), format!("a{}", raw_char(0xc3)));
        assert_eq!(truncate_bytes("aé", 3), "aé");
        assert_eq!(
            truncate_bytes(&format!("{}b", raw_char(0xe9)), 1),
            raw_char(0xe9).to_string()
        );
        assert_eq!(raw_byte('a'), None);
        assert_eq!(raw_byte(raw_char(0x80)), Some(0x80));
    }
}
