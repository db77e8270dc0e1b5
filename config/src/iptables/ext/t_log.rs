//! `-j LOG`: write a kernel log line about the packet and go on with the
//! next rule (iptables 1.8.9 `libxt_LOG`, kernel `xt_LOG.c`). Allowed in
//! every table and chain.

use super::parse::{save_string, strtoui};
use super::{Cx, Extension, Given, Opt};
use crate::iptables::model::Rule;

/// Syslog priority of the log line (the discriminant is the number
/// `iptables-save` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum LogLevel {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    /// The default.
    #[default]
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Emerg,
        LogLevel::Alert,
        LogLevel::Crit,
        LogLevel::Err,
        LogLevel::Warning,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    /// As libxtables reads a syslog level: a number 0..=7 (base 0) or one
    /// of its names, exactly (case matters; `err` and `warn` are not
    /// among them, `error` and `panic` are).
    pub fn parse(arg: &str) -> Result<LogLevel, String> {
        if let Some(n) = strtoui(arg, 0, 7) {
            return Ok(LogLevel::ALL[n as usize & 7]);
        }
        Ok(match arg {
            "alert" => LogLevel::Alert,
            "crit" => LogLevel::Crit,
            "debug" => LogLevel::Debug,
            "emerg" | "panic" => LogLevel::Emerg,
            "error" => LogLevel::Err,
            "info" => LogLevel::Info,
            "notice" => LogLevel::Notice,
            "warning" => LogLevel::Warning,
            _ => return Err(format!("log level \"{arg}\" unknown")),
        })
    }
}

/// The kernel keeps at most this many bytes of the prefix (`char[30]`
/// with its terminating NUL); iptables cuts longer ones silently.
pub const PREFIX_MAX: usize = 29;

/// The options of `-j LOG`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    /// `--log-level` (default warning).
    pub level: LogLevel,
    /// `--log-prefix`: text put before the line, at most [`PREFIX_MAX`]
    /// bytes, never empty.
    pub prefix: Option<String>,
    /// `--log-tcp-sequence` (`XT_LOG_TCPSEQ`): log TCP sequence numbers.
    pub tcp_sequence: bool,
    /// `--log-tcp-options` (`XT_LOG_TCPOPT`): log the TCP options.
    pub tcp_options: bool,
    /// `--log-ip-options` (`XT_LOG_IPOPT`): log the IP options.
    pub ip_options: bool,
    /// `--log-uid` (`XT_LOG_UID`): log the owner of the local socket (a
    /// router forwarding the packet has none to log).
    pub uid: bool,
    /// `--log-macdecode` (`XT_LOG_MACDECODE`): log MAC addresses and the
    /// ethertype decoded instead of the raw header.
    pub macdecode: bool,
    given: Given,
}

impl Extension for Log {
    const OPTIONS: &'static [Opt] = &[
        Opt::new("log-level", 1),
        Opt::new("log-prefix", 1),
        Opt::new("log-tcp-sequence", 0),
        Opt::new("log-tcp-options", 0),
        Opt::new("log-ip-options", 0),
        Opt::new("log-uid", 0),
        Opt::new("log-macdecode", 0),
    ];

    fn parse(
        &mut self,
        id: &'static str,
        invert: bool,
        args: &[String],
        _: &Cx,
    ) -> Result<(), String> {
        self.given.take(Self::OPTIONS, id, invert)?;
        match id {
            "log-level" => self.level = LogLevel::parse(&args[0])?,
            "log-prefix" => self.prefix = Some(parse_prefix(&args[0])?),
            "log-tcp-sequence" => self.tcp_sequence = true,
            "log-tcp-options" => self.tcp_options = true,
            "log-ip-options" => self.ip_options = true,
            "log-uid" => self.uid = true,
            _ => self.macdecode = true,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Rule, _: &Cx) -> Result<(), String> {
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(p) = &self.prefix {
            out.push_str(" --log-prefix");
            save_string(out, p);
        }
        if self.level != LogLevel::Warning {
            out.push_str(" --log-level ");
            out.push_str(&(self.level as u8).to_string());
        }
        for (on, name) in [
            (self.tcp_sequence, "log-tcp-sequence"),
            (self.tcp_options, "log-tcp-options"),
            (self.ip_options, "log-ip-options"),
            (self.uid, "log-uid"),
            (self.macdecode, "log-macdecode"),
        ] {
            if on {
                out.push_str(" --");
                out.push_str(name);
            }
        }
    }
}

