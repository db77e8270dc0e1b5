//! What gen learns from the host: the interface's addresses and the
//! destination's MAC from the neighbour table. Control path only; each
//! error names the interface.

use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::frames::{parse_mac, MacAddr};

pub(crate) fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running `ip {}`: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`ip {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first address of `dev` of the family of `v6`, as a host prefix.
pub fn first_address(dev: &str, v6: bool) -> Result<IpNet, String> {
    let fam = if v6 { "-6" } else { "-4" };
    let out = ip(&[fam, "-o", "addr", "show", "dev", dev, "scope", "global"])?;
    for line in out.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" || w == "inet6" {
                if let Some(a) = words.next().and_then(|a| a.split('/').next()) {
                    if let Ok(a) = a.parse::<IpAddr>() {
                        return Ok(IpNet::from(a));
                    }
                }
            }
        }
    }
    Err(format!(
        "interface {dev} has no global IPv{} address: give --src CIDR",
        if v6 { 6 } else { 4 }
    ))
}

/// The `lladdr` of `dst` on `dev` in `ip neigh` output, if reachable.
fn neigh_entry(dev: &str, dst: IpAddr) -> Result<Option<MacAddr>, String> {
    let out = ip(&["neigh", "show", "to", &dst.to_string(), "dev", dev])?;
    for line in out.lines() {
        if line.contains("FAILED") || line.contains("INCOMPLETE") {
            continue;
        }
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                if let Some(m) = words.next().and_then(|m| parse_mac(m).ok()) {
                    return Ok(Some(m));
                }
            }
        }
    }
    Ok(None)
}

/// The MAC of `dst` on `dev`: the neighbour table, or else after asking
/// the kernel to resolve it (one UDP datagram to port 9 of `dst` through
/// `dev`), waiting up to a second.
pub fn neighbour_mac(dev: &str, dst: IpAddr) -> Result<MacAddr, String> {
    if let Some(m) = neigh_entry(dev, dst)? {
        return Ok(m);
    }
    let bind: IpAddr = if dst.is_ipv4() {
        [0u8; 4].into()
    } else {
        [0u8; 16].into()
    };
    if let Ok(s) = UdpSocket::bind((bind, 0)) {
        let _ = nix::sys::socket::setsockopt(
            &s,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(dev),
        );
        let _ = s.send_to(b"sluice-bench neighbour probe", (dst, 9));
    }
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(m) = neigh_entry(dev, dst)? {
            return Ok(m);
        }
    }
    Err(format!(
        "interface {dev}: no neighbour entry for {dst} and it did not resolve within 1 s: \
         give --dst-mac, or add one (`ip neigh add {dst} lladdr MAC dev {dev}`)"
    ))
}
