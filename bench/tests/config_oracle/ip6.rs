//! ip6tables rulesets compared with `ip6tables-legacy-save`: sluice's own
//! IPv6 corpus (config's `tests/data/corpus6.rules`: every IPv6 form sluice
//! parses), Docker- and kube-proxy-shaped dual-stack rulesets
//! (`docker6.rules`, `kube-proxy6.rules`), and UFW's shipped `*6.rules`
//! (`shared/conformance/ufw`); then single lines each family's restore
//! must refuse. All in one namespace: each restore replaces the tables it
//! names, and only those are compared.

use std::path::Path;

use sluice_config::iptables::{self, Family, TableKind};

use crate::common::{self, read};
use crate::oracle;
use crate::realworld::{check, ufw_declare, Case};

/// The `family inet6` sets corpus6.rules matches against.
const SETS6: &str = "create trusted6 hash:net family inet6\n\
                     add trusted6 2001:db8:5::/48\n\
                     create svc6 hash:ip,port family inet6\n\
                     add svc6 2001:db8::10,tcp:8443\n";

fn data(name: &str) -> String {
    read(&crate::config_dir().join("tests/data").join(name))
}

/// Puts every table back as a fresh namespace has it (empty, policies
/// ACCEPT): a restore replaces the rules and user chains of the tables it
/// names but keeps the policies it does not set.
fn reset(ns: &oracle::Oracle) {
    let mut text = String::new();
    for kind in TableKind::ALL {
        text += &format!("*{}\n", kind.name());
        for h in kind.builtin_hooks() {
            text += &format!(":{} ACCEPT [0:0]\n", h.chain_name());
        }
        text += "COMMIT\n";
    }
    ns.restore_family(&text, Family::Ipv6)
        .unwrap_or_else(|e| panic!("resetting the tables: {e}"));
}

fn v6<'a>(name: impl Into<String>, text: impl Into<String>) -> Case<'a> {
    let mut c = Case::new(name, text);
    c.family = Family::Ipv6;
    c
}

