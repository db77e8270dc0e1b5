//! `-j CONNMARK`: sets the connection's mark, or copies marks between the
//! packet and its connection (libxt_CONNMARK revision 2, kernel
//! xt_connmark.c `connmark_tg_shift`). Allowed in every table and chain.
//!
//! The fields mirror the kernel's `xt_connmark_tginfo2`, filled in the
//! order the options come as libxt_CONNMARK fills it: `--ctmask`,
//! `--nfmask` and `--mask` overwrite the masks an operation set before them
//! and are overwritten by one after them, and the masks and shift are kept
//! (and the shift printed) whatever the mode.

use std::fmt::Write as _;

use super::parse::{parse_mark_mask, uint_opt};
use super::t_mark::XMark;
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;

/// What CONNMARK does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnmarkMode {
    /// `--set-xmark` and its spellings: `ctmark = ((ctmark & !ctmask) ^
    /// ctmark_value) SHIFT shift_bits`.
    Set,
    /// `--save-mark`: `ctmark = (ctmark & !ctmask) ^ ((nfmark & nfmask)
    /// SHIFT shift_bits)`.
    Save,
    /// `--restore-mark`: `nfmark = (nfmark & !nfmask) ^ ((ctmark & ctmask)
    /// SHIFT shift_bits)`.
    Restore,
}

/// Direction of the shift (`--left-shift-mark` / `--right-shift-mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShiftDir {
    #[default]
    Left,
    Right,
}

/// `-j CONNMARK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connmark {
    /// The operation; `None` only before one is read (a rule without one is
    /// refused).
    pub mode: Option<ConnmarkMode>,
    /// [`ConnmarkMode::Set`]: the bits XORed into the connection mark.
    pub ctmark: u32,
    /// Bits of the connection mark cleared (Set, Save) or read (Restore).
    pub ctmask: u32,
    /// Bits of the packet mark read (Save) or cleared (Restore); unused by
    /// Set.
    pub nfmask: u32,
    pub shift_dir: ShiftDir,
    /// Shift applied to the value written (0..=31).
    pub shift_bits: u8,
    given: Given,
}

impl Default for Connmark {
    /// As libxt_CONNMARK's init: both masks all ones, shift left by 0.
    fn default() -> Connmark {
        Connmark {
            mode: None,
            ctmark: 0,
            ctmask: u32::MAX,
            nfmask: u32::MAX,
            shift_dir: ShiftDir::Left,
            shift_bits: 0,
            given: Given::default(),
        }
    }
}

impl Connmark {
    fn shift(&self, v: u32) -> u32 {
        let n = u32::from(self.shift_bits);
        match self.shift_dir {
            ShiftDir::Left => v.checked_shl(n).unwrap_or(0),
            ShiftDir::Right => v.checked_shr(n).unwrap_or(0),
        }
    }

    /// The connection mark and packet mark after the target, given both
    /// before (`ctmark`, `nfmark`), as the kernel computes them.
    pub fn apply(&self, ctmark: u32, nfmark: u32) -> (u32, u32) {
        match self.mode {
            None => (ctmark, nfmark),
            Some(ConnmarkMode::Set) => (self.shift((ctmark & !self.ctmask) ^ self.ctmark), nfmark),
            Some(ConnmarkMode::Save) => (
                (ctmark & !self.ctmask) ^ self.shift(nfmark & self.nfmask),
                nfmark,
            ),
            Some(ConnmarkMode::Restore) => (
                ctmark,
                (nfmark & !self.nfmask) ^ self.shift(ctmark & self.ctmask),
            ),
        }
    }

    fn set(&mut self, x: XMark) {
        self.mode = Some(ConnmarkMode::Set);
        self.ctmark = x.value;
        self.ctmask = x.mask;
    }
}

const OPS: &[&str] = &[
    "set-xmark",
    "set-mark",
    "and-mark",
    "or-mark",
    "xor-mark",
    "save-mark",
    "restore-mark",
];

