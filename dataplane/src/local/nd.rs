//! Neighbour discovery (RFC 4861) for the box's own addresses, as the
//! kernel's `ndisc_rcv`, `ndisc_recv_ns`, `ndisc_recv_na` and
//! `ndisc_send_ns` do it on a router (forwarding on):
//!
//! * every NS/NA must have hop limit 255, code 0, a valid checksum, a
//!   whole body and well-framed options, a non-multicast target;
//! * an NS whose target is one of the port's addresses (or the port's
//!   subnet-router anycast address) is answered by an NA, router flag set,
//!   solicited (to the sender) or, for duplicate address detection
//!   (unspecified source, to the solicited-node group), unsolicited to all
//!   nodes. The override flag and the target link-layer address option are
//!   set as `ndisc_recv_ns` sets them: override only for our unicast
//!   addresses and a multicast NS (or DAD), the option only for a
//!   multicast NS (or DAD);
//! * an NA updates a neighbour that exists and has not failed (RFC 9131
//!   creation is off: `accept_untracked_na` 0); an NA for one of our own
//!   addresses is ignored (duplicate address).

use std::net::{IpAddr, Ipv6Addr};

use super::Delivery;
use crate::io::PortId;
use crate::io::{Desc, Umem};
use crate::net::Net;
use crate::net::{solicited_node, ALL_NODES};
use crate::packet::Counter;
use crate::wire::{self, icmpv6, EtherType, IpProtocol, MacAddr, PacketMeta};

/// Length of an NS or NA with one link-layer address option.
const ND_WITH_LLADDR: usize = icmpv6::NDISC_LEN + 8;

/// `ipv6_addr_is_solict_mult`: ff02::1:ffXX:XXXX.
fn is_solicited_node(a: Ipv6Addr) -> bool {
    let s = a.segments();
    s[0] == 0xff02 && s[1..5] == [0, 0, 0, 0] && s[5] == 1 && s[6] & 0xff00 == 0xff00
}

/// An NS or NA that passed INPUT on `iif` (MAC `mac`).
pub(crate) fn input(
    umem: &mut Umem,
    mut d: Desc,
    meta: &PacketMeta,
    net: &Net,
    iif: PortId,
    mac: MacAddr,
) -> Delivery {
    let (IpAddr::V6(src), IpAddr::V6(dst)) = (meta.src, meta.dst) else {
        return Delivery::Drop(Counter::NdInvalid);
    };
    let l3 = meta.l3_off as usize;
    let l4 = meta.l4_off as usize;
    let end = super::ip_end(meta, d.len as usize);
    let (target, kind, slla, tlla, flags) = {
        let msg = &umem.bytes(d)[l4..end];
        if meta.ttl != 255 || meta.icmp_code != 0 {
            return Delivery::Drop(Counter::NdInvalid);
        }
        let Ok(m) = icmpv6::Packet::new_checked(msg) else {
            return Delivery::Drop(Counter::NdInvalid);
        };
        if !m.verify_checksum(&meta.src, &meta.dst) {
            return Delivery::Drop(Counter::LocalIcmpChecksum);
        }
        if m.check_ndisc_options().is_err() {
            return Delivery::Drop(Counter::NdInvalid);
        }
        let Some(target) = m.target_addr() else {
            return Delivery::Drop(Counter::NdInvalid);
        };
        (
            target,
            m.msg_type(),
            m.source_ll_addr(),
            m.target_ll_addr(),
            m.na_flags(),
        )
    };
    if target.is_multicast() {
        return Delivery::Drop(Counter::NdInvalid);
    }
    let Some(port) = net.port(iif) else {
        return Delivery::Drop(Counter::NdInvalid);
    };
    if kind == icmpv6::types::NEIGHBOR_ADVERT {
        let solicited = flags & icmpv6::na_flags::SOLICITED != 0;
        if dst.is_multicast() && solicited {
            return Delivery::Drop(Counter::NdInvalid);
        }
        if port.has_addr(IpAddr::V6(target)) {
            return Delivery::Drop(Counter::NdNaIgnored);
        }
        return Delivery::Advert {
            target,
            mac: tlla,
            solicited,
            override_flag: flags & icmpv6::na_flags::OVERRIDE != 0,
        };
    }

    // A solicitation.
    let dad = src.is_unspecified();
    if dad && (!is_solicited_node(dst) || slla.is_some()) {
        return Delivery::Drop(Counter::NdInvalid);
    }
    let ours = port.has_addr(IpAddr::V6(target));
    if !ours && !port.anycast_v6.contains(&target) {
        return Delivery::Drop(Counter::NdNsOtherHost);
    }
    let multicast = dst.is_multicast();
    let (na_dst, solicited, override_flag, with_lladdr) = if dad {
        (ALL_NODES, false, ours, true)
    } else {
        (src, true, ours && multicast, multicast)
    };
    let na_src = if ours {
        target
    } else {
        match port.source_v6(na_dst) {
            Some(a) => a,
            None => return Delivery::Drop(Counter::NdInvalid),
        }
    };
    let len = if with_lladdr {
        ND_WITH_LLADDR
    } else {
        icmpv6::NDISC_LEN
    };
    // The advertisement replaces the solicitation from its IPv6 header on.
    if !umem.set_len(&mut d, l3 + wire::ipv6::HEADER_LEN + len) {
        return Delivery::Drop(Counter::NdInvalid);
    }
    let mut flags = icmpv6::na_flags::ROUTER;
    if solicited {
        flags |= icmpv6::na_flags::SOLICITED;
    }
    if override_flag {
        flags |= icmpv6::na_flags::OVERRIDE;
    }
    let frame = umem.bytes_mut(d);
    write_nd(
        &mut frame[l3..],
        icmpv6::types::NEIGHBOR_ADVERT,
        flags,
        na_src,
        na_dst,
        target,
        with_lladdr.then_some((icmpv6::ndisc_option::TARGET_LL_ADDR, mac)),
    );
    let start = l3 - wire::ethernet::HEADER_LEN;
    crate::wire::ethernet::write_placeholder(&mut frame[start..], EtherType::IPV6);
    if !umem.adjust_head(&mut d, start as isize) {
        return Delivery::Drop(Counter::NdInvalid);
    }
    Delivery::Solicited {
        desc: d,
        learn: if dad { None } else { slla.map(|m| (src, m)) },
        needs_entry: !dad && multicast && slla.is_none(),
    }
}

