//! Every kind of bad input: the error names the file, the line and (where
//! the word is known) the column, and says what is wrong. No root needed.
//!
//! The texts asserted are the substance of each message (what failed, and
//! the hint), so a reworded message still has to say the same thing.

mod common;

use std::path::Path;

use sluice_config::iptables;
use sluice_config::Error;

const FILE: &str = "rules.v4";

fn fails(text: &str) -> Error {
    match iptables::parse(text, Path::new(FILE)) {
        Ok(rs) => panic!(
            "accepted, expected an error:\n{text}\nsaved as:\n{}",
            iptables::save::save(&rs)
        ),
        Err(e) => e,
    }
}

/// Asserts the error is at `line` (and `column` when given) and its message
/// contains every string of `says`.
#[track_caller]
fn assert_error(text: &str, line: usize, column: Option<usize>, says: &[&str]) {
    let e = fails(text);
    let shown = e.to_string();
    assert_eq!(e.at.line, line, "wrong line: {shown}");
    if let Some(c) = column {
        assert_eq!(e.at.column, Some(c), "wrong column: {shown}");
    }
    for s in says {
        assert!(shown.contains(s), "message lacks {s:?}: {shown}");
    }
}

/// A file that cannot be read: the appliance and sets loaders name it at
/// line 1 and again in the message; the rules loader at line 0.
#[test]
fn unreadable_files() {
    use sluice_config::{appliance, ipset, ErrorKind};
    use std::io;
    let missing = Path::new("/nonexistent/sluice/f");
    for (e, shown) in [
        (
            appliance::load(missing).unwrap_err(),
            "/nonexistent/sluice/f:1: cannot read file: /nonexistent/sluice/f: ",
        ),
        (
            ipset::load(missing).unwrap_err(),
            "/nonexistent/sluice/f:1: cannot read file: /nonexistent/sluice/f: ",
        ),
        (
            iptables::load(missing).unwrap_err(),
            "/nonexistent/sluice/f:0: cannot read file: ",
        ),
    ] {
        let ErrorKind::Io(r) = &e.kind else {
            panic!("not an I/O error: {e:?}");
        };
        assert_eq!(r.kind, io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            format!("{shown}No such file or directory (os error 2)")
        );
    }
}

// The bad inputs, shared with the kernel cross-check at the end.
const DISPLAY_IS_FILE_LINE_COLUMN_MESSAGE: &str = "*filter\n-A INPUT --bogus -j ACCEPT\nCOMMIT\n";
const UNKNOWN_OPTION: &str =
    "*filter\n-A INPUT -p tcp --dport 22 --frobnicate 3 -j ACCEPT\nCOMMIT\n";
const UNKNOWN_SHORT_OPTION: &str = "*filter\n-A INPUT -y -j ACCEPT\nCOMMIT\n";
const OPTION_OF_A_MATCH_NOT_LOADED: &str = "*filter\n-A INPUT --dport 22 -j ACCEPT\nCOMMIT\n";
const UNKNOWN_MATCH: &str = "*filter\n\n-A INPUT -m frobnicate -j ACCEPT\nCOMMIT\n";
const UNSUPPORTED_MATCH_OWNER: &str =
    "*filter\n-A OUTPUT -m owner --uid-owner 1000 -j DROP\nCOMMIT\n";
const UNSUPPORTED_TARGET: &str = "*mangle\n-A PREROUTING -p tcp -j TPROXY --on-port 1\nCOMMIT\n";
const BAD_ADDRESS: &str = "*filter\n-A INPUT -s 192.0.2.256 -j ACCEPT\nCOMMIT\n";
const HOST_NAMES_ARE_NOT_RESOLVED: &str =
    "*filter\n-A INPUT -d gateway.example -j ACCEPT\nCOMMIT\n";
const ADDRESS_ATTACHED_TO_ITS_OPTION: &str = "*filter\n-A INPUT -s192.0.2.1 -j ACCEPT\nCOMMIT\n";
const BAD_MASK_LENGTH: &str = "*filter\n-A INPUT -d 10.0.0.0/33 -j ACCEPT\nCOMMIT\n";
const BAD_DOTTED_MASK: &str = "*filter\n-A INPUT -s 10.0.0.0/255.255.0 -j ACCEPT\nCOMMIT\n";
const BAD_PORT: &str = "*filter\n-A INPUT -p tcp --dport 65536 -j ACCEPT\nCOMMIT\n";
const UNKNOWN_SERVICE_NAME: &str =
    "*filter\n-A INPUT -p udp --dport no-such-service -j ACCEPT\nCOMMIT\n";
