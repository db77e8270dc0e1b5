//! The C library's unsigned number reader, shared by every reader of the
//! files iptables, ipset and `ip rule` take: glibc `strtoumax(s, &end,
//! base)` (C11 7.22.1.4 and 7.8.2.3; `strtoul`/`strtoull` read the same
//! way on LP64). Base 0 picks the radix from the prefix: `0x`/`0X` hex, a
//! leading `0` octal, else decimal.
//!
//! Each caller keeps its own bounds and messages: libxtables takes blanks
//! and `+`, refuses `-` and overflow ([`crate::iptables::ext::parse`]);
//! ipset's sets file and the appliance `fwmark` take a number only as the
//! whole word with no blank or sign ([`plain`]), and say out of range or
//! invalid in their own words.

/// The blanks C's `isspace` knows in the C locale.
const C_SPACE: [char; 6] = [' ', '\t', '\n', '\x0b', '\x0c', '\r'];

/// What [`strtoumax`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CNum<'a> {
    /// The digits' value; `None` when it does not fit in 64 bits (C then
    /// returns `UINTMAX_MAX` and sets `errno` to `ERANGE`).
    pub(crate) value: Option<u64>,
    /// A `-` preceded the digits (C returns the value negated modulo 2^64).
    pub(crate) negative: bool,
    /// What follows the digits (C's `*end`).
    pub(crate) rest: &'a str,
}

/// glibc `strtoumax(s, &end, base)`: leading white space, an optional
/// sign, then digits (`base` 0: `0x` hex, leading `0` octal, else
/// decimal). `None` when no digit was read (C returns 0 with `end == s`).
/// `"0x"` without a hex digit after it reads the `0` and stops at the `x`.
pub(crate) fn strtoumax(s: &str, base: u32) -> Option<CNum<'_>> {
    let t = s.trim_start_matches(C_SPACE);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if base == 0 {
        match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) if h.starts_with(|c: char| c.is_ascii_hexdigit()) => (16, h),
            Some(_) => {
                return Some(CNum {
                    value: Some(0),
                    negative,
                    rest: &t[1..],
                })
            }
            None if t.starts_with('0') => (8, t),
            None => (10, t),
        }
    } else {
        (base, t)
    };
    let n = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if n == 0 {
        return None;
    }
    Some(CNum {
        value: u64::from_str_radix(&digits[..n], radix).ok(),
        negative,
        rest: &digits[n..],
    })
}

/// Why [`plain`] refused a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Not one plain base-0 number: empty, a blank or sign first, `0x`
    /// without a hex digit, or anything after the digits.
    Invalid,
    /// The digits do not fit in 64 bits (C's `ERANGE`).
    Overflow,
}

