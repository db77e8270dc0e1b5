//! The `sluice` binary as an operator runs it: exit codes, stdout/stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/branch-office/sluice.toml")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("sluice-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn example_config_checks_clean() {
    let o = sluice(&["check", "--config", example().to_str().unwrap()]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("OK: 4 interfaces, 3 routes, 1 policy rule, "),
        "{out}"
    );
    // The example uses DNAT and MASQUERADE, which the dataplane runs (with
    // conntrack): no warning at all.
    assert!(out.contains("0 warnings\n"), "{out} {}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 0, "{e}");
}

#[test]
fn bad_rules_file_fails_with_file_and_line() {
    let d = Scratch::new("badrules");
    d.write(
        "rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n",
    );
    let cfg = d.write(
        "sluice.toml",
        "[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1/24\"]\n[firewall]\nrules = \"rules.v4\"\n",
    );
    let o = sluice(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("rules.v4:3:"), "{e}");
    assert!(e.contains("99999"), "{e}");
}

#[test]
fn bad_toml_names_line_and_column() {
    let d = Scratch::new("badtoml");
    let cfg = d.write(
        "sluice.toml",
        "[[interface]]\nname = \"r0\"\nadress = [\"10.0.0.1/24\"]\n",
    );
    let o = sluice(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("sluice.toml:3:1"), "{e}");
    assert!(e.contains("adress"), "{e}");
}

