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