const BAD_PORT_RANGE_TCP: &str = "*filter\n-A INPUT -p tcp --sport 2000:1000 -j ACCEPT\nCOMMIT\n";
const BAD_PROTOCOL: &str = "*filter\n-A INPUT -p tcpp -j ACCEPT\nCOMMIT\n";
const SIGN_AFTER_A_NUMBER_PREFIX: &str =
    "*filter\n-A INPUT -p tcp --dport 0x+7 -j ACCEPT\nCOMMIT\n";
const HEX_UDP_PORT: &str = "*filter\n-A INPUT -p udp --dport 0x35 -j ACCEPT\nCOMMIT\n";
const PROTOCOL_ALIAS_NOT_LOWER_CASE: &str = "*filter\n-A INPUT -p IPSEC-ESP -j ACCEPT\nCOMMIT\n";
const SIGNED_ADDRESS_PART: &str = "*filter\n-A INPUT -s +10.300 -j ACCEPT\nCOMMIT\n";
const MULTIPORT_BEFORE_ITS_PROTOCOL: &str =
    "*filter\n-A INPUT -m multiport --dports 80,443 -p tcp -j ACCEPT\nCOMMIT\n";
const NAT_PORT_BEFORE_ITS_PROTOCOL: &str =
    "*nat\n-A PREROUTING -j DNAT --to-destination 192.0.2.1:8080 -p tcp\nCOMMIT\n";
const REDIRECT_PORT_BEFORE_ITS_PROTOCOL: &str =
    "*nat\n-A PREROUTING -j REDIRECT --to-ports 3128 -p tcp\nCOMMIT\n";
const TARGET_IN_THE_WRONG_TABLE: &str =
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j DNAT --to-destination 192.0.2.1\nCOMMIT\n";
const TARGET_IN_A_USER_CHAIN_REACHED_FROM_THE_WRONG_HOOK: &str = "*nat\n\
                :FWD - [0:0]\n\
                -A FWD -p tcp -j DNAT --to-destination 192.0.2.1\n\
                -A PREROUTING -j FWD\n\
                -A POSTROUTING -j FWD\n\
                COMMIT\n";
const DROP_IN_NAT: &str = "*nat\n-A PREROUTING -p tcp -j DROP\nCOMMIT\n";
const OUT_INTERFACE_ON_INPUT: &str = "*filter\n-A INPUT -o eth0 -j ACCEPT\nCOMMIT\n";
const MISSING_COMMIT: &str = "*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\n";
const MISSING_COMMIT_BEFORE_NEXT_TABLE: &str = "*filter\n-A INPUT -j ACCEPT\n*nat\nCOMMIT\n";
const COMMIT_WITHOUT_NEWLINE_AT_END_OF_FILE: &str = "*filter\n-A INPUT -j ACCEPT\nCOMMIT";
const UNKNOWN_TABLE: &str = "# comment\n*filtre\nCOMMIT\n";
const JUMP_TO_A_MISSING_CHAIN: &str = "*filter\n-A INPUT -p tcp -j web-in\nCOMMIT\n";
const GOTO_A_BUILTIN_TARGET: &str = "*filter\n-A INPUT -g ACCEPT\nCOMMIT\n";
const LOOP_OF_JUMPS: &str = "*filter\n\
                :A - [0:0]\n\
                :B - [0:0]\n\
                -A INPUT -j A\n\
                -A A -j B\n\
                -A B -j A\n\
                COMMIT\n";
const LOOP_NO_HOOK_REACHES_IS_LOADED_AS_BY_THE_KERNEL: &str =
    "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n";
