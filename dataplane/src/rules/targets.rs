//! The targets that are not plain verdicts or jumps, run on one packet of
//! a batch: what each changes and whether the traversal goes on
//! (`XT_CONTINUE`) or ends.
//!
//! | target     | kernel                  | here                                                    |
//! |------------|-------------------------|---------------------------------------------------------|
//! | `LOG`      | `log_tg` → `nf_log_packet` | a [`LogRecord`](super::log::LogRecord) in the worker's ring (`log.ring_full` when full); continue |
//! | `MARK`     | `mark_tg`: `mark = (mark & ~mask) ^ value` | [`Batch::set_mark`]; continue       |
//! | `CONNMARK` | `connmark_tg`: nothing without a conntrack entry | nothing (no conntrack yet); continue |
//! | `CT --notrack`, `NOTRACK` | `nf_ct_set(skb, NULL, IP_CT_UNTRACKED)` | [`Batch::set_ct`] untracked; continue |
//! | `CT` (zone, events) | attaches a conntrack template | nothing; continue                 |
//! | `TTL`      | `ttl_tg`: set / inc (to 255) / dec (to 0), `csum_replace2` | [`Batch::set_ttl`]; continue |
//! | `DSCP`     | `dscp_tg`: when the DSCP differs, `ipv4_change_dsfield` | [`Batch::set_tos`]; continue |
//! | `TCPMSS`   | `tcpmss_tg4` / `tcpmss_mangle_packet` | below; continue, or drop           |
//! | `REJECT`   | `reject_tg` → `nf_send_unreach` / `nf_send_reset`; `NF_DROP` | below; drop (`filter.reject`) |
//!
//! `TCPMSS`: nothing for a non-first fragment; drop when the TCP header
//! does not fit the packet; the new MSS is `--set-mss`, or for
//! `--clamp-mss-to-pmtu` the smaller of the egress port's MTU and the MTU
//! of the route back to the source, minus 40 (drop when that MTU is 40 or
//! less); the first MSS option found by the kernel's walk is lowered (never
//! raised), with the checksum updated as the kernel updates it (as an
//! aligned word, wrong for an option at an odd offset); a SYN without one that carries no
//! data and has room gets one (at most 536), the packet growing by 4
//! bytes (options moved, data offset, TCP checksum with the pseudo-header
//! length, IP total length and header checksum updated).
//!
//! `REJECT`: the answer is built by [`super::reject`] and sent with
//! [`Batch::emit`] through the box's output path (OUTPUT hooks, routing,
//! POSTROUTING), as `icmp_send` and `nf_send_reset` send theirs with
//! `ip_local_out`; ICMP answers pass the kernel's ICMP rate limits
//! (`icmp.ratelimited`). The ICMP source is the rejected packet's
//! destination in INPUT, else the address the route back to the sender
//! uses (a broadcast source gets it as a link broadcast; the kernel also
//! loops a copy back to its own INPUT, sluice does not); no route back, or
//! one to the box itself: no answer (`icmp.no_route`, `icmp.suppressed`;
//! the kernel delivers the latter to itself). Why an answer is not sent is
//! counted as `reject.<reason>`. TTL 64 (`ip_default_ttl`), mark 0.

use std::net::IpAddr;

use sluice_config::iptables::ext::t_reject::RejectWith;
use sluice_config::iptables::ext::t_tcpmss::TcpmssAction;
use sluice_config::iptables::ext::t_ttl::TtlOp;
use sluice_config::iptables::Hook;

use super::compile::CTarget;
use super::log::{LogContext, LogRing, LogSpec};
use super::reject::{self, NoReply, RejectContext};
use crate::net::Net;
use crate::packet::{Batch, Counter, CtInfo, CtState, Dest, EmitKind};
use crate::route::{FlowKey, RouteResult};
use crate::wire::{checksum, MacAddr};

