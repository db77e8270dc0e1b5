//! The getopt_long walk over one line's words: options resolved against
//! the core table and every extension loaded so far, each applied to the
//! rule being built; at the end the command and its rules.

use super::options::{core_short, Core, CORE_LONG};
use super::values::{
    check_chain_name, check_new_name, parse_addresses, parse_addresses6, parse_iface,
    parse_protocol, rule_number, scan_u64,
};
use super::{err, refuse_raw, ArgError, Command, Res, Spots};
use crate::iptables::ext::parse;
use crate::iptables::ext::{
    family_match_reason, family_target_reason, match_alias, unsupported_match_reason,
    unsupported_target_reason, Cx, Match, Opt, TargetExt,
};
use crate::iptables::lex::Word;
use crate::iptables::model::{
    Addr6Match, AddrMatch, Counters, Family, ProtoMatch, Rule, TableKind, Target,
};
use crate::iptables::netdb;

/// A word with whether `!` preceded its option.
type Inverted = (Word, bool);

/// Which loaded extension owns a long option.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Core(Core),
    Match(usize, &'static Opt),
    Target(&'static Opt),
}

struct Parser<'w> {
    family: Family,
    words: &'w [Word],
    pos: usize,
    rule: Rule,
    srcs: Vec<AddrMatch>,
    dsts: Vec<AddrMatch>,
    srcs6: Vec<Addr6Match>,
    dsts6: Vec<Addr6Match>,
    /// The words of -s and -d (with their inversion), read at the end.
    addr_words: (Option<Inverted>, Option<Inverted>),
    /// Name given to `-p`, to load its match implicitly.
    proto_name: Option<String>,
    proto_match_loaded: bool,
    target: Option<(Word, TargetExt)>,
    /// How many matches were loaded when the target was.
    target_at: usize,
    jump: Option<(Word, String, bool)>,
    /// Chain names the restore file declared so far (`:NAME` lines, in
    /// any table): `-j NAME` / `-g NAME` is a jump to the chain even when
    /// a target has the name (libxtables' `xtables_announce_chain`, whose
    /// list `xtables_find_target` checks before any target).
    announced: &'w dyn Fn(&str) -> bool,
    command: Option<(Core, Word)>,
    seen: Vec<Core>,
    /// The word of each option in `seen`.
    seen_at: Vec<Word>,
    /// The other family's flag (`-6` for iptables, `-4` for ip6tables)
    /// was seen: the line is skipped.
    ignored: bool,
    /// The words [`Parser::next_word`] takes may hold raw bytes (the
    /// argument of `--comment` or `--log-prefix`).
    raw_ok: bool,
}

/// [`parse_command`], with the [`Spots`] of its words.
/// The options whose argument may hold non-UTF-8 bytes.
const RAW_OK: &[&str] = &["comment", "log-prefix"];

pub fn parse_command_at(words: &[Word], table: TableKind, family: Family) -> Res<(Command, Spots)> {
    parse_command_announced(words, table, family, &|_| false)
}

