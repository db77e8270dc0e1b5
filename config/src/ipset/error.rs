//! Why a line of a sets file is refused: one variant per check of `lex`,
//! `parse` and `expand`, the `#[error]` text its message (ipset's own words
//! where ipset has them). The location (file, line, column of the word at
//! fault) is the caller's [`crate::Location`].

use super::model::{Family, SetKind, MAX_COMMENT_LEN, MAX_EXPANSION, MAX_SETNAME_LEN};

/// An error in a sets file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetsError {
    /// A `"` with no closing one on the line.
    #[error("unterminated quote")]
    UnterminatedQuote,
    /// A command other than `create` and `add`.
    #[error(
        "unsupported command `{command}`: a sets file holds `create` and `add` lines, \
         as `ipset save` writes them"
    )]
    UnsupportedCommand { command: String },
    #[error("`create` needs a set name and a type")]
    CreateArgs,
    /// `ipset restore` without `-exist`: "Set cannot be created: set with
    /// the same name already exists".
    #[error("set `{name}` is already created at line {first}")]
    DuplicateSet { name: String, first: usize },
    /// An ipset type sluice does not read.
    #[error(
        "set type `{kind}` is not supported by sluice (supported: hash:ip, hash:net, \
         hash:ip,port, hash:net,port, bitmap:port)"
    )]
    UnsupportedType { kind: String },
    #[error("unknown set type `{kind}`")]
    UnknownType { kind: String },
    /// An ipset option sluice does not read (`skbinfo`, `-exist`, ...).
    #[error("option `{option}` is not supported by sluice")]
    UnsupportedOption { option: String },
    #[error("unknown option `{option}` for set type {kind}")]
    UnknownOption { option: String, kind: SetKind },
    #[error("`{option}` is given twice")]
    Twice { option: String },
    #[error("`{option}` needs a value")]
    NeedsValue { option: String },
    #[error("unknown family `{family}`: expected inet or inet6")]
    UnknownFamily { family: String },
    /// `hashsize` past the largest power of two of `u32`.
    #[error("hashsize {hashsize} is too large")]
    Hashsize { hashsize: u32 },
    /// A `bitmap:port` `range` that is not `FROM-TO`.
    #[error("range `{text}` must be FROM-TO")]
    RangeForm { text: String },
    #[error(
        "netmask {netmask} is out of range 1-{} for family {}",
        family.max_prefix(),
        family.name()
    )]
    Netmask { netmask: u8, family: Family },
    #[error("bitmap:port needs `range FROM-TO`")]
    BitmapNeedsRange,
    #[error("`add` needs a set name and an element")]
    AddArgs,
    /// `add` before the set's `create`.
    #[error("set `{name}` does not exist (no `create` line for it before this one)")]
    NoSuchSet { name: String },
    /// `nomatch` in a set type without it (only `hash:net*` have it).
    #[error("`nomatch` is not valid for set type {kind}")]
    Nomatch { kind: SetKind },
    #[error("unknown element option `{option}` for set type {kind}")]
    UnknownElementOption { option: String, kind: SetKind },
    /// A per-element `timeout`, `packets`/`bytes` or `comment` in a set
    /// created without that extension.
    #[error("`{option}` cannot be used: set `{set}` was created without `{feature}`")]
    ExtensionOff {
        option: String,
        set: String,
        feature: &'static str,
    },
    #[error("comment is longer than {MAX_COMMENT_LEN} characters")]
    CommentTooLong,
    /// `ipset restore` without `-exist`: "Element cannot be added to the
    /// set: it's already added".
    #[error("element {element} is already in set `{set}` (added at line {first})")]
    DuplicateElement {
        element: String,
        set: String,
        first: usize,
    },
    /// More than `maxelem` elements in a set without `forceadd`.
    #[error("set `{set}` is full: it holds maxelem {maxelem} elements")]
    Full { set: String, maxelem: usize },
    #[error("empty set name")]
    EmptySetName,
    #[error("set name `{name}` is longer than {MAX_SETNAME_LEN} characters")]
    SetNameTooLong { name: String },
    /// The addresses times the ports of one `add` past [`MAX_EXPANSION`].
    #[error(
        "element expands to {count} entries, more than the {MAX_EXPANSION} sluice allows \
         on one line"
    )]
    Product { count: u64 },
    /// One address range or network of an `add` past its cap.
    #[error("`{text}` expands to {count} entries, more than the {cap} sluice allows on one line")]
    Expansion { text: String, count: u64, cap: u64 },
    /// ipset's "'%s' is invalid as number".
    #[error("`{text}` is invalid as number")]
    Number { text: String },
    /// ipset's "'%s' is out of range %llu-%llu".
    #[error("`{text}` is out of range 0-{max}")]
    NumberRange { text: String, max: u64 },
    #[error("`{text}` has two `,` but set type {kind} takes one")]
    TwoCommas { text: String, kind: SetKind },
    #[error("`{text}` is not an element of {kind}: expected ADDRESS,[PROTO:]PORT")]
    NotAPair { text: String, kind: SetKind },
    #[error("cannot parse `{text}` as an {} address", family.ip_name())]
    Address { text: String, family: Family },
    /// The kernel refuses `/0` in every type sluice reads.
    #[error("CIDR /{text} is invalid: 0 matches everything")]
    CidrZero { text: String },
    #[error("invalid CIDR `{text}`")]
    Cidr { text: String },
    /// A range or network in an IPv6 `hash:ip`.
    #[error("`{text}`: an IPv6 element takes a plain address (no range or network)")]
    Ipv6NotPlain { text: String },
    /// A range in an IPv6 `hash:net`.
    #[error("`{text}`: IPv6 takes ADDRESS or ADDRESS/CIDR, no ranges")]
    Ipv6Range { text: String },
    /// ICMP in an IPv6 set, or ICMPv6 in an IPv4 one.
    #[error("protocol {label} can be used with family {} only", family.name())]
    IcmpFamily { label: &'static str, family: Family },
    #[error("cannot parse `{text}` as an {label} type/code: expected TYPE/CODE or a name")]
    IcmpType { text: String, label: &'static str },
    /// A protocol without ports needs the pseudo port 0.
    #[error("protocol {proto} can be used with pseudo port value 0 only")]
    PseudoPort { proto: u8 },
    #[error("cannot parse `{text}` as a protocol")]
    Protocol { text: String },
    /// Protocol 0.
    #[error("invalid protocol `{text}`")]
    ProtocolZero { text: String },
    #[error("cannot parse `{text}` as a port")]
    Port { text: String },
    /// `bitmap:port` takes `tcp:` and `udp:` only.
    #[error("only protocols TCP and UDP are valid")]
    BitmapProtocol,
    #[error("`{text}` is out of the range {}-{} of the set", range.0, range.1)]
    OutOfSetRange { text: String, range: (u16, u16) },
}
