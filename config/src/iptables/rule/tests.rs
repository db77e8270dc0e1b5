use super::values::scan_u64;
use super::*;
use crate::iptables::model::Counters;

fn words(line: &str) -> Vec<Word> {
    super::super::lex::split(line).expect("words")
}

fn append(line: &str) -> Res<Vec<Rule>> {
    match parse_command(&words(line), TableKind::Filter, Family::Ipv4)? {
        Command::Append { rules, .. } => Ok(rules),
        other => panic!("not an append: {other:?}"),
    }
}

#[test]
fn counters_scan_like_sscanf() {
    assert_eq!(scan_u64("12"), Some(12));
    assert_eq!(scan_u64("12,34"), Some(12));
    assert_eq!(scan_u64(" 7x"), Some(7));
    assert_eq!(scan_u64(""), None);
    assert_eq!(scan_u64(",3"), None);
}

#[test]
fn counters_as_one_or_two_words() {
    for line in ["-A INPUT -c 2,3 -j ACCEPT", "-A INPUT -c 2 3 -j ACCEPT"] {
        let r = append(line).expect(line);
        assert_eq!(
            r[0].counters,
            Counters {
                packets: 2,
                bytes: 3
            },
            "{line}"
        );
    }
    assert!(append("-A INPUT -c 2 -j ACCEPT").is_err());
}

#[test]
fn attached_arguments_as_iptables_1_8_9_reads_them() {
    // -i/-o take the whole word; -s/-d/-p/-j then fail; -g/-m work.
    let r = append("-A INPUT -ieth0").expect("-ieth0");
    assert_eq!(
        r[0].in_iface.as_ref().map(|i| i.name.as_str()),
        Some("-ieth0")
    );
    assert!(append("-A INPUT -s1.2.3.4").is_err());
    assert!(append("-A INPUT --source=1.2.3.4").is_err());
    assert!(append("-A INPUT -ptcp").is_err());
    let r = append("-A INPUT -p tcp --dport=22").expect("--dport=22");
    assert_eq!(r[0].matches.len(), 1);
}

#[test]
fn ipv6_lines_are_skipped() {
    for line in [
        "-A INPUT -6 -j ACCEPT",
        "-6 -A INPUT -j ACCEPT",
        "-A INPUT -s ::1 --ipv6",
    ] {
        let c = parse_command(&words(line), TableKind::Filter, Family::Ipv4).expect(line);
        assert_eq!(c, Command::Ignored, "{line}");
    }
}

#[test]
fn every_address_is_a_rule_duplicates_included() {
    let r = append("-A INPUT -s 1.2.3.4,1.2.3.4 -d 5.6.7.8,9.9.9.9").expect("list");
    assert_eq!(r.len(), 4);
    // any/0 is not resolved, and is no `-s` to the kernel.
    let r = append("-A INPUT -s no.such.host/0").expect("any/0 is not resolved");
    assert_eq!(r[0].src, None);
    assert_eq!(r, append("-A INPUT").expect("no -s"));
    let r = append("-A INPUT ! -s 0/0").expect("! any/0");
    assert!(r[0].src.is_some_and(|a| a.invert));
}

#[test]
fn inverted_any_interface_is_kept() {
    let r = append("-A INPUT ! -i +").expect("! -i +");
    let i = r[0].in_iface.as_ref().expect("kept");
    assert!(i.invert && i.wildcard && i.name.is_empty());
    assert!(append("-A INPUT -i +").expect("-i +")[0].in_iface.is_none());
}

#[test]
fn options_illegal_with_the_command() {
    let f = |l: &str| parse_command(&words(l), TableKind::Filter, Family::Ipv4).map(|_| ());
    assert!(f("-A INPUT -n").is_err());
    assert!(f("-D INPUT 1 -j ACCEPT").is_err());
    assert!(f("-D INPUT -c 1 2 -j ACCEPT").is_err());
    assert!(f("-L INPUT -n -v").is_ok());
    assert!(f("-P INPUT DROP -c 1 2").is_ok());
    assert!(f("-F INPUT -s 1.2.3.4").is_err());
}
