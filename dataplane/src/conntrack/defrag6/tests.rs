//! The reassembler against hand-built fragments: in order, out of order,
//! duplicates, overlaps, timeouts, the memory limit, sizes; and the
//! output split (`ip6_fragment`) fed back in.

use super::*;

const S: u64 = NS;

/// An IPv6 packet: fixed header (class `tclass`, next `next`), then `rest`.
fn ipv6(tclass: u8, next: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; HEADER_LEN];
    p[0] = 0x60 | (tclass >> 4);
    p[1] = tclass << 4;
    p[4..6].copy_from_slice(&(rest.len() as u16).to_be_bytes());
    p[6] = next;
    p[7] = 64;
    p[8..24].copy_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p[24..40].copy_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p.extend_from_slice(rest);
    p
}

/// A fragment of datagram `id` carrying UDP data.
fn frag(id: u32, offset: usize, more: bool, data: &[u8], tclass: u8) -> Vec<u8> {
    let mut rest = vec![17, 0];
    rest.extend_from_slice(&((offset as u16) | u16::from(more)).to_be_bytes());
    rest.extend_from_slice(&id.to_be_bytes());
    rest.extend_from_slice(data);
    ipv6(tclass, 44, &rest)
}

/// A UDP datagram's payload (header and data) of `len` bytes.
fn udp(len: usize) -> Vec<u8> {
    let mut d: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    d[0..4].copy_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    d[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    d
}

/// `data` cut into fragments of `chunk` bytes.
fn cut(id: u32, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    data.chunks(chunk)
        .enumerate()
        .map(|(k, c)| frag(id, k * chunk, (k + 1) * chunk < data.len(), c, 0))
        .collect()
}

fn out() -> Vec<u8> {
    vec![0; HEADER_LEN + MAX_PLEN]
}

fn run(d: &mut Defrag6, frags: &[Vec<u8>], now: u64, buf: &mut [u8]) -> Vec<Gather> {
    frags.iter().map(|f| d.gather(f, 0, 1, now, buf)).collect()
}

#[test]
fn in_order() {
    let data = udp(3000);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let r = run(&mut d, &cut(7, &data, 1448), 0, &mut buf);
    assert_eq!(&r[..2], &[Gather::Stolen, Gather::Stolen]);
    assert_eq!(
        r[2],
        Gather::Complete {
            len: 3040,
            frag_max_size: 1496
        }
    );
    assert_eq!(buf[..3040], ipv6(0, 17, &data)[..]);
    assert_eq!((d.queued(), d.mem()), (0, 0));
}

#[test]
fn out_of_order() {
    let data = udp(5000);
    let mut frags = cut(9, &data, 1232);
    frags.reverse();
    frags.swap(1, 3);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let r = run(&mut d, &frags, 0, &mut buf);
    assert!(r[..4].iter().all(|g| *g == Gather::Stolen), "{r:?}");
    assert_eq!(
        r[4],
        Gather::Complete {
            len: 5040,
            frag_max_size: 40 + 8 + 1232
        }
    );
    assert_eq!(buf[..5040], ipv6(0, 17, &data)[..]);
}

#[test]
fn duplicate_is_dropped_and_the_datagram_kept() {
    let data = udp(3000);
    let frags = cut(1, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[0], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(
        d.gather(&frags[0], 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragDuplicate)
    );
    // A piece inside the run held is a duplicate too.
    let inner = frag(1, 8, true, &data[8..16], 0);
    assert_eq!(
        d.gather(&inner, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragDuplicate)
    );
    assert_eq!(d.gather(&frags[1], 0, 1, 0, &mut buf), Gather::Stolen);
    assert!(matches!(
        d.gather(&frags[2], 0, 1, 0, &mut buf),
        Gather::Complete { len: 3040, .. }
    ));
    assert_eq!(buf[..3040], ipv6(0, 17, &data)[..]);
}

#[test]
fn overlap_drops_the_whole_datagram() {
    let data = udp(3000);
    let frags = cut(2, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[0], 0, 1, 0, &mut buf), Gather::Stolen);
    let over = frag(2, 1440, true, &data[1440..2896], 0);
    assert_eq!(
        d.gather(&over, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragOverlap)
    );
    assert_eq!((d.queued(), d.mem()), (0, 0));
    // What follows starts a new datagram that never completes.
    assert_eq!(d.gather(&frags[1], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[2], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.queued(), 1);
}

#[test]
fn overlap_before_the_tail() {
    let data = udp(4000);
    let frags = cut(3, &data, 1000);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[3], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[1], 0, 1, 0, &mut buf), Gather::Stolen);
    // Spans the end of [1000, 2000) into the hole: not inside one run.
    let over = frag(3, 1992, true, &data[1992..2008], 0);
    assert_eq!(
        d.gather(&over, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragOverlap)
    );
    assert_eq!(d.queued(), 0);
}