/// [`parse_command_at`] in a restore file that has declared the chains
/// `announced` says it has (see [`Parser::announced`]).
pub fn parse_command_announced(
    words: &[Word],
    table: TableKind,
    family: Family,
    announced: &dyn Fn(&str) -> bool,
) -> Res<(Command, Spots)> {
    let mut p = Parser {
        family,
        words,
        pos: 0,
        rule: Rule::new(0),
        srcs: Vec::new(),
        dsts: Vec::new(),
        srcs6: Vec::new(),
        dsts6: Vec::new(),
        addr_words: (None, None),
        proto_name: None,
        proto_match_loaded: false,
        target: None,
        target_at: 0,
        jump: None,
        announced,
        command: None,
        seen: Vec::new(),
        seen_at: Vec::new(),
        ignored: false,
        raw_ok: false,
    };
    let mut cmd_args: Vec<Word> = Vec::new();
    let mut invert: Option<Word> = None;

    while p.pos < words.len() {
        if p.ignored {
            return Ok((Command::Ignored, Spots::default()));
        }
        let w = &words[p.pos];
        p.pos += 1;
        if w.text == "!" {
            if invert.is_some() {
                return err(w, "multiple consecutive ! not allowed");
            }
            invert = Some(w.clone());
            continue;
        }
        let inv = invert.take();
        if let Some(long) = w.text.strip_prefix("--").filter(|s| !s.is_empty()) {
            let (name, attached) = match long.split_once('=') {
                Some((n, a)) => (n, Some(a.to_string())),
                None => (long, None),
            };
            if crate::iptables::bytes::has_raw(name) {
                refuse_raw(w)?;
            }
            let owner = p.resolve(w, name, table)?;
            let raw_ok = match owner {
                Owner::Match(_, opt) | Owner::Target(opt) => RAW_OK.contains(&opt.name),
                Owner::Core(_) => false,
            };
            if !raw_ok {
                refuse_raw(w)?;
            }
            p.raw_ok = raw_ok;
            match owner {
                Owner::Core(c) => {
                    p.core(c, w, inv.is_some(), attached, &mut cmd_args, table)?;
                }
                Owner::Match(idx, opt) => {
                    let args = p.ext_args(w, opt, attached)?;
                    let cx = Cx {
                        family,
                        table,
                        chain: "",
                        proto: p.rule.proto,
                    };
                    p.rule.matches[idx]
                        .parse(opt.id, inv.is_some(), &args, &cx)
                        .or_else(|m| err(w, format!("{}: {m}", p.rule.matches[idx].name())))?;
                }
                Owner::Target(opt) => {
                    let args = p.ext_args(w, opt, attached)?;
                    let cx = Cx {
                        family,
                        table,
                        chain: "",
                        proto: p.rule.proto,
                    };
                    let (_, t) = p.target.as_mut().expect("target owner implies a target");
                    t.parse(opt.id, inv.is_some(), &args, &cx)
                        .or_else(|m| err(w, format!("{}: {m}", t.name())))?;
                }
            }
            p.raw_ok = false;
        } else if w.text.len() >= 2 && w.text.starts_with('-') {
            refuse_raw(w)?;
            let mut chars = w.text[1..].chars();
            let c = chars.next().unwrap_or('-');
            let rest: String = chars.collect();
            let Some(core) = core_short(c) else {
                return err(w, format!("unknown option \"{}\"", w.text));
            };
            let attached = if rest.is_empty() {
                None
            } else if core.takes_arg() {
                Some(rest)
            } else {
                return err(w, format!("unknown option \"{}\"", w.text));
            };
            p.core(core, w, inv.is_some(), attached, &mut cmd_args, table)?;
        } else {
            refuse_raw(w)?;
            return err(w, format!("Bad argument `{}'", w.text));
        }
    }
    if p.ignored {
        return Ok((Command::Ignored, Spots::default()));
    }
    if let Some(w) = invert {
        return err(&w, "`!' at the end of the line inverts nothing");
    }
    p.finish(cmd_args, table)
}

impl<'w> Parser<'w> {
    fn next_word(&mut self, opt: &Word, name: &str) -> Res<Word> {
        match self.words.get(self.pos) {
            Some(w) => {
                self.pos += 1;
                if !self.raw_ok {
                    refuse_raw(w)?;
                }
                Ok(w.clone())
            }
            None => err(opt, format!("option \"{name}\" requires an argument")),
        }
    }

    /// The optional word after a command (`-F [CHAIN]`, `-I CHAIN [N]`):
    /// taken when it does not start with `-` or `!`.
    fn optional_word(&mut self) -> Option<Word> {
        let w = self.words.get(self.pos)?;
        if w.text.starts_with('-') || w.text.starts_with('!') {
            return None;
        }
        self.pos += 1;
        Some(w.clone())
    }