/// What a target leaves the traversal to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `XT_CONTINUE`: the next rule.
    Continue,
    /// `NF_ACCEPT`: the table ends for the packet (a NAT target).
    Accept,
    /// The packet is dropped, counted under this reason.
    Drop(Counter),
}

/// What the targets use besides the batch.
pub(crate) struct TargetCx<'a> {
    pub hook: Hook,
    pub net: &'a Net,
    pub now_ns: u64,
    /// The table's drop reason (`<table>.drop`).
    pub table_drop: Counter,
    pub log: &'a mut LogRing,
    /// Room for a REJECT answer.
    pub reply: &'a mut [u8],
    pub ct: &'a mut crate::conntrack::Shard,
    pub nat: &'a mut crate::nat::Nat,
}

/// Runs target `t` on packet `i` (not ACCEPT, DROP, RETURN or a jump).
/// Always inlined, and so are `nat`, `log`, `reject` and `tcpmss`: the
/// packet path's traversal is their only caller, and they were inlined
/// into it; the traced traversal of `sluice trace` is a second instance
/// that would otherwise make the compiler call them out of line on the
/// packet path too.
#[inline(always)]
pub(crate) fn run(t: &CTarget, batch: &mut Batch<'_>, i: usize, cx: &mut TargetCx<'_>) -> Step {
    match t {
        CTarget::Log(spec) => {
            log(spec, batch, i, cx);
            Step::Continue
        }
        CTarget::Mark(x) => {
            let m = x.apply(batch.mark(i));
            batch.set_mark(i, m);
            Step::Continue
        }
        CTarget::Notrack => {
            batch.set_ct(i, CtState::Untracked);
            Step::Continue
        }
        CTarget::Connmark(x) => {
            // `connmark_tg`: nothing without an entry.
            if let CtState::Tracked { slot, .. } = batch.ct(i) {
                if let Some(e) = cx.ct.entry_mut(slot) {
                    let (ctmark, nfmark) = x.apply(e.mark, batch.mark(i));
                    e.mark = ctmark;
                    if nfmark != batch.mark(i) {
                        batch.set_mark(i, nfmark);
                    }
                }
            }
            Step::Continue
        }
        CTarget::Ct(zone) => {
            // `xt_ct_target`: a template, unless the packet already has an
            // entry (the kernel leaves an attached one alone).
            if matches!(batch.ct(i), CtState::None | CtState::Template { .. }) {
                let z = zone.zone_for(batch.mark(i));
                batch.set_ct(i, CtState::Template { zone: z });
            }
            Step::Continue
        }
        CTarget::Nat(n) => nat(n, batch, i, cx),
        CTarget::None => Step::Continue,
        CTarget::Ttl(op) | CTarget::Hl(op) => {
            let ttl = batch.meta(i).ttl;
            let new = match *op {
                TtlOp::Set(n) => n,
                TtlOp::Inc(n) => ttl.saturating_add(n),
                TtlOp::Dec(n) => ttl.saturating_sub(n),
            };
            if new != ttl {
                batch.set_ttl(i, new);
            }
            Step::Continue
        }
        CTarget::Dscp(d) => {
            let tos = batch.meta(i).tos;
            if tos >> 2 != *d {
                batch.set_tos(i, (tos & 0x03) | (d << 2));
            }
            Step::Continue
        }
        CTarget::Tcpmss(action) => match tcpmss(*action, batch, i, cx.net) {
            Ok(()) => Step::Continue,
            Err(()) => Step::Drop(cx.table_drop),
        },
        CTarget::Reject(with) => {
            reject(*with, batch, i, cx);
            Step::Drop(Counter::FilterReject)
        }
        CTarget::Reject6(with) => {
            reject6(*with, batch, i, cx);
            Step::Drop(Counter::FilterReject)
        }
        CTarget::Npt(n) => npt(n, batch, i, cx),
        CTarget::Accept | CTarget::Drop | CTarget::Return | CTarget::Jump(_) | CTarget::Goto(_) => {
            debug_assert!(false, "verdicts and jumps are the traversal's");
            Step::Continue
        }
    }
}