#[test]
fn timeout_gives_the_datagram_up() {
    let data = udp(3000);
    let frags = cut(4, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[0], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[2], 0, 1, 0, &mut buf), Gather::Stolen);
    let mut gone = Vec::new();
    d.expire(59 * S, usize::MAX, |e| gone.push(e));
    assert!(gone.is_empty());
    d.expire(60 * S, usize::MAX, |e| gone.push(e));
    assert_eq!(gone, [Expired { first_in: true }]);
    assert_eq!((d.queued(), d.mem()), (0, 0));
    // The missing piece alone now: a new datagram, no first fragment.
    assert_eq!(d.gather(&frags[1], 0, 1, 61 * S, &mut buf), Gather::Stolen);
    d.expire(121 * S, usize::MAX, |e| gone.push(e));
    assert_eq!(gone[1], Expired { first_in: false });
}

#[test]
fn timeout_found_on_lookup() {
    let data = udp(3000);
    let frags = cut(5, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[0], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[1], 0, 1, 0, &mut buf), Gather::Stolen);
    // Expired but not collected: the last fragment starts a new queue.
    assert_eq!(d.gather(&frags[2], 0, 1, 60 * S, &mut buf), Gather::Stolen);
    assert_eq!(d.queued(), 1);
}

#[test]
fn memory_limit() {
    let data = udp(3000);
    let mut d = Defrag6::new(8 * 1024, 60);
    let mut buf = out();
    let mut taken = 0;
    let mut refused = 0;
    for id in 0..20 {
        match d.gather(&cut(id, &data, 1448)[0], 0, 1, 0, &mut buf) {
            Gather::Stolen => taken += 1,
            Gather::Drop(Counter::DefragMemLimit) => refused += 1,
            g => panic!("{g:?}"),
        }
    }
    assert!(taken >= 2 && refused > 0, "{taken} {refused}");
    assert!(d.mem() <= 8 * 1024 + BLOCK * 3 + QUEUE_COST);
    // Fragments of datagrams already held are refused too (inet_frag_find).
    let second = &cut(0, &data, 1448)[1];
    assert_eq!(
        d.gather(second, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragMemLimit)
    );
    d.expire(60 * S, usize::MAX, |_| {});
    assert_eq!(d.mem(), 0);
    assert_eq!(d.gather(second, 0, 1, 60 * S, &mut buf), Gather::Stolen);
}

#[test]
fn too_big() {
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let f = frag(6, 65528, false, &[0; 16], 0);
    assert_eq!(
        d.gather(&f, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragTooBig)
    );
    // 65 528 + 8 bytes of data after 8 bytes of hop-by-hop header: a
    // 65 544-byte payload.
    let mut rest = vec![44, 0, 1, 4, 0, 0, 0, 0];
    rest.extend_from_slice(&[17, 0, 0xff, 0xf8, 0, 0, 0, 6]);
    rest.extend_from_slice(&[0; 7]);
    let last = ipv6(0, 0, &rest);
    assert_eq!(d.gather(&last, 0, 1, 0, &mut buf), Gather::Stolen);
    let mut big = udp(65528);
    big[4..6].copy_from_slice(&[0, 0]);
    let mut rest = vec![44, 0, 1, 4, 0, 0, 0, 0];
    rest.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 6]);
    rest.extend_from_slice(&big[..65512]);
    let first = ipv6(0, 0, &rest);
    assert_eq!(d.gather(&first, 0, 1, 0, &mut buf), Gather::Stolen);
    let mid = {
        let mut rest = vec![44, 0, 1, 4, 0, 0, 0, 0];
        rest.extend_from_slice(&[17, 0, 0xff, 0xe9, 0, 0, 0, 6]);
        rest.extend_from_slice(&big[65512..65528]);
        ipv6(0, 0, &rest)
    };
    assert_eq!(
        d.gather(&mid, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragTooBig)
    );
    assert_eq!((d.queued(), d.mem()), (0, 0));
}

#[test]
fn not_fragments_and_atomic_fragments() {
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let plain = ipv6(0, 17, &udp(100));
    assert_eq!(d.gather(&plain, 0, 1, 0, &mut buf), Gather::Accept);
    // Atomic: complete at once, without its fragment header.
    let atomic = frag(8, 0, false, &udp(100), 0);
    assert_eq!(
        d.gather(&atomic, 0, 1, 0, &mut buf),
        Gather::Complete {
            len: 140,
            frag_max_size: 148
        }
    );
    assert_eq!(buf[..140], plain[..]);
    assert_eq!(split6(140, 40, 1500, 148), Ok(None));
}

#[test]
fn truncated_first_fragment_and_unaligned_pass_unreassembled() {
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let short = frag(9, 0, true, &[0; 4], 0);
    assert_eq!(d.gather(&short, 0, 1, 0, &mut buf), Gather::Accept);
    let first = frag(10, 0, true, &udp(1448), 0);
    assert_eq!(d.gather(&first, 0, 1, 0, &mut buf), Gather::Stolen);
    let odd = frag(10, 1448, true, &[0; 13], 0);
    assert_eq!(
        d.gather(&odd, 0, 1, 0, &mut buf),
        Gather::AcceptCounted(Counter::DefragUnaligned)
    );
    assert_eq!((d.queued(), d.mem()), (0, 0));
    let empty = frag(11, 8, true, &[], 0);
    assert_eq!(
        d.gather(&empty, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragEmpty)
    );
}

