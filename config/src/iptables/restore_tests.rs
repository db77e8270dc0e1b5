//! Unit tests of the restore reader.

use super::*;
use crate::iptables::save::save;

fn load(text: &str) -> Result<Ruleset, Error> {
    restore(
        text,
        Path::new("t"),
        &Ruleset::default(),
        RestoreOptions::default(),
    )
}

#[test]
fn table_line_takes_its_first_word() {
    let rs = load("* nat extra\n-A PREROUTING -j ACCEPT\nCOMMIT\n").expect("* nat");
    assert_eq!(rs.tables[0].kind, TableKind::Nat);
}

#[test]
fn builtin_header_with_dash_keeps_the_policy() {
    let base = load("*filter\n:INPUT DROP [0:0]\nCOMMIT\n").expect("base");
    let opts = RestoreOptions {
        noflush: true,
        ..Default::default()
    };
    let rs = restore(
        "*filter\n:INPUT - [0:0]\nCOMMIT\n",
        Path::new("t"),
        &base,
        opts,
    )
    .expect("noflush");
    assert_eq!(
        rs.tables[0].chain("INPUT").and_then(|c| c.policy),
        Some(Policy::Drop)
    );
}

#[test]
fn header_counters_and_extra_words_are_not_checked() {
    load("*filter\n:INPUT DROP [x]\n:FOO - [0:0] extra\n[a:b] -A INPUT -j ACCEPT\nCOMMIT\n")
        .expect("lenient");
}

#[test]
fn only_first_column_markers_count() {
    assert!(load("*filter\n  # indented\nCOMMIT\n").is_err());
    assert!(load("*filter\n COMMIT\n").is_err());
    assert!(load("*filter\n -A INPUT -j ACCEPT\nCOMMIT\n").is_ok());
}

#[test]
fn check_and_list_commands() {
    load("*filter\n-A INPUT -j ACCEPT\n-C INPUT -j ACCEPT\n-S INPUT\n-L\nCOMMIT\n")
        .expect("-C of an existing rule");
    assert!(load("*filter\n-C INPUT -j ACCEPT\nCOMMIT\n").is_err());
    assert!(load("*filter\n-L NOPE\nCOMMIT\n").is_err());
}

#[test]
fn delete_all_chains_needs_them_empty() {
    assert!(load("*filter\n:A - [0:0]\n-A A -j ACCEPT\n-X\nCOMMIT\n").is_err());
    let rs = load("*filter\n:A - [0:0]\n-A A -j ACCEPT\n-F\n-X\nCOMMIT\n").expect("flushed first");
    assert_eq!(
        save(&rs),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    );
}

fn deep_chain(n: usize, back_to: Option<usize>) -> String {
    let mut t = String::from("*filter\n");
    for i in 0..n {
        t += &format!(":C{i} - [0:0]\n");
    }
    t += "-A INPUT -j C0\n";
    for i in 0..n - 1 {
        t += &format!("-A C{i} -j C{}\n", i + 1);
    }
    if let Some(j) = back_to {
        t += &format!("-A C{} -j C{j}\n", n - 1);
    }
    t + "COMMIT\n"
}

/// iptables-legacy-restore loads a chain of jumps 25 000 deep (0.4 s);
/// the loop check walks it without recursion.
#[test]
fn jump_chain_25000_deep_loads() {
    let rs = load(&deep_chain(25_000, None)).expect("deep chain loads");
    assert_eq!(rs.tables[0].chains.len(), 3 + 25_000);
    let masks = validate::reach(&rs.tables[0]).expect("no loop");
    assert_eq!(
        masks.get("C24999").copied(),
        Some(crate::iptables::model::HookMask(
            crate::iptables::model::Hook::Input.bit()
        ))
    );
}

#[test]
fn loop_at_the_end_of_a_deep_chain_is_refused() {
    let err = load(&deep_chain(25_000, Some(24_990))).expect_err("ELOOP");
    let msg = err.to_string();
    assert!(msg.contains("loop of jumps: C24990 -> C24991 -> "), "{msg}");
    assert!(
        msg.contains("C24999 -> C24990 (the kernel refuses it: ELOOP)"),
        "{msg}"
    );
}

#[test]
fn user_chains_come_out_sorted_whatever_the_declaration_order() {
    let rs = load(
        "*filter\n:B - [0:0]\n:C - [0:0]\n:A - [0:0]\n-A INPUT -j C\n-E C AA\n-A AA -j B\nCOMMIT\n",
    )
    .expect("loads");
    assert_eq!(
        save(&rs),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:AA - [0:0]\n:B - [0:0]\n-A INPUT -j AA\n-A AA -j B\nCOMMIT\n"
    );
    assert_eq!(rs.tables[0].chain("AA").map(|c| c.line), Some(3));
    assert!(rs.tables[0].chain("C").is_none());
}

