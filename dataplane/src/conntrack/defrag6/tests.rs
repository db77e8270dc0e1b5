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

fn out() -> Datagram {
    Datagram::new()
}

fn run(d: &mut Defrag6, frags: &[Vec<u8>], now: u64, buf: &mut Datagram) -> Vec<Gather> {
    frags.iter().map(|f| d.gather(f, 0, 1, now, buf)).collect()
}

#[test]
fn in_order() {
    let data = udp(3000);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    let r = run(&mut d, &cut(7, &data, 1448), 0, &mut buf);
    assert_eq!(&r[..2], &[Gather::Stolen, Gather::Stolen]);
    assert_eq!(r[2], Gather::Complete);
    assert_eq!((buf.bytes().len(), buf.frag_max_size()), (3040, 1496));
    assert!(buf.bytes() == ipv6(0, 17, &data));
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
    assert_eq!(r[4], Gather::Complete);
    assert_eq!(
        (buf.bytes().len(), buf.frag_max_size()),
        (5040, 40 + 8 + 1232)
    );
    assert!(buf.bytes() == ipv6(0, 17, &data));
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
    assert_eq!(d.gather(&frags[2], 0, 1, 0, &mut buf), Gather::Complete);
    assert_eq!(buf.bytes().len(), 3040);
    assert!(buf.bytes() == ipv6(0, 17, &data));
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
    d.expire(59 * S, usize::MAX, |e, _| gone.push(e));
    assert!(gone.is_empty());
    d.expire(60 * S, usize::MAX, |e, _| gone.push(e));
    assert_eq!(
        gone,
        [Expired {
            first_in: true,
            iif: 1
        }]
    );
    assert_eq!((d.queued(), d.mem()), (0, 0));
    // The missing piece alone now: a new datagram, no first fragment.
    assert_eq!(d.gather(&frags[1], 0, 1, 61 * S, &mut buf), Gather::Stolen);
    d.expire(121 * S, usize::MAX, |e, _| gone.push(e));
    assert_eq!(
        gone[1],
        Expired {
            first_in: false,
            iif: 1
        }
    );
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
    d.expire(60 * S, usize::MAX, |_, _| {});
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
    assert_eq!(d.gather(&atomic, 0, 1, 0, &mut buf), Gather::Complete);
    assert_eq!((buf.bytes().len(), buf.frag_max_size()), (140, 148));
    assert!(buf.bytes() == plain);
    // Not fragmented again: it leaves without its fragment header.
    assert_eq!(buf.split(1500), Ok(false));
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
    assert_eq!(d.gather(&frags[1], 0, 1, 0, &mut buf), Gather::Complete);
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
    assert_eq!(d.gather(&b, 0, 1, 0, &mut buf), Gather::Complete);
    assert_eq!((buf.bytes()[1] >> 4) & 3, 3);
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
fn split_as_received() {
    // 4 000 bytes of UDP in fragments of 1 232, 1 232, 1 232, 304 bytes of
    // data, arriving out of order: they leave as they came (checked
    // against Linux 6.18: `ip6_fragment`'s fast path over the frag_list),
    // even fragments smaller than the IPv6 minimum MTU.
    for chunk in [1232, 512] {
        let data = udp(4000);
        let frags = cut(16, &data, chunk);
        let mut order: Vec<usize> = (0..frags.len()).rev().collect();
        order.swap(0, 1);
        let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
        let mut buf = out();
        let r: Vec<Gather> = order
            .iter()
            .map(|&k| d.gather(&frags[k], 0, 1, 0, &mut buf))
            .collect();
        assert_eq!(r.last(), Some(&Gather::Complete), "{r:?}");
        assert_eq!(usize::from(buf.frag_max_size()), 48 + chunk);
        assert_eq!(buf.split(1500), Ok(true));
        assert_eq!(buf.pieces(), frags.len());
        let mut f = vec![0; 1500];
        for (k, orig) in frags.iter().enumerate() {
            let n = buf.fragment(k, 16, &mut f);
            assert!(f[..n] == orig[..], "fragment {k} of {chunk}");
        }
        assert_eq!(buf.fragment(frags.len(), 16, &mut f), 0);
        // A route narrower than the fragments received: packet too big.
        let fms = usize::from(buf.frag_max_size());
        assert_eq!(buf.split(fms - 1), Err(fms - 1));
        assert_eq!(buf.split(fms), Ok(true));
    }
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
    let last = mk(1000, false, &data[1000..]);
    let first = mk(0, true, &data[..1000]);
    assert_eq!(d.gather(&last, 0, 1, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&first, 0, 1, 0, &mut buf), Gather::Complete);
    assert_eq!(
        (buf.bytes().len(), buf.frag_max_size()),
        (2048, 40 + 8 + 8 + 1000)
    );
    let mut want = vec![17, 0, 1, 4, 0, 0, 0, 0];
    want.extend_from_slice(&data);
    assert!(buf.bytes() == ipv6(0, 0, &want));
    // Split again: the hop-by-hop header in every fragment.
    let mut f = vec![0; 1500];
    let n = buf.fragment(0, 17, &mut f);
    assert!(f[..n] == first[..]);
    let n = buf.fragment(1, 17, &mut f);
    assert!(f[..n] == last[..]);
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn any_order_with_duplicates_gives_the_datagram_back() {
    let mut rng = Lcg(7);
    let mut d = Defrag6::new(64 * 1024, 60);
    let mut buf = out();
    for round in 0..300u32 {
        let len = 16 + rng.next(6000);
        let data = udp(len);
        // At most PIECES fragments.
        let chunk = (8 * (1 + rng.next(180))).max(len.div_ceil(PIECES).next_multiple_of(8));
        let frags = cut(round, &data, chunk);
        // Every fragment once, in a shuffled order, some sent twice.
        let mut order: Vec<usize> = (0..frags.len()).collect();
        for k in (1..order.len()).rev() {
            order.swap(k, rng.next(k + 1));
        }
        let mut seen = vec![false; frags.len()];
        let mut sent = 0;
        let mut done = false;
        for &k in &order {
            let again = rng.next(4) == 0 && sent > 0;
            let g = d.gather(&frags[k], 0, 1, u64::from(round), &mut buf);
            seen[k] = true;
            sent += 1;
            if sent == frags.len() {
                assert_eq!(g, Gather::Complete, "round {round}");
                done = true;
            } else {
                assert_eq!(g, Gather::Stolen, "round {round}");
            }
            if again && !done {
                let j = rng.next(frags.len());
                if seen[j] {
                    let g = d.gather(&frags[j], 0, 1, u64::from(round), &mut buf);
                    assert_eq!(g, Gather::Drop(Counter::DefragDuplicate), "round {round}");
                }
            }
        }
        assert!(done);
        assert!(buf.bytes() == ipv6(0, 17, &data), "round {round}");
        assert_eq!(buf.pieces(), frags.len());
        let mut f = vec![0; 9000];
        for (k, orig) in frags.iter().enumerate() {
            let n = buf.fragment(k, round, &mut f);
            assert!(f[..n] == orig[..], "round {round} fragment {k}");
        }
        assert_eq!((d.queued(), d.mem()), (0, 0));
    }
}

#[test]
fn too_many_fragments() {
    let data = udp(8 * (PIECES + 1));
    let frags = cut(99, &data, 8);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    for f in &frags[..PIECES] {
        assert_eq!(d.gather(f, 0, 1, 0, &mut buf), Gather::Stolen);
    }
    let g = d.gather(&frags[PIECES], 0, 1, 0, &mut buf);
    assert_eq!(g, Gather::Drop(Counter::DefragTooManyFragments));
}

#[test]
fn expiry_goes_oldest_first_past_completed_datagrams() {
    let data = udp(3000);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    for (id, t) in [(1, 0), (2, 1), (3, 2)] {
        assert_eq!(
            d.gather(&cut(id, &data, 1448)[0], 0, 1, t * S, &mut buf),
            Gather::Stolen
        );
    }
    // The middle one completes: out of the list.
    let f = cut(2, &data, 1448);
    assert_eq!(d.gather(&f[1], 0, 1, 3 * S, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&f[2], 0, 1, 3 * S, &mut buf), Gather::Complete);
    let mut gone = 0;
    d.expire(61 * S, 8, |_, _| gone += 1);
    assert_eq!((gone, d.queued()), (1, 1));
    d.expire(62 * S, 8, |_, _| gone += 1);
    assert_eq!((gone, d.queued(), d.mem()), (2, 0, 0));
    // Bounded per call.
    for id in 10..20 {
        d.gather(&cut(id, &data, 1448)[0], 0, 1, 100 * S, &mut buf);
    }
    d.expire(200 * S, 4, |_, _| gone += 1);
    assert_eq!((gone, d.queued()), (6, 6));
}

#[test]
fn recut_as_the_slow_path() {
    let data = udp(3000);
    let frags = cut(6, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    for f in &frags {
        d.gather(f, 0, 1, 0, &mut buf);
    }
    let sh = *buf.shape();
    assert_eq!(sh.len(), buf.bytes().len());
    // Four bytes longer: pieces of frag_max_size (1 496), data 1 448.
    let r = sh.recut(sh.len() + 4, 1500).unwrap();
    assert_eq!(r.pieces(), 3);
    assert_eq!(r.len(), sh.len() + 4);
    // frag_max_size below 1 280 is raised to it; the route's MTU caps.
    let r = sh.recut(sh.len() + 4, 1280).unwrap();
    assert_eq!(r.pieces(), (3000 + 4usize).div_ceil(1232));
    assert!(sh.recut(40 * 1232 * 70, 1280).is_none());
}

#[test]
fn expiry_gives_the_first_fragment_as_it_came() {
    let data = udp(3000);
    let frags = cut(9, &data, 1448);
    let mut d = Defrag6::new(DEFAULT_HIGH_THRESH, 60);
    let mut buf = out();
    assert_eq!(d.gather(&frags[2], 0, 3, 0, &mut buf), Gather::Stolen);
    assert_eq!(d.gather(&frags[0], 0, 3, 0, &mut buf), Gather::Stolen);
    let mut got = Vec::new();
    d.expire(60 * S, 8, |e, first| got.push((e, first.to_vec())));
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0,
        Expired {
            first_in: true,
            iif: 3
        }
    );
    assert_eq!(got[0].1[..], frags[0][..FIRST_QUOTE]);
}
