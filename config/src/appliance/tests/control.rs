//! `[control]`: socket, metrics, log.

use super::*;

#[test]
fn control_socket() {
    let a = p(&with_ifaces("")).unwrap();
    assert_eq!(a.control.socket, PathBuf::from("/run/sluice/sluice.sock"));
    let a = p(&with_ifaces("[control]\nsocket = \"/tmp/x.sock\"\n")).unwrap();
    assert_eq!(a.control.socket, PathBuf::from("/tmp/x.sock"));
    // Relative: against the TOML file's folder, as [firewall]'s paths.
    let a = p(&with_ifaces("[control]\nsocket = \"run/s.sock\"\n")).unwrap();
    assert_eq!(a.control.socket, PathBuf::from("/etc/sluice/run/s.sock"));
    assert_eq!(
        err(&with_ifaces("[control]\nsocket = \"\"\n")),
        "11:10: `socket` is an empty path"
    );
    assert_eq!(
        err(&with_ifaces("[control]\nsokcet = \"/tmp/x\"\n")),
        "11:1: unknown field `sokcet`, expected one of `socket`, `metrics`, `log`, `log_format`"
    );
    assert!(err(&with_ifaces("[control]\nsocket = 1\n")).starts_with("11:10: "));
}

#[test]
fn control_metrics_and_log() {
    use super::{LogFormat, LogTarget};
    let a = p(&with_ifaces("")).unwrap();
    assert_eq!(a.control.metrics, None);
    assert_eq!(a.control.log, LogTarget::Stderr);
    assert_eq!(a.control.log_format, LogFormat::Kernel);
    let a = p(&with_ifaces(
        "[control]\nmetrics = \"127.0.0.1:9469\"\nlog = \"syslog\"\nlog_format = \"json\"\n",
    ))
    .unwrap();
    assert_eq!(a.control.metrics, Some("127.0.0.1:9469".parse().unwrap()));
    assert_eq!(a.control.log, LogTarget::Syslog);
    assert_eq!(a.control.log_format, LogFormat::Json);
    let a = p(&with_ifaces(
        "[control]\nmetrics = \"[::1]:80\"\nlog = \"stderr\"\nlog_format = \"kernel\"\n",
    ))
    .unwrap();
    assert_eq!(a.control.metrics, Some("[::1]:80".parse().unwrap()));
    assert_eq!(a.control.log, LogTarget::Stderr);
    // A file: absolute, or relative to the TOML's folder.
    let a = p(&with_ifaces("[control]\nlog = \"/var/log/sluice.log\"\n")).unwrap();
    assert_eq!(a.control.log, LogTarget::File("/var/log/sluice.log".into()));
    let a = p(&with_ifaces("[control]\nlog = \"./log/x.log\"\n")).unwrap();
    assert_eq!(
        a.control.log,
        LogTarget::File("/etc/sluice/log/x.log".into())
    );
    for (text, e) in [
        (
            "metrics = \"localhost:9469\"",
            "11:11: invalid metrics address \"localhost:9469\": expected ADDRESS:PORT, e.g. \"127.0.0.1:9469\" or \"[::1]:9469\"",
        ),
        (
            "metrics = \"127.0.0.1\"",
            "11:11: invalid metrics address \"127.0.0.1\": expected ADDRESS:PORT, e.g. \"127.0.0.1:9469\" or \"[::1]:9469\"",
        ),
        (
            "metrics = \"127.0.0.1:70000\"",
            "11:11: invalid metrics address \"127.0.0.1:70000\": expected ADDRESS:PORT, e.g. \"127.0.0.1:9469\" or \"[::1]:9469\"",
        ),
        (
            "log = \"sysog\"",
            "11:7: invalid log target \"sysog\": expected \"stderr\", \"syslog\" or a file path containing a `/` (e.g. \"/var/log/sluice.log\" or \"./sluice.log\")",
        ),
        (
            "log = \"/var/log/\"",
            "11:7: invalid log target \"/var/log/\": expected \"stderr\", \"syslog\" or a file path containing a `/` (e.g. \"/var/log/sluice.log\" or \"./sluice.log\")",
        ),
        (
            "log = \"\"",
            "11:7: invalid log target \"\": expected \"stderr\", \"syslog\" or a file path containing a `/` (e.g. \"/var/log/sluice.log\" or \"./sluice.log\")",
        ),
        (
            "log_format = \"JSON\"",
            "11:14: invalid log_format \"JSON\": expected \"kernel\" or \"json\"",
        ),
    ] {
        assert_eq!(err(&with_ifaces(&format!("[control]\n{text}\n"))), e, "{text}");
    }
    assert!(err(&with_ifaces("[control]\nmetrics = 9469\n")).starts_with("11:11: "));
    assert!(err(&with_ifaces("[control]\nlog_format = true\n")).starts_with("11:14: "));
}