    fn ext_args(&mut self, w: &Word, opt: &Opt, attached: Option<String>) -> Res<Vec<String>> {
        let mut args = Vec::with_capacity(opt.args as usize);
        if opt.args == 0 {
            if attached.is_some() {
                return err(
                    w,
                    format!("option \"--{}\" doesn't allow an argument", opt.name),
                );
            }
            return Ok(args);
        }
        match attached {
            Some(a) => args.push(a),
            None => args.push(self.next_word(w, &format!("--{}", opt.name))?.text),
        }
        while args.len() < opt.args as usize {
            args.push(self.next_word(w, &format!("--{}", opt.name))?.text);
        }
        Ok(args)
    }

    fn candidates(&self, name: &str, exact: bool) -> Vec<(Owner, &'static str)> {
        let hit = |n: &str| {
            if exact {
                n == name
            } else {
                n.starts_with(name)
            }
        };
        let mut out = Vec::new();
        for (n, c) in CORE_LONG {
            if hit(n) {
                out.push((Owner::Core(*c), *n));
            }
        }
        // libxtables merges each newly loaded extension's options ahead of
        // the older ones (after the core options): the newest owner wins.
        let n = self.rule.matches.len();
        for k in (0..=n).rev() {
            if k == self.target_at {
                if let Some((_, t)) = &self.target {
                    for o in t.options() {
                        if hit(o.name) {
                            out.push((Owner::Target(o), o.id));
                        }
                    }
                }
            }
            if k > 0 {
                for o in self.rule.matches[k - 1].options() {
                    if hit(o.name) {
                        out.push((Owner::Match(k - 1, o), o.id));
                    }
                }
            }
        }
        out
    }

    fn lookup(&self, name: &str) -> Option<Result<Owner, String>> {
        if let Some((o, _)) = self.candidates(name, true).into_iter().next() {
            return Some(Ok(o));
        }
        let c = self.candidates(name, false);
        let first = c.first()?;
        let same = c.iter().all(|(o, id)| {
            *id == first.1
                && match (o, &first.0) {
                    (Owner::Core(a), Owner::Core(b)) => a == b,
                    (Owner::Match(a, _), Owner::Match(b, _)) => a == b,
                    (Owner::Target(_), Owner::Target(_)) => true,
                    _ => false,
                }
        });
        if same {
            Some(Ok(first.0))
        } else {
            Some(Err(format!("option \"--{name}\" is ambiguous")))
        }
    }

    fn resolve(&mut self, w: &Word, name: &str, table: TableKind) -> Res<Owner> {
        match self.lookup(name) {
            Some(Ok(o)) => return Ok(o),
            Some(Err(m)) => return err(w, m),
            None => {}
        }
        // Not known: load the protocol's match implicitly, once.
        if !self.proto_match_loaded {
            if let Some(pname) = self.proto_name.clone() {
                let mname = match pname.parse::<u8>() {
                    Ok(n) => netdb::proto_by_number(n).unwrap_or("").to_string(),
                    Err(_) => pname.to_ascii_lowercase(),
                };
                if let Some(m) = Match::by_name_in(&mname, self.family) {
                    self.rule.matches.push(m);
                    self.proto_match_loaded = true;
                    let _ = table;
                    if let Some(Ok(o)) = self.lookup(name) {
                        return Ok(o);
                    }
                }
            }
        }
        err(w, format!("unknown option \"--{name}\""))
    }

