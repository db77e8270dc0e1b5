//! The bad inputs of config/tests/errors.rs, one constant per test there,
//! and [`ALL`] of them for the kernel's cross-check
//! (bench/tests/config_oracle/errors.rs, which includes this file).

pub const DISPLAY_IS_FILE_LINE_COLUMN_MESSAGE: &str =
    "*filter\n-A INPUT --bogus -j ACCEPT\nCOMMIT\n";
pub const UNKNOWN_OPTION: &str =
    "*filter\n-A INPUT -p tcp --dport 22 --frobnicate 3 -j ACCEPT\nCOMMIT\n";
pub const UNKNOWN_SHORT_OPTION: &str = "*filter\n-A INPUT -y -j ACCEPT\nCOMMIT\n";
pub const OPTION_OF_A_MATCH_NOT_LOADED: &str = "*filter\n-A INPUT --dport 22 -j ACCEPT\nCOMMIT\n";
pub const UNKNOWN_MATCH: &str = "*filter\n\n-A INPUT -m frobnicate -j ACCEPT\nCOMMIT\n";
pub const UNSUPPORTED_MATCH_OWNER: &str =
    "*filter\n-A OUTPUT -m owner --uid-owner 1000 -j DROP\nCOMMIT\n";
pub const UNSUPPORTED_TARGET: &str =
    "*mangle\n-A PREROUTING -p tcp -j TPROXY --on-port 1\nCOMMIT\n";
pub const BAD_ADDRESS: &str = "*filter\n-A INPUT -s 192.0.2.256 -j ACCEPT\nCOMMIT\n";
pub const HOST_NAMES_ARE_NOT_RESOLVED: &str =
    "*filter\n-A INPUT -d gateway.example -j ACCEPT\nCOMMIT\n";
pub const ADDRESS_ATTACHED_TO_ITS_OPTION: &str =
    "*filter\n-A INPUT -s192.0.2.1 -j ACCEPT\nCOMMIT\n";
pub const BAD_MASK_LENGTH: &str = "*filter\n-A INPUT -d 10.0.0.0/33 -j ACCEPT\nCOMMIT\n";
pub const BAD_DOTTED_MASK: &str = "*filter\n-A INPUT -s 10.0.0.0/255.255.0 -j ACCEPT\nCOMMIT\n";
pub const BAD_PORT: &str = "*filter\n-A INPUT -p tcp --dport 65536 -j ACCEPT\nCOMMIT\n";
pub const UNKNOWN_SERVICE_NAME: &str =
    "*filter\n-A INPUT -p udp --dport no-such-service -j ACCEPT\nCOMMIT\n";
pub const BAD_PORT_RANGE_TCP: &str =
    "*filter\n-A INPUT -p tcp --sport 2000:1000 -j ACCEPT\nCOMMIT\n";
pub const BAD_PROTOCOL: &str = "*filter\n-A INPUT -p tcpp -j ACCEPT\nCOMMIT\n";
pub const SIGN_AFTER_A_NUMBER_PREFIX: &str =
    "*filter\n-A INPUT -p tcp --dport 0x+7 -j ACCEPT\nCOMMIT\n";
pub const HEX_UDP_PORT: &str = "*filter\n-A INPUT -p udp --dport 0x35 -j ACCEPT\nCOMMIT\n";
pub const PROTOCOL_ALIAS_NOT_LOWER_CASE: &str =
    "*filter\n-A INPUT -p IPSEC-ESP -j ACCEPT\nCOMMIT\n";
pub const SIGNED_ADDRESS_PART: &str = "*filter\n-A INPUT -s +10.300 -j ACCEPT\nCOMMIT\n";
pub const MULTIPORT_BEFORE_ITS_PROTOCOL: &str =
    "*filter\n-A INPUT -m multiport --dports 80,443 -p tcp -j ACCEPT\nCOMMIT\n";
pub const NAT_PORT_BEFORE_ITS_PROTOCOL: &str =
    "*nat\n-A PREROUTING -j DNAT --to-destination 192.0.2.1:8080 -p tcp\nCOMMIT\n";
pub const REDIRECT_PORT_BEFORE_ITS_PROTOCOL: &str =
    "*nat\n-A PREROUTING -j REDIRECT --to-ports 3128 -p tcp\nCOMMIT\n";
pub const TARGET_IN_THE_WRONG_TABLE: &str =
    "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j DNAT --to-destination 192.0.2.1\nCOMMIT\n";
pub const TARGET_IN_A_USER_CHAIN_REACHED_FROM_THE_WRONG_HOOK: &str = "*nat\n\
                :FWD - [0:0]\n\
                -A FWD -p tcp -j DNAT --to-destination 192.0.2.1\n\
                -A PREROUTING -j FWD\n\
                -A POSTROUTING -j FWD\n\
                COMMIT\n";
