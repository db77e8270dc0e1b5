//! Robustness properties of the parsers. No root needed.
//!
//! * Canon is a fixpoint: every rule line of our own rulesets, parsed and
//!   saved, parses back to the same model (line numbers and counters aside,
//!   which `iptables-save` does not print) and saves to the same text; the
//!   same for our ip6tables rulesets with the ip6tables parser.
//! * No input makes a parser panic: mutated rule lines (words deleted,
//!   doubled, swapped, `!` and other words inserted, random text, huge
//!   numbers, empty quotes, lines cut short) go through the iptables parser
//!   (and mutated IPv6 rule lines through the ip6tables parser),
//!   mutated versions of the example appliance TOML and sets file through
//!   theirs. Errors are fine; a panic is a bug.

use std::path::Path;

use proptest::prelude::*;
use sluice_config::iptables::{self, Family, Ruleset};
use sluice_config::{appliance, ipset};

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One rule line of a restore file, with what it needs to load alone: its
/// table and the chain declarations (`:X` and `-N X`) before it.
#[derive(Debug, Clone)]
struct Seed {
    table: String,
    decls: Vec<String>,
    line: String,
}

impl Seed {
    fn text(&self, line: &str) -> String {
        let mut t = format!("*{}\n", self.table);
        for d in &self.decls {
            t.push_str(d);
            t.push('\n');
        }
        t.push_str(line);
        t.push_str("\nCOMMIT\n");
        t
    }
}

/// Whether `line` is a rule command (`-A`, `-I`, `-R`, long forms, with or
/// without a counters prefix).
fn is_rule_line(line: &str) -> bool {
    let body = match line.strip_prefix('[') {
        Some(r) => r.split_once(']').map(|(_, b)| b.trim_start()).unwrap_or(""),
        None => line,
    };
    ["-A ", "-I ", "-R ", "--append ", "--insert ", "--replace "]
        .iter()
        .any(|p| body.starts_with(p))
}

fn seeds_of(text: &str) -> Vec<Seed> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut decls = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
            decls.clear();
        } else if line.starts_with(':') || line.starts_with("-N ") {
            decls.push(line.to_string());
        } else if is_rule_line(line) {
            out.push(Seed {
                table: table.clone(),
                decls: decls.clone(),
                line: line.to_string(),
            });
        }
    }
    out
}

/// The rule lines of the rulesets the properties start from.
/// Our iptables rulesets.
const FILES4: [&str; 3] = [
    "tests/data/corpus.rules",
    "tests/data/gateway.rules",
    "examples/branch-office/rules.v4",
];

/// Our ip6tables rulesets.
const FILES6: [&str; 3] = [
    "tests/data/corpus6.rules",
    "tests/data/docker6.rules",
    "tests/data/kube-proxy6.rules",
];

fn rule_seeds() -> Vec<Seed> {
    FILES4.iter().flat_map(|f| seeds_of(&read(f))).collect()
}

fn rule_seeds6() -> Vec<Seed> {
    FILES6.iter().flat_map(|f| seeds_of(&read(f))).collect()
}

/// The ruleset without what `iptables-save` does not print: the lines the
/// rules and chains came from, and counters.
fn printed_part(mut rs: Ruleset) -> Ruleset {
    for t in &mut rs.tables {
        for c in &mut t.chains {
            c.line = 0;
            c.counters = Default::default();
            for r in &mut c.rules {
                r.line = 0;
                r.counters = Default::default();
            }
        }
    }
    rs
}

/// Parse, save, parse, save: the same text both times and the same model.
fn assert_fixpoint(name: &str, text: &str) -> Result<(), String> {
    assert_fixpoint_in(name, text, Family::Ipv4)
}

fn assert_fixpoint_in(name: &str, text: &str, family: Family) -> Result<(), String> {
    let file = Path::new(name);
    let first = iptables::parse_family(text, file, family).map_err(|e| e.to_string())?;
    let saved = iptables::save::save(&first);
    let second = iptables::parse_family(&saved, file, family)
        .unwrap_or_else(|e| panic!("{name}: the saved form does not parse: {e}\n{saved}"));
    let again = iptables::save::save(&second);
    assert_eq!(saved, again, "{name}: saving twice differs");
    let (a, b) = (printed_part(first), printed_part(second));
    if a != b {
        panic!(
            "{name}: the model changed through save and parse: {}",
            first_difference(&a, &b)
        );
    }
    Ok(())
}

