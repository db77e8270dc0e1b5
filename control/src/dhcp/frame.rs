//! The DHCP client's frames: Ethernet + IPv4 + UDP around a DHCP message
//! ([`smoltcp::wire::DhcpRepr`] encodes and decodes the message itself),
//! as a `dhclient` packet socket writes and reads them.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

/// The DHCP client's and server's UDP ports.
pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;

/// Options asked for (RFC 2132): subnet mask, router, DNS, lease time,
/// T1, T2.
const PARAMS: &[u8] = &[1, 3, 6, 51, 58, 59];

/// What the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    pub kind: DhcpMessageType,
    pub xid: u32,
    pub secs: u16,
    pub mac: [u8; 6],
    /// `ciaddr`: the leased address when renewing or rebinding.
    pub ciaddr: Ipv4Addr,
    /// Option 50, in SELECTING's REQUEST.
    pub requested: Option<Ipv4Addr>,
    /// Option 54, in SELECTING's REQUEST.
    pub server_id: Option<Ipv4Addr>,
    /// IP source and destination; the destination MAC.
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dst_mac: [u8; 6],
}

/// Builds the frame of `o`.
pub fn build(o: &Out) -> Vec<u8> {
    let repr = DhcpRepr {
        message_type: o.kind,
        transaction_id: o.xid,
        secs: o.secs,
        client_hardware_address: EthernetAddress(o.mac),
        client_ip: o.ciaddr,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: o.requested,
        client_identifier: Some(EthernetAddress(o.mac)),
        server_identifier: o.server_id,
        parameter_request_list: Some(PARAMS),
        dns_servers: None,
        max_size: Some(1500),
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    frame(
        (o.mac, o.dst_mac),
        (o.src, o.dst),
        (CLIENT_PORT, SERVER_PORT),
        &repr,
    )
}

/// Ethernet + IPv4 + UDP around `repr`: `(source, destination)` each.
fn frame(
    macs: ([u8; 6], [u8; 6]),
    ips: (Ipv4Addr, Ipv4Addr),
    ports: (u16, u16),
    repr: &DhcpRepr<'_>,
) -> Vec<u8> {
    let dhcp_len = repr.buffer_len();
    let udp_len = 8 + dhcp_len;
    let ip = Ipv4Repr {
        src_addr: ips.0,
        dst_addr: ips.1,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(macs.0),
        dst_addr: EthernetAddress(macs.1),
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + udp_len];
    let caps = ChecksumCapabilities::default();
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, &caps);
    let mut u = UdpPacket::new_unchecked(p.payload_mut());
    UdpRepr {
        src_port: ports.0,
        dst_port: ports.1,
    }
    .emit(
        &mut u,
        &IpAddress::Ipv4(ips.0),
        &IpAddress::Ipv4(ips.1),
        dhcp_len,
        |payload| {
            // The buffer is sized by `buffer_len`: emit cannot run short.
            let _ = repr.emit(&mut DhcpPacket::new_unchecked(payload));
        },
        &caps,
    );
    buf
}

/// What the client reads of a server's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct In {
    pub kind: DhcpMessageType,
    pub xid: u32,
    pub chaddr: [u8; 6],
    pub yiaddr: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub lease: Option<u32>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
    /// The frame's source MAC (the server, or the relay's router).
    pub src_mac: [u8; 6],
    /// The IP source (the server, or a relay).
    pub src: Ipv4Addr,
}

/// Reads a frame the dataplane handed over (UDP 67 → 68); `None` when it
/// is no valid DHCP reply (bad checksum, truncated, not BOOTREPLY).
pub fn parse(frame: &[u8]) -> Option<In> {
    let caps = ChecksumCapabilities::default();
    let f = EthernetFrame::new_checked(frame).ok()?;
    if f.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let p = Ipv4Packet::new_checked(f.payload()).ok()?;
    let ip = Ipv4Repr::parse(&p, &caps).ok()?;
    if ip.next_header != IpProtocol::Udp {
        return None;
    }
    let u = UdpPacket::new_checked(p.payload()).ok()?;
    UdpRepr::parse(
        &u,
        &IpAddress::Ipv4(ip.src_addr),
        &IpAddress::Ipv4(ip.dst_addr),
        &caps,
    )
    .ok()?;
    if u.src_port() != SERVER_PORT || u.dst_port() != CLIENT_PORT {
        return None;
    }
    let d = DhcpPacket::new_checked(u.payload()).ok()?;
    let r = DhcpRepr::parse(&d).ok()?;
    Some(In {
        kind: r.message_type,
        xid: r.transaction_id,
        chaddr: r.client_hardware_address.0,
        yiaddr: r.your_ip,
        server_id: r.server_identifier,
        subnet_mask: r.subnet_mask,
        router: r.router,
        lease: r.lease_duration,
        t1: r.renew_duration,
        t2: r.rebind_duration,
        src_mac: f.src_addr().0,
        src: ip.src_addr,
    })
}

/// A server's answer as a frame (the tests' fake server).
#[cfg(test)]
pub fn server_frame(i: &In, dst_mac: [u8; 6], dst: Ipv4Addr) -> Vec<u8> {
    // smoltcp parses T1 and T2 but does not emit them.
    let t1 = i.t1.unwrap_or(0).to_be_bytes();
    let t2 = i.t2.unwrap_or(0).to_be_bytes();
    let mut extra = Vec::new();
    if i.t1.is_some() {
        extra.push(smoltcp::wire::DhcpOption {
            kind: 58,
            data: &t1,
        });
    }
    if i.t2.is_some() {
        extra.push(smoltcp::wire::DhcpOption {
            kind: 59,
            data: &t2,
        });
    }
    let repr = DhcpRepr {
        message_type: i.kind,
        transaction_id: i.xid,
        secs: 0,
        client_hardware_address: EthernetAddress(i.chaddr),
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: i.yiaddr,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: i.router,
        subnet_mask: i.subnet_mask,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: i.server_id,
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: i.lease,
        renew_duration: i.t1,
        rebind_duration: i.t2,
        additional_options: &extra,
    };
    frame(
        (i.src_mac, dst_mac),
        (i.src, dst),
        (SERVER_PORT, CLIENT_PORT),
        &repr,
    )
}
