//! The `iptables-restore` file format: `*table` blocks of `:CHAIN POLICY
//! [pkts:bytes]` headers and commands, each block ended by `COMMIT`;
//! `#` comments. Without `--noflush` a block first flushes its table and
//! deletes its user chains; with it, the block edits what is there.
//! A table becomes part of the result only at its `COMMIT`, as with the
//! kernel: a file that fails changes nothing.
//!
//! Lines are read as iptables-restore 1.8.9 reads them (`fgets`, then a
//! look at the first character): only an empty line or a `#` in column 1
//! is skipped; `*`, `:` and `COMMIT` count only in column 1, and `COMMIT`
//! must be the whole line, newline included; a line of blanks, a `\r`
//! line end or an indented `#` is an error (iptables fails on them too).
//! `*TABLE` and `:CHAIN POLICY` take their first words and ignore the rest;
//! counters are not checked (iptables uses them only with `--counters`).
//! The conformance tests in `config/tests/` compare all this with the
//! installed iptables in a network namespace.
//!
//! `restore` takes text; the file's bytes become text in [`super::bytes`],
//! which accepts any byte in a `#` line and refuses a BOM, a NUL (iptables
//! would cut the line there: a deliberate difference) and a non-UTF-8 byte
//! elsewhere, each with its own message, line and column.

use std::collections::HashMap;
use std::path::Path;

use super::lex;
use super::model::{
    Chain, Counters, Policy, RestoreOptions, Rule, Ruleset, Table, TableKind, Target,
};
use super::rule::{parse_command_announced, Command};
use super::validate;
use crate::error::{Error, ErrorKind, Location};

/// An error in an iptables-restore file: iptables' own message (the
/// extension parsers return libxtables' texts) or sluice's refusal with its
/// reason. A message, not yet one variant per failure: the rule and
/// extension parsers build several hundred of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RestoreError(pub String);

/// A table being read. User chains are appended as they are declared and
/// found through `idx` (name to position), so that each line costs the
/// same however many chains the table has; they are sorted by name, as
/// libiptc keeps them, at COMMIT and before anything whose result depends
/// on their order.
struct Open {
    table: Table,
    line: usize,
    idx: HashMap<String, usize>,
    /// How many rules jump or go to each chain, built when `-X` or `-E`
    /// first needs it and dropped by anything that changes rules, so a
    /// run of chain deletions costs one pass over the rules, not one
    /// each.
    refs: Option<HashMap<String, usize>>,
    /// Whether a line named a chain of the table (`:CHAIN`, or a command
    /// with a chain): iptables-nft creates a table only then, so a table
    /// opened and committed without one is absent from `iptables-nft-save`.
    touched: bool,
}

impl Open {
    fn new(table: Table, line: usize) -> Open {
        let mut o = Open {
            table,
            line,
            idx: HashMap::new(),
            refs: None,
            touched: false,
        };
        o.reindex();
        o
    }
    fn reindex(&mut self) {
        self.idx = self
            .table
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
    }
    fn get(&self, name: &str) -> Option<&Chain> {
        self.idx.get(name).map(|&i| &self.table.chains[i])
    }
    fn get_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.idx.get(name).map(|&i| &mut self.table.chains[i])
    }
    /// Appends a user chain (out of order until [`Open::sort`]).
    fn add(&mut self, name: &str, line: usize) {
        self.idx.insert(name.to_string(), self.table.chains.len());
        self.table.chains.push(Chain {
            name: name.to_string(),
            hook: None,
            policy: None,
            counters: Counters::default(),
            rules: Vec::new(),
            line,
        });
    }
    /// Removes user chain `name` in O(1): the last chain takes its place
    /// (the order is restored by [`Open::sort`]).
    fn remove(&mut self, name: &str) {
        let Some(i) = self.idx.remove(name) else {
            return;
        };
        self.table.chains.swap_remove(i);
        if let Some(c) = self.table.chains.get(i) {
            if let Some(slot) = self.idx.get_mut(c.name.as_str()) {
                *slot = i;
            }
        }
    }
    /// How many rules jump or go to `name`.
    fn referenced(&mut self, name: &str) -> usize {
        let chains = &self.table.chains;
        let refs = self.refs.get_or_insert_with(|| {
            let mut m: HashMap<String, usize> = HashMap::new();
            for r in chains.iter().flat_map(|c| &c.rules) {
                if let Target::Chain { name, .. } = &r.target {
                    *m.entry(name.clone()).or_default() += 1;
                }
            }
            m
        });
        refs.get(name).copied().unwrap_or(0)
    }
    /// Puts the user chains back in libiptc's order (by name).
    fn sort(&mut self) {
        let builtins = self.table.kind.builtin_hooks().len();
        let user = &mut self.table.chains[builtins..];
        if !user.windows(2).all(|w| w[0].name < w[1].name) {
            user.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            self.reindex();
        }
    }
    fn into_table(mut self) -> Table {
        self.sort();
        self.table
    }
}