#[test]
fn bad_last_fragment() {
    let data = udp(3000);
    let frags = cut(12, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[2], 0, 1, 0, &mut buf), Gather::Stolen);
    let other_end = frag(12, 2896, false, &data[2896..2904], 0);
    assert_eq!(
        d.gather(&other_end, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragBadEnd)
    );
    let past = frag(12, 4000, true, &[0; 8], 0);
    assert_eq!(
        d.gather(&past, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragBadEnd)
    );
    // The datagram is still whole when the rest comes.
    run(&mut d, &frags[..1], 0, &mut buf);
    assert!(matches!(
        d.gather(&frags[1], 0, 1, 0, &mut buf),
        Gather::Complete { .. }
    ));
}

#[test]
fn ecn_is_combined() {
    let data = udp(3000);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    // ECT(0) (tclass ..10) and CE (..11): CE.
    let a = frag(13, 0, true, &data[..1448], 0x02);
    let b = frag(13, 1448, false, &data[1448..], 0x03);
    d.gather(&a, 0, 1, 0, &mut buf);
    assert!(matches!(
        d.gather(&b, 0, 1, 0, &mut buf),
        Gather::Complete { .. }
    ));
    assert_eq!((buf[1] >> 4) & 3, 3);
    // Not-ECT with ECT(0): dropped.
    let a = frag(14, 0, true, &data[..1448], 0x00);
    let b = frag(14, 1448, false, &data[1448..], 0x02);
    d.gather(&a, 0, 1, 0, &mut buf);
    assert_eq!(
        d.gather(&b, 0, 1, 0, &mut buf),
        Gather::Drop(Counter::DefragEcn)
    );
}

#[test]
fn queues_apart_by_user_and_interface() {
    let data = udp(3000);
    let frags = cut(15, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[0], 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[1], 1, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[2], 0, 2, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.queued(), 3);
}

#[test]
fn split_as_received_and_back() {
    // 4 000 bytes of UDP in fragments of 1 232 bytes of data (a 1 280-byte
    // path), reassembled, leave as they came when the route allows.
    let data = udp(4000);
    let frags = cut(16, &data, 1232);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let r = run(&mut d, &frags, 0, &mut buf);
    let Gather::Complete { len, frag_max_size } = r[3] else {
        panic!("{r:?}")
    };
    assert_eq!(frag_max_size, 1280);
    let whole = buf[..len].to_vec();
    let chunk = split6(len, 40, 1500, frag_max_size).unwrap().unwrap();
    assert_eq!(chunk, 1232);
    let mut f = vec![0; 1500];
    for (k, orig) in frags.iter().enumerate() {
        let n = write_fragment6(&whole, 40, 6, chunk, k, 16, &mut f);
        assert_eq!(&f[..n], &orig[..], "fragment {k}");
    }
    assert_eq!(write_fragment6(&whole, 40, 6, chunk, 4, 16, &mut f), 0);
    // A route narrower than the fragments received: packet too big.
    assert_eq!(split6(len, 40, 1279, frag_max_size), Err(1279));
    // A datagram that was not reassembled and fits: not split.
    assert_eq!(split6(1500, 40, 1500, 0), Ok(None));
}

#[test]
fn unfragmentable_headers_kept() {
    // Hop-by-hop (8 bytes) before the fragment header.
    let data = udp(2000);
    let mk = |off: usize, more: bool, d: &[u8]| {
        let mut rest = vec![44, 0, 1, 4, 0, 0, 0, 0];
        rest.extend_from_slice(&[17, 0]);
        rest.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
        rest.extend_from_slice(&17u32.to_be_bytes());
        rest.extend_from_slice(d);
        ipv6(0, 0, &rest)
    };
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(
        d.gather(&mk(1000, false, &data[1000..]), 0, 1, 0, &mut buf),
        Gather::Stolen
    );
    let g = d.gather(&mk(0, true, &data[..1000]), 0, 1, 0, &mut buf);
    assert_eq!(
        g,
        Gather::Complete {
            len: 2048,
            frag_max_size: 40 + 8 + 8 + 1000
        }
    );
    let mut want = vec![17, 0, 1, 4, 0, 0, 0, 0];
    want.extend_from_slice(&data);
    assert_eq!(buf[..2048], ipv6(0, 0, &want)[..]);
    // Split again: the hop-by-hop header in every fragment; fragments
    // are never cut below the IPv6 minimum MTU (ip6_fragment raises
    // frag_max_size to 1 280), so the first carries 1 224 bytes, not 1 000.
    let chunk = split6(2048, 48, 1500, 1056).unwrap().unwrap();
    assert_eq!(chunk, 1224);
    let mut f = vec![0; 1500];
    let n = write_fragment6(&buf[..2048], 48, 40, chunk, 0, 17, &mut f);
    assert!(f[..n] == mk(0, true, &data[..1224])[..]);
    let n = write_fragment6(&buf[..2048], 48, 40, chunk, 1, 17, &mut f);
    assert!(f[..n] == mk(1224, false, &data[1224..])[..]);
}