/// `--log-prefix`: not empty, no newline; cut to [`PREFIX_MAX`] bytes as
/// iptables cuts it (a character the cut splits keeps its leading bytes,
/// held as raw bytes: see [`crate::iptables::bytes`]).
fn parse_prefix(arg: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err("Argument must have a minimum length of 1 characters".into());
    }
    if arg.contains('\n') {
        return Err("Newlines not allowed in --log-prefix".into());
    }
    Ok(crate::iptables::bytes::truncate_bytes(arg, PREFIX_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::ext::testing::{load, saved_rules as saved};
    use crate::iptables::{Ruleset, TableKind, Target, TargetExt};

    fn filter(rule: &str) -> Result<Ruleset, String> {
        load(&format!("*filter\n-A INPUT {rule}\nCOMMIT\n"))
    }

    fn log_of(rs: &Ruleset) -> Log {
        let c = rs
            .table(TableKind::Filter)
            .and_then(|t| t.chain("INPUT"))
            .expect("INPUT");
        match &c.rules[0].target {
            Target::Ext(TargetExt::Log(l)) => l.clone(),
            other => panic!("not LOG: {other:?}"),
        }
    }

    #[test]
    fn everything_set() {
        let rs = filter(
            "-j LOG --log-macdecode --log-uid --log-ip-options --log-tcp-options --log-tcp-sequence \
             --log-level debug --log-prefix \"in: \"",
        )
        .expect("parses");
        let l = log_of(&rs);
        assert_eq!(l.level, LogLevel::Debug);
        assert_eq!(l.prefix.as_deref(), Some("in: "));
        assert!(l.tcp_sequence && l.tcp_options && l.ip_options && l.uid && l.macdecode);
        assert_eq!(
            saved(&rs),
            ["-A INPUT -j LOG --log-prefix \"in: \" --log-level 7 --log-tcp-sequence --log-tcp-options \
              --log-ip-options --log-uid --log-macdecode"]
        );
    }

    #[test]
    fn levels() {
        for (arg, want) in [
            ("0", LogLevel::Emerg),
            ("panic", LogLevel::Emerg),
            ("alert", LogLevel::Alert),
            ("crit", LogLevel::Crit),
            ("error", LogLevel::Err),
            ("0x3", LogLevel::Err),
            ("03", LogLevel::Err),
            ("+3", LogLevel::Err),
            ("warning", LogLevel::Warning),
            ("notice", LogLevel::Notice),
            ("info", LogLevel::Info),
            ("7", LogLevel::Debug),
        ] {
            let rs = filter(&format!("-j LOG --log-level {arg}"))
                .unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert_eq!(log_of(&rs).level, want, "{arg}");
            let line = if want == LogLevel::Warning {
                "-A INPUT -j LOG".to_string()
            } else {
                format!("-A INPUT -j LOG --log-level {}", want as u8)
            };
            assert_eq!(saved(&rs), [line]);
        }
        // The default level is not printed, so both spellings are one rule.
        assert_eq!(
            filter("-j LOG").expect("a"),
            filter("-j LOG --log-level 4").expect("b")
        );
    }

    #[test]
    fn prefix_quoting_and_length() {
        for (arg, out) in [
            ("abc", "abc"),
            ("\"a b\"", "\"a b\""),
            (r#""a'b\"c\\d""#, r#""a\'b\"c\\d""#),
            (
                "123456789012345678901234567890abc",
                "12345678901234567890123456789",
            ),
        ] {
            let rs = filter(&format!("-j LOG --log-prefix {arg}"))
                .unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert_eq!(
                saved(&rs),
                [format!("-A INPUT -j LOG --log-prefix {out}")],
                "{arg}"
            );
        }
        let rs = filter("-j LOG --log-prefix 123456789012345678901234567890").expect("parses");
        assert_eq!(log_of(&rs).prefix.map(|p| p.len()), Some(PREFIX_MAX));
    }

    #[test]
    fn refusals() {
        for (rule, msg) in [
            ("-j LOG --log-level 8", "log level \"8\" unknown"),
            ("-j LOG --log-level err", "log level \"err\" unknown"),
            ("-j LOG --log-level warn", "unknown"),
            ("-j LOG --log-level Debug", "unknown"),
            (
                "-j LOG --log-level 3 --log-level 3",
                "option \"--log-level\" can only be used once",
            ),
            (
                "-j LOG ! --log-level 3",
                "option \"--log-level\" cannot be inverted",
            ),
            ("-j LOG --log-prefix \"\"", "minimum length of 1"),
            ("-j LOG --log-prefix", "requires an argument"),
            ("-j LOG --log-uid --log-uid", "can only be used once"),
            ("-j LOG ! --log-uid", "cannot be inverted"),
        ] {
            match filter(rule) {
                Ok(_) => panic!("accepted: {rule}"),
                Err(e) => assert!(e.contains(msg), "{rule}: `{e}' lacks `{msg}'"),
            }
        }
        assert!(parse_prefix("a\nb").is_err());
    }

    /// The prefix is cut to 29 bytes as iptables cuts it, even inside a
    /// character: its leading byte stays, printed back as the byte.
    #[test]
    fn prefix_cut_inside_a_character_keeps_the_byte() {
        use crate::iptables::bytes::{byte_len, to_bytes};
        let p = parse_prefix("ééééééééééééééé").expect("cut");
        assert_eq!(byte_len(&p), PREFIX_MAX);
        let mut want = "é".repeat(14).into_bytes();
        want.push(0xc3);
        assert_eq!(to_bytes(&p).as_ref(), want.as_slice());
        assert_eq!(parse_prefix("abc").as_deref(), Ok("abc"));
    }

    #[test]
    fn any_table() {
        for t in ["raw", "mangle", "nat", "security"] {
            load(&format!("*{t}\n-A OUTPUT -j LOG\nCOMMIT\n"))
                .unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }
}