/// The whole of `s` one base-0 number written plainly: it starts with a
/// digit (no blank, no sign) and nothing follows the digits. What
/// [`strtoumax`] reads when the caller also wants `*end == '\0'`.
pub(crate) fn plain(s: &str) -> Result<u64, NumError> {
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(NumError::Invalid);
    }
    match strtoumax(s, 0) {
        Some(CNum {
            value, rest: "", ..
        }) => value.ok_or(NumError::Overflow),
        _ => Err(NumError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(s: &str, base: u32) -> Option<(Option<u64>, bool, &str)> {
        strtoumax(s, base).map(|n| (n.value, n.negative, n.rest))
    }

    #[test]
    fn prefixes_pick_the_radix() {
        assert_eq!(read("10", 0), Some((Some(10), false, "")));
        assert_eq!(read("0x1F", 0), Some((Some(31), false, "")));
        assert_eq!(read("0X1f", 0), Some((Some(31), false, "")));
        assert_eq!(read("017", 0), Some((Some(15), false, "")));
        assert_eq!(read("0", 0), Some((Some(0), false, "")));
        // Octal stops at the first 8 or 9.
        assert_eq!(read("089", 0), Some((Some(0), false, "89")));
        // A fixed base takes no prefix.
        assert_eq!(read("017", 10), Some((Some(17), false, "")));
        assert_eq!(read("ff", 16), Some((Some(255), false, "")));
    }

    #[test]
    fn blanks_signs_and_what_follows() {
        assert_eq!(read(" \t+017z", 0), Some((Some(15), false, "z")));
        assert_eq!(read("\x0b\x0c\r\n-3", 0), Some((Some(3), true, "")));
        assert_eq!(read("80x", 0), Some((Some(80), false, "x")));
        // Only C's blanks are skipped.
        assert_eq!(read("\u{a0}1", 0), None);
        // One sign, before any prefix.
        assert_eq!(read("+-1", 0), None);
        assert_eq!(read("0x+7", 0), Some((Some(0), false, "x+7")));
        assert_eq!(read("0+7", 0), Some((Some(0), false, "+7")));
    }

    #[test]
    fn no_digits() {
        for s in ["", " ", "-", "+", "x", " -x", "\u{0663}"] {
            assert_eq!(read(s, 0), None, "{s:?}");
        }
        // "0x" reads the 0 and stops at the x.
        assert_eq!(read("0x", 0), Some((Some(0), false, "x")));
        assert_eq!(read("-0xg", 0), Some((Some(0), true, "xg")));
    }

    #[test]
    fn overflow_is_erange() {
        assert_eq!(
            read("18446744073709551615", 0),
            Some((Some(u64::MAX), false, ""))
        );
        assert_eq!(read("18446744073709551616", 0), Some((None, false, "")));
        assert_eq!(read("0x10000000000000000", 0), Some((None, false, "")));
        assert_eq!(read("02000000000000000000000", 0), Some((None, false, "")));
        assert_eq!(read("-99999999999999999999 ", 10), Some((None, true, " ")));
    }

    #[test]
    fn plain_numbers() {
        assert_eq!(plain("0"), Ok(0));
        assert_eq!(plain("010"), Ok(8));
        assert_eq!(plain("0x1F"), Ok(31));
        assert_eq!(plain("4294967296"), Ok(1 << 32));
        for s in ["", "09", "0x", "0xg", "+1", "-1", " 1", "1 ", "1/", "0x+7"] {
            assert_eq!(plain(s), Err(NumError::Invalid), "{s:?}");
        }
        assert_eq!(plain("99999999999999999999999"), Err(NumError::Overflow));
        // Junk after the digits is invalid even when they overflow.
        assert_eq!(plain("99999999999999999999999x"), Err(NumError::Invalid));
    }

    /// The whole-word reader ipset and the appliance `fwmark` had before
    /// they shared [`plain`]; kept as the oracle that it reads the same.
    fn plain_reference(s: &str) -> Result<u64, NumError> {
        let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
        {
            (h, 16)
        } else if s.len() > 1 && s.starts_with('0') {
            (&s[1..], 8)
        } else {
            (s, 10)
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(NumError::Invalid);
        }
        u64::from_str_radix(digits, radix).map_err(|_| NumError::Overflow)
    }

    proptest! {
        #[test]
        fn every_u64_round_trips_in_each_radix(
            n: u64,
            blanks in "[ \t\n\r\x0b\x0c]{0,3}",
            sign in prop::sample::select(vec!["", "+", "-"]),
            suffix in "([^0-9a-fA-FxX][ -~]{0,4})?",
        ) {
            for (text, base) in [
                (format!("{n}"), 10),
                (format!("0x{n:x}"), 0),
                (format!("0X{n:X}"), 0),
                (format!("0{n:o}"), 0),
            ] {
                // Base 0 reads decimal too, unless the number is 0 (then
                // octal, with the same value).
                for base in [base, 0] {
                    let s = format!("{blanks}{sign}{text}{suffix}");
                    prop_assert_eq!(
                        read(&s, base),
                        Some((Some(n), sign == "-", suffix.as_str())),
                        "{:?} base {}", s, base
                    );
                }
            }
        }

        #[test]
        fn past_u64_is_overflow(extra in 1u128..=u128::from(u64::MAX)) {
            let n = u128::from(u64::MAX) + extra;
            for s in [n.to_string(), format!("0x{n:x}"), format!("0{n:o}")] {
                prop_assert_eq!(read(&s, 0), Some((None, false, "")), "{}", s);
            }
        }

        #[test]
        fn plain_reads_as_the_old_whole_word_readers(s in "(0[xX]?)?[0-9a-fA-FxX +-]{0,24}") {
            prop_assert_eq!(plain(&s), plain_reference(&s), "{:?}", s);
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}", base in prop::sample::select(vec![0u32, 8, 10, 16])) {
            let _ = strtoumax(&s, base);
            let _ = plain(&s);
        }
    }
}