/// Writes an IPv6 header and an NS/NA (hop limit 255) into `buf`, which
/// is exactly that long.
fn write_nd(
    buf: &mut [u8],
    kind: u8,
    flags: u8,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    lladdr: Option<(u8, MacAddr)>,
) {
    let body = buf.len() - wire::ipv6::HEADER_LEN;
    wire::ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 255,
        payload_len: body as u16,
    }
    .emit(&mut wire::ipv6::Packet::new_unchecked(&mut buf[..]));
    let msg = &mut buf[wire::ipv6::HEADER_LEN..];
    msg.fill(0);
    let mut m = icmpv6::Packet::new_unchecked(&mut msg[..]);
    m.set_msg_type(kind);
    m.set_msg_code(0);
    if kind == icmpv6::types::NEIGHBOR_ADVERT {
        m.set_na_flags(flags);
    }
    m.set_target_addr(target);
    if let Some((opt, mac)) = lladdr {
        let o = &mut msg[icmpv6::NDISC_LEN..];
        o[0] = opt;
        o[1] = 1;
        o[2..8].copy_from_slice(&mac.0);
    }
    icmpv6::Packet::new_unchecked(&mut msg[..]).fill_checksum(&IpAddr::V6(src), &IpAddr::V6(dst));
}

/// Builds a neighbour solicitation for `target` out of `port` (MAC `mac`),
/// to its solicited-node group or, for a unicast probe, to the target
/// itself, with our link-layer address. `None` without an IPv6 address on
/// the port or a free frame.
pub fn solicit(
    umem: &mut Umem,
    net: &Net,
    port: PortId,
    mac: MacAddr,
    target: Ipv6Addr,
    unicast: bool,
) -> Option<(Desc, PacketMeta)> {
    let src = net.port(port)?.source_v6(target)?;
    let dst = if unicast {
        target
    } else {
        solicited_node(target)
    };
    let mut d = umem.alloc()?;
    let l3 = wire::ethernet::HEADER_LEN;
    if !umem.set_len(&mut d, l3 + wire::ipv6::HEADER_LEN + ND_WITH_LLADDR) {
        umem.free(d);
        return None;
    }
    let frame = umem.bytes_mut(d);
    crate::wire::ethernet::write_placeholder(frame, EtherType::IPV6);
    write_nd(
        &mut frame[l3..],
        icmpv6::types::NEIGHBOR_SOLICIT,
        0,
        src,
        dst,
        target,
        Some((icmpv6::ndisc_option::SOURCE_LL_ADDR, mac)),
    );
    match wire::parse(umem.bytes(d)) {
        Ok(meta) => Some((d, meta)),
        Err(_) => {
            umem.free(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_groups() {
        assert!(is_solicited_node("ff02::1:ff00:1".parse().unwrap()));
        assert!(!is_solicited_node("ff02::1".parse().unwrap()));
        assert!(!is_solicited_node("ff05::1:ff00:1".parse().unwrap()));
    }
}