const TABLE_OPTION_INSIDE_A_RESTORE_FILE: &str = "*filter\n-A INPUT -t nat -j ACCEPT\nCOMMIT\n";
const RULE_BEFORE_ANY_TABLE: &str = "# rules\n-A INPUT -j ACCEPT\n*filter\nCOMMIT\n";
const POLICY_ON_A_USER_CHAIN_HEADER: &str = "*filter\n:web ACCEPT [0:0]\nCOMMIT\n";
const POLICY_ON_A_USER_CHAIN_COMMAND: &str = "*filter\n:web - [0:0]\n-P web DROP\nCOMMIT\n";
const BAD_POLICY_NAME_HEADER: &str = "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n";
const BAD_POLICY_NAME_COMMAND: &str = "*filter\n-P FORWARD RETURN\nCOMMIT\n";
const CHAIN_DECLARED_TWICE: &str = "*filter\n:web - [0:0]\n:web - [0:0]\nCOMMIT\n";
const CHAIN_CREATED_TWICE: &str = "*filter\n:web - [0:0]\n-N web\nCOMMIT\n";
const DELETE_A_REFERENCED_CHAIN: &str = "*filter\n:web - [0:0]\n-A INPUT -j web\n-X web\nCOMMIT\n";
const DELETE_A_CHAIN_THAT_IS_NOT_EMPTY: &str =
    "*filter\n:web - [0:0]\n-A web -j ACCEPT\n-X web\nCOMMIT\n";
const DELETE_A_MISSING_RULE: &str =
    "*filter\n-A INPUT -s 192.0.2.1 -j ACCEPT\n-D INPUT -s 192.0.2.2 -j ACCEPT\nCOMMIT\n";
const DELETE_A_RULE_NUMBER_PAST_THE_END: &str = "*filter\n-A INPUT -j ACCEPT\n-D INPUT 2\nCOMMIT\n";
const INSERT_PAST_THE_END: &str = "*filter\n-I INPUT 3 -j ACCEPT\nCOMMIT\n";
const APPEND_TO_A_MISSING_CHAIN: &str = "*filter\n-A web -j ACCEPT\nCOMMIT\n";
const UNTERMINATED_QUOTE: &str =
    "*filter\n-A INPUT -m comment --comment \"ssh from admins -j ACCEPT\nCOMMIT\n";
const ILLEGAL_OPTION_WITH_COMMAND: &str = "*filter\n-N web -p tcp\nCOMMIT\n";
const WAIT_OPTION_IN_RESTORE: &str = "*filter\n-A INPUT -w -j ACCEPT\nCOMMIT\n";
const BLANK_LINE_WITH_SPACES: &str = "*filter\n-A INPUT -j ACCEPT\n   \nCOMMIT\n";
const CRLF_LINE_ENDS: &str = "*filter\r\n-A INPUT -j ACCEPT\r\nCOMMIT\r\n";
const NOTHING_AFTER_BANG: &str = "*filter\n-A INPUT -s 192.0.2.1 !\nCOMMIT\n";
const MULTIPLE_SOURCES_FLAGS: &str = "*filter\n-A INPUT -s 192.0.2.1 -s 192.0.2.2\nCOMMIT\n";
const COUNTERS_NEED_BOTH_NUMBERS: &str = "*filter\n-A INPUT -c 5 -j ACCEPT\nCOMMIT\n";
const LONG_CHAIN_NAME: &str = "*filter\n:abcdefghijabcdefghijabcdefghi - [0:0]\nCOMMIT\n";
const FAILING_FILE_CHANGES_NOTHING_AND_REPORTS_THE_FIRST_ERROR: &str = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A PREROUTING -j nowhere\n-A PREROUTING --bogus\nCOMMIT\n";

/// The column of `needle` in line `line` (1-based) of `text`.
fn col(text: &str, line: usize, needle: &str) -> usize {
    let l = text.lines().nth(line - 1).expect("line exists");
    l.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {l:?}"))
        + 1
}

#[test]
fn display_is_file_line_column_message() {
    let text = DISPLAY_IS_FILE_LINE_COLUMN_MESSAGE;
    let e = fails(text);
    assert_eq!(
        e.to_string(),
        format!("{FILE}:2:10: unknown option \"--bogus\"")
    );
}

#[test]
fn unknown_option() {
    let text = UNKNOWN_OPTION;
    assert_error(
        text,
        2,
        Some(col(text, 2, "--frob")),
        &["unknown option \"--frobnicate\""],
    );
}