/// The NAT targets (`xt_snat_target_v2`, `xt_dnat_target_v2`,
/// `masquerade_tg`, `redirect_tg4`): `nf_nat_setup_info` on the packet's
/// new connection, then `NF_ACCEPT`.
#[inline(always)]
fn nat(n: &NatTarget, batch: &mut Batch<'_>, i: usize, cx: &mut TargetCx<'_>) -> Step {
    use crate::nat::Manip;
    let CtState::Tracked { slot, info } = batch.ct(i) else {
        return Step::Accept;
    };
    if !matches!(info, CtInfo::New | CtInfo::Related | CtInfo::RelatedReply) {
        return Step::Accept;
    }
    let v4 = |a: std::net::Ipv4Addr| crate::conntrack::tuple::addr(IpAddr::V4(a));
    let (mut range, m) = match *n {
        NatTarget::Snat(r) => (r, Manip::Src),
        NatTarget::Dnat(r) => (r, Manip::Dst),
        NatTarget::Masquerade(r) => {
            // `nf_nat_masquerade_ipv4`: the source the route out would
            // pick (`inet_select_addr(out, nh, RT_SCOPE_UNIVERSE)`); no
            // address on the port: drop.
            let Some(out) = batch.oif(i) else {
                return Step::Drop(cx.table_drop);
            };
            if let IpAddr::V6(d) = batch.meta(i).dst {
                // `nf_nat_masquerade_ipv6`: the source address selection
                // toward the destination on the port out.
                let Some(src) = cx.net.port(out).and_then(|p| p.source_v6(d)) else {
                    return Step::Drop(cx.table_drop);
                };
                if let Some(e) = cx.ct.entry_mut(slot) {
                    e.masq_port = out.0 + 1;
                }
                let a = crate::conntrack::tuple::addr(IpAddr::V6(src));
                let mut r = r;
                r.addrs = Some((a, a));
                return nat_setup(batch, slot, &r, Manip::Src, cx);
            }
            let nh = match batch.next_hop(i) {
                IpAddr::V4(a) if !a.is_unspecified() => a,
                _ => match batch.meta(i).dst {
                    IpAddr::V4(d) => d,
                    IpAddr::V6(_) => return Step::Drop(cx.table_drop),
                },
            };
            let Some(src) = cx.net.port(out).and_then(|p| p.source_v4(nh)) else {
                return Step::Drop(cx.table_drop);
            };
            if let Some(e) = cx.ct.entry_mut(slot) {
                e.masq_port = out.0 + 1;
            }
            let mut r = r;
            r.addrs = Some((v4(src), v4(src)));
            (r, Manip::Src)
        }
        NatTarget::Redirect(r) => {
            // `nf_nat_redirect_ipv4` / `_ipv6`: at OUTPUT the loopback
            // address, else the first address (of the packet's family) of
            // the port the packet came in on.
            let v6 = batch.meta(i).ip_version == 6;
            let dst = if cx.hook == Hook::Output {
                if v6 {
                    IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
                } else {
                    IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
                }
            } else {
                let port = batch.iif(i).and_then(|p| cx.net.port(p));
                let first = port.and_then(|p| {
                    if v6 {
                        p.v6.first().map(|n| IpAddr::V6(n.addr()))
                    } else {
                        p.v4.first().map(|n| IpAddr::V4(n.addr()))
                    }
                });
                match first {
                    Some(a) => a,
                    None => return Step::Drop(cx.table_drop),
                }
            };
            let a = crate::conntrack::tuple::addr(dst);
            let mut r = r;
            r.addrs = Some((a, a));
            (r, Manip::Dst)
        }
    };
    if m == Manip::Dst && range.addrs.is_none() {
        range.addrs = None;
    }
    nat_setup(batch, slot, &range, m, cx)
}

