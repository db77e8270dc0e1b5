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
//!
//! Layout: `options` is the table of core options, `parser` walks a line's
//! words, `values` reads the core options' arguments.

mod options;
mod parser;
#[cfg(test)]
mod tests;
mod values;

use super::lex::Word;
use super::model::{Family, Rule, TableKind};

pub use parser::{parse_command_announced, parse_command_at};

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
    /// A line the restore of this family skips: it carries `-6`
    /// (`--ipv6`) in an iptables file or `-4` in an ip6tables one, which
    /// marks a rule for the other family in a file shared by both
    /// (iptables(8): "silently ignored").
    Ignored,
}

/// An error with the 1-based column of the word it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    pub column: usize,
    pub msg: String,
}

pub(super) type Res<T> = Result<T, ArgError>;

pub(super) fn err<T>(w: &Word, msg: impl Into<String>) -> Res<T> {
    Err(ArgError {
        column: w.column,
        msg: msg.into(),
    })
}

/// Refuses a word holding a non-UTF-8 byte: iptables-restore keeps such
/// bytes, but sluice only in the texts of `--comment` and `--log-prefix`
/// (see [`crate::iptables::bytes`]). The column is the byte's, when the
/// word has no quote or escape before it.
pub(super) fn refuse_raw(w: &Word) -> Res<()> {
    match crate::iptables::bytes::first_raw(&w.text) {
        None => Ok(()),
        Some((before, b)) => Err(ArgError {
            column: w.column + before,
            msg: format!(
                "byte 0x{b:02x} is not UTF-8: sluice keeps such bytes only in the texts of --comment and --log-prefix (as iptables-save prints them back); write this word in UTF-8"
            ),
        }),
    }
}

/// Parses the words of one restore command line for `table`.
pub fn parse_command(words: &[Word], table: TableKind, family: Family) -> Res<Command> {
    parse_command_at(words, table, family).map(|(c, _)| c)
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