#[test]
fn unknown_short_option() {
    let text = UNKNOWN_SHORT_OPTION;
    assert_error(text, 2, Some(10), &["unknown option \"-y\""]);
}

#[test]
fn option_of_a_match_not_loaded() {
    // --dport without -p tcp / -m tcp: no loaded extension owns it.
    let text = OPTION_OF_A_MATCH_NOT_LOADED;
    assert_error(text, 2, Some(10), &["unknown option \"--dport\""]);
}

#[test]
fn unknown_match() {
    let text = UNKNOWN_MATCH;
    assert_error(
        text,
        3,
        Some(col(text, 3, "frobnicate")),
        &["frobnicate", "unknown match"],
    );
}

#[test]
fn unsupported_match_owner() {
    let text = UNSUPPORTED_MATCH_OWNER;
    assert_error(
        text,
        2,
        Some(col(text, 2, "owner")),
        &["match \"owner\" is not supported by sluice", "socket"],
    );
}

#[test]
fn unsupported_target() {
    let text = UNSUPPORTED_TARGET;
    assert_error(
        text,
        2,
        Some(col(text, 2, "TPROXY")),
        &["target \"TPROXY\" is not supported by sluice"],
    );
}

#[test]
fn bad_address() {
    let text = BAD_ADDRESS;
    assert_error(
        text,
        2,
        Some(13),
        &[
            "host/network `192.0.2.256' not found",
            "not a valid IPv4 address",
        ],
    );
}

#[test]
fn host_names_are_not_resolved() {
    let text = HOST_NAMES_ARE_NOT_RESOLVED;
    assert_error(
        text,
        2,
        Some(13),
        &["`gateway.example' not found", "does not resolve host names"],
    );
}

#[test]
fn address_attached_to_its_option() {
    // iptables 1.8.9 reads `-s1.2.3.4` as the address `-s1.2.3.4`.
    let text = ADDRESS_ATTACHED_TO_ITS_OPTION;
    assert_error(
        text,
        2,
        Some(10),
        &["`-s192.0.2.1' not found", "put a blank after the option"],
    );
}

#[test]
fn bad_mask_length() {
    let text = BAD_MASK_LENGTH;
    assert_error(text, 2, Some(13), &["invalid mask `33' specified"]);
}

#[test]
fn bad_dotted_mask() {
    let text = BAD_DOTTED_MASK;
    assert_error(text, 2, Some(13), &["invalid mask `255.255.0' specified"]);
}

#[test]
fn bad_port() {
    let text = BAD_PORT;
    assert_error(text, 2, Some(col(text, 2, "--dport")), &["tcp", "65536"]);
}

#[test]
fn unknown_service_name() {
    let text = UNKNOWN_SERVICE_NAME;
    assert_error(
        text,
        2,
        Some(col(text, 2, "--dport")),
        &["udp", "no-such-service"],
    );
}

#[test]
fn bad_port_range_tcp() {
    let text = BAD_PORT_RANGE_TCP;
    assert_error(
        text,
        2,
        Some(col(text, 2, "--sport")),
        &["tcp", "2000:1000"],
    );
}

#[test]
fn numbers_and_names_as_libxtables_reads_them() {
    // strtoumax stops at a sign after `0x`; `-m udp` reads ports as
    // getaddrinfo does (decimal only); `-p` is lower-cased before the
    // protocol database is asked; getaddrinfo takes no sign in an address.
    for (text, word, says) in [
        (
            SIGN_AFTER_A_NUMBER_PREFIX,
            "--dport",
            "invalid port/service `0x+7'",
        ),
        (
            HEX_UDP_PORT,
            "--dport",
            "Port \"0x35\" does not resolve to anything",
        ),
        (
            PROTOCOL_ALIAS_NOT_LOWER_CASE,
            "IPSEC",
            "unknown protocol \"ipsec-esp\"",
        ),
        (
            SIGNED_ADDRESS_PART,
            "+10",
            "host/network `+10.300' not found",
        ),
    ] {
        assert_error(text, 2, Some(col(text, 2, word)), &[says]);
    }
}

