//! One restore line's words to a command, as `iptables` parses its command
//! line (getopt_long over the core options merged with the options of every
//! extension loaded so far, in load order; unique abbreviations accepted;
//! `!` before an option inverts it; `-p tcp` loads `-m tcp` implicitly the
//! first time an option only it knows appears).
//!
//! Where iptables 1.8.9 (the installed reference) has quirks that change
//! what a line means, sluice has them too, each noted where it is handled:
//! an argument attached to `-s -d -p -j -i -o` is read as the whole word;
//! a line with `-6` is skipped; `-c` takes `P,B` or `P B`; `-s`/`-d` are
//! read after the other options. Its own refusals are stated in the
//! error (host names are not resolved; unsupported extensions say why).

use super::ext::parse;
use super::ext::{unsupported_match_reason, unsupported_target_reason, Cx, Match, Opt, TargetExt};
use super::lex::Word;
use super::model::{AddrMatch, Counters, IfaceMatch, ProtoMatch, Rule, TableKind, Target};
use super::netdb;

/// A parsed restore command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Append {
        chain: String,
        rules: Vec<Rule>,
    },
    /// `-I CHAIN [N]`: 1-based position.
    Insert {
        chain: String,
        pos: usize,
        rules: Vec<Rule>,
    },
    DeleteNum {
        chain: String,
        num: usize,
    },
    DeleteRule {
        chain: String,
        rules: Vec<Rule>,
    },
    Replace {
        chain: String,
        num: usize,
        rules: Vec<Rule>,
    },
    NewChain {
        chain: String,
    },
    Policy {
        chain: String,
        policy: String,
    },
    Flush {
        chain: Option<String>,
    },
    DeleteChain {
        chain: Option<String>,
    },
    /// `-Z [CHAIN [N]]`.
    Zero {
        chain: Option<String>,
        num: Option<usize>,
    },
    Rename {
        from: String,
        to: String,
    },
    /// `-C CHAIN RULE`: fails unless the rule is in the chain.
    Check {
        chain: String,
        rules: Vec<Rule>,
    },
    /// `-L` / `-S [CHAIN]`: iptables-restore prints, nothing changes (the
    /// chain must exist).
    List {
        chain: Option<String>,
    },
    /// A line iptables-restore skips: it carries `-6` (`--ipv6`), which
    /// marks a rule for ip6tables-restore in a file shared by both
    /// (iptables(8): "silently ignored").
    Ignored,
}

/// An error with the 1-based column of the word it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    pub column: usize,
    pub msg: String,
}

type Res<T> = Result<T, ArgError>;