    fn core(
        &mut self,
        c: Core,
        w: &Word,
        invert: bool,
        attached: Option<String>,
        cmd_args: &mut Vec<Word>,
        table: TableKind,
    ) -> Res<()> {
        let other = match self.family {
            Family::Ipv4 => Core::Ipv6,
            Family::Ipv6 => Core::Ipv4,
        };
        if c == other {
            self.ignored = true;
            return Ok(());
        }
        if c == Core::Fragment && self.family == Family::Ipv6 {
            return err(w, "`-f' is not supported in IPv6, use -m frag instead");
        }
        let invertible = matches!(
            c,
            Core::Source
                | Core::Destination
                | Core::Protocol
                | Core::InIface
                | Core::OutIface
                | Core::Fragment
        );
        if invert && !invertible {
            return err(w, format!("cannot have ! before -{}", c.letter()));
        }
        let arg = if c.takes_arg() {
            Some(match attached {
                // iptables 1.8.9 takes the argument of these options as
                // argv[optind - 1]: the next word when it is separate, but
                // the WHOLE word when attached (`-s1.2.3.4` is the address
                // `-s1.2.3.4`, `-ieth0` the interface `-ieth0`). Fixed
                // upstream in 1.8.10; sluice follows the installed 1.8.9.
                Some(_) if c.argument_is_whole_word() => w.clone(),
                Some(a) => Word {
                    text: a,
                    column: w.column,
                },
                None => self.next_word(w, &w.text)?,
            })
        } else {
            None
        };
        if c.is_command() {
            if let Some((prev, _)) = self.command {
                return err(
                    w,
                    format!("Can't use -{} with -{}", c.letter(), prev.letter()),
                );
            }
            self.command = Some((c, w.clone()));
            if let Some(a) = arg {
                cmd_args.push(a);
            }
            match c {
                Core::Insert
                | Core::Delete
                | Core::Replace
                | Core::Zero
                | Core::Flush
                | Core::DeleteChain
                | Core::List
                | Core::ListRules => {
                    if let Some(x) = self.optional_word() {
                        cmd_args.push(x);
                    }
                    if matches!(c, Core::Zero | Core::List | Core::ListRules) {
                        if let Some(x) = self.optional_word() {
                            cmd_args.push(x);
                        }
                    }
                }
                Core::Policy | Core::Rename => {
                    let x = self.next_word(w, &w.text)?;
                    cmd_args.push(x);
                }
                _ => {}
            }
            return Ok(());
        }
        let once = matches!(
            c,
            Core::Source
                | Core::Destination
                | Core::Protocol
                | Core::InIface
                | Core::OutIface
                | Core::Fragment
                | Core::Jump
                | Core::Goto
                | Core::SetCounters
        );
        let key = if c == Core::Goto { Core::Jump } else { c };
        if once && self.seen.contains(&key) {
            return err(w, format!("multiple -{} flags not allowed", c.letter()));
        }
        self.seen.push(key);
        self.seen_at.push(w.clone());
        let arg = arg.unwrap_or_else(|| w.clone());
        match c {
            // Read once the whole line is (iptables' post_parse): a line
            // that turns out to be for ip6tables (`-6`) is skipped first.
            Core::Source => self.addr_words.0 = Some((arg, invert)),
            Core::Destination => self.addr_words.1 = Some((arg, invert)),
            Core::Protocol => {
                let proto = parse_protocol(&arg)?;
                self.proto_name = Some(arg.text.clone());
                self.rule.proto = (proto != 0).then_some(ProtoMatch { proto, invert });
                if proto == 0 && invert {
                    return err(&arg, "rule would never match protocol");
                }
            }
            Core::InIface | Core::OutIface => {
                let m = parse_iface(&arg, invert)?;
                if c == Core::InIface {
                    self.rule.in_iface = m;
                } else {
                    self.rule.out_iface = m;
                }
            }
            Core::Fragment => self.rule.fragment = Some(invert),
            Core::Jump | Core::Goto => {
                if arg.text.is_empty() {
                    return err(&arg, "empty target name");
                }
                let goto = c == Core::Goto;
                if (self.announced)(&arg.text) {
                    self.jump = Some((arg.clone(), arg.text.clone(), goto));
                    return Ok(());
                }
                if let Some(why) = family_target_reason(&arg.text, self.family) {
                    return err(
                        &arg,
                        format!(
                            "target \"{}\" is not supported in {} rulesets: {why}",
                            arg.text,
                            self.family.command()
                        ),
                    );
                }
                if let Some(t) = TargetExt::by_name_in(&arg.text, self.family) {
                    if goto {
                        return err(&arg, format!("goto '{}' is not a chain", arg.text));
                    }
                    self.target = Some((arg.clone(), t));
                    self.target_at = self.rule.matches.len();
                } else if let Some(why) = unsupported_target_reason(&arg.text) {
                    return err(
                        &arg,
                        format!("target \"{}\" is not supported by sluice: {why}", arg.text),
                    );
                } else {
                    if goto && matches!(arg.text.as_str(), "ACCEPT" | "DROP" | "RETURN") {
                        return err(&arg, format!("goto '{}' is not a chain", arg.text));
                    }
                    self.jump = Some((arg.clone(), arg.text.clone(), goto));
                }
            }
            Core::Match => {
                if invert {
                    return err(w, "unexpected ! flag before --match");
                }
                if let Some(why) = family_match_reason(match_alias(&arg.text), self.family) {
                    return err(
                        &arg,
                        format!(
                            "match \"{}\" is not supported in {} rulesets: {why}",
                            arg.text,
                            self.family.command()
                        ),
                    );
                }
                match Match::by_name_in(&arg.text, self.family) {
                    Some(m) => {
                        let loaded = self
                            .proto_name
                            .as_deref()
                            .map(|p| match_alias(&p.to_ascii_lowercase()).to_string());
                        if loaded.as_deref() == Some(m.name()) {
                            self.proto_match_loaded = true;
                        }
                        if matches!(m.name(), "tcp" | "udp" | "icmp" | "icmp6") {
                            self.proto_match_loaded = true;
                        }
                        self.rule.matches.push(m);
                    }
                    None => match unsupported_match_reason(&arg.text) {
                        Some(why) => {
                            return err(
                                &arg,
                                format!("match \"{}\" is not supported by sluice: {why}", arg.text),
                            )
                        }
                        None => {
                            return err(
                                &arg,
                                format!("Couldn't load match `{}': unknown match", arg.text),
                            )
                        }
                    },
                }
            }
            Core::SetCounters => {
                // `-c PKTS,BYTES` or `-c PKTS BYTES`, each read with
                // sscanf("%llu") (leading digits; the rest is ignored).
                let bytes = match arg.text.get(1..).and_then(|r| r.find(',')) {
                    Some(i) => Word {
                        text: arg.text[i + 2..].to_string(),
                        column: arg.column + i + 2,
                    },
                    None => match self.optional_word() {
                        Some(b) => b,
                        None => return err(w, "-c requires packet and byte counter"),
                    },
                };
                let packets = scan_u64(&arg.text).ok_or_else(|| ArgError {
                    column: arg.column,
                    msg: "-c packet counter not numeric".into(),
                })?;
                let bytes = scan_u64(&bytes.text).ok_or_else(|| ArgError {
                    column: bytes.column,
                    msg: "-c byte counter not numeric".into(),
                })?;
                self.rule.counters = Counters { packets, bytes };
            }
            Core::Table => {
                return err(
                    w,
                    "The -t option cannot be used in an iptables-restore file",
                )
            }
            Core::Wait | Core::WaitInterval => {
                return err(
                    w,
                    format!("You cannot use `-{}' from iptables-restore", c.letter()),
                )
            }
            // `-4`/`-6`: the other family's flag ended the parse before;
            // the restore's own family flag changes nothing.
            Core::Numeric
            | Core::Verbose
            | Core::Exact
            | Core::Ipv4
            | Core::Ipv6
            | Core::LineNumbers
            | Core::Modprobe => {}
            Core::Version | Core::Help => {
                return err(w, format!("-{} is not valid in a restore file", c.letter()))
            }
            _ => unreachable!("commands handled above"),
        }
        let _ = table;
        Ok(())
    }