/// `nf_nat_setup_info` for a NAT target, then `NF_ACCEPT`.
#[inline(always)]
fn nat_setup(
    batch: &mut Batch<'_>,
    slot: u32,
    range: &crate::nat::Range,
    m: crate::nat::Manip,
    cx: &mut TargetCx<'_>,
) -> Step {
    match crate::nat::setup(cx.ct, cx.nat, slot, range, m) {
        Ok(changed) => {
            if changed {
                batch.count(Counter::NatBinding);
            }
            Step::Accept
        }
        Err(c) => Step::Drop(c),
    }
}

#[inline(always)]
fn log(spec: &LogSpec, batch: &mut Batch<'_>, i: usize, cx: &mut TargetCx<'_>) {
    let name =
        |p: Option<crate::route::PortId>| p.and_then(|p| cx.net.port(p)).map(|c| c.name.as_str());
    let ctx = LogContext {
        in_iface: name(batch.iif(i)),
        out_iface: name(batch.oif(i)),
        mark: batch.mark(i),
        uid_gid: None,
    };
    let full = cx.log.ring_full();
    cx.log
        .log(spec, batch.frame(i), batch.meta(i), &ctx, cx.now_ns);
    if cx.log.ring_full() != full {
        batch.count(Counter::LogRingFull);
    }
}

/// The `reject.<reason>` counter of a [`NoReply`].
fn no_reply_counter(n: NoReply) -> Counter {
    match n {
        NoReply::NotIpv4 => Counter::RejectNotIpv4,
        NoReply::Fragment => Counter::RejectFragment,
        NoReply::BadChecksum => Counter::RejectBadChecksum,
        NoReply::NotHost => Counter::RejectNotHost,
        NoReply::Broadcast => Counter::RejectBroadcast,
        NoReply::IcmpError => Counter::RejectIcmpError,
        NoReply::TinyMtu => Counter::RejectTinyMtu,
        NoReply::NotTcp => Counter::RejectNotTcp,
        NoReply::Truncated => Counter::RejectTruncated,
        NoReply::Rst => Counter::RejectRst,
        NoReply::BufferTooSmall => Counter::RejectBufferTooSmall,
    }
}

/// Builds and sends the answer `-j REJECT --reject-with with` gives
/// packet `i` (the caller drops the packet).
#[inline(always)]
fn reject(with: RejectWith, batch: &mut Batch<'_>, i: usize, cx: &mut TargetCx<'_>) {
    let meta = *batch.meta(i);
    let icmp = with.icmp_code().is_some();
    let mut ctx = RejectContext {
        src_mac: MacAddr::ZERO,
        dst_mac: MacAddr::ZERO,
        vlan: None,
        ttl: 64,
        route_broadcast: matches!(batch.dest(i), Dest::Broadcast | Dest::Multicast),
        ..RejectContext::default()
    };
    if icmp {
        // icmp_send routes the answer before building it: its source and
        // the MTU that caps it come from the route back.
        let Some((port, next_hop)) = route_back(batch, i, cx) else {
            return;
        };
        ctx.mtu = cx.net.port(port).map_or(576, |c| u32::from(c.mtu));
        let route_src = match cx.net.source_for(port, next_hop) {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        };
        ctx.icmp_src = reject::icmp_source(&meta, cx.hook == Hook::Input, route_src);
    }
    let built = reject::reject(with, batch.frame(i), &meta, &ctx, cx.reply);
    send_answer(batch, i, built, icmp, cx.reply);
}