/// Applies the restore file `text` (named `file` in errors) to `base`.
pub fn restore(
    text: &str,
    file: &Path,
    base: &Ruleset,
    opts: RestoreOptions,
) -> Result<Ruleset, Error> {
    let mut rs = base.clone();
    rs.family = opts.family;
    let mut open: Option<Open> = None;
    // Every `:NAME` line so far, in any table (see `parse_command_announced`).
    let mut announced: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut last_line = 0;
    let e = |line: usize, col: Option<usize>, msg: String| {
        Error::new(
            Location::new(file, line, col),
            ErrorKind::Rules(RestoreError(msg)),
        )
    };
    // Lines as `fgets` gives them to iptables-restore: split on `\n` only
    // (a `\r` stays part of the line), each known to end with `\n` or not.
    let mut rest = text;
    while !rest.is_empty() {
        let (raw, newline) = match rest.find('\n') {
            Some(i) => {
                let l = &rest[..i];
                rest = &rest[i + 1..];
                (l, true)
            }
            None => {
                let l = rest;
                rest = "";
                (l, false)
            }
        };
        last_line += 1;
        let line = last_line;
        // Only a truly empty line and a `#` in the first column are
        // skipped; `*`, `:` and COMMIT count only in the first column too.
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        if raw.ends_with('\r') {
            return Err(e(
                line,
                Some(raw.len()),
                "line ends with a carriage return (a CRLF file?): iptables-restore takes it as part of the last word; convert the file to LF line ends".into(),
            ));
        }
        if raw.trim().is_empty() {
            return Err(e(
                line,
                Some(1),
                "a line of only blanks is not empty for iptables-restore (it fails with \"no command specified\"); remove the blanks".into(),
            ));
        }
        if raw.starts_with(['*', ':']) {
            if let Some((before, b)) = super::bytes::first_raw(raw) {
                return Err(e(
                    line,
                    Some(before + 1),
                    format!("byte 0x{b:02x} is not UTF-8: sluice keeps such bytes only in the texts of --comment and --log-prefix; write table and chain names in UTF-8"),
                ));
            }
        }
        if let Some(after) = raw.strip_prefix('*') {
            if let Some(o) = &open {
                return Err(e(
                    line,
                    Some(1),
                    format!(
                        "table `{}' opened at line {} has no COMMIT before `{raw}'",
                        o.table.kind, o.line
                    ),
                ));
            }
            // strtok(" \t"): the first word names the table, the rest is ignored.
            let Some(name) = after.split([' ', '\t']).find(|w| !w.is_empty()) else {
                return Err(e(
                    line,
                    Some(1),
                    "table name invalid: `*' without a table name".into(),
                ));
            };
            let col = raw.find(name).map(|c| c + 1);
            let Some(kind) = TableKind::from_name(name) else {
                return Err(e(
                    line,
                    col,
                    format!("unknown table `{name}' (tables: raw, mangle, nat, filter, security)"),
                ));
            };
            let mut table = rs.table(kind).cloned().unwrap_or_else(|| Table::new(kind));
            if !opts.noflush {
                table.chains.retain(|c| c.hook.is_some());
                for c in &mut table.chains {
                    c.rules.clear();
                }
            }
            open = Some(Open::new(table, line));
            continue;
        }
        if raw == "COMMIT" {
            let Some(o) = open.take() else {
                return Err(e(
                    line,
                    Some(1),
                    "COMMIT without a table: no `*table' line is open".into(),
                ));
            };
            if !newline {
                return Err(e(
                    line,
                    Some(1),
                    "COMMIT must end with a newline: iptables-restore reads only `COMMIT\\n` as a commit (it fails with \"Bad argument `COMMIT'\")".into(),
                ));
            }
            let touched = o.touched;
            let table = o.into_table();
            validate::check_table(&table).map_err(|r| e(r.line, None, r.msg))?;
            rs.nft_absent.retain(|k| *k != table.kind);
            if !touched && !opts.noflush {
                rs.nft_absent.push(table.kind);
            }
            match rs.table_mut(table.kind) {
                Some(t) => *t = table,
                None => rs.tables.push(table),
            }
            continue;
        }
        let Some(o) = open.as_mut() else {
            return Err(e(
                line,
                Some(1),
                "no table specified: a `*table' line must come first".into(),
            ));
        };
        if let Some(rest) = raw.strip_prefix(':') {
            o.touched = true;
            let name = chain_header(o, rest, line, opts).map_err(|(c, m)| e(line, Some(c), m))?;
            announced.insert(name);
            continue;
        }
        // A command line, perhaps with a `[pkts:bytes]` prefix.
        let (counters, body, off) = match raw.strip_prefix('[') {
            Some(after) => {
                let Some(end) = after.find(']') else {
                    return Err(e(line, Some(1), "bad counters: need `]'".into()));
                };
                let Some((p, b)) = after[..end].split_once(':') else {
                    return Err(e(line, Some(1), "bad counters: need `:'".into()));
                };
                // iptables-restore uses them only with `--counters`; it
                // does not check them otherwise, and neither does sluice.
                let c = Counters {
                    packets: p.parse().unwrap_or(0),
                    bytes: b.parse().unwrap_or(0),
                };
                (Some(c), &after[end + 1..], end + 2)
            }
            None => (None, raw, 0),
        };
        let mut words = lex::split(body).map_err(|(col, m)| e(line, Some(off + col), m))?;
        for w in &mut words {
            w.column += off;
        }
        let (cmd, spots) = parse_command_announced(&words, o.table.kind, opts.family, &|n| {
            announced.contains(n)
        })
        .map_err(|a| e(line, Some(a.column), a.msg))?;
        apply(o, cmd, line, counters).map_err(|(at, m)| {
            let col = match at {
                At::Chain => spots.chain,
                At::Second => spots.second,
                At::Target => spots.target,
                At::Line => None,
            };
            e(line, Some(col.unwrap_or(1)), m)
        })?;
    }
    if let Some(o) = open {
        return Err(e(
            last_line.max(1),
            None,
            format!(
                "COMMIT expected: table `{}' opened at line {} is never committed",
                o.table.kind, o.line
            ),
        ));
    }
    Ok(rs)
}