#[test]
fn multiport_before_its_protocol() {
    // iptables checks `-p` when it reads the multiport option (its service
    // names depend on it): a `-p` later on the line is too late.
    let text = MULTIPORT_BEFORE_ITS_PROTOCOL;
    assert_error(
        text,
        2,
        Some(col(text, 2, "--dports")),
        &["multiport", "needs `-p tcp'"],
    );
}

#[test]
fn nat_port_before_its_protocol() {
    // Likewise libxt_NAT checks that the protocol has ports when it reads
    // the address and port.
    for (text, opt, target) in [
        (NAT_PORT_BEFORE_ITS_PROTOCOL, "--to-destination", "DNAT"),
        (REDIRECT_PORT_BEFORE_ITS_PROTOCOL, "--to-ports", "REDIRECT"),
    ] {
        assert_error(
            text,
            2,
            Some(col(text, 2, opt)),
            &[
                target,
                "Need TCP, UDP, SCTP or DCCP with port specification",
            ],
        );
    }
}

#[test]
fn bad_protocol() {
    let text = BAD_PROTOCOL;
    assert_error(text, 2, Some(13), &["unknown protocol \"tcpp\""]);
}

#[test]
fn target_in_the_wrong_table() {
    // Reported at COMMIT (when the kernel checks the table), on the rule's line.
    let text = TARGET_IN_THE_WRONG_TABLE;
    assert_error(text, 3, None, &["DNAT", "nat", "filter"]);
}

#[test]
fn target_in_a_user_chain_reached_from_the_wrong_hook() {
    // FWD is fine from PREROUTING; the jump from POSTROUTING makes DNAT
    // unusable, and only the whole table shows it: the error comes at COMMIT
    // and names the DNAT rule's line and the hooks.
    let text = TARGET_IN_A_USER_CHAIN_REACHED_FROM_THE_WRONG_HOOK;
    assert_error(text, 3, None, &["DNAT", "POSTROUTING"]);
    // Without the jump from POSTROUTING it loads.
    let ok = text.replace("-A POSTROUTING -j FWD\n", "");
    iptables::parse(&ok, Path::new(FILE)).expect("DNAT reached from PREROUTING only");
}

#[test]
fn drop_in_nat() {
    let text = DROP_IN_NAT;
    assert_error(
        text,
        2,
        Some(col(text, 2, "DROP")),
        &["\"nat\" table is not intended for filtering"],
    );
}

#[test]
fn out_interface_on_input() {
    let text = OUT_INTERFACE_ON_INPUT;
    assert_error(text, 2, None, &["Can't use -o with INPUT"]);
}

#[test]
fn missing_commit() {
    let text = MISSING_COMMIT;
    assert_error(text, 3, None, &["COMMIT expected", "opened at line 1"]);
}

#[test]
fn missing_commit_before_next_table() {
    let text = MISSING_COMMIT_BEFORE_NEXT_TABLE;
    assert_error(text, 3, Some(1), &["no COMMIT", "opened at line 1"]);
}

#[test]
fn commit_without_newline_at_end_of_file() {
    let text = COMMIT_WITHOUT_NEWLINE_AT_END_OF_FILE;
    assert_error(text, 3, Some(1), &["COMMIT must end with a newline"]);
}

#[test]
fn unknown_table() {
    let text = UNKNOWN_TABLE;
    assert_error(
        text,
        2,
        Some(2),
        &["unknown table `filtre'", "raw, mangle, nat, filter"],
    );
}

#[test]
fn jump_to_a_missing_chain() {
    let text = JUMP_TO_A_MISSING_CHAIN;
    assert_error(
        text,
        2,
        Some(col(text, 2, "web-in")),
        &[
            "jump to chain `web-in' which does not exist",
            ":web-in - [0:0]",
        ],
    );
}

#[test]
fn goto_a_builtin_target() {
    let text = GOTO_A_BUILTIN_TARGET;
    assert_error(
        text,
        2,
        Some(col(text, 2, "ACCEPT")),
        &["goto 'ACCEPT' is not a chain"],
    );
}

#[test]
fn loop_of_jumps() {
    let text = LOOP_OF_JUMPS;
    assert_error(text, 6, None, &["loop of jumps: A -> B -> A"]);
}