/// Sends REJECT's answer built into `reply` (an ICMP error when `icmp`,
/// else a reset), or counts why there is none.
#[inline(always)]
fn send_answer(
    batch: &mut Batch<'_>,
    i: usize,
    built: Result<usize, NoReply>,
    icmp: bool,
    reply: &[u8],
) {
    match built {
        Ok(n) => {
            let (kind, counter) = if icmp {
                (EmitKind::IcmpError, Counter::RejectIcmp)
            } else {
                (EmitKind::Plain, Counter::RejectTcpReset)
            };
            batch.emit(i, &reply[..n], kind, counter);
        }
        Err(why) => batch.count(no_reply_counter(why)),
    }
}

/// The route an ICMP error about packet `i` takes back to its sender:
/// the port and next hop (to a broadcast source the kernel answers by
/// link broadcast, and loops a copy back to itself, which sluice does
/// not). `None`, counted, when the route is the box's own
/// (`icmp.suppressed`) or there is none (`icmp.no_route`).
fn route_back(
    batch: &mut Batch<'_>,
    i: usize,
    cx: &TargetCx<'_>,
) -> Option<(crate::route::PortId, IpAddr)> {
    let src = batch.meta(i).src;
    match cx.net.router.lookup(&FlowKey::output(src)) {
        RouteResult::Forward { port, next_hop } => Some((port, next_hop)),
        RouteResult::Broadcast { port } => Some((port, src)),
        RouteResult::Local => {
            batch.count(Counter::IcmpSuppressed);
            None
        }
        _ => {
            batch.count(Counter::IcmpNoRoute);
            None
        }
    }
}

/// [`reject`] for an ip6tables rule (`nf_send_unreach6`, `nf_send_reset6`):
/// the ICMPv6 answer's source is the rejected packet's destination in
/// INPUT, else the address the route back to the sender uses.
#[inline(always)]
fn reject6(
    with: sluice_config::iptables::ext::t_reject::RejectWith6,
    batch: &mut Batch<'_>,
    i: usize,
    cx: &mut TargetCx<'_>,
) {
    let meta = *batch.meta(i);
    let icmp = with.icmp6_code().is_some();
    let mut src = std::net::Ipv6Addr::UNSPECIFIED;
    if icmp {
        match icmp6_source(batch, i, cx) {
            Some(a) => src = a,
            None => return,
        }
    }
    let ctx = RejectContext::default();
    let built = super::reject6::reject6(with, batch.frame(i), &meta, &ctx, src, cx.reply);
    send_answer(batch, i, built, icmp, cx.reply);
}

/// The source of an ICMPv6 error about packet `i` (`icmp6_send`): its
/// destination in INPUT, else the address the route back to the sender
/// uses; `None` (counted) when there is none.
fn icmp6_source(batch: &mut Batch<'_>, i: usize, cx: &TargetCx<'_>) -> Option<std::net::Ipv6Addr> {
    let meta = *batch.meta(i);
    let IpAddr::V6(dst) = meta.dst else {
        batch.count(Counter::RejectNotIpv4);
        return None;
    };
    if cx.hook == Hook::Input {
        return Some(dst);
    }
    let (port, next_hop) = route_back(batch, i, cx)?;
    match cx.net.source_for(port, next_hop) {
        Some(IpAddr::V6(a)) => Some(a),
        _ => {
            batch.count(Counter::IcmpNoRoute);
            None
        }
    }
}