#[test]
fn warnings_do_not_fail_the_check() {
    let d = Scratch::new("warn");
    d.write(
        "rules.v4",
        "*filter\n:INPUT DROP [0:0]\n:UNUSED - [0:0]\n-A INPUT -p tcp -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    );
    let cfg = d.write(
        "sluice.toml",
        "[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1/24\"]\n[firewall]\nrules = \"rules.v4\"\n",
    );
    let o = sluice(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("rules.v4:5:1: rule 2 of chain `INPUT'"), "{e}");
    assert!(e.contains("user chain `UNUSED'"), "{e}");
    assert!(e.contains("no rule accepts established traffic"), "{e}");
}

/// iptables-legacy-restore loads a chain of jumps 25 000 deep; `check`
/// (parse, loop check, lint, compile) and `canon` take it without
/// aborting (they used to overflow the stack).
#[test]
fn jump_chain_25000_deep_checks_and_canons() {
    let d = Scratch::new("deep");
    let n = 25_000;
    let mut text = String::from("*filter\n");
    for i in 0..n {
        text += &format!(":C{i} - [0:0]\n");
    }
    text += "-A INPUT -j C0\n";
    for i in 0..n - 1 {
        text += &format!("-A C{i} -j C{}\n", i + 1);
    }
    text += "COMMIT\n";
    let rules = d.write("rules.v4", &text);
    let cfg = d.write(
        "sluice.toml",
        "[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1/24\"]\n[firewall]\nrules = \"rules.v4\"\n",
    );
    let o = sluice(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("25000 rules in 1 table, "), "{out}");
    let o = sluice(&["rules", "canon", rules.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("-A C24998 -j C24999\n"),
        "{}",
        &out[..200.min(out.len())]
    );
}

#[test]
fn canon_prints_save_form() {
    let d = Scratch::new("canon");
    let f = d.write(
        "r.v4",
        "*filter\n-A INPUT -s 10.1.2.3/8 -p tcp --dport ssh -m comment --comment \"a b\" -j ACCEPT\nCOMMIT\n",
    );
    let o = sluice(&["rules", "canon", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -m comment --comment \"a b\" -j ACCEPT\nCOMMIT\n"
    );
}

/// Legacy canon keeps the file's table order; `--nft` prints the tables in
/// iptables-nft-save's order (mangle, security, raw, filter, nat), each
/// table's text the same.
#[test]
fn canon_nft_prints_tables_in_nft_order() {
    let d = Scratch::new("canon-nft");
    let f = d.write(
        "r.v4",
        "*nat\n-A POSTROUTING -o wan0 -j MASQUERADE\nCOMMIT\n\
         *filter\n-A INPUT -j ACCEPT\nCOMMIT\n\
         *raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n\
         *security\n-F INPUT\nCOMMIT\n\
         *mangle\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
    );
    let tables = |args: &[&str]| -> (Vec<String>, String) {
        let o = sluice(args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let t = out
            .lines()
            .filter_map(|l| l.strip_prefix('*'))
            .map(str::to_string)
            .collect();
        (t, out)
    };
    let (legacy, legacy_text) = tables(&["rules", "canon", f.to_str().unwrap()]);
    assert_eq!(legacy, ["nat", "filter", "raw", "security", "mangle"]);
    let (nft, nft_text) = tables(&["rules", "canon", "--nft", f.to_str().unwrap()]);
    assert_eq!(nft, ["mangle", "security", "raw", "filter", "nat"]);
    let mut a: Vec<&str> = legacy_text.lines().collect();
    let mut b: Vec<&str> = nft_text.lines().collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the same lines, in another table order");
}

#[test]
fn canon_help_names_the_backends() {
    let o = sluice(&["rules", "canon", "--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("iptables-legacy-save")
            && out.contains("--nft")
            && out.contains("iptables-nft-save"),
        "{out}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = sluice(&["check", "--config", "/nonexistent/sluice.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/sluice.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_lists_the_commands() {
    let o = sluice(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("check") && out.contains("rules"), "{out}");
}

/// `rules canon` of a rule naming a set: refused without `--sets`, checked
/// against the sets file with it (missing set and IPv6 set refused as the
/// kernel refuses them; an IPv4 set prints).
#[test]
fn canon_checks_sets() {
    let d = Scratch::new("canon-sets");
    let rules = d.write(
        "r.v4",
        "*filter\n-A INPUT -m set --match-set s4 src -j DROP\nCOMMIT\n",
    );
    let r = rules.to_str().unwrap();
    let o = sluice(&["rules", "canon", r]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("r.v4:2:1: rule names set `s4': pass --sets FILE"),
        "{e}"
    );
    assert!(o.stdout.is_empty());

    let ok = d.write("ok.save", "create s4 hash:ip family inet\n");
    let o = sluice(&["rules", "canon", r, "--sets", ok.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m set --match-set s4 src -j DROP\nCOMMIT\n"
    );

    let v6 = d.write("v6.save", "create s4 hash:ip family inet6\n");
    let o = sluice(&["rules", "canon", r, "--sets", v6.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("r.v4:2:1: the protocol family of set `s4' is IPv6, which is not applicable"),
        "{e}"
    );

    let other = d.write("other.save", "create x hash:ip family inet\n");
    let o = sluice(&["rules", "canon", r, "--sets", other.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("set `s4' does not exist"),
        "{}",
        stderr(&o)
    );

    // No set named: --sets is not needed.
    let plain = d.write("p.v4", "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n");
    let o = sluice(&["rules", "canon", plain.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `sluice check` refuses a `family inet6` set in the IPv4 rules, at the
/// rule's line, as iptables-legacy-restore does.
#[test]
fn check_refuses_an_inet6_set_in_ipv4_rules() {
    let d = Scratch::new("check-inet6");
    d.write(
        "rules.v4",
        "*filter\n-A INPUT -m set --match-set s6 src -j DROP\nCOMMIT\n",
    );
    d.write("sets.save", "create s6 hash:ip family inet6\n");
    let cfg = d.write(
        "sluice.toml",
        "[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1/24\"]\n[firewall]\nrules = \"rules.v4\"\nsets = \"sets.save\"\n",
    );
    let o = sluice(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("rules.v4:2:1: the protocol family of set `s6' is IPv6"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// `sluice trace --config FILE`: the path of a described packet through a
// config that is not running (no daemon, no root).

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `sluice trace --config <branch-office> ARGS` (split at spaces):
/// stdout, asserting success.
fn trace_example(args: &str) -> String {
    let cfg = example();
    let mut a = vec!["trace", "--config", cfg.to_str().unwrap()];
    a.extend(args.split_whitespace());
    let o = sluice(&a);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The line of `out` that starts with `head` (a step's first line) or,
/// for a rule, contains `needle`.
fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in\n{out}"))
}

#[test]
fn trace_port_forward_is_dnated_and_forwarded_to_the_nas() {
    let out =
        trace_example("-i wan0 -p tcp -s 198.51.100.77 --sport 40000 -d 203.0.113.2 --dport 443");
    assert!(out.starts_with(
        "packet: tcp 198.51.100.77:40000 -> 203.0.113.2:443 in wan0 mark 0x0 state NEW\n"
    ));
    let dnat = line_with(&out, "-j DNAT");
    assert!(dnat.starts_with("PREROUTING nat "), "{dnat}");
    assert!(dnat.ends_with(
        "PREROUTING #1 -A PREROUTING -i wan0 -p tcp -m tcp --dport 443 -j DNAT --to-destination 192.168.10.20:443  matched -> DNAT, table ends (ACCEPT)"
    ), "{dnat}");
    assert!(out.contains("=> DNAT: destination 203.0.113.2:443 becomes 192.168.10.20:443\n"));
    assert!(line_with(&out, "routing").ends_with(
        "to 192.168.10.20 mark 0x0: policy rule 32766 (from all lookup main) -> table main -> out lan0, next hop 192.168.10.20 (direct)"
    ));
    // The FORWARD rule that lets DNAT'ed connections in decides.
    assert!(line_with(&out, "FORWARD #4 ").ends_with("--ctstate DNAT -j ACCEPT  matched -> ACCEPT"));
    assert!(
        out.ends_with(
            "verdict: forwarded out lan0 to 192.168.10.20:443 from 198.51.100.77:40000\n"
        ),
        "{out}"
    );
}

#[test]
fn trace_lan_to_internet_is_masqueraded_out_of_the_fibre() {
    // No -i: the interface the route back to the source leaves by (lan0).
    let out = trace_example("-p tcp -s 192.168.10.5 -d 8.8.8.8 --dport 443");
    assert!(out.contains(" in lan0 mark 0x0 state NEW\n"), "{out}");
    assert!(line_with(&out, "routing").ends_with("-> table main -> out wan0 via 203.0.113.1"));
    assert!(line_with(&out, "FORWARD #3 ")
        .ends_with("-A FORWARD -i lan0 -o wan+ -j ACCEPT  matched -> ACCEPT"));
    assert!(line_with(&out, "MASQUERADE  matched").contains("-A POSTROUTING -o wan0 -j MASQUERADE"));
    assert!(out.contains(
        "=> SNAT: source 192.168.10.5:40000 becomes 203.0.113.2:40000 (port kept if free)\n"
    ));
    assert!(out.ends_with(
        "verdict: forwarded out wan0 to 8.8.8.8:443 via 203.0.113.1 from 203.0.113.2:40000 (port kept if free)\n"
    ), "{out}");
}

#[test]
fn trace_marked_backup_traffic_is_policy_routed_out_of_lte() {
    let out = trace_example("-p tcp -s 192.168.10.5 -d 8.8.8.8 --dport 873");
    assert!(
        line_with(&out, "--set-xmark 0x1/0xff").ends_with("matched -> MARK, continue (mark 0x1)")
    );
    assert!(line_with(&out, "routing").ends_with(
        "to 8.8.8.8 mark 0x1: policy rule 100 (from all fwmark 0x1/0xff lookup 100) -> table 100 -> out wan1 via 198.51.100.5"
    ));
    assert!(
        out.ends_with("from 198.51.100.6:40000 (port kept if free)\n"),
        "{out}"
    );
}

#[test]
fn trace_probe_from_the_internet_is_logged_and_dropped() {
    let out = trace_example("-p tcp -s 198.51.100.77 -d 192.168.10.5 --dport 22");
    assert!(line_with(&out, "FORWARD #5 ")
        .ends_with("-A FORWARD -j LOG_AND_DROP  matched -> jump LOG_AND_DROP"));
    assert!(line_with(&out, "LOG_AND_DROP #1 ").ends_with("matched -> LOG, continue"));
    assert!(
        line_with(&out, "LOG_AND_DROP #2 ").ends_with("-A LOG_AND_DROP -j DROP  matched -> DROP")
    );
    assert!(
        out.ends_with("verdict: dropped in FORWARD filter (filter.drop)\n"),
        "{out}"
    );
    // Nothing after the drop.
    assert!(!out.contains("POSTROUTING"), "{out}");
}

#[test]
fn trace_ssh_from_management_is_delivered_locally() {
    let out = trace_example("-p tcp -s 10.99.0.5 -d 10.99.0.1 --dport 22");
    assert!(
        line_with(&out, "routing").ends_with("-> table local -> local: for the box (INPUT)"),
        "{out}"
    );
    assert!(line_with(&out, "INPUT #6 ").ends_with("--ctstate NEW -j ACCEPT  matched -> ACCEPT"));
    assert!(!out.contains("FORWARD"), "{out}");
    assert!(out.ends_with("verdict: delivered to the box (10.99.0.1:22 from 10.99.0.5:40000)\n"));
    // The same from the LAN: TCP to the box is rejected with a reset.
    let out = trace_example("-p tcp -s 192.168.10.5 -d 192.168.10.1 --dport 22");
    assert!(line_with(&out, "--reject-with tcp-reset").ends_with("matched -> REJECT: dropped"));
    assert!(
        out.ends_with("verdict: dropped in INPUT filter (filter.reject)\n"),
        "{out}"
    );
}

#[test]
fn trace_established_reply_skips_nat_and_is_accepted_first() {
    let out = trace_example(
        "-p tcp -s 8.8.8.8 --sport 443 -d 203.0.113.2 --dport 40000 --state established",
    );
    assert!(out.contains(" state ESTABLISHED\n"));
    assert!(line_with(&out, "PREROUTING nat")
        .ends_with("not traversed (only a connection's first packet goes through nat)"));
    assert!(line_with(&out, "INPUT #2 ")
        .ends_with("--ctstate RELATED,ESTABLISHED -j ACCEPT  matched -> ACCEPT"));
}

#[test]
fn trace_untracked_ntp_and_a_mark_at_entry() {
    let out = trace_example("-i wan0 -p udp -s 203.0.113.1 --sport 123 -d 203.0.113.2 --dport 123");
    assert!(line_with(&out, "--notrack").ends_with("matched -> CT, continue"));
    assert!(
        out.contains("PREROUTING conntrack   UNTRACKED (the raw table set NOTRACK)\n"),
        "{out}"
    );
    // A mark at entry is restored-over by nothing here and routes by LTE.
    let out = trace_example("-p udp -s 192.168.10.5 -d 8.8.8.8 --dport 53 --mark 0x101/0xff");
    assert!(out.contains(" mark 0x1 state NEW\n"), "{out}");
    assert!(
        line_with(&out, "routing").contains("policy rule 100 "),
        "{out}"
    );
}

#[test]
fn trace_user_chain_return_goes_back_after_the_jump() {
    let d = Scratch::new("trace-return");
    d.write(
        "rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:web - [0:0]\n\
         -A FORWARD -i lan0 -j web\n-A FORWARD -i lan0 -p tcp -m tcp --dport 22 -j ACCEPT\n\
         -A web -p tcp -m tcp --dport 80 -j ACCEPT\n-A web -p tcp -m tcp --dport 22 -j RETURN\n\
         -A web -j DROP\nCOMMIT\n",
    );
    let toml = d.write(
        "sluice.toml",
        "[[interface]]\nname = \"lan0\"\naddress = [\"10.0.1.1/24\"]\n\n[[interface]]\nname = \"wan0\"\naddress = [\"192.0.2.1/24\"]\n\n\
         [[route]]\nto = \"0.0.0.0/0\"\nvia = \"192.0.2.254\"\ndev = \"wan0\"\n\n[firewall]\nrules = \"rules.v4\"\n",
    );
    let to_port = |dport: &str| {
        sluice(&[
            "trace",
            "--config",
            toml.to_str().unwrap(),
            "-p",
            "tcp",
            "-s",
            "10.0.1.2",
            "-d",
            "198.51.100.9",
            "--dport",
            dport,
        ])
    };
    let o = to_port("22");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let filter: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("FORWARD filter"))
        .take(4)
        .map(|l| l[23..].trim_end())
        .collect();
    assert_eq!(
        filter,
        [
            "FORWARD #1 -A FORWARD -i lan0 -j web  matched -> jump web",
            "web #1 -A web -p tcp -m tcp --dport 80 -j ACCEPT  no match",
            "web #2 -A web -p tcp -m tcp --dport 22 -j RETURN  matched -> RETURN, return to FORWARD",
            "FORWARD #2 -A FORWARD -i lan0 -p tcp -m tcp --dport 22 -j ACCEPT  matched -> ACCEPT",
        ],
        "{out}"
    );
    assert!(
        out.ends_with(
            "verdict: forwarded out wan0 to 198.51.100.9:22 via 192.0.2.254 from 10.0.1.2:40000\n"
        ),
        "{out}"
    );
    // Port 443 falls through web to its DROP.
    let o = to_port("443");
    assert!(stdout(&o).ends_with("verdict: dropped in FORWARD filter (filter.drop)\n"));
}

#[test]
fn trace_json_names_every_step_and_the_verdict() {
    let out = trace_example("-i wan0 -p tcp -s 198.51.100.77 -d 203.0.113.2 --dport 443 --json");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"]["fate"], "forwarded");
    assert_eq!(v["verdict"]["out"], "lan0");
    assert_eq!(v["verdict"]["dst"]["addr"], "192.168.10.20");
    let steps = v["steps"].as_array().unwrap();
    let nat = steps
        .iter()
        .find(|s| s["hook"] == "PREROUTING" && s["table"] == "nat")
        .unwrap();
    assert_eq!(nat["dnat"]["to"]["addr"], "192.168.10.20");
    assert_eq!(nat["rules"][0]["matched"], true);
    let route = steps.iter().find(|s| s["step"] == "routing").unwrap();
    assert_eq!(route["priority"], 32766);
    assert_eq!(route["table"], "main");
}

#[test]
fn trace_bad_input_is_one_line_and_a_nonzero_exit() {
    let cfg = example();
    let cfg = cfg.to_str().unwrap();
    // `sluice trace ARGS` (split at spaces): exit code, stderr.
    let run = |args: &str| {
        let mut a = vec!["trace"];
        a.extend(args.split_whitespace());
        let o = sluice(&a);
        (o.status.code(), stderr(&o))
    };
    // Usage errors: exit 2, as clap's own.
    for (args, says) in [
        (
            "-p tcp -s 10.0.0.300 -d 8.8.8.8",
            "invalid value '10.0.0.300'",
        ),
        ("-p tcp -s 10.0.0.1", "--destination"),
        (
            "-p foo -s 10.0.0.1 -d 8.8.8.8",
            "-p `foo`: unknown protocol",
        ),
        (
            "-p icmp -s 10.0.0.1 -d 8.8.8.8 --sport 1",
            "--sport/--dport need -p tcp or -p udp",
        ),
        ("-p tcp -s 10.0.0.1 -d 8.8.8.8 --state OLD", "--state `OLD`"),
        ("-p tcp -s 10.0.0.1 -d 8.8.8.8 --mark x", "--mark `x`"),
        (
            "-p icmp -s 10.0.0.1 -d 8.8.8.8 --icmp-type bogus",
            "--icmp-type",
        ),
        ("-p tcp -s 10.0.0.1 -d 8.8.8.8 --bogus", "--bogus"),
    ] {
        let (code, err) = run(&format!("{args} --config {cfg}"));
        assert_eq!(code, Some(2), "{args}: {err}");
        assert!(err.contains(says), "{args}: {err}");
    }
    // Errors of the config or the daemon: exit 1, one line.
    for (args, says) in [
        (
            format!("-i eth9 -p tcp -s 10.0.0.1 -d 8.8.8.8 --config {cfg}"),
            "sluice: error: -i `eth9`: no such interface (the config has lan0, wan0, wan1, mgmt0)",
        ),
        (
            "-p tcp -s 10.0.0.1 -d 8.8.8.8 --config /nonexistent/sluice.toml".into(),
            "sluice: error: ",
        ),
        (
            "-p tcp -s 10.0.0.1 -d 8.8.8.8 --socket /nonexistent/sluice.sock".into(),
            "sluice: error: ",
        ),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(1), "{args}: {err}");
        assert!(err.starts_with(says), "{args}: {err}");
        assert_eq!(err.lines().count(), 1, "{args}: {err}");
    }
}

#[test]
fn canon_6_prints_ip6tables_save_form() {
    let d = Scratch::new("canon6");
    let f = d.write(
        "r.v6",
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 2001:db8::1/64 -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT\n\
         -A INPUT -p tcp -j REJECT --reject-with tcp-reset\n-A INPUT -j REJECT\nCOMMIT\n",
    );
    let o = sluice(&["rules", "canon", "-6", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // As ip6tables-legacy-save 1.8.9 printed it after the restore.
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -s 2001:db8::/64 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n\
         -A INPUT -p tcp -j REJECT --reject-with tcp-reset\n\
         -A INPUT -j REJECT --reject-with icmp6-port-unreachable\nCOMMIT\n"
    );
    // The same file is no iptables file, and IPv4 forms are no ip6tables ones.
    let o = sluice(&["rules", "canon", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("r.v6:3:"), "{}", stderr(&o));
    let v4 = d.write(
        "r.v4",
        "*filter\n-A INPUT -p icmp --icmp-type 8 -f -j ACCEPT\nCOMMIT\n",
    );
    let o = sluice(&["rules", "canon", "-6", v4.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("r.v4:2:"), "{}", stderr(&o));
}

#[test]
fn check_covers_rules6_and_says_what_happens_to_ipv6() {
    let d = Scratch::new("rules6");
    d.write(
        "rules.v4",
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n",
    );
    let toml = "[[interface]]\nname = \"r0\"\naddress = [\"10.0.0.1/24\", \"2001:db8::1/64\"]\n[firewall]\nrules = \"rules.v4\"\n";
    let plain = d.write("plain.toml", toml);
    let o = sluice(&["check", "--config", plain.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let v6: Vec<&str> = out.lines().filter(|l| l.starts_with("IPv6:")).collect();
    assert_eq!(v6.len(), 1, "{out}");
    assert!(
        v6[0].contains("no ip6tables ruleset configured: IPv6 is not forwarded"),
        "{out}"
    );

    // A shadowed rule and an unused chain in rules6 are warned about,
    // naming rules.v6 and the line.
    d.write(
        "rules.v6",
        "*filter\n:INPUT DROP [0:0]\n:UNUSED - [0:0]\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
         -A INPUT -s 2001:db8::/32 -j DROP\n-A INPUT -s 2001:db8:1::/48 -p tcp -j ACCEPT\nCOMMIT\n",
    );
    let with6 = d.write("with6.toml", &format!("{toml}rules6 = \"rules.v6\"\n"));
    let o = sluice(&["check", "--config", with6.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("rules.v6:6:1: rule 3 of chain `INPUT' (table filter) can never match: rule 2 at line 5"), "{e}");
    assert!(e.contains("rules.v6:3:1: user chain `UNUSED'"), "{e}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("IPv6: forwarded and filtered by ")
            && out.contains("rules.v6 (3 rules, 1 table)"),
        "{out}"
    );

    // `-m recent` runs in rules6 (it was warned about as not run yet).
    d.write(
        "rules.v6",
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -m recent --set --name SSH\n\
         -A INPUT -p tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP\nCOMMIT\n",
    );
    let o = sluice(&["check", "--config", with6.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        !e.contains("recent") && !e.contains("does not run it yet"),
        "{e}"
    );

    // An error in rules6 names file:line:column.
    d.write(
        "rules.v6",
        "*filter\n-A INPUT -s 10.0.0.1 -j ACCEPT\nCOMMIT\n",
    );
    let o = sluice(&["check", "--config", with6.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("rules.v6:2:13:") && e.contains("host/network `10.0.0.1' not found"),
        "{e}"
    );
    let empty = d.write("empty.toml", &format!("{toml}rules6 = \"\"\n"));
    let o = sluice(&["check", "--config", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`rules6` is an empty path"),
        "{}",
        stderr(&o)
    );
}