#[test]
fn loop_no_hook_reaches_is_loaded_as_by_the_kernel() {
    // mark_source_chains only walks from the hooks.
    let text = LOOP_NO_HOOK_REACHES_IS_LOADED_AS_BY_THE_KERNEL;
    iptables::parse(text, Path::new(FILE)).expect("unreachable loop loads");
}

#[test]
fn table_option_inside_a_restore_file() {
    let text = TABLE_OPTION_INSIDE_A_RESTORE_FILE;
    assert_error(text, 2, Some(10), &["The -t option cannot be used"]);
}

#[test]
fn rule_before_any_table() {
    let text = RULE_BEFORE_ANY_TABLE;
    assert_error(
        text,
        2,
        Some(1),
        &["no table specified", "`*table' line must come first"],
    );
}

#[test]
fn policy_on_a_user_chain_header() {
    let text = POLICY_ON_A_USER_CHAIN_HEADER;
    assert_error(
        text,
        2,
        Some(6),
        &["Can't set policy `ACCEPT' on user chain `web'", "use `-'"],
    );
}

#[test]
fn policy_on_a_user_chain_command() {
    let text = POLICY_ON_A_USER_CHAIN_COMMAND;
    assert_error(text, 3, Some(4), &["Can't set policy on user chain `web'"]);
}

#[test]
fn bad_policy_name_header() {
    let text = BAD_POLICY_NAME_HEADER;
    assert_error(
        text,
        2,
        Some(8),
        &["Can't set policy `REJECT' on `INPUT'", "ACCEPT or DROP"],
    );
}

#[test]
fn bad_policy_name_command() {
    let text = BAD_POLICY_NAME_COMMAND;
    assert_error(
        text,
        2,
        Some(12),
        &["Bad policy name `RETURN'", "ACCEPT or DROP"],
    );
}

#[test]
fn chain_declared_twice() {
    let text = CHAIN_DECLARED_TWICE;
    assert_error(
        text,
        3,
        Some(2),
        &["chain `web'", "declared twice", "first at line 2"],
    );
}

#[test]
fn chain_created_twice() {
    let text = CHAIN_CREATED_TWICE;
    assert_error(
        text,
        3,
        Some(4),
        &["Chain `web' already exists", "declared at line 2"],
    );
}

#[test]
fn delete_a_referenced_chain() {
    let text = DELETE_A_REFERENCED_CHAIN;
    assert_error(
        text,
        4,
        Some(4),
        &[
            "cannot delete chain `web'",
            "referenced by the rule at line 3",
        ],
    );
}

#[test]
fn delete_a_chain_that_is_not_empty() {
    let text = DELETE_A_CHAIN_THAT_IS_NOT_EMPTY;
    assert_error(
        text,
        4,
        Some(4),
        &["cannot delete chain `web'", "not empty"],
    );
}

#[test]
fn delete_a_missing_rule() {
    let text = DELETE_A_MISSING_RULE;
    assert_error(
        text,
        3,
        Some(1),
        &["Bad rule", "no such rule in chain `INPUT'"],
    );
}

#[test]
fn delete_a_rule_number_past_the_end() {
    let text = DELETE_A_RULE_NUMBER_PAST_THE_END;
    assert_error(
        text,
        3,
        Some(10),
        &["Index of deletion too big", "has 1 rules"],
    );
}

#[test]
fn insert_past_the_end() {
    let text = INSERT_PAST_THE_END;
    assert_error(text, 2, Some(10), &["Index of insertion too big"]);
}

#[test]
fn append_to_a_missing_chain() {
    let text = APPEND_TO_A_MISSING_CHAIN;
    assert_error(
        text,
        2,
        Some(4),
        &["chain `web' does not exist in table `filter'"],
    );
}

#[test]
fn unterminated_quote() {
    let text = UNTERMINATED_QUOTE;
    let at = col(text, 2, "\"");
    assert_error(
        text,
        2,
        Some(at),
        &["unterminated quote", &format!("column {at}")],
    );
}

#[test]
fn illegal_option_with_command() {
    let text = ILLEGAL_OPTION_WITH_COMMAND;
    assert_error(text, 2, Some(8), &["Illegal option `-p' with this command"]);
}