fn err<T>(w: &Word, msg: impl Into<String>) -> Res<T> {
    Err(ArgError {
        column: w.column,
        msg: msg.into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Core {
    Append,
    Delete,
    Check,
    Insert,
    Replace,
    List,
    ListRules,
    Flush,
    Zero,
    NewChain,
    DeleteChain,
    Rename,
    Policy,
    Source,
    Destination,
    Protocol,
    InIface,
    OutIface,
    Jump,
    Goto,
    Table,
    Match,
    Fragment,
    SetCounters,
    Numeric,
    Verbose,
    Exact,
    LineNumbers,
    Wait,
    WaitInterval,
    Ipv4,
    Ipv6,
    Modprobe,
    Version,
    Help,
}

const CORE_LONG: &[(&str, Core)] = &[
    ("append", Core::Append),
    ("delete", Core::Delete),
    ("check", Core::Check),
    ("insert", Core::Insert),
    ("replace", Core::Replace),
    ("list", Core::List),
    ("list-rules", Core::ListRules),
    ("flush", Core::Flush),
    ("zero", Core::Zero),
    ("new-chain", Core::NewChain),
    ("delete-chain", Core::DeleteChain),
    ("rename-chain", Core::Rename),
    ("policy", Core::Policy),
    ("source", Core::Source),
    ("destination", Core::Destination),
    ("src", Core::Source),
    ("dst", Core::Destination),
    ("protocol", Core::Protocol),
    ("in-interface", Core::InIface),
    ("jump", Core::Jump),
    ("table", Core::Table),
    ("match", Core::Match),
    ("numeric", Core::Numeric),
    ("out-interface", Core::OutIface),
    ("verbose", Core::Verbose),
    ("wait", Core::Wait),
    ("wait-interval", Core::WaitInterval),
    ("exact", Core::Exact),
    ("fragments", Core::Fragment),
    ("version", Core::Version),
    ("help", Core::Help),
    ("line-numbers", Core::LineNumbers),
    ("modprobe", Core::Modprobe),
    ("set-counters", Core::SetCounters),
    ("goto", Core::Goto),
    ("ipv4", Core::Ipv4),
    ("ipv6", Core::Ipv6),
];

fn core_short(c: char) -> Option<Core> {
    Some(match c {
        'A' => Core::Append,
        'C' => Core::Check,
        'D' => Core::Delete,
        'R' => Core::Replace,
        'I' => Core::Insert,
        'L' => Core::List,
        'S' => Core::ListRules,
        'M' => Core::Modprobe,
        'F' => Core::Flush,
        'Z' => Core::Zero,
        'N' => Core::NewChain,
        'X' => Core::DeleteChain,
        'E' => Core::Rename,
        'P' => Core::Policy,
        'V' => Core::Version,
        'h' => Core::Help,
        'o' => Core::OutIface,
        'p' => Core::Protocol,
        's' => Core::Source,
        'd' => Core::Destination,
        'j' => Core::Jump,
        'i' => Core::InIface,
        'f' => Core::Fragment,
        'v' => Core::Verbose,
        'w' => Core::Wait,
        'W' => Core::WaitInterval,
        'n' => Core::Numeric,
        't' => Core::Table,
        'm' => Core::Match,
        'x' => Core::Exact,
        'c' => Core::SetCounters,
        'g' => Core::Goto,
        '4' => Core::Ipv4,
        '6' => Core::Ipv6,
        _ => return None,
    })
}

impl Core {
    /// Words this option takes (commands' optional words handled apart).
    fn takes_arg(self) -> bool {
        matches!(
            self,
            Core::Append
                | Core::Delete
                | Core::Check
                | Core::Insert
                | Core::Replace
                | Core::NewChain
                | Core::Rename
                | Core::Policy
                | Core::Source
                | Core::Destination
                | Core::Protocol
                | Core::InIface
                | Core::OutIface
                | Core::Jump
                | Core::Goto
                | Core::Table
                | Core::Match
                | Core::SetCounters
                | Core::Modprobe
        )
    }

    fn letter(self) -> char {
        match self {
            Core::Append => 'A',
            Core::Delete => 'D',
            Core::Check => 'C',
            Core::Insert => 'I',
            Core::Replace => 'R',
            Core::List => 'L',
            Core::ListRules => 'S',
            Core::Flush => 'F',
            Core::Zero => 'Z',
            Core::NewChain => 'N',
            Core::DeleteChain => 'X',
            Core::Rename => 'E',
            Core::Policy => 'P',
            Core::Source => 's',
            Core::Destination => 'd',
            Core::Protocol => 'p',
            Core::InIface => 'i',
            Core::OutIface => 'o',
            Core::Jump => 'j',
            Core::Goto => 'g',
            Core::Table => 't',
            Core::Match => 'm',
            Core::Fragment => 'f',
            Core::SetCounters => 'c',
            Core::Numeric => 'n',
            Core::Verbose => 'v',
            Core::Exact => 'x',
            Core::LineNumbers => '0',
            Core::Wait => 'w',
            Core::WaitInterval => 'W',
            Core::Ipv4 => '4',
            Core::Ipv6 => '6',
            Core::Modprobe => 'M',
            Core::Version => 'V',
            Core::Help => 'h',
        }
    }

    /// Options whose attached argument iptables 1.8.9 reads as the whole
    /// word (see [`Parser::core`]).
    fn argument_is_whole_word(self) -> bool {
        matches!(
            self,
            Core::Source
                | Core::Destination
                | Core::Protocol
                | Core::Jump
                | Core::InIface
                | Core::OutIface
        )
    }

    fn is_command(self) -> bool {
        matches!(
            self,
            Core::Append
                | Core::Delete
                | Core::Check
                | Core::Insert
                | Core::Replace
                | Core::List
                | Core::ListRules
                | Core::Flush
                | Core::Zero
                | Core::NewChain
                | Core::DeleteChain
                | Core::Rename
                | Core::Policy
        )
    }
}

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
    words: &'w [Word],
    pos: usize,
    rule: Rule,
    srcs: Vec<AddrMatch>,
    dsts: Vec<AddrMatch>,
    /// The words of -s and -d (with their inversion), read at the end.
    addr_words: (Option<Inverted>, Option<Inverted>),
    /// Name given to `-p`, to load its match implicitly.
    proto_name: Option<String>,
    proto_match_loaded: bool,
    target: Option<(Word, TargetExt)>,
    /// How many matches were loaded when the target was.
    target_at: usize,
    jump: Option<(Word, String, bool)>,
    command: Option<(Core, Word)>,
    seen: Vec<Core>,
    /// The word of each option in `seen`.
    seen_at: Vec<Word>,
    /// `-6` was seen: the line is skipped.
    ignored: bool,
}

/// Parses the words of one restore command line for `table`.
pub fn parse_command(words: &[Word], table: TableKind) -> Res<Command> {
    parse_command_at(words, table).map(|(c, _)| c)
}

/// Columns of the words a command's later errors concern (when it is
/// applied to the table), so those errors point at the word too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spots {
    /// The chain the command names.
    pub chain: Option<usize>,
    /// The word after the chain: rule number, new name or policy.
    pub second: Option<usize>,
    /// The chain a rule jumps or goes to.
    pub target: Option<usize>,
}

/// [`parse_command`], with the [`Spots`] of its words.
pub fn parse_command_at(words: &[Word], table: TableKind) -> Res<(Command, Spots)> {
    let mut p = Parser {
        words,
        pos: 0,
        rule: Rule::new(0),
        srcs: Vec::new(),
        dsts: Vec::new(),
        addr_words: (None, None),
        proto_name: None,
        proto_match_loaded: false,
        target: None,
        target_at: 0,
        jump: None,
        command: None,
        seen: Vec::new(),
        seen_at: Vec::new(),
        ignored: false,
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
            let owner = p.resolve(w, name, table)?;
            match owner {
                Owner::Core(c) => {
                    p.core(c, w, inv.is_some(), attached, &mut cmd_args, table)?;
                }
                Owner::Match(idx, opt) => {
                    let args = p.ext_args(w, opt, attached)?;
                    let cx = Cx {
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
                        table,
                        chain: "",
                        proto: p.rule.proto,
                    };
                    let (_, t) = p.target.as_mut().expect("target owner implies a target");
                    t.parse(opt.id, inv.is_some(), &args, &cx)
                        .or_else(|m| err(w, format!("{}: {m}", t.name())))?;
                }
            }
        } else if w.text.len() >= 2 && w.text.starts_with('-') {
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
                if let Some(m) = Match::by_name(&mname) {
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
        if c == Core::Ipv6 {
            self.ignored = true;
            return Ok(());
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
                if let Some(t) = TargetExt::by_name(&arg.text) {
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
                match Match::by_name(&arg.text) {
                    Some(m) => {
                        if self.proto_name.as_deref().map(|p| p.to_ascii_lowercase())
                            == Some(arg.text.clone())
                        {
                            self.proto_match_loaded = true;
                        }
                        if matches!(arg.text.as_str(), "tcp" | "udp" | "icmp") {
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
            Core::Numeric
            | Core::Verbose
            | Core::Exact
            | Core::Ipv4
            | Core::LineNumbers
            | Core::Modprobe => {}
            Core::Ipv6 => unreachable!("-6 ends the parse before"),
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
        if let Some((w, invert)) = self.addr_words.0.take() {
            self.srcs = parse_addresses(&w, invert)?;
        }
        if let Some((w, invert)) = self.addr_words.1.take() {
            self.dsts = parse_addresses(&w, invert)?;
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
                check_chain_name(&w)?;
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
        let srcs = if self.srcs.is_empty() {
            vec![None]
        } else {
            self.srcs.iter().copied().map(Some).collect()
        };
        let dsts = if self.dsts.is_empty() {
            vec![None]
        } else {
            self.dsts.iter().copied().map(Some).collect()
        };
        // `-s 0.0.0.0/0` is no `-s` to the kernel (a zero mask, not
        // inverted): one model for both, so `-D` without it finds the rule.
        let any = |a: &Option<AddrMatch>| a.filter(|a| !a.mask.is_unspecified() || a.invert);
        let mut out = Vec::with_capacity(srcs.len() * dsts.len());
        for s in &srcs {
            for d in &dsts {
                let mut r = self.rule.clone();
                r.src = any(s);
                r.dst = any(d);
                out.push(r);
            }
        }
        Ok(out)
    }
}

/// `sscanf(s, "%llu")`: blanks, an optional sign, then at least one digit;
/// what follows the digits is ignored (a negative number wraps, as in C).
fn scan_u64(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v = t[..digits].parse::<u64>().unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `parse_rulenumber`: 1..=INT_MAX.
fn rule_number(w: &Word) -> Res<usize> {
    match parse::strtoui(&w.text, 1, i32::MAX as u64) {
        Some(n) => Ok(n as usize),
        None => err(w, format!("Invalid rule number `{}'", w.text)),
    }
}

/// The new name of `-E`: libiptc's checks only (no target-name or `-N`
/// checks): at most 31 bytes, not a built-in verdict.
fn check_new_name(w: &Word) -> Res<()> {
    if w.text.len() > 31 {
        return err(
            w,
            format!(
                "chain name `{}' too long (must be under 32 chars for -E)",
                w.text
            ),
        );
    }
    if matches!(w.text.as_str(), "ACCEPT" | "DROP" | "QUEUE" | "RETURN") {
        return err(
            w,
            format!("cannot rename to `{}': it is a built-in target", w.text),
        );
    }
    Ok(())
}

/// Chain names as iptables allows them for `-N`.
fn check_chain_name(w: &Word) -> Res<()> {
    let name = &w.text;
    if name.len() > 28 {
        return err(
            w,
            format!("chain name `{name}' too long (must be under 29 chars)"),
        );
    }
    if name.is_empty() {
        return err(w, "empty chain name");
    }
    if name.starts_with('-') || name.starts_with('!') {
        return err(
            w,
            format!("chain name not allowed to start with `{}'", &name[..1]),
        );
    }
    if TargetExt::by_name(name).is_some()
        || unsupported_target_reason(name).is_some()
        || matches!(name.as_str(), "ACCEPT" | "DROP" | "RETURN" | "QUEUE")
    {
        return err(
            w,
            format!("chain name may not clash with target name `{name}'"),
        );
    }
    if name.chars().any(|c| c.is_whitespace()) {
        return err(w, format!("Invalid chain name `{name}'"));
    }
    Ok(())
}

/// `-p`: iptables lower-cases the word, then reads it as
/// `xtables_parse_protocol` does (a number 0..=255, `all`, or a name from
/// the protocol database).
fn parse_protocol(w: &Word) -> Res<u8> {
    parse::parse_protocol(&w.text.to_ascii_lowercase()).or_else(|m| err(w, m))
}

/// `-s`/`-d`: comma-separated `ADDR[/MASK]` as `xtables_ipparse_multiple`
/// reads them: blanks before an item skipped, the mask after the last `/`
/// (a dotted mask of four parts, or a length 0..=32), the address masked;
/// with a zero mask the address is not even read (`any/0`). Each item is
/// one rule, duplicates included, as the kernel gets them.
fn parse_addresses(w: &Word, invert: bool) -> Res<Vec<AddrMatch>> {
    let mut out = Vec::new();
    for item in w.text.split(',') {
        let item = item.trim_start();
        let (a, m) = match item.rsplit_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (item, None),
        };
        let mask = match m {
            None => u32::MAX,
            Some(m) => match parse::parse_ipv4_mask(m) {
                Some(mask) => u32::from(mask),
                None => match parse::strtoui(m, 0, 32) {
                    Some(0) => 0,
                    Some(n) => u32::MAX << (32 - n),
                    None => return err(w, format!("invalid mask `{m}' specified")),
                },
            },
        };
        let addr = if mask == 0 {
            0
        } else {
            // xtables' own dotted form, then getaddrinfo's numeric one.
            match parse::parse_ipv4(a)
                .or_else(|| parse::inet_aton(a))
                .map(u32::from)
            {
                Some(addr) => addr,
                None => {
                    let hint = if a.starts_with('-') {
                        " (iptables 1.8.9 takes an address written against its option, \
                         like `-s1.2.3.4`, as part of the option word: put a blank after the option)"
                    } else if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                        " (not a valid IPv4 address: four numbers 0-255)"
                    } else {
                        " (sluice takes numeric IPv4 addresses only: it does not resolve host names)"
                    };
                    return err(w, format!("host/network `{a}' not found{hint}"));
                }
            }
        };
        out.push(AddrMatch {
            addr: (addr & mask).into(),
            mask: mask.into(),
            invert,
        });
    }
    Ok(out)
}

/// `-i`/`-o`: an interface name (at most 15 bytes), `+` suffix a wildcard.
/// Like iptables, a name with `/` or a blank is taken (iptables only warns:
/// Linux never names an interface so, and the rule never matches).
fn parse_iface(w: &Word, invert: bool) -> Res<Option<IfaceMatch>> {
    let s = &w.text;
    if s.len() > 15 {
        return err(
            w,
            format!("interface name `{s}' must be shorter than IFNAMSIZ (15)"),
        );
    }
    if s.is_empty() {
        return err(w, "Empty interface is likely to be undesired");
    }
    let (name, wildcard) = match s.strip_suffix('+') {
        Some(n) => (n, true),
        None => (s.as_str(), false),
    };
    if name.is_empty() && !invert {
        // `-i +` matches every interface: iptables stores nothing.
        return Ok(None);
    }
    // `! -i +` is kept: it matches no interface (iptables-save 1.8.9 prints
    // nothing for it, see save.rs, but the kernel rule never matches).
    Ok(Some(IfaceMatch {
        name: name.to_string(),
        wildcard,
        invert,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Word> {
        super::super::lex::split(line).expect("words")
    }

    fn append(line: &str) -> Res<Vec<Rule>> {
        match parse_command(&words(line), TableKind::Filter)? {
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
            let c = parse_command(&words(line), TableKind::Filter).expect(line);
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
        let f = |l: &str| parse_command(&words(l), TableKind::Filter).map(|_| ());
        assert!(f("-A INPUT -n").is_err());
        assert!(f("-D INPUT 1 -j ACCEPT").is_err());
        assert!(f("-D INPUT -c 1 2 -j ACCEPT").is_err());
        assert!(f("-L INPUT -n -v").is_ok());
        assert!(f("-P INPUT DROP -c 1 2").is_ok());
        assert!(f("-F INPUT -s 1.2.3.4").is_err());
    }
}
