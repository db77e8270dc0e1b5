//! The bad inputs of config's error tests (config/tests/errors.rs, texts in
//! config/tests/common/bad_inputs.rs), given to the kernel.

use crate::common::bad_inputs::ALL;
use crate::oracle;

/// The inputs sluice refuses that the installed iptables accepts: sluice's
/// documented, deliberate refusals.
const KERNEL_ACCEPTS: &[&str] = &[
    // iptables-restore takes the rest of the line (and the newline) as the
    // word; sluice refuses a quote that is never closed.
    "unterminated_quote",
    // Extensions sluice does not have (local sockets, transparent proxy).
    "unsupported_match_owner",
    "unsupported_target",
];

/// The kernel (iptables-legacy-restore in a namespace) refuses every bad
/// input of the error tests too, except sluice's deliberate refusals,
/// listed: an error test must not make sluice stricter than iptables by
/// accident.
#[test]
fn the_kernel_refuses_them_too() {
    let Some(ns) = oracle::oracle("errors::the_kernel_refuses_them_too") else {
        return;
    };
    let mut wrong = Vec::new();
    for (name, text) in ALL {
        let refused = ns.restore(text).is_err();
        let deliberate = KERNEL_ACCEPTS.contains(name);
        if refused == deliberate {
            wrong.push(format!(
                "{name}: the kernel {} it{}",
                if refused { "refuses" } else { "accepts" },
                if deliberate {
                    " (listed as a deliberate sluice refusal)"
                } else {
                    ""
                }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
