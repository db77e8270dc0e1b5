//! A batch without a pipeline around it, for the unit tests of the stages
//! (rules, later conntrack and NAT): frames put in by hand with the state
//! routing would have given them, one stage run, and everything it did
//! read back. Frames the stage emits are collected as they are (no rate
//! limits: those are the pipeline's, tested there).

use std::time::Instant;

use super::{Batch, BatchBuf, Counter, Counters, CtState, Dest, Emit, EmitKind, L2Class, Pkt};
use crate::io::{PortId, Umem};
use crate::wire;

/// The test's [`Emit`]: counters and the frames emitted, in order. ICMP
/// errors get the IPv4 identification the pipeline would give them (a
/// per-worker counter from 1).
#[derive(Default)]
pub(crate) struct Collect {
    pub counters: Counters,
    pub frames: Vec<Vec<u8>>,
    ident: u16,
}

impl Emit for Collect {
    fn counters(&mut self) -> &mut Counters {
        &mut self.counters
    }

    fn emit(
        &mut self,
        _umem: &mut Umem,
        frame: &[u8],
        kind: EmitKind,
        counter: Counter,
        _ct: CtState,
        _now: Instant,
    ) -> bool {
        match wire::parse(frame) {
            Ok(meta) if meta.is_ip() => {
                let mut f = frame.to_vec();
                if kind == EmitKind::IcmpError && meta.ip_version == 4 {
                    self.ident = self.ident.wrapping_add(1);
                    let mut ip = wire::ipv4::Packet::new_unchecked(&mut f[meta.l3_off as usize..]);
                    ip.set_ident(self.ident);
                    ip.fill_checksum();
                }
                self.counters.inc(counter);
                self.frames.push(f);
                true
            }
            _ => false,
        }
    }
}

pub(crate) struct TestBatch {
    pub umem: Umem,
    pub buf: Box<BatchBuf>,
    pub out: Collect,
    pub now: Instant,
}

impl TestBatch {
    pub fn new(now: Instant) -> TestBatch {
        TestBatch {
            umem: Umem::new(256, 2048),
            buf: BatchBuf::new(),
            out: Collect::default(),
            now,
        }
    }

    /// Adds a packet; `iif` `None` for one the box generated. `dest` and
    /// `oif` as routing left them. Returns its index.
    pub fn push(
        &mut self,
        frame: &[u8],
        iif: Option<PortId>,
        oif: Option<PortId>,
        dest: Dest,
        l2: L2Class,
    ) -> usize {
        let i = self.buf.len;
        let mut d = self.umem.alloc().expect("test arena");
        assert!(self.umem.set_len(&mut d, frame.len()));
        self.umem.bytes_mut(d).copy_from_slice(frame);
        let meta = wire::parse(frame).expect("test frame parses");
        let mut p = Pkt {
            desc: d,
            meta,
            iif,
            oif,
            dest,
            l2,
            ..Pkt::EMPTY
        };
        p.hook_out = p.out_port();
        self.buf.pkts[i] = p;
        self.buf.len += 1;
        self.buf.live |= 1 << i;
        i
    }

    /// A view of every live packet, for a stage to run on.
    pub fn batch(&mut self) -> Batch<'_> {
        let sel = self.buf.live;
        Batch::new(&mut self.umem, &mut self.buf, sel, &mut self.out, self.now)
    }

    pub fn pkt(&self, i: usize) -> &Pkt {
        &self.buf.pkts[i]
    }

    pub fn set_mark(&mut self, i: usize, mark: u32) {
        self.buf.pkts[i].mark = mark;
    }

    pub fn alive(&self, i: usize) -> bool {
        self.buf.live & (1 << i) != 0
    }

    pub fn frame(&self, i: usize) -> Vec<u8> {
        self.umem.bytes(self.buf.pkts[i].desc).to_vec()
    }

    pub fn counters(&self) -> &Counters {
        &self.out.counters
    }

    /// The frames stages emitted, oldest first.
    pub fn generated(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.frames)
    }
}