#[test]
fn wait_option_in_restore() {
    let text = WAIT_OPTION_IN_RESTORE;
    assert_error(
        text,
        2,
        Some(10),
        &["You cannot use `-w' from iptables-restore"],
    );
}

#[test]
fn blank_line_with_spaces() {
    let text = BLANK_LINE_WITH_SPACES;
    assert_error(text, 3, Some(1), &["only blanks"]);
}

#[test]
fn crlf_line_ends() {
    let text = CRLF_LINE_ENDS;
    assert_error(text, 1, None, &["carriage return"]);
}

#[test]
fn nothing_after_bang() {
    let text = NOTHING_AFTER_BANG;
    assert_error(text, 2, Some(col(text, 2, "!")), &["`!'"]);
}

#[test]
fn multiple_sources_flags() {
    let text = MULTIPLE_SOURCES_FLAGS;
    assert_error(text, 2, Some(23), &["multiple -s flags not allowed"]);
}

#[test]
fn counters_need_both_numbers() {
    let text = COUNTERS_NEED_BOTH_NUMBERS;
    assert_error(text, 2, Some(10), &["-c requires packet and byte counter"]);
}

#[test]
fn long_chain_name() {
    let text = LONG_CHAIN_NAME;
    assert_error(text, 2, Some(2), &["Invalid chain name", "28 chars max"]);
}

#[test]
fn failing_file_changes_nothing_and_reports_the_first_error() {
    // The first error wins, even when later lines are bad too.
    let text = FAILING_FILE_CHANGES_NOTHING_AND_REPORTS_THE_FIRST_ERROR;
    assert_error(text, 5, None, &["nowhere"]);
}