/// Where two rulesets differ, as short as it can be said.
fn first_difference(a: &Ruleset, b: &Ruleset) -> String {
    for (ta, tb) in a.tables.iter().zip(&b.tables) {
        for (ca, cb) in ta.chains.iter().zip(&tb.chains) {
            for (ra, rb) in ca.rules.iter().zip(&cb.rules) {
                if ra != rb {
                    return format!("in {} {}:\n  {ra:?}\n  {rb:?}", ta.kind, ca.name);
                }
            }
            if ca != cb {
                return format!(
                    "chain {} {}: {} vs {} rules",
                    ta.kind,
                    ca.name,
                    ca.rules.len(),
                    cb.rules.len()
                );
            }
        }
    }
    format!("tables: {:?} vs {:?}", a.tables.len(), b.tables.len())
}

#[test]
fn canon_is_a_fixpoint_for_every_rule_line() {
    let seeds = rule_seeds();
    let mut alone = 0;
    for s in &seeds {
        // Some lines only make sense after others (`-R`, `-I 3`, a jump to
        // a chain renamed before): those that do not load alone are left to
        // the whole-file check below.
        if assert_fixpoint(&s.line, &s.text(&s.line)).is_ok() {
            alone += 1;
        }
    }
    eprintln!(
        "{alone} of {} rule lines load alone and are fixpoints",
        seeds.len()
    );
    assert!(
        alone * 10 >= seeds.len() * 9,
        "only {alone} of {} rule lines load alone",
        seeds.len()
    );
}

