//! A restore file is bytes (`config/src/iptables/bytes.rs`): what sluice
//! does with non-UTF-8 bytes, a byte-order mark, a NUL and a CR, each with
//! its exact message and location. Observed with the kernel
//! (iptables-legacy-restore 1.8.9 in a network namespace): a Latin-1 byte
//! in a `#` line, a `--comment` or a `--log-prefix` loads (the two strings
//! are saved back byte for byte, and so by sluice; the kernel comparison
//! is `bench/tests/config_oracle/corpus.rs`); a BOM is refused ("line 1 failed"); a NUL
//! cuts the rule short at the NUL and loads the rest of the line before it.

use std::path::Path;

use sluice_config::iptables;

const FILE: &str = "rules.v4";

#[track_caller]
fn refused(bytes: &[u8]) -> String {
    match iptables::parse_bytes(bytes, Path::new(FILE)) {
        Ok(rs) => panic!("accepted:\n{}", iptables::save::save(&rs)),
        Err(e) => e.to_string(),
    }
}

const NOT_UTF8: &str = "is not UTF-8: sluice keeps such bytes only in the texts of --comment and --log-prefix (as iptables-save prints them back); write this word in UTF-8";

/// The file's `iptables-save` text as bytes.
fn saved(bytes: &[u8]) -> Vec<u8> {
    let rs = iptables::parse_bytes(bytes, Path::new(FILE)).expect("loads");
    iptables::bytes::to_bytes(&iptables::save::save(&rs)).into_owned()
}

#[test]
fn latin1_in_a_hash_line_is_ignored_as_iptables_ignores_it() {
    let rs = iptables::parse_bytes(
        b"# r\xe8gles de caf\xe9\n*filter\n# caf\xe9 \xff\0\n-A INPUT -j ACCEPT\nCOMMIT\n",
        Path::new(FILE),
    )
    .expect("a `#' line is skipped whatever its bytes");
    assert_eq!(
        iptables::save::save(&rs),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"
    );
}

const HEAD: &[u8] = b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";

#[test]
fn latin1_in_a_comment_string_is_kept_byte_for_byte() {
    for rule in [
        &b"-A INPUT -m comment --comment \"caf\xe9\" -j ACCEPT\n"[..],
        b"-A INPUT -m comment --comment=caf\xe9 -j ACCEPT\n",
        b"-A INPUT -m comment --comm \"\xff \xc3\xa9\xe9\"\n",
    ] {
        let file = [HEAD, rule, b"COMMIT\n"].concat();
        let want: Vec<u8> = [HEAD, &rule_saved(rule)[..], b"COMMIT\n"].concat();
        assert_eq!(saved(&file), want, "{}", String::from_utf8_lossy(rule));
    }
}

/// How iptables-save prints a rule line of the tests above.
fn rule_saved(rule: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(rule);
    if s.contains("--comm ") {
        b"-A INPUT -m comment --comment \"\xff \xc3\xa9\xe9\"\n".to_vec()
    } else {
        b"-A INPUT -m comment --comment \"caf\xe9\" -j ACCEPT\n".to_vec()
    }
}

#[test]
fn latin1_in_a_log_prefix_is_kept_byte_for_byte() {
    let file = [HEAD, b"-A INPUT -j LOG --log-prefix \"x\xe9 \"\nCOMMIT\n"].concat();
    assert_eq!(saved(&file), file);
}

#[test]
fn latin1_anywhere_else_names_line_column_and_byte() {
    for (rule, col) in [
        (&b"-A INPUT -i eth\xe9 -j ACCEPT"[..], 16),
        (b"-A INPUT -j LOG --log-level \xe9", 29),
        (b"-A INPUT --log-pr\xe9 x", 18),
        (b"-A INPUT -j C\xe9", 14),
        (b"-A INPUT \xe9", 10),
        (b"-A INPUT -m comment --comment x -s 10.0.0.\xe9", 43),
    ] {
        let e = refused(&[b"*filter\n", rule, b"\nCOMMIT\n"].concat());
        assert_eq!(
            e,
            format!("{FILE}:2:{col}: byte 0xe9 {NOT_UTF8}"),
            "{}",
            String::from_utf8_lossy(rule)
        );
    }
}

