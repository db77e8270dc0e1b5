//! The core options of `iptables` (those no extension owns): their long
//! and short names, which take an argument and which are commands.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Core {
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

pub(super) const CORE_LONG: &[(&str, Core)] = &[
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

pub(super) fn core_short(c: char) -> Option<Core> {
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
    pub(super) fn takes_arg(self) -> bool {
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

    pub(super) fn letter(self) -> char {
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
    pub(super) fn argument_is_whole_word(self) -> bool {
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

    pub(super) fn is_command(self) -> bool {
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