#[test]
fn canon_is_a_fixpoint_for_whole_files() {
    for f in FILES4 {
        assert_fixpoint(f, &read(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    for f in FILES6 {
        assert_fixpoint_in(f, &read(f), Family::Ipv6).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn canon_6_is_a_fixpoint_for_every_rule_line() {
    let seeds = rule_seeds6();
    let alone = seeds
        .iter()
        .filter(|s| assert_fixpoint_in(&s.line, &s.text(&s.line), Family::Ipv6).is_ok())
        .count();
    assert!(
        alone * 10 >= seeds.len() * 9 && seeds.len() > 80,
        "only {alone} of {} ip6tables rule lines load alone",
        seeds.len()
    );
}

// ---------------------------------------------------------------------------
// Mutations.

/// Numbers that stress the readers: past every integer width, signs,
/// prefixes without digits.
const ODD_NUMBERS: &[&str] = &[
    "99999999999999999999999999",
    "18446744073709551616",
    "18446744073709551615",
    "4294967296",
    "4294967295",
    "2147483648",
    "65536",
    "256",
    "-1",
    "-0",
    "+",
    "0x",
    "0xffffffffffffffffff",
    "08",
    "1e999",
    "",
];

/// What is done to one word list (a line split at blanks). Indexes are
/// taken modulo the length, so every mutation applies to any line.
#[derive(Debug, Clone)]
enum WordEdit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
    /// The first run of digits of the word (or the whole word) becomes a
    /// number of [`ODD_NUMBERS`].
    OddNumber(usize, usize),
    /// Keep this many characters of the line.
    Truncate(usize),
}

fn random_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[-!\"'\\\\:/,.=+#*\\[\\]0-9a-zA-Z ]{0,12}",
        Just("\"\"".to_string()),
        Just("\"".to_string()),
        Just("!".to_string()),
        Just("--".to_string()),
        Just("-".to_string()),
    ]
}

/// An edit; inserted words come from `vocabulary` (words of the seeds) or
/// are random.
fn word_edit(vocabulary: &'static [String]) -> impl Strategy<Value = WordEdit> {
    let word = prop_oneof![
        3 => (0..vocabulary.len()).prop_map(|i| vocabulary[i].clone()),
        2 => random_text(),
    ];
    prop_oneof![
        2 => any::<usize>().prop_map(WordEdit::Delete),
        1 => any::<usize>().prop_map(WordEdit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| WordEdit::Swap(a, b)),
        1 => any::<usize>().prop_map(|i| WordEdit::Insert(i, "!".into())),
        1 => any::<usize>().prop_map(|i| WordEdit::Insert(i, "\"\"".into())),
        3 => (any::<usize>(), word.clone()).prop_map(|(i, w)| WordEdit::Insert(i, w)),
        2 => (any::<usize>(), word).prop_map(|(i, w)| WordEdit::Replace(i, w)),
        3 => (any::<usize>(), 0..ODD_NUMBERS.len()).prop_map(|(i, n)| WordEdit::OddNumber(i, n)),
        1 => any::<usize>().prop_map(WordEdit::Truncate),
    ]
}

fn apply_words(line: &str, edit: &WordEdit) -> String {
    let mut words: Vec<String> = line.split(' ').map(String::from).collect();
    let n = words.len().max(1);
    match edit {
        WordEdit::Delete(i) => {
            if !words.is_empty() {
                words.remove(i % n);
            }
        }
        WordEdit::Duplicate(i) => {
            if !words.is_empty() {
                let w = words[i % n].clone();
                words.insert(i % n, w);
            }
        }
        WordEdit::Swap(a, b) => {
            if !words.is_empty() {
                words.swap(a % n, b % n);
            }
        }
        WordEdit::Insert(i, w) => words.insert(i % (words.len() + 1), w.clone()),
        WordEdit::Replace(i, w) => {
            if !words.is_empty() {
                words[i % n] = w.clone();
            }
        }
        WordEdit::OddNumber(i, k) => {
            if !words.is_empty() {
                let w = &mut words[i % n];
                let odd = ODD_NUMBERS[*k];
                *w = match w.find(|c: char| c.is_ascii_digit()) {
                    Some(start) => {
                        let len = w[start..]
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(w.len() - start);
                        format!("{}{odd}{}", &w[..start], &w[start + len..])
                    }
                    None => odd.to_string(),
                };
            }
        }
        WordEdit::Truncate(k) => {
            let line = words.join(" ");
            let keep = k % (line.chars().count() + 1);
            return line.chars().take(keep).collect();
        }
    }
    words.join(" ")
}

/// Every distinct word of `lines`, leaked for the strategies' `'static`.
fn vocabulary<'a>(lines: impl Iterator<Item = &'a str>) -> &'static [String] {
    let mut words: Vec<String> = lines
        .flat_map(|l| l.split(' '))
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    words.sort();
    words.dedup();
    Box::leak(words.into_boxed_slice())
}

/// What is done to a whole file (a list of lines) besides editing words of
/// one line.
#[derive(Debug, Clone)]
enum FileEdit {
    Words(usize, WordEdit),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Random text put into a line at a character position.
    Splice(usize, usize, String),
    /// Keep this many characters of the file.
    Truncate(usize),
}

fn file_edit(vocabulary: &'static [String]) -> impl Strategy<Value = FileEdit> {
    prop_oneof![
        8 => (any::<usize>(), word_edit(vocabulary)).prop_map(|(l, e)| FileEdit::Words(l, e)),
        1 => any::<usize>().prop_map(FileEdit::DeleteLine),
        1 => any::<usize>().prop_map(FileEdit::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| FileEdit::SwapLines(a, b)),
        2 => (any::<usize>(), any::<usize>(), random_text())
            .prop_map(|(l, c, t)| FileEdit::Splice(l, c, t)),
        1 => any::<usize>().prop_map(FileEdit::Truncate),
    ]
}

fn apply_file(text: &str, edits: &[FileEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            FileEdit::Words(l, w) if !lines.is_empty() => {
                lines[l % n] = apply_words(&lines[l % n], w)
            }
            FileEdit::DeleteLine(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            FileEdit::DuplicateLine(l) if !lines.is_empty() => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            FileEdit::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            FileEdit::Splice(l, c, t) if !lines.is_empty() => {
                let line = &mut lines[l % n];
                let at = line
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([line.len()])
                    .nth(c % (line.chars().count() + 1))
                    .unwrap_or(line.len());
                line.insert_str(at, t);
            }
            FileEdit::Truncate(k) => {
                let all = lines.join("\n");
                let keep = k % (all.chars().count() + 1);
                lines = all
                    .chars()
                    .take(keep)
                    .collect::<String>()
                    .lines()
                    .map(String::from)
                    .collect();
            }
            _ => {}
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Extra sets-file lines, so the mutations reach more of the ipset parser
/// than the three lines of the example.
const MORE_SET_LINES: &str = "create svc hash:ip,port family inet timeout 60 counters comment\n\
    add svc 192.0.2.10,tcp:443 timeout 5 packets 1 bytes 2 comment \"web\"\n\
    create nets hash:net family inet hashsize 64 maxelem 1024\n\
    add nets 10.0.0.0/8 nomatch\n\
    create ports bitmap:port range 1-1024\n\
    add ports 22-80\n\
    create ips bitmap:ip range 192.0.2.0/24 netmask 28\n\
    create macs hash:mac\n\
    add macs 00:11:22:33:44:55\n\
    create pairs hash:net,iface family inet\n\
    add pairs 192.0.2.0/24,eth0\n\
    create any list:set size 8\n\
    add any nets\n";

fn rule_cases() -> (Vec<Seed>, &'static [String]) {
    let seeds = rule_seeds();
    let vocab = vocabulary(seeds.iter().map(|s| s.line.as_str()));
    (seeds, vocab)
}

fn examples(file: &str, more: &str) -> (String, &'static [String]) {
    let text = read(&format!("examples/branch-office/{file}")) + more;
    let vocab = vocabulary(text.lines());
    (text, vocab)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6000))]

    /// Mutated rule lines never make the iptables parser panic.
    #[test]
    fn rule_parser_never_panics(
        (seeds, i, edits, twice) in {
            let (seeds, vocab) = rule_cases();
            let n = seeds.len();
            (Just(seeds), 0..n, prop::collection::vec(word_edit(vocab), 1..5), any::<bool>())
        }
    ) {
        let s = &seeds[i];
        let line = edits.iter().fold(s.line.clone(), |l, e| apply_words(&l, e));
        // Sometimes the line twice: `-D`, `-N` and `-X` then find state.
        let line = if twice { format!("{line}\n{line}") } else { line };
        let _ = iptables::parse(&s.text(&line), Path::new("mutated.rules"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Mutated IPv6 rule lines never make the ip6tables parser panic.
    #[test]
    fn rule6_parser_never_panics(
        (seeds, i, edits, twice) in {
            let seeds = rule_seeds6();
            let vocab = vocabulary(seeds.iter().map(|s| s.line.as_str()));
            let n = seeds.len();
            (Just(seeds), 0..n, prop::collection::vec(word_edit(vocab), 1..5), any::<bool>())
        }
    ) {
        let s = &seeds[i];
        let line = edits.iter().fold(s.line.clone(), |l, e| apply_words(&l, e));
        let line = if twice { format!("{line}\n{line}") } else { line };
        let _ = iptables::parse6(&s.text(&line), Path::new("mutated.rules"));
    }


    /// Mutated versions of the example appliance TOML never make its parser
    /// panic.
    #[test]
    fn appliance_parser_never_panics(
        (text, edits) in {
            let (text, vocab) = examples("sluice.toml", "");
            (Just(text), prop::collection::vec(file_edit(vocab), 1..5))
        }
    ) {
        let mutated = apply_file(&text, &edits);
        let _ = appliance::parse(&mutated, Path::new("sluice.toml"));
    }

    /// Mutated versions of the example sets file never make the ipset
    /// parser panic.
    #[test]
    fn ipset_parser_never_panics(
        (text, edits) in {
            let (text, vocab) = examples("sets.save", MORE_SET_LINES);
            (Just(text), prop::collection::vec(file_edit(vocab), 1..5))
        }
    ) {
        let mutated = apply_file(&text, &edits);
        let _ = ipset::parse(&mutated, Path::new("sets.save"));
    }
}

/// The mutations do what they say (a property over nothing would pass).
#[test]
fn mutations_apply() {
    let l = "-A INPUT -p tcp --dport 22";
    assert_eq!(apply_words(l, &WordEdit::Delete(1)), "-A -p tcp --dport 22");
    assert_eq!(
        apply_words(l, &WordEdit::Swap(0, 1)),
        "INPUT -A -p tcp --dport 22"
    );
    assert_eq!(
        apply_words(l, &WordEdit::OddNumber(5, 4)),
        "-A INPUT -p tcp --dport 4294967295"
    );
    assert_eq!(apply_words(l, &WordEdit::Truncate(8)), "-A INPUT");
    assert_eq!(
        apply_words(l, &WordEdit::Insert(2, "!".into())),
        "-A INPUT ! -p tcp --dport 22"
    );
    assert_eq!(
        apply_file("a b\nc\n", &[FileEdit::Splice(1, 1, "x".into())]),
        "a b\ncx\n"
    );
    let seeds = rule_seeds();
    assert!(seeds.len() > 200, "{} rule lines", seeds.len());
    assert!(seeds.iter().all(|s| !s.table.is_empty()));
}