#[test]
fn a_bad_byte_in_a_table_line_is_named_too() {
    let e = refused(b"*filt\xc3er\nCOMMIT\n");
    assert_eq!(e, format!("{FILE}:1:6: byte 0xc3 is not UTF-8: sluice keeps such bytes only in the texts of --comment and --log-prefix; write table and chain names in UTF-8"));
    let e = refused(b"*filter\n:A\xe9 - [0:0]\nCOMMIT\n");
    assert!(
        e.starts_with(&format!("{FILE}:2:3: byte 0xe9 is not UTF-8")),
        "{e}"
    );
}

#[test]
fn utf8_in_a_comment_string_is_fine() {
    let text = "*filter\n-A INPUT -m comment --comment \"café\" -j ACCEPT\nCOMMIT\n";
    let rs = iptables::parse_bytes(text.as_bytes(), Path::new(FILE)).expect("UTF-8");
    assert!(iptables::save::save(&rs).contains("--comment \"café\""));
}

#[test]
fn byte_order_mark_is_refused_at_line_1() {
    let e = refused(b"\xef\xbb\xbf*filter\n-A INPUT -j ACCEPT\nCOMMIT\n");
    assert_eq!(
        e,
        format!("{FILE}:1:1: the file starts with a UTF-8 byte-order mark (bytes 0xef 0xbb 0xbf): iptables-restore refuses it (\"line 1 failed\"); save the file without the BOM")
    );
}

#[test]
fn nul_byte_is_refused_with_its_line_and_column() {
    // iptables-restore loads `-A INPUT -p tcp -m tcp --dport 22` here.
    let e = refused(b"*filter\n-A INPUT -p tcp --dport 22\0 -j ACCEPT\nCOMMIT\n");
    assert_eq!(
        e,
        format!("{FILE}:2:27: a NUL byte (0x00) in the line: iptables-restore would end the line there and load only `-A INPUT -p tcp --dport 22'; sluice refuses it; remove the NUL")
    );
}

#[test]
fn carriage_return_keeps_its_own_message_through_bytes() {
    let e = refused(b"*filter\r\nCOMMIT\r\n");
    assert!(
        e.starts_with(&format!("{FILE}:1:8: line ends with a carriage return")),
        "{e}"
    );
}

#[test]
fn load_reads_bytes_and_names_the_line() {
    let dir = std::env::temp_dir().join(format!("sluice-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ok = dir.join("ok.v4");
    std::fs::write(&ok, b"*filter\n# caf\xe9\nCOMMIT\n").expect("write");
    iptables::load(&ok).expect("Latin-1 in a `#' line loads");
    let bad = dir.join("bad.v4");
    std::fs::write(
        &bad,
        b"*filter\n-A INPUT -j LOG --log-level \"\xe9\"\nCOMMIT\n",
    )
    .expect("write");
    let e = iptables::load(&bad).unwrap_err();
    assert_eq!(e.at.line, 2);
    assert_eq!(e.at.column, Some(29), "the quote that opens the word");
    assert!(e.to_string().contains("byte 0xe9 is not UTF-8"), "{e}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn sets_and_appliance_files_name_the_bad_byte_and_its_place() {
    use sluice_config::{appliance, ipset};
    let dir = std::env::temp_dir().join(format!("sluice-bytes-other-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sets = dir.join("sets");
    std::fs::write(&sets, b"create a hash:ip\nadd a 10.0.0.1 caf\xe9\n").expect("write");
    let toml = dir.join("a.toml");
    std::fs::write(&toml, b"# caf\xe9\n").expect("write");
    for (e, at) in [
        (
            ipset::load(&sets).unwrap_err(),
            format!("{}:2:19", sets.display()),
        ),
        (
            appliance::load(&toml).unwrap_err(),
            format!("{}:1:6", toml.display()),
        ),
    ] {
        assert_eq!(
            e.to_string(),
            format!("{at}: cannot read file: byte 0xe9 is not UTF-8")
        );
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