/// Every bad input above, with the kernel: (test, text).
const ALL: &[(&str, &str)] = &[
    (
        "display_is_file_line_column_message",
        DISPLAY_IS_FILE_LINE_COLUMN_MESSAGE,
    ),
    ("unknown_option", UNKNOWN_OPTION),
    ("unknown_short_option", UNKNOWN_SHORT_OPTION),
    ("option_of_a_match_not_loaded", OPTION_OF_A_MATCH_NOT_LOADED),
    ("unknown_match", UNKNOWN_MATCH),
    ("unsupported_match_owner", UNSUPPORTED_MATCH_OWNER),
    ("unsupported_target", UNSUPPORTED_TARGET),
    ("bad_address", BAD_ADDRESS),
    ("host_names_are_not_resolved", HOST_NAMES_ARE_NOT_RESOLVED),
    (
        "address_attached_to_its_option",
        ADDRESS_ATTACHED_TO_ITS_OPTION,
    ),
    ("bad_mask_length", BAD_MASK_LENGTH),
    ("bad_dotted_mask", BAD_DOTTED_MASK),
    ("bad_port", BAD_PORT),
    ("unknown_service_name", UNKNOWN_SERVICE_NAME),
    ("bad_port_range_tcp", BAD_PORT_RANGE_TCP),
    ("bad_protocol", BAD_PROTOCOL),
    ("sign_after_a_number_prefix", SIGN_AFTER_A_NUMBER_PREFIX),
    ("hex_udp_port", HEX_UDP_PORT),
    (
        "protocol_alias_not_lower_case",
        PROTOCOL_ALIAS_NOT_LOWER_CASE,
    ),
    ("signed_address_part", SIGNED_ADDRESS_PART),
    (
        "multiport_before_its_protocol",
        MULTIPORT_BEFORE_ITS_PROTOCOL,
    ),
    ("nat_port_before_its_protocol", NAT_PORT_BEFORE_ITS_PROTOCOL),
    (
        "redirect_port_before_its_protocol",
        REDIRECT_PORT_BEFORE_ITS_PROTOCOL,
    ),
    ("target_in_the_wrong_table", TARGET_IN_THE_WRONG_TABLE),
    (
        "target_in_a_user_chain_reached_from_the_wrong_hook",
        TARGET_IN_A_USER_CHAIN_REACHED_FROM_THE_WRONG_HOOK,
    ),
    ("drop_in_nat", DROP_IN_NAT),
    ("out_interface_on_input", OUT_INTERFACE_ON_INPUT),
    ("missing_commit", MISSING_COMMIT),
    (
        "missing_commit_before_next_table",
        MISSING_COMMIT_BEFORE_NEXT_TABLE,
    ),
    (
        "commit_without_newline_at_end_of_file",
        COMMIT_WITHOUT_NEWLINE_AT_END_OF_FILE,
    ),
    ("unknown_table", UNKNOWN_TABLE),
    ("jump_to_a_missing_chain", JUMP_TO_A_MISSING_CHAIN),
    ("goto_a_builtin_target", GOTO_A_BUILTIN_TARGET),
    ("loop_of_jumps", LOOP_OF_JUMPS),
    (
        "table_option_inside_a_restore_file",
        TABLE_OPTION_INSIDE_A_RESTORE_FILE,
    ),
    ("rule_before_any_table", RULE_BEFORE_ANY_TABLE),
    (
        "policy_on_a_user_chain_header",
        POLICY_ON_A_USER_CHAIN_HEADER,
    ),
    (
        "policy_on_a_user_chain_command",
        POLICY_ON_A_USER_CHAIN_COMMAND,
    ),
    ("bad_policy_name_header", BAD_POLICY_NAME_HEADER),
    ("bad_policy_name_command", BAD_POLICY_NAME_COMMAND),
    ("chain_declared_twice", CHAIN_DECLARED_TWICE),
    ("chain_created_twice", CHAIN_CREATED_TWICE),
    ("delete_a_referenced_chain", DELETE_A_REFERENCED_CHAIN),
    (
        "delete_a_chain_that_is_not_empty",
        DELETE_A_CHAIN_THAT_IS_NOT_EMPTY,
    ),
    ("delete_a_missing_rule", DELETE_A_MISSING_RULE),
    (
        "delete_a_rule_number_past_the_end",
        DELETE_A_RULE_NUMBER_PAST_THE_END,
    ),
    ("insert_past_the_end", INSERT_PAST_THE_END),
    ("append_to_a_missing_chain", APPEND_TO_A_MISSING_CHAIN),
    ("unterminated_quote", UNTERMINATED_QUOTE),
    ("illegal_option_with_command", ILLEGAL_OPTION_WITH_COMMAND),
    ("wait_option_in_restore", WAIT_OPTION_IN_RESTORE),
    ("blank_line_with_spaces", BLANK_LINE_WITH_SPACES),
    ("crlf_line_ends", CRLF_LINE_ENDS),
    ("nothing_after_bang", NOTHING_AFTER_BANG),
    ("multiple_sources_flags", MULTIPLE_SOURCES_FLAGS),
    ("counters_need_both_numbers", COUNTERS_NEED_BOTH_NUMBERS),
    ("long_chain_name", LONG_CHAIN_NAME),
    (
        "failing_file_changes_nothing_and_reports_the_first_error",
        FAILING_FILE_CHANGES_NOTHING_AND_REPORTS_THE_FIRST_ERROR,
    ),
];

/// The inputs sluice refuses that the installed iptables accepts: sluice's
/// documented, deliberate refusals.
const KERNEL_ACCEPTS: &[&str] = &[
    // iptables-restore takes the rest of the line (and the newline) as the
    // word; sluice refuses a quote that is never closed.
    "unterminated_quote",
    // Extensions sluice does not have (local sockets, transparent proxy).
    "unsupported_match_owner",
    "unsupported_target",
];

/// The kernel (iptables-legacy-restore in a namespace) refuses every bad
/// input above too, except sluice's deliberate refusals, listed: an error
/// test must not make sluice stricter than iptables by accident.
#[test]
fn the_kernel_refuses_them_too() {
    let Some(ns) = common::oracle("errors::the_kernel_refuses_them_too") else {
        return;
    };
    let mut wrong = Vec::new();
    for (name, text) in ALL {
        let refused = ns.restore(text).is_err();
        let deliberate = KERNEL_ACCEPTS.contains(name);
        if refused == deliberate {
            wrong.push(format!(
                "{name}: the kernel {} it{}",
                if refused { "refuses" } else { "accepts" },
                if deliberate {
                    " (listed as a deliberate sluice refusal)"
                } else {
                    ""
                }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
