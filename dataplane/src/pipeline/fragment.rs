//! IPv4 fragmentation on output (`ip_do_fragment`, `ip_options_fragment`).

use super::*;

/// `ip_do_fragment` (its slow path): splits the IPv4 packet of `d` into
/// fragments of at most `mtu` bytes. The first fragment stays in `d`;
/// the others go to new frames with their IP header at offset 14. Options
/// without the copied flag become NOPs in all but the first fragment
/// (`ip_options_fragment`). Returns the fragment count.
pub(super) fn fragment(
    umem: &mut Umem,
    d: Desc,
    meta: &PacketMeta,
    mtu: usize,
    out: &mut [Desc; MAX_FRAGS],
) -> Result<usize, Counter> {
    let l3 = meta.l3_off as usize;
    let (hlen, total, flags_off) = {
        let ip = wire::ipv4::Packet::new_unchecked(&umem.bytes(d)[l3..]);
        (ip.header_len(), ip.total_len() as usize, ip.frag_offset())
    };
    let space = mtu
        .checked_sub(hlen)
        .filter(|s| *s >= 8)
        .ok_or(Counter::OutputTooBig)?;
    let data = total - hlen;
    // Piece lengths: full pieces are multiples of 8.
    let piece = space & !7;
    let count = data.div_ceil(piece);
    if count > MAX_FRAGS {
        return Err(Counter::OutputTooBig);
    }
    let mut hdr = [0u8; wire::ipv4::MAX_HEADER_LEN];
    hdr[..hlen].copy_from_slice(&umem.bytes(d)[l3..l3 + hlen]);
    nop_uncopied_options(&mut hdr[wire::ipv4::HEADER_LEN..hlen]);
    let orig_mf = meta.more_frags;
    for k in 1..count {
        let off = k * piece;
        let len = piece.min(data - off);
        let Some(mut f) = umem.alloc() else {
            for g in &out[1..k] {
                umem.free(*g);
            }
            return Err(Counter::FragNoBuffer);
        };
        let at = ethernet::HEADER_LEN;
        if !umem.set_len(&mut f, at + hlen + len) {
            umem.free(f);
            for g in &out[1..k] {
                umem.free(*g);
            }
            return Err(Counter::FragNoBuffer);
        }
        umem.copy(d, l3 + hlen + off, f, at + hlen, len);
        let buf = umem.bytes_mut(f);
        buf[at..at + hlen].copy_from_slice(&hdr[..hlen]);
        let mut ip = wire::ipv4::Packet::new_unchecked(&mut buf[at..]);
        ip.set_total_len((hlen + len) as u16);
        ip.set_frag_offset(flags_off + off as u16);
        ip.set_more_frags(k + 1 < count || orig_mf);
        ip.set_dont_frag(false);
        ip.fill_checksum();
        out[k] = f;
    }
    // The first fragment: the original frame, cut.
    let buf = umem.bytes_mut(d);
    let mut ip = wire::ipv4::Packet::new_unchecked(&mut buf[l3..]);
    ip.set_total_len((hlen + piece) as u16);
    ip.set_more_frags(true);
    ip.fill_checksum();
    let mut first = d;
    first.len = (l3 + hlen + piece) as u32;
    out[0] = first;
    Ok(count)
}

/// `ip_options_fragment`: options without the copied flag become NOPs.
pub(super) fn nop_uncopied_options(opts: &mut [u8]) {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            wire::ipv4::OPT_END => return,
            wire::ipv4::OPT_NOP => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else { return };
                let len = len as usize;
                if len < 2 || i + len > opts.len() {
                    return;
                }
                if kind & 0x80 == 0 {
                    opts[i..i + len].fill(wire::ipv4::OPT_NOP);
                }
                i += len;
            }
        }
    }
}