pub const DROP_IN_NAT: &str = "*nat\n-A PREROUTING -p tcp -j DROP\nCOMMIT\n";
pub const OUT_INTERFACE_ON_INPUT: &str = "*filter\n-A INPUT -o eth0 -j ACCEPT\nCOMMIT\n";
pub const MISSING_COMMIT: &str = "*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\n";
pub const MISSING_COMMIT_BEFORE_NEXT_TABLE: &str = "*filter\n-A INPUT -j ACCEPT\n*nat\nCOMMIT\n";
pub const COMMIT_WITHOUT_NEWLINE_AT_END_OF_FILE: &str = "*filter\n-A INPUT -j ACCEPT\nCOMMIT";
pub const UNKNOWN_TABLE: &str = "# comment\n*filtre\nCOMMIT\n";
pub const JUMP_TO_A_MISSING_CHAIN: &str = "*filter\n-A INPUT -p tcp -j web-in\nCOMMIT\n";
pub const GOTO_A_BUILTIN_TARGET: &str = "*filter\n-A INPUT -g ACCEPT\nCOMMIT\n";
pub const LOOP_OF_JUMPS: &str = "*filter\n\
                :A - [0:0]\n\
                :B - [0:0]\n\
                -A INPUT -j A\n\
                -A A -j B\n\
                -A B -j A\n\
                COMMIT\n";
pub const LOOP_NO_HOOK_REACHES_IS_LOADED_AS_BY_THE_KERNEL: &str =
    "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n";
pub const TABLE_OPTION_INSIDE_A_RESTORE_FILE: &str = "*filter\n-A INPUT -t nat -j ACCEPT\nCOMMIT\n";
pub const RULE_BEFORE_ANY_TABLE: &str = "# rules\n-A INPUT -j ACCEPT\n*filter\nCOMMIT\n";
pub const POLICY_ON_A_USER_CHAIN_HEADER: &str = "*filter\n:web ACCEPT [0:0]\nCOMMIT\n";
pub const POLICY_ON_A_USER_CHAIN_COMMAND: &str = "*filter\n:web - [0:0]\n-P web DROP\nCOMMIT\n";
pub const BAD_POLICY_NAME_HEADER: &str = "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n";
pub const BAD_POLICY_NAME_COMMAND: &str = "*filter\n-P FORWARD RETURN\nCOMMIT\n";
pub const CHAIN_DECLARED_TWICE: &str = "*filter\n:web - [0:0]\n:web - [0:0]\nCOMMIT\n";
pub const CHAIN_CREATED_TWICE: &str = "*filter\n:web - [0:0]\n-N web\nCOMMIT\n";
pub const DELETE_A_REFERENCED_CHAIN: &str =
    "*filter\n:web - [0:0]\n-A INPUT -j web\n-X web\nCOMMIT\n";
pub const DELETE_A_CHAIN_THAT_IS_NOT_EMPTY: &str =
    "*filter\n:web - [0:0]\n-A web -j ACCEPT\n-X web\nCOMMIT\n";
pub const DELETE_A_MISSING_RULE: &str =
    "*filter\n-A INPUT -s 192.0.2.1 -j ACCEPT\n-D INPUT -s 192.0.2.2 -j ACCEPT\nCOMMIT\n";
pub const DELETE_A_RULE_NUMBER_PAST_THE_END: &str =
    "*filter\n-A INPUT -j ACCEPT\n-D INPUT 2\nCOMMIT\n";
pub const INSERT_PAST_THE_END: &str = "*filter\n-I INPUT 3 -j ACCEPT\nCOMMIT\n";
pub const APPEND_TO_A_MISSING_CHAIN: &str = "*filter\n-A web -j ACCEPT\nCOMMIT\n";
pub const UNTERMINATED_QUOTE: &str =
    "*filter\n-A INPUT -m comment --comment \"ssh from admins -j ACCEPT\nCOMMIT\n";
pub const ILLEGAL_OPTION_WITH_COMMAND: &str = "*filter\n-N web -p tcp\nCOMMIT\n";
pub const WAIT_OPTION_IN_RESTORE: &str = "*filter\n-A INPUT -w -j ACCEPT\nCOMMIT\n";
pub const BLANK_LINE_WITH_SPACES: &str = "*filter\n-A INPUT -j ACCEPT\n   \nCOMMIT\n";
pub const CRLF_LINE_ENDS: &str = "*filter\r\n-A INPUT -j ACCEPT\r\nCOMMIT\r\n";
pub const NOTHING_AFTER_BANG: &str = "*filter\n-A INPUT -s 192.0.2.1 !\nCOMMIT\n";
pub const MULTIPLE_SOURCES_FLAGS: &str = "*filter\n-A INPUT -s 192.0.2.1 -s 192.0.2.2\nCOMMIT\n";
pub const COUNTERS_NEED_BOTH_NUMBERS: &str = "*filter\n-A INPUT -c 5 -j ACCEPT\nCOMMIT\n";
pub const LONG_CHAIN_NAME: &str = "*filter\n:abcdefghijabcdefghijabcdefghi - [0:0]\nCOMMIT\n";
pub const FAILING_FILE_CHANGES_NOTHING_AND_REPORTS_THE_FIRST_ERROR: &str = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A PREROUTING -j nowhere\n-A PREROUTING --bogus\nCOMMIT\n";

/// Every bad input above: (the test in config/tests/errors.rs, text).
pub const ALL: &[(&str, &str)] = &[
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