/// `:CHAIN POLICY [pkts:bytes]`, read as iptables-restore reads it: words
/// split on blanks, the counters (and anything after them) used only with
/// `--counters`, so not checked here. `Ok` holds the chain's name, `Err`
/// (column, message).
fn chain_header(
    t: &mut Open,
    rest: &str,
    line: usize,
    opts: RestoreOptions,
) -> Result<String, (usize, String)> {
    let mut words = rest
        .split([' ', '\t'])
        .scan(2usize, |col, w| {
            let at = *col;
            *col += w.len() + 1;
            Some((at, w))
        })
        .filter(|(_, w)| !w.is_empty());
    let Some((_, name)) = words.next() else {
        return Err((
            1,
            "chain name invalid: `:' without a chain name".to_string(),
        ));
    };
    if name.len() > 28 {
        return Err((2, format!("Invalid chain name `{name}' (28 chars max)")));
    }
    let policy = words.next();
    let no_policy = || {
        (
            2,
            format!("chain header `:{name}' without a policy (use `-' for a user chain)"),
        )
    };
    if let Some(c) = t.get_mut(name).filter(|c| c.hook.is_some()) {
        let (col, policy) = policy.ok_or_else(no_policy)?;
        c.line = line;
        c.policy = Some(match policy {
            // `-` leaves the built-in chain's policy as it is.
            "-" => return Ok(name.to_string()),
            "ACCEPT" => Policy::Accept,
            "DROP" => Policy::Drop,
            _ => {
                return Err((
                    col,
                    format!("Can't set policy `{policy}' on `{name}': Bad policy name (a built-in chain's policy is ACCEPT or DROP)"),
                ))
            }
        });
        return Ok(name.to_string());
    }
    if matches!(name, "ACCEPT" | "DROP" | "QUEUE" | "RETURN") {
        return Err((
            2,
            format!("error creating chain `{name}': it is the name of a built-in target"),
        ));
    }
    match t.get_mut(name) {
        Some(c) if opts.noflush => {
            c.rules.clear();
            t.refs = None;
        }
        Some(c) => {
            let first = match c.line {
                0 => String::new(),
                n => format!(" (first at line {n})"),
            };
            return Err((
                2,
                format!("error creating chain `{name}': chain declared twice{first}"),
            ));
        }
        None => t.add(name, line),
    }
    let (col, policy) = policy.ok_or_else(no_policy)?;
    if policy != "-" {
        return Err((
            col,
            format!("Can't set policy `{policy}' on user chain `{name}' (only built-in chains have a policy: use `-')"),
        ));
    }
    Ok(name.to_string())
}