#[test]
fn deleting_chains_keeps_the_order_and_names_references_in_chain_order() {
    let rs = load(
        "*filter\n:D - [0:0]\n:B - [0:0]\n:C - [0:0]\n:A - [0:0]\n-X B\n-A INPUT -j D\nCOMMIT\n",
    )
    .expect("loads");
    assert_eq!(
        save(&rs),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:C - [0:0]\n:D - [0:0]\n-A INPUT -j D\nCOMMIT\n"
    );
    let err = load("*filter\n:Z - [0:0]\n:T - [0:0]\n:A - [0:0]\n-A Z -j T\n-A A -j T\n-A INPUT -j T\n-X T\nCOMMIT\n")
        .expect_err("referenced");
    assert!(
        err.to_string()
            .contains("still referenced by the rules at lines 7, 6, 5"),
        "{err}"
    );
}

/// The reference counts `-X` and `-E` use are dropped by every command
/// that changes rules: a chain referenced after the counts were built
/// is still refused, and a rename moves its references with it.
#[test]
fn reference_counts_follow_every_rule_change() {
    let cases: &[(&str, Option<&str>)] = &[
        // counts built by -X B, then A gains a reference: -X A refused
        (
            ":A - [0:0]\n:B - [0:0]\n-X B\n-A INPUT -j A\n-X A\n",
            Some("still referenced"),
        ),
        // the reference is removed again (-D, -F, -R, delete by number)
        (
            ":A - [0:0]\n-A INPUT -j A\n-X A\n",
            Some("still referenced"),
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-X B\n-D INPUT -j A\n-X A\n",
            None,
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-X B\n-F INPUT\n-X A\n",
            None,
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-X B\n-D INPUT 1\n-X A\n",
            None,
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-X B\n-R INPUT 1 -j ACCEPT\n-X A\n",
            None,
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j ACCEPT\n-X B\n-R INPUT 1 -j A\n-X A\n",
            Some("still referenced"),
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-X B\n-I INPUT -g A\n-X A\n",
            Some("still referenced"),
        ),
        // a rename carries the references to the new name
        (
            ":A - [0:0]\n-A INPUT -j A\n-E A N\n-X N\n",
            Some("still referenced"),
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-X B\n-A INPUT -j A\n-E A N\n-X N\n",
            Some("still referenced"),
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-X B\n-E A N\n-D INPUT -j N\n-X N\n",
            None,
        ),
        // -X of every user chain
        (
            ":A - [0:0]\n:B - [0:0]\n-X B\n-A INPUT -j A\n-X\n",
            Some("still referenced"),
        ),
        (
            ":A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-X B\n-F\n-X\n",
            None,
        ),
    ];
    for (body, want) in cases {
        let text = format!("*filter\n{body}COMMIT\n");
        match (load(&text), want) {
            (Ok(_), None) => {}
            (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{body}: {e}"),
            (r, w) => panic!("{body}: got {r:?}, wanted {w:?}"),
        }
    }
}

/// A restore that deletes many chains is not quadratic: 20 000 `-X`
/// after 20 000 referenced rules (a time bound would be flaky; the
/// number of reference scans is what is linear, shown by the result
/// being correct for chains both referenced and not).
#[test]
fn many_deletions_are_right() {
    let n = 20_000;
    let mut text = String::from("*filter\n");
    for i in 0..n {
        text.push_str(&format!(":C{i} - [0:0]\n"));
    }
    for i in (0..n).step_by(2) {
        text.push_str(&format!("-A INPUT -j C{i}\n"));
    }
    for i in (1..n).step_by(2) {
        text.push_str(&format!("-X C{i}\n"));
    }
    text.push_str("COMMIT\n");
    let rs = load(&text).expect("odd chains are unreferenced");
    assert_eq!(rs.tables[0].user_chains().count(), n / 2);
    text = text.replace("COMMIT\n", "-X C0\nCOMMIT\n");
    assert!(load(&text).is_err());
}

#[test]
fn declared_chains_shadow_targets() {
    // `-j NAME` / `-g NAME` with a `:NAME` chain declared (in any table
    // before) jumps to the chain, even when a target has the name, as
    // ip[6]tables-restore 1.8.9 does.
    let text = "*filter\n:CLASSIFY - [0:0]\n:LOG - [0:0]\n-A INPUT -j LOG\n-A INPUT -g CLASSIFY\n-A LOG -j ACCEPT\nCOMMIT\n";
    let rs = load(text).expect("chains named like targets");
    let saved = save(&rs);
    assert!(
        saved.contains("-A INPUT -j LOG\n-A INPUT -g CLASSIFY\n"),
        "{saved}"
    );
    let input = rs.tables[0].chain("INPUT").expect("INPUT");
    assert!(
        input
            .rules
            .iter()
            .all(|r| matches!(r.target, Target::Chain { .. })),
        "{:?}",
        input.rules
    );
    // Without the chain, the name is the target's.
    assert!(load("*filter\n-A INPUT -j CLASSIFY\nCOMMIT\n").is_err());
}