#[test]
fn ip6_rulesets_match_ip6tables_legacy_save() {
    let test = "ip6_rulesets";
    let Some(ns) = oracle::oracle_for(test, Family::Ipv6) else {
        return;
    };
    let mut corpus = v6("corpus6.rules", data("corpus6.rules"));
    corpus.sets = Some(SETS6);
    let mut cases = vec![corpus, v6("docker6.rules", data("docker6.rules"))];
    cases.push(v6("kube-proxy6.rules", data("kube-proxy6.rules")));
    // Chains named like targets: declared with `:`, `-j NAME` / `-g NAME`
    // jump to them (libxtables' announced chains shadow targets).
    cases.push(v6(
        "chains named like targets",
        "*filter\n:CLASSIFY - [0:0]\n:LOG - [0:0]\n:TTL - [0:0]\n\
         -A INPUT -j LOG\n-A INPUT -g CLASSIFY\n-A FORWARD -j TTL\n-A LOG -j ACCEPT\n\
         -A CLASSIFY -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n",
    ));
    if let Some(dir) = common::conformance_dir(test) {
        for name in ["before6.rules", "after6.rules", "user6.rules"] {
            let text = ufw_declare(&read(&dir.join("ufw").join(name)));
            cases.push(v6(format!("ufw/{name} (runtime chains declared)"), text));
        }
    }
    let mut problems = Vec::new();
    let mut total = 0;
    for case in &cases {
        reset(&ns);
        let (p, rules, refused) = check(&ns, case);
        common::note(&format!(
            "{test}: {}: {rules} rules compared, {refused} lines refused by name, {}",
            case.name,
            if p.is_empty() {
                "same as ip6tables-legacy-save".to_string()
            } else {
                format!("{} problems", p.len())
            }
        ));
        total += rules;
        problems.extend(p);
    }
    assert!(total > 100, "only {total} rules compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Lines one family's restore refuses and the other's takes: sluice must
/// refuse each exactly where the kernel's restore of that family does
/// (IPv4-only forms in an ip6tables file, IPv6-only forms in an iptables
/// one), and take it where the kernel does.
#[test]
fn ip6_each_family_refuses_the_others_forms() {
    let test = "ip6_family_forms";
    let Some(ns) = oracle::oracle_for(test, Family::Ipv6) else {
        return;
    };
    let lines = [
        ("filter", "-f -j DROP"),
        ("filter", "! -f -j DROP"),
        ("filter", "-p icmp --icmp-type echo-request -j ACCEPT"),
        ("filter", "-p icmp -m icmp --icmp-type 8 -j ACCEPT"),
        (
            "filter",
            "-p ipv6-icmp --icmpv6-type echo-request -j ACCEPT",
        ),
        ("filter", "-p icmpv6 -m icmpv6 --icmpv6-type 128 -j ACCEPT"),
        ("filter", "-m ttl --ttl-eq 64 -j ACCEPT"),
        ("filter", "-m hl --hl-eq 64 -j ACCEPT"),
        ("mangle", "-j TTL --ttl-set 64"),
        ("mangle", "-j HL --hl-set 64"),
        ("filter", "-j REJECT --reject-with icmp-port-unreachable"),
        ("filter", "-j REJECT --reject-with icmp-host-prohibited"),
        ("filter", "-j REJECT --reject-with icmp6-adm-prohibited"),
        ("filter", "-j REJECT --reject-with no-route"),
        ("filter", "-s 192.0.2.1 -j DROP"),
        ("filter", "-d 10.0.0.0/8 -j DROP"),
        ("filter", "-s 2001:db8::/32 -j DROP"),
        ("filter", "-d ::1 -j DROP"),
        ("filter", "-m frag --fragmore -j DROP"),
        ("filter", "-m rt --rt-type 0 -j DROP"),
        ("filter", "-m ipv6header --header frag -j DROP"),
        ("filter", "-m eui64 -j ACCEPT"),
        ("filter", "-m recent --set --mask 255.255.255.0"),
        ("filter", "-m recent --set --mask ffff:ffff::"),
        (
            "mangle",
            "-j SNPT --src-pfx 2001:db8::/64 --dst-pfx fd00::/64",
        ),
        // IPv6 route types the kernel's addrtype has no test for.
        ("filter", "-m addrtype --src-type BROADCAST"),
        ("filter", "-m addrtype ! --dst-type THROW"),
        ("filter", "-m addrtype --dst-type BLACKHOLE,LOCAL"),
        ("filter", "-m addrtype --src-type XRESOLVE --limit-iface-in"),
        (
            "filter",
            "-m addrtype --src-type UNREACHABLE --dst-type ANYCAST",
        ),
        ("filter", "-4 -j DROP"),
        ("filter", "-6 -j DROP"),
        // NAT ranges: the IPv6 forms (brackets when ports follow, a range
        // inside them), the IPv4 ones, and where each family's parser
        // stops.
        ("nat", "-p tcp -j DNAT --to-destination [fd00::2]:80"),
        ("nat", "-j DNAT --to-destination [fd00::2]"),
        ("nat", "-j DNAT --to-destination fd00::2-fd00::3"),
        (
            "nat",
            "-p tcp -j DNAT --to-destination [fd00::2-fd00::3]:80-90/100 --persistent --random",
        ),
        (
            "nat",
            "-p tcp -j DNAT --to-destination [fd00::2]-[fd00::3]:80",
        ),
        ("nat", "-p tcp -j DNAT --to-destination [fd00::2]x:80"),
        ("nat", "-p tcp -j DNAT --to-destination []:80"),
        ("nat", "-p tcp -j DNAT --to-destination 12:80"),
        ("nat", "-p tcp -j DNAT --to-destination [fd00::2:80"),
        ("nat", "-p tcp -j DNAT --to-destination [fd00::2]:"),
        ("nat", "-j DNAT --to-destination 0:0:0:0:0:0:102:304"),
        ("nat", "-j DNAT --to-destination ::ffff:1.2.3.4"),
        ("nat", "-p ipv6-icmp -j DNAT --to-destination [fd00::2]:80"),
        ("nat", "-p tcp -j DNAT --to-destination 1.2.3.4:80"),
        (
            "nat",
            "-p udp -j SNAT --to-source [fd00::1]:1000-2000/5 --random-fully --persistent",
        ),
        ("nat", "-j SNAT --to-source fd00::1-fd00::1"),
        ("nat", "-j SNAT --to-source 1.2.3.4-1.2.3.9"),
        ("nat", "-p tcp -j MASQUERADE --to-ports 1000-2000/7"),
        ("nat", "-p tcp -j REDIRECT --to-ports 8080"),
    ];
    let mut problems = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        for (table, rule) in lines {
            // INPUT for filter, a user chain elsewhere (no hook limits).
            let (decl, chain) = match table {
                "filter" => ("", "INPUT"),
                _ => (":FOO - [0:0]\n", "FOO"),
            };
            let text = format!("*{table}\n{decl}-A {chain} {rule}\nCOMMIT\n");
            if let Some(diff) = family_diff(&ns, &text, table, family) {
                problems.push(format!("{} {table}: {rule}\n{diff}", family.command()));
            }
        }
    }
    common::note(&format!(
        "{test}: {} lines x 2 families, {} differ from the kernel",
        lines.len(),
        problems.len()
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `-N NAME` clashes only with the targets of the ruleset's own family
/// (`xtables_find_target`): iptables takes `-N HL`, ip6tables `-N TTL`.
/// Every target name of either family, refused or taken as the kernel's
/// restore of each family does.
#[test]
fn ip6_chain_names_clash_with_their_own_familys_targets() {
    let test = "ip6_chain_names";
    let Some(ns) = oracle::oracle_for(test, Family::Ipv6) else {
        return;
    };
    let names = [
        "ACCEPT",
        "DROP",
        "RETURN",
        "QUEUE",
        "standard",
        "HL",
        "SNPT",
        "DNPT",
        "TTL",
        "ECN",
        "CLUSTERIP",
        "ULOG",
        "NETMAP",
        "REJECT",
        "CHECKSUM",
        "CONNMARK",
        "CT",
        "DNAT",
        "DSCP",
        "LOG",
        "MARK",
        "MASQUERADE",
        "NFLOG",
        "NOTRACK",
        "REDIRECT",
        "SNAT",
        "TCPMSS",
        "TEE",
        "TOS",
        "TPROXY",
        "TRACE",
        "hl",
        "Foo",
    ];
    let mut problems = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        for name in names {
            let text = format!("*filter\n-N {name}\nCOMMIT\n");
            if let Some(diff) = family_diff(&ns, &text, "filter", family) {
                problems.push(format!("{} -N {name}\n{diff}", family.command()));
            }
        }
    }
    common::note(&format!(
        "{test}: {} names x 2 families, {} differ from the kernel",
        names.len(),
        problems.len()
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `text` restored by the kernel's restore of `family` and parsed by
/// sluice: `None` when both refuse it or both save `table` the same,
/// otherwise the two outcomes.
fn family_diff(ns: &oracle::Oracle, text: &str, table: &str, family: Family) -> Option<String> {
    let kernel = ns
        .restore_family(text, family)
        .map(|()| ns.save_table_family(table, family));
    let sluice = iptables::parse_family(text, Path::new("t"), family)
        .map(|rs| oracle::sluice_table(&rs, table))
        .map_err(|e| e.to_string());
    let same = match (&kernel, &sluice) {
        (Ok(k), Ok(s)) => k == s,
        (Err(_), Err(_)) => true,
        _ => false,
    };
    (!same).then(|| format!("   kernel: {kernel:?}\n   sluice: {sluice:?}"))
}