impl Extension for Connmark {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("set-xmark", 1),
        Opt::new("set-mark", 1),
        Opt::new("and-mark", 1),
        Opt::new("or-mark", 1),
        Opt::new("xor-mark", 1),
        Opt::new("save-mark", 0),
        Opt::new("restore-mark", 0),
        Opt::new("left-shift-mark", 1),
        Opt::new("right-shift-mark", 1),
        Opt::new("ctmask", 1),
        Opt::new("nfmask", 1),
        Opt::new("mask", 1),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        let u32_arg = || uint_opt(&args[0], id, 0, u32::MAX as u64).map(|v| v as u32);
        match id {
            "set-xmark" => {
                let (v, m) = parse_mark_mask(&args[0], id)?;
                self.set(XMark::set_xmark(v, m));
            }
            "set-mark" => {
                let (v, m) = parse_mark_mask(&args[0], id)?;
                self.set(XMark::set_mark(v, m));
            }
            "and-mark" => self.set(XMark::and(u32_arg()?)),
            "or-mark" => self.set(XMark::or(u32_arg()?)),
            "xor-mark" => self.set(XMark::xor(u32_arg()?)),
            "save-mark" => self.mode = Some(ConnmarkMode::Save),
            "restore-mark" => self.mode = Some(ConnmarkMode::Restore),
            "left-shift-mark" | "right-shift-mark" => {
                self.shift_bits = uint_opt(&args[0], id, 0, 32)? as u8;
                self.shift_dir = if id == "left-shift-mark" {
                    ShiftDir::Left
                } else {
                    ShiftDir::Right
                };
            }
            "ctmask" => self.ctmask = u32_arg()?,
            "nfmask" => self.nfmask = u32_arg()?,
            _ => {
                let m = u32_arg()?;
                self.ctmask = m;
                self.nfmask = m;
            }
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        let mut excl: Vec<(&str, &[&str])> = OPS.iter().map(|o| (*o, OPS)).collect();
        excl.push(("ctmask", &["mask"]));
        excl.push(("nfmask", &["mask"]));
        excl.push(("mask", &["ctmask", "nfmask"]));
        self.given.check_excl(Self::OPTIONS, &excl)?;
        if self.mode.is_none() {
            return Err("No operation specified".into());
        }
        if self.shift_bits > 31 {
            return Err(format!(
                "a shift of {} bits is refused by the kernel (at most 31)",
                self.shift_bits
            ));
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        match self.mode {
            None => return,
            Some(ConnmarkMode::Set) => XMark {
                value: self.ctmark,
                mask: self.ctmask,
            }
            .save(out),
            Some(m) => {
                let op = if m == ConnmarkMode::Save {
                    "save"
                } else {
                    "restore"
                };
                let _ = write!(
                    out,
                    " --{op}-mark --nfmask 0x{:x} --ctmask 0x{:x}",
                    self.nfmask, self.ctmask
                );
            }
        }
        if self.shift_bits != 0 {
            let dir = match self.shift_dir {
                ShiftDir::Left => "left",
                ShiftDir::Right => "right",
            };
            let _ = write!(out, " --{dir}-shift-mark {}", self.shift_bits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::target_ext;
    use crate::iptables::TargetExt;

    fn canon(rule: &str) -> Result<(Connmark, String), String> {
        let rule = format!("-j CONNMARK {rule}");
        target_ext!("mangle", "PREROUTING", &rule, TargetExt::Connmark).map(|(m, line)| {
            let line = line.trim_start_matches("-A PREROUTING -j CONNMARK");
            (m, line.to_string())
        })
    }

    #[test]
    fn saves_as_iptables() {
        for (rule, want) in [
            ("--set-mark 5", " --set-xmark 0x5/0xffffffff"),
            ("--set-mark 5/0xf0", " --set-xmark 0x5/0xf5"),
            ("--set-xmark 5/3", " --set-xmark 0x5/0x3"),
            ("--and-mark 0xff", " --set-xmark 0x0/0xffffff00"),
            ("--or-mark 3", " --set-xmark 0x3/0x3"),
            ("--xor-mark 3", " --set-xmark 0x3/0x0"),
            (
                "--save-mark",
                " --save-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            ),
            (
                "--restore-mark",
                " --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            ),
            (
                "--save-mark --mask 0xff",
                " --save-mark --nfmask 0xff --ctmask 0xff",
            ),
            (
                "--mas 3 --restore-mark",
                " --restore-mark --nfmask 0x3 --ctmask 0x3",
            ),
            (
                "--save-mark --nfmask 0xf",
                " --save-mark --nfmask 0xf --ctmask 0xffffffff",
            ),
            (
                "--save-mark --ctmask 0xf",
                " --save-mark --nfmask 0xffffffff --ctmask 0xf",
            ),
            ("--set-xmark 1/2 --ctmask 5", " --set-xmark 0x1/0x5"),
            ("--ctmask 5 --set-xmark 1/2", " --set-xmark 0x1/0x2"),
            ("--set-mark 1 --nfmask 5", " --set-xmark 0x1/0xffffffff"),
            ("--set-mark 1 --mask 5", " --set-xmark 0x1/0x5"),
            ("--mask 5 --set-mark 1", " --set-xmark 0x1/0xffffffff"),
            (
                "--save-mark --left-shift-mark 3",
                " --save-mark --nfmask 0xffffffff --ctmask 0xffffffff --left-shift-mark 3",
            ),
            (
                "--restore-mark --right-shift-mark 0x1f",
                " --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff --right-shift-mark 31",
            ),
            (
                "--set-mark 1 --right-shift-mark 3",
                " --set-xmark 0x1/0xffffffff --right-shift-mark 3",
            ),
            (
                "--save-mark --right-shift-mark 0",
                " --save-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            ),
            (
                "--save-mark --left-shift-mark 1 --right-shift-mark 2",
                " --save-mark --nfmask 0xffffffff --ctmask 0xffffffff --right-shift-mark 2",
            ),
        ] {
            let (_, line) = canon(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(line, want, "{rule}");
        }
    }

    #[test]
    fn typed_fields_and_semantics() {
        let (c, _) =
            canon("--save-mark --nfmask 0xff00 --ctmask 0xff --right-shift-mark 8").unwrap();
        assert_eq!(c.mode, Some(ConnmarkMode::Save));
        assert_eq!(
            (c.nfmask, c.ctmask, c.shift_dir, c.shift_bits),
            (0xff00, 0xff, ShiftDir::Right, 8)
        );
        assert_eq!(c.apply(0x1234_5678, 0xab00), (0x1234_56ab, 0xab00));

        let (c, _) = canon("--restore-mark --mask 0xff").unwrap();
        assert_eq!(c.apply(0x12, 0xffff_ff00), (0x12, 0xffff_ff12));

        let (c, _) = canon("--or-mark 0x10").unwrap();
        assert_eq!(
            (c.mode, c.ctmark, c.ctmask),
            (Some(ConnmarkMode::Set), 0x10, 0x10)
        );
        assert_eq!(c.apply(0x1, 7), (0x11, 7));
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("", "No operation specified"),
            ("--mask 5", "No operation specified"),
            (
                "--save-mark --restore-mark",
                "option \"--save-mark\" cannot be used together with \"--restore-mark\"",
            ),
            (
                "--set-mark 1 --set-xmark 2",
                "option \"--set-xmark\" cannot be used together with \"--set-mark\"",
            ),
            (
                "--save-mark --mask 1 --nfmask 2",
                "option \"--nfmask\" cannot be used together with \"--mask\"",
            ),
            (
                "--save-mark --nfmask 1 --ctmask 2 --mask 3",
                "option \"--ctmask\" cannot be used together with \"--mask\"",
            ),
            (
                "--save-mark --nfmask 1 --nfmask 2",
                "option \"--nfmask\" can only be used once",
            ),
            (
                "--save-mark --left-shift-mark 3 --left-shift-mark 4",
                "can only be used once",
            ),
            ("--save-mark --right-shift-mark 33", "out of range (0-32)"),
            ("--save-mark --right-shift-mark 32", "at most 31"),
            (
                "--and-mark 1/2",
                "bad value for option \"--and-mark\", or out of range (0-4294967295)",
            ),
            (
                "--save-mark --nfmask 0x100000000",
                "bad value for option \"--nfmask\"",
            ),
            ("! --save-mark", "cannot be inverted"),
        ] {
            match canon(rule) {
                Ok(x) => panic!("accepted: {rule}: {x:?}"),
                Err(e) => assert!(e.contains(msg), "{rule}: {e}"),
            }
        }
    }
}