/// `ip6t_snpt_tg` / `ip6t_dnpt_tg` ([`super::npt`]).
#[inline(always)]
fn npt(n: &super::npt::Npt, batch: &mut Batch<'_>, i: usize, cx: &mut TargetCx<'_>) -> Step {
    let at = if n.snpt { 8 } else { 24 };
    let (frame, meta) = batch.frame_meta_mut(i);
    let l3 = usize::from(meta.l3_off);
    let Some(bytes) = frame.get_mut(l3 + at..l3 + at + 16) else {
        return Step::Drop(cx.table_drop);
    };
    let mut a = [0u8; 16];
    a.copy_from_slice(bytes);
    // Mapped whatever the address (the kernel does not test the prefix);
    // left half-mapped when it cannot be.
    let mapped = n.map(&mut a);
    bytes.copy_from_slice(&a);
    let ip = std::net::IpAddr::V6(std::net::Ipv6Addr::from(a));
    if n.snpt {
        meta.src = ip;
    } else {
        meta.dst = ip;
    }
    if !mapped {
        // icmpv6_send(ICMPV6_PARAMPROB, ICMPV6_HDR_FIELD, offset), about
        // the half-mapped packet.
        if let Some(src) = icmp6_source(batch, i, cx) {
            let meta = *batch.meta(i);
            let ctx = RejectContext::default();
            match super::reject6::icmp6_error(
                (4, 0, at as u32),
                false,
                batch.frame(i),
                &meta,
                &ctx,
                src,
                cx.reply,
            ) {
                Ok(len) => {
                    batch.emit(
                        i,
                        &cx.reply[..len],
                        EmitKind::IcmpError,
                        Counter::IcmpParamProblem,
                    );
                }
                Err(why) => batch.count(no_reply_counter(why)),
            }
        }
        return Step::Drop(cx.table_drop);
    }
    let (frame, _) = batch.frame_meta_mut(i);
    // An ICMPv6 error right after the header: the quoted packet's other
    // address, when inside `--src-pfx`, is mapped too.
    let icmp_err =
        frame.get(l3 + 6) == Some(&58) && frame.get(l3 + 40).is_some_and(|t| t & 0x80 == 0);
    if icmp_err {
        let q = l3 + 48 + if n.snpt { 24 } else { 8 };
        let Some(qb) = frame.get_mut(q..q + 16) else {
            return Step::Continue;
        };
        let mut b = [0u8; 16];
        b.copy_from_slice(qb);
        if n.matches(&b) {
            n.map(&mut b);
            qb.copy_from_slice(&b);
        }
    }
    Step::Continue
}

/// `TCPOPT_MSS` and its length.
const TCPOPT_MSS: u8 = 2;
const TCPOLEN_MSS: usize = 4;