    fn finish(self, args: Vec<Word>, table: TableKind) -> Res<(Command, Spots)> {
        let spots = Spots {
            chain: args.first().map(|w| w.column),
            second: args.get(1).map(|w| w.column),
            target: self.jump.as_ref().map(|(w, _, _)| w.column),
        };
        self.finish_command(args, table).map(|c| (c, spots))
    }

    fn finish_command(mut self, mut args: Vec<Word>, table: TableKind) -> Res<Command> {
        let Some((cmd, cw)) = self.command.clone() else {
            let at = self.words.first().cloned().unwrap_or(Word {
                text: String::new(),
                column: 1,
            });
            return err(&at, "no command specified");
        };
        let v6 = self.family == Family::Ipv6;
        if let Some((w, invert)) = self.addr_words.0.take() {
            if v6 {
                self.srcs6 = parse_addresses6(&w, invert)?;
            } else {
                self.srcs = parse_addresses(&w, invert)?;
            }
        }
        if let Some((w, invert)) = self.addr_words.1.take() {
            if v6 {
                self.dsts6 = parse_addresses6(&w, invert)?;
            } else {
                self.dsts = parse_addresses(&w, invert)?;
            }
        }
        let rule_cmd = matches!(
            cmd,
            Core::Append | Core::Insert | Core::Delete | Core::Replace | Core::Check
        );
        // `-D CHAIN N` is another command for iptables (CMD_DELETE_NUM).
        let delete_num = cmd == Core::Delete && args.len() > 1;
        if let Some(i) = self.illegal_option(cmd, delete_num) {
            let c = self.seen[i];
            let letter = if c == Core::Goto { 'j' } else { c.letter() };
            return err(
                &self.seen_at[i],
                format!("Illegal option `-{letter}' with this command"),
            );
        }
        // do_parse's own checks, in its order.
        if table == TableKind::Nat {
            let drop = match cmd {
                Core::Policy => args.get(1).filter(|w| w.text == "DROP"),
                _ => self
                    .jump
                    .as_ref()
                    .map(|(w, _, _)| w)
                    .filter(|w| w.text == "DROP"),
            };
            if let Some(w) = drop {
                return err(
                    w,
                    "The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.",
                );
            }
        }
        if rule_cmd {
            if let Some(chain) = args.first() {
                let dir = match chain.text.as_str() {
                    // -o is not valid with incoming packets, -i not with outgoing.
                    "PREROUTING" | "INPUT" => Some(Core::OutIface),
                    "POSTROUTING" | "OUTPUT" => Some(Core::InIface),
                    _ => None,
                };
                if let Some(c) = dir.filter(|c| self.seen.contains(c)) {
                    return err(
                        chain,
                        format!("Can't use -{} with {}", c.letter(), chain.text),
                    );
                }
            }
        }
        let chain_word = args.first().cloned();
        let chain = |w: &Option<Word>| -> Res<String> {
            match w {
                Some(w) => Ok(w.text.clone()),
                None => err(&cw, format!("-{} needs a chain", cmd.letter())),
            }
        };
        match cmd {
            Core::NewChain => {
                let name = chain(&chain_word)?;
                let w = chain_word.expect("checked");
                check_chain_name(&w, self.family)?;
                Ok(Command::NewChain { chain: name })
            }
            Core::Policy => Ok(Command::Policy {
                chain: chain(&chain_word)?,
                policy: args.get(1).map(|w| w.text.clone()).unwrap_or_default(),
            }),
            Core::Flush => Ok(Command::Flush {
                chain: chain_word.map(|w| w.text),
            }),
            Core::DeleteChain => Ok(Command::DeleteChain {
                chain: chain_word.map(|w| w.text),
            }),
            Core::Zero => Ok(Command::Zero {
                chain: chain_word.map(|w| w.text),
                num: args.get(1).map(rule_number).transpose()?,
            }),
            Core::Rename => {
                let from = chain(&chain_word)?;
                let to = args.get(1).expect("rename takes two words");
                check_new_name(to)?;
                Ok(Command::Rename {
                    from,
                    to: to.text.clone(),
                })
            }
            // Listing prints in iptables-restore and changes nothing.
            Core::List | Core::ListRules => {
                args.get(1).map(rule_number).transpose()?;
                Ok(Command::List {
                    chain: chain_word.map(|w| w.text),
                })
            }
            Core::Append | Core::Insert | Core::Delete | Core::Replace | Core::Check => {
                let name = chain(&chain_word)?;
                let num = match args.get(1) {
                    Some(w) => {
                        Some(parse::strtoui(&w.text, 1, i32::MAX as u64).ok_or_else(|| {
                            ArgError {
                                column: w.column,
                                msg: format!("Invalid rule number `{}'", w.text),
                            }
                        })? as usize)
                    }
                    None => None,
                };
                args.truncate(2);
                if cmd == Core::Delete && num.is_some() {
                    return Ok(Command::DeleteNum {
                        chain: name,
                        num: num.unwrap_or(1),
                    });
                }
                if cmd == Core::Replace && num.is_none() {
                    return err(&cw, "-R needs a rule number");
                }
                let rules = self.build_rules(&cw, table, &name)?;
                Ok(match cmd {
                    Core::Append => Command::Append { chain: name, rules },
                    Core::Insert => Command::Insert {
                        chain: name,
                        pos: num.unwrap_or(1),
                        rules,
                    },
                    Core::Delete => Command::DeleteRule { chain: name, rules },
                    Core::Check => Command::Check { chain: name, rules },
                    _ => Command::Replace {
                        chain: name,
                        num: num.unwrap_or(1),
                        rules,
                    },
                })
            }
            _ => unreachable!("only commands are recorded"),
        }
    }