/// Which word of a command an error of [`apply`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The chain the command names.
    Chain,
    /// The word after it (rule number, new name, policy).
    Second,
    /// The chain a rule jumps to.
    Target,
    /// The command as a whole.
    Line,
}

type Applied = Result<(), (At, String)>;

fn chain_mut<'t>(t: &'t mut Open, name: &str) -> Result<&'t mut Chain, (At, String)> {
    let kind = t.table.kind;
    t.get_mut(name).ok_or_else(|| {
        (
            At::Chain,
            format!("chain `{name}' does not exist in table `{kind}'"),
        )
    })
}

fn check_targets(t: &Open, rules: &[Rule]) -> Applied {
    for r in rules {
        if let Target::Chain { name, .. } = &r.target {
            match t.get(name) {
                None => {
                    return Err((
                        At::Target,
                        format!(
                            "jump to chain `{name}' which does not exist in table `{}' (declare it with `:{name} - [0:0]')",
                            t.table.kind
                        ),
                    ))
                }
                Some(c) if c.hook.is_some() => {
                    return Err((At::Target, format!("cannot jump to built-in chain `{name}'")))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Lines of the rules that jump or go to `name`.
fn references(t: &Table, name: &str) -> Vec<usize> {
    t.chains
        .iter()
        .flat_map(|c| &c.rules)
        .filter(|r| matches!(&r.target, Target::Chain { name: n, .. } if n == name))
        .map(|r| r.line)
        .collect()
}

fn lines(l: &[usize]) -> String {
    let l: Vec<String> = l.iter().map(|n| n.to_string()).collect();
    match l.len() {
        1 => format!("the rule at line {}", l[0]),
        _ => format!("the rules at lines {}", l.join(", ")),
    }
}

fn same_rule(a: &Rule, b: &Rule) -> bool {
    let mut a = a.clone();
    a.line = b.line;
    a.counters = b.counters;
    a == *b
}

fn apply(t: &mut Open, cmd: Command, line: usize, counters: Option<Counters>) -> Applied {
    let stamp = |mut rules: Vec<Rule>| {
        for r in &mut rules {
            r.line = line;
            if let Some(c) = counters {
                r.counters = c;
            }
        }
        rules
    };
    // A command naming no chain leaves an iptables-nft table uncreated.
    if !matches!(
        cmd,
        Command::Flush { chain: None }
            | Command::DeleteChain { chain: None }
            | Command::Zero { chain: None, .. }
            | Command::List { chain: None }
            | Command::Ignored
    ) {
        t.touched = true;
    }
    // Every command but these changes rules, so the reference counts.
    if !matches!(
        cmd,
        Command::DeleteChain { .. }
            | Command::Rename { .. }
            | Command::NewChain { .. }
            | Command::Policy { .. }
            | Command::Zero { .. }
            | Command::List { .. }
            | Command::Check { .. }
            | Command::Ignored
    ) {
        t.refs = None;
    }
    match cmd {
        Command::Append { chain, rules } => {
            chain_mut(t, &chain)?;
            check_targets(t, &rules)?;
            chain_mut(t, &chain)?.rules.extend(stamp(rules));
        }
        Command::Insert { chain, pos, rules } => {
            chain_mut(t, &chain)?;
            check_targets(t, &rules)?;
            let c = chain_mut(t, &chain)?;
            if pos > c.rules.len() + 1 {
                return Err((
                    At::Second,
                    format!(
                        "Index of insertion too big: chain `{chain}' has {} rules",
                        c.rules.len()
                    ),
                ));
            }
            let at = pos - 1;
            c.rules.splice(at..at, stamp(rules));
        }
        Command::DeleteNum { chain, num } => {
            let c = chain_mut(t, &chain)?;
            if num > c.rules.len() {
                return Err((
                    At::Second,
                    format!(
                        "Index of deletion too big: chain `{chain}' has {} rules",
                        c.rules.len()
                    ),
                ));
            }
            c.rules.remove(num - 1);
        }
        Command::DeleteRule { chain, rules } => {
            let c = chain_mut(t, &chain)?;
            for r in rules {
                let Some(i) = c.rules.iter().position(|x| same_rule(&r, x)) else {
                    return Err((
                        At::Line,
                        format!("Bad rule (does a matching rule exist in that chain?): no such rule in chain `{chain}' to delete"),
                    ));
                };
                c.rules.remove(i);
            }
        }
        Command::Check { chain, rules } => {
            let c = chain_mut(t, &chain)?;
            if !rules
                .iter()
                .all(|r| c.rules.iter().any(|x| same_rule(r, x)))
            {
                return Err((
                    At::Line,
                    format!("Bad rule (does a matching rule exist in that chain?): -C found no such rule in chain `{chain}'"),
                ));
            }
        }
        Command::Replace { chain, num, rules } => {
            chain_mut(t, &chain)?;
            check_targets(t, &rules)?;
            if rules.len() != 1 {
                return Err((
                    At::Line,
                    "Replacement rule does not specify a unique address".into(),
                ));
            }
            let c = chain_mut(t, &chain)?;
            if num > c.rules.len() {
                return Err((
                    At::Second,
                    format!(
                        "Index of replacement too big: chain `{chain}' has {} rules",
                        c.rules.len()
                    ),
                ));
            }
            c.rules[num - 1] = stamp(rules).remove(0);
        }
        Command::NewChain { chain } => {
            if let Some(c) = t.get(&chain) {
                let at = if c.line > 0 {
                    format!(" (declared at line {})", c.line)
                } else {
                    String::new()
                };
                return Err((At::Chain, format!("Chain `{chain}' already exists{at}")));
            }
            t.add(&chain, line);
        }
        Command::Policy { chain, policy } => {
            let c = chain_mut(t, &chain)?;
            if c.hook.is_none() {
                return Err((
                    At::Chain,
                    format!("Can't set policy on user chain `{chain}' (only built-in chains have a policy)"),
                ));
            }
            c.policy = Some(match policy.as_str() {
                "ACCEPT" => Policy::Accept,
                "DROP" => Policy::Drop,
                _ => {
                    return Err((
                        At::Second,
                        format!(
                        "Bad policy name `{policy}': a built-in chain's policy is ACCEPT or DROP"
                    ),
                    ))
                }
            });
        }
        Command::Flush { chain } => match chain {
            Some(name) => chain_mut(t, &name)?.rules.clear(),
            None => t.table.chains.iter_mut().for_each(|c| c.rules.clear()),
        },
        Command::DeleteChain { chain } => {
            match chain {
                Some(name) => {
                    let c = chain_mut(t, &name)?;
                    if c.hook.is_some() {
                        return Err((At::Chain, format!("cannot delete built-in chain `{name}'")));
                    }
                    if !c.rules.is_empty() {
                        return Err((
                        At::Chain,
                        format!("cannot delete chain `{name}': it is not empty (flush it first with -F)"),
                    ));
                    }
                    if t.referenced(&name) > 0 {
                        // The lines in libiptc's chain order.
                        t.sort();
                        let refs = references(&t.table, &name);
                        return Err((
                            At::Chain,
                            format!(
                                "cannot delete chain `{name}': it is still referenced by {}",
                                lines(&refs)
                            ),
                        ));
                    }
                    t.remove(&name);
                }
                None => {
                    // libiptc deletes each user chain in turn: each must be
                    // empty and unreferenced.
                    t.sort();
                    let t = &mut *t;
                    for c in t.table.user_chains() {
                        if !c.rules.is_empty() {
                            return Err((
                            At::Line,
                            format!("cannot delete chain `{}': it is not empty (flush first with -F)", c.name),
                        ));
                        }
                    }
                    let names: Vec<String> =
                        t.table.user_chains().map(|c| c.name.clone()).collect();
                    for name in names {
                        if t.referenced(&name) == 0 {
                            continue;
                        }
                        let refs = references(&t.table, &name);
                        return Err((
                            At::Line,
                            format!(
                                "cannot delete chain `{name}': it is still referenced by {}",
                                lines(&refs)
                            ),
                        ));
                    }
                    t.table.chains.retain(|c| c.hook.is_some());
                    t.reindex();
                }
            }
        }
        Command::Zero { chain, num } => {
            if let Some(name) = chain {
                let c = chain_mut(t, &name)?;
                if num.is_some_and(|n| n > c.rules.len()) {
                    return Err((
                        At::Second,
                        format!(
                            "Index of zeroing too big: chain `{name}' has {} rules",
                            c.rules.len()
                        ),
                    ));
                }
            }
        }
        Command::List { chain } => {
            if let Some(name) = chain {
                chain_mut(t, &name)?;
            }
        }
        Command::Ignored => {}
        Command::Rename { from, to } => {
            if t.get(&to).is_some() {
                return Err((
                    At::Second,
                    format!("cannot rename to `{to}': Chain `{to}' already exists"),
                ));
            }
            let c = chain_mut(t, &from)?;
            if c.hook.is_some() {
                return Err((At::Chain, format!("cannot rename built-in chain `{from}'")));
            }
            // Renamed in place (a fresh chain with the same line and rules,
            // as libiptc makes it); sorted into place later.
            c.name = to.clone();
            c.counters = Counters::default();
            if let Some(i) = t.idx.remove(&from) {
                t.idx.insert(to.clone(), i);
            }
            let n = t.referenced(&from);
            if n == 0 {
                return Ok(());
            }
            if let Some(refs) = &mut t.refs {
                refs.remove(&from);
                refs.insert(to.clone(), n);
            }
            for r in t.table.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
                if let Target::Chain { name, .. } = &mut r.target {
                    if *name == from {
                        *name = to.clone();
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