/// `tcpmss_mangle_packet` for IPv4 and IPv6 (see the module docs);
/// `Err` drops.
#[inline(always)]
fn tcpmss(action: TcpmssAction, batch: &mut Batch<'_>, i: usize, net: &Net) -> Result<(), ()> {
    let meta = *batch.meta(i);
    if meta.frag_offset != 0 {
        return Ok(());
    }
    // `tcpmss_tg4` / `tcpmss_tg6`: the IP and TCP headers' least length
    // and the MSS a new option gets at most (RFC 879's 536, IPv6's 1220).
    let (minlen, default_mss) = if meta.ip_version == 6 {
        (60, 1220)
    } else {
        (40, 536)
    };
    let l4 = meta.l4_off as usize;
    let ihl = usize::from(meta.l4_off - meta.l3_off);
    let len = usize::from(meta.ip_len).checked_sub(ihl).ok_or(())?;
    if len < 20 {
        return Err(());
    }
    let (hdr, newmss) = {
        let frame = batch.frame(i);
        let th = frame.get(l4..l4 + len).ok_or(())?;
        let hdr = usize::from(th[12] >> 4) * 4;
        if len < hdr || hdr < 20 {
            return Err(());
        }
        let newmss = match action {
            TcpmssAction::Set(m) => m,
            TcpmssAction::ClampToPmtu => {
                let out = batch
                    .oif(i)
                    .and_then(|p| net.port(p))
                    .map_or(u32::MAX, |c| u32::from(c.mtu));
                let back = reverse_mtu(net, meta.src);
                let min = out.min(back);
                if min <= minlen {
                    return Err(());
                }
                (min - minlen).min(u32::from(u16::MAX)) as u16
            }
        };
        // The kernel's walk: a kind 0 or 1, or a zero length, is one byte.
        let mut k = 20;
        while k + TCPOLEN_MSS <= hdr {
            if th[k] == TCPOPT_MSS && usize::from(th[k + 1]) == TCPOLEN_MSS {
                let old = u16::from_be_bytes([th[k + 2], th[k + 3]]);
                if old <= newmss {
                    return Ok(());
                }
                let at = l4 + k + 2;
                let f = batch.frame_mut(i);
                let new = newmss.to_be_bytes();
                let sum = u16::from_be_bytes([f[l4 + 16], f[l4 + 17]]);
                // inet_proto_csum_replace2 treats the value as an aligned
                // 16-bit word even when the option sits at an odd offset
                // (the checksum then comes out wrong): same bytes here.
                let sum = checksum::update_bytes(sum, false, &[f[at], f[at + 1]], &new);
                f[at..at + 2].copy_from_slice(&new);
                f[l4 + 16..l4 + 18].copy_from_slice(&sum.to_be_bytes());
                return Ok(());
            }
            k += if th[k] <= 1 || th[k + 1] == 0 {
                1
            } else {
                usize::from(th[k + 1])
            };
        }
        (hdr, newmss)
    };
    // No MSS option: add one, if there is no data and the data offset
    // has room.
    if len > hdr || hdr >= 15 * 4 {
        return Ok(());
    }
    if !batch.grow_ip(i, TCPOLEN_MSS as u16) {
        return Err(());
    }
    let newmss = newmss.min(default_mss);
    let f = batch.frame_mut(i);
    let th = &mut f[l4..l4 + len + TCPOLEN_MSS];
    th.copy_within(20..len, 20 + TCPOLEN_MSS);
    let m = newmss.to_be_bytes();
    th[20..24].copy_from_slice(&[TCPOPT_MSS, TCPOLEN_MSS as u8, m[0], m[1]]);
    let old_word = u16::from_be_bytes([th[12], th[13]]);
    th[12] = (th[12] & 0x0f) | ((((hdr + TCPOLEN_MSS) / 4) as u8) << 4);
    let new_word = u16::from_be_bytes([th[12], th[13]]);
    let mut sum = u16::from_be_bytes([th[16], th[17]]);
    sum = checksum::update16(sum, len as u16, (len + TCPOLEN_MSS) as u16);
    sum = checksum::update32(sum, 0, u32::from_be_bytes([th[20], th[21], th[22], th[23]]));
    sum = checksum::update16(sum, old_word, new_word);
    th[16..18].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// `tcpmss_reverse_mtu`: the MTU of the route back to `src` (`lo`'s
/// 65536 for a local one; no route: no limit).
fn reverse_mtu(net: &Net, src: IpAddr) -> u32 {
    match net.router.lookup(&FlowKey::output(src)) {
        RouteResult::Forward { port, .. } | RouteResult::Broadcast { port } => {
            net.port(port).map_or(u32::MAX, |c| u32::from(c.mtu))
        }
        RouteResult::Local => 65536,
        _ => u32::MAX,
    }
}

/// A NAT target, with its range as `nf_nat_range2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NatTarget {
    Snat(crate::nat::Range),
    Dnat(crate::nat::Range),
    /// The address is the egress port's, chosen per packet.
    Masquerade(crate::nat::Range),
    /// The address is the ingress port's primary one (127.0.0.1 at
    /// OUTPUT), chosen per packet.
    Redirect(crate::nat::Range),
}

pub(crate) fn nat_range(
    r: &sluice_config::iptables::ext::t_nat::NatRange,
    random: bool,
    random_fully: bool,
    persistent: bool,
) -> crate::nat::Range {
    use crate::conntrack::tuple::addr;
    crate::nat::Range {
        addrs: r.addrs.map(|a| (addr(a.min), addr(a.max))),
        ports: r.ports.map(|p| (p.min, p.max)),
        base: r.ports.and_then(|p| p.base),
        random,
        random_fully,
        persistent,
    }
}
