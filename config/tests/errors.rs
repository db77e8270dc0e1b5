//! Every kind of bad input: the error names the file, the line and (where
//! the word is known) the column, and says what is wrong. No root needed.
//!
//! The texts asserted are the substance of each message (what failed, and
//! the hint), so a reworded message still has to say the same thing.
//!
//! The bad inputs are in `common/bad_inputs.rs`, shared with the kernel's
//! cross-check of them (`bench/tests/config_oracle/errors.rs`: the kernel
//! refuses them too).

mod common;

use std::path::Path;

use common::bad_inputs::*;
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
            "/nonexistent/sluice/f: cannot read file: ",
        ),
        (
            ipset::load(missing).unwrap_err(),
            "/nonexistent/sluice/f: cannot read file: ",
        ),
        (
            iptables::load(missing).unwrap_err(),
            "/nonexistent/sluice/f: cannot read file: ",
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