    /// The first option given that iptables' `generic_opt_check` refuses
    /// with this command (its commands_v_options table): listing options
    /// only with -L, rule options only with the rule commands, counters
    /// also with -P, nothing but -v with the other chain commands.
    fn illegal_option(&self, cmd: Core, delete_num: bool) -> Option<usize> {
        use Core::*;
        let rule_opt = |c: Core| {
            matches!(
                c,
                Source | Destination | Protocol | Jump | Goto | InIface | OutIface | Fragment
            )
        };
        let listing_opt = |c: Core| matches!(c, Numeric | Exact | LineNumbers);
        self.seen.iter().position(|&c| match cmd {
            _ if c == Verbose => false,
            Append | Insert | Replace => listing_opt(c),
            Delete if delete_num => rule_opt(c) || listing_opt(c) || c == SetCounters,
            Delete | Check => listing_opt(c) || c == SetCounters,
            List => rule_opt(c) || c == SetCounters,
            Policy => rule_opt(c) || listing_opt(c),
            _ => rule_opt(c) || listing_opt(c) || c == SetCounters,
        })
    }

    fn build_rules(&mut self, cw: &Word, table: TableKind, chain: &str) -> Res<Vec<Rule>> {
        let cx = Cx {
            family: self.family,
            table,
            chain,
            proto: self.rule.proto,
        };
        self.rule.target = match (self.target.take(), self.jump.take()) {
            (Some((w, mut t)), _) => {
                t.finish(&self.rule, &cx)
                    .or_else(|m| err(&w, format!("{}: {m}", t.name())))?;
                Target::Ext(t)
            }
            (None, Some((_, name, goto))) => match name.as_str() {
                "ACCEPT" => Target::Accept,
                "DROP" => Target::Drop,
                "RETURN" => Target::Return,
                _ => Target::Chain { name, goto },
            },
            (None, None) => Target::None,
        };
        let snapshot = self.rule.clone();
        for m in self.rule.matches.iter_mut() {
            m.finish(&snapshot, &cx)
                .or_else(|e| err(cw, format!("{}: {e}", m.name())))?;
        }
        // `-s 0.0.0.0/0` is no `-s` to the kernel (a zero mask, not
        // inverted): one model for both, so `-D` without it finds the rule.
        // Each address of a list is a rule of its own: sources outer.
        let mut out = Vec::new();
        if self.family == Family::Ipv6 {
            for s in options(&self.srcs6) {
                for d in options(&self.dsts6) {
                    let mut r = self.rule.clone();
                    r.src6 = s.filter(|a| !a.is_any());
                    r.dst6 = d.filter(|a| !a.is_any());
                    out.push(r);
                }
            }
        } else {
            for s in options(&self.srcs) {
                for d in options(&self.dsts) {
                    let mut r = self.rule.clone();
                    r.src = s.filter(|a| !a.is_any());
                    r.dst = d.filter(|a| !a.is_any());
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

/// The addresses of a `-s`/`-d` list, each as one rule's; `[None]` when
/// the option was not given.
fn options<T: Copy>(list: &[T]) -> Vec<Option<T>> {
    if list.is_empty() {
        vec![None]
    } else {
        list.iter().copied().map(Some).collect()
    }
}
