//! Frame memory and ports: where frames come from and where they go.
//!
//! Owns: the frame arena ([`Umem`]), the frame descriptor ([`Desc`]), the
//! [`Port`] trait every packet source/sink implements, and the in-memory
//! port ([`mem::MemPort`]) the tests and benches use. The AF_XDP port
//! ([`xsk::XskPort`]) implements the same trait over a kernel-shared UMEM.
//! The TAP devices to the host kernel ([`tap`]) are no [`Port`]: the
//! worker copies frames between them and the arena (the host's slow path).
//!
//! The model is AF_XDP's (`Documentation/networking/af_xdp.rst`): all frames
//! of a worker live in one arena of fixed-size chunks; a frame is named by a
//! descriptor — the byte address of its first byte in the arena and its
//! length — exactly like `struct xdp_desc { addr, len, options }`. RX hands
//! out descriptors, TX takes descriptors, and a frame moves from the RX port
//! to the TX port of another interface by moving its descriptor: with one
//! UMEM shared by every port of the worker (`XDP_SHARED_UMEM`), nothing is
//! copied. A descriptor may start anywhere inside its chunk (the headroom
//! lets the pipeline prepend or shift headers), never across chunks.
//!
//! The free list is allocated once, for every chunk; [`Umem::alloc`] and
//! [`Umem::free`] never allocate. The arena's bytes are either a boxed
//! slice (tests, benches: [`Umem::new`]) or the region xsk-rs `mmap`ed and
//! registered with the kernel ([`xsk::open_worker`]). Both are held the
//! same way — a base pointer and a length — so the byte accessors have no
//! branch on the backing; the `unsafe` this needs lives in this module and
//! in [`xsk`], each block with its `// SAFETY:` argument ([`tap`] has one
//! more, its ioctl; [`wait`] its `poll(2)`).
//!
//! The contract that makes the shared arena sound: a frame's bytes belong
//! to whoever holds its descriptor. A chunk on a fill or TX ring belongs to
//! the kernel until it comes back through the RX or completion ring (the
//! rings' acquire/release ordering hands the bytes over); the pipeline only
//! names descriptors it was given by [`Port::rx`] or [`Umem::alloc`].

pub mod caps;
pub mod mem;
pub mod tap;
pub mod wait;
pub mod xsk;

use std::fmt;
use std::ptr::NonNull;

/// A port: an interface sluice attaches to, numbered by its position in the
/// appliance configuration (the first `[[interface]]` is port 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

impl PortId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Default chunk size: a page half, as `XSK_UMEM__DEFAULT_FRAME_SIZE` (4096)
/// halved; enough for a 1500-byte MTU frame plus headroom.
pub const DEFAULT_FRAME_SIZE: u32 = 2048;

/// Bytes left free in front of a received frame (`XDP_PACKET_HEADROOM` is
/// 256): room to prepend or shift headers without copying the payload.
pub const HEADROOM: u32 = 256;

/// Frames larger than a chunk a [`Umem`] holds besides its arena (the
/// IPv6 datagrams conntrack reassembles, `crate::conntrack::defrag6`):
/// slots of [`JUMBO_SIZE`] bytes whose addresses follow the arena's. They
/// never go to a port's ring: the pipeline splits them on output.
pub const JUMBO_SLOTS: usize = 64;
/// Bytes of one jumbo slot: the headroom, a link-layer header with two
/// VLAN tags and the largest IPv6 packet (40 + 65 535 bytes), rounded up
/// (zeroed pages from the allocator: untouched slots cost no memory).
/// A power of two, so that slots stay aligned to any chunk size.
pub const JUMBO_SIZE: usize = 128 * 1024;

/// A frame: `len` bytes at byte address `addr` of the [`Umem`]
/// (`struct xdp_desc`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
}

impl fmt::Debug for Desc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Desc({:#x}+{})", self.addr, self.len)
    }
}

/// The frame arena of one worker: `frames` chunks of `frame_size` bytes and
/// the list of free chunks.
pub struct Umem {
    /// First byte of the arena; `len` bytes follow, owned as `backing` says.
    base: NonNull<u8>,
    len: usize,
    backing: Backing,
    frame_size: u32,
    /// Chunk base addresses; capacity is the chunk count, so pushing never
    /// reallocates.
    free: Vec<u64>,
    /// The jumbo slots ([`JUMBO_SLOTS`] of [`JUMBO_SIZE`] bytes, a leaked
    /// boxed slice reclaimed by `Drop`), at addresses `len` on.
    jumbo: NonNull<u8>,
    /// Free jumbo slot addresses.
    jumbo_free: Vec<u64>,
}

impl fmt::Debug for Umem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Umem")
            .field("frames", &self.frames())
            .field("frame_size", &self.frame_size)
            .field("free", &self.free.len())
            .field("xsk", &matches!(self.backing, Backing::Xsk(_)))
            .finish()
    }
}

/// Who owns the arena's bytes.
enum Backing {
    /// A boxed slice leaked by [`Umem::new`] and reclaimed by `Drop`.
    Heap,
    /// The xsk-rs UMEM region: this handle (with the sockets' clones) keeps
    /// the mapping alive.
    Xsk(#[allow(dead_code)] xsk::Region),
}

// SAFETY: a `Umem` owns its arena outright (the leaked box, or a handle on
// the xsk-rs mapping that keeps it mapped while any clone lives); the base
// pointer is only dereferenced through `&self`/`&mut self` methods, so
// moving the `Umem` to another thread moves that exclusive access with it.
// Nothing in it is tied to the creating thread (xsk-rs's UMEM handle is an
// `Arc<Mutex<..>>` and itself `Send`). The kernel's concurrent access to
// chunks on the fill/TX rings does not depend on which thread owns us.
#[allow(unsafe_code)]
unsafe impl Send for Umem {}

// SAFETY: `&Umem` only reads (`bytes`, `headroom`, ...): there is no
// interior mutability, every write needs `&mut Umem` — as for the
// `Box<[u8]>` this arena used to be, which was `Sync`.
#[allow(unsafe_code)]
unsafe impl Sync for Umem {}

impl Drop for Umem {
    fn drop(&mut self) {
        let raw = std::ptr::slice_from_raw_parts_mut(self.jumbo.as_ptr(), JUMBO_SLOTS * JUMBO_SIZE);
        // SAFETY: `jumbo` came from `leak_zeroed` (a leaked boxed slice) of
        // this length in `with_backing` and is reclaimed only here, once.
        #[allow(unsafe_code)]
        drop(unsafe { Box::from_raw(raw) });
        if let Backing::Heap = self.backing {
            let raw = std::ptr::slice_from_raw_parts_mut(self.base.as_ptr(), self.len);
            // SAFETY: `base`/`len` came from `leak_zeroed` (a leaked
            // `Box<[u8]>`) in `Umem::new` and are reclaimed only here, once.
            #[allow(unsafe_code)]
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

/// `len` zeroed bytes from the allocator, leaked: `Umem`'s `Drop` takes
/// them back as the boxed slice they were (`Box::from_raw` of the same
/// length).
fn leak_zeroed(len: usize) -> NonNull<u8> {
    NonNull::from(Box::leak(vec![0u8; len].into_boxed_slice())).cast::<u8>()
}

impl Umem {
    /// An arena of `frames` chunks of `frame_size` bytes (a power of two,
    /// at least 512, as aligned-mode AF_XDP requires 2048 or 4096).
    pub fn new(frames: u32, frame_size: u32) -> Umem {
        assert!(
            frame_size.is_power_of_two() && frame_size >= 512 && frame_size as usize <= JUMBO_SIZE,
            "frame size must be a power of two >= 512"
        );
        let total = frames as usize * frame_size as usize;
        Umem::with_backing(leak_zeroed(total), total, frame_size, Backing::Heap)
    }

    fn with_backing(base: NonNull<u8>, len: usize, frame_size: u32, backing: Backing) -> Umem {
        let frames = len / frame_size as usize;
        let mut free = Vec::with_capacity(frames);
        // Hand out low addresses first.
        free.extend((0..frames as u64).rev().map(|i| i * frame_size as u64));
        // Zeroed pages come from the allocator lazily: a slot costs memory
        // once a datagram used it.
        let jumbo = leak_zeroed(JUMBO_SLOTS * JUMBO_SIZE);
        let jumbo_free = (0..JUMBO_SLOTS as u64)
            .rev()
            .map(|i| (len + i as usize * JUMBO_SIZE) as u64)
            .collect();
        Umem {
            base,
            len,
            backing,
            frame_size,
            free,
            jumbo,
            jumbo_free,
        }
    }

    /// An arena over the xsk-rs region `r`: `r.len()` bytes at `r.base()`.
    fn from_region(r: xsk::Region, frame_size: u32) -> Umem {
        let (base, len) = (r.base(), r.len());
        Umem::with_backing(base, len, frame_size, Backing::Xsk(r))
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// Number of chunks.
    pub fn frames(&self) -> usize {
        self.len / self.frame_size as usize
    }

    /// Chunks on the free list.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Takes a free chunk: an empty descriptor after the [`HEADROOM`].
    #[inline]
    pub fn alloc(&mut self) -> Option<Desc> {
        self.free.pop().map(|base| Desc {
            addr: base + HEADROOM as u64,
            len: 0,
        })
    }

    /// Takes a free jumbo slot: an empty descriptor after the
    /// [`HEADROOM`], for a frame of up to `JUMBO_SIZE - HEADROOM` bytes.
    pub fn alloc_jumbo(&mut self) -> Option<Desc> {
        self.jumbo_free.pop().map(|base| Desc {
            addr: base + HEADROOM as u64,
            len: 0,
        })
    }

    /// Whether `d` is in a jumbo slot (never to be given to a port).
    #[inline]
    pub fn is_jumbo(&self, d: Desc) -> bool {
        d.addr >= self.len as u64
    }

    /// The index of the jumbo slot holding `d` (`None`: a chunk's frame).
    #[inline]
    pub fn jumbo_slot(&self, d: Desc) -> Option<usize> {
        let off = (d.addr as usize).checked_sub(self.len)?;
        Some(off / JUMBO_SIZE).filter(|&s| s < JUMBO_SLOTS)
    }

    /// Jumbo slots in use.
    pub fn jumbo_used(&self) -> usize {
        JUMBO_SLOTS - self.jumbo_free.len()
    }

    /// Returns the chunk (or jumbo slot) holding `d` to the free list.
    #[inline]
    pub fn free(&mut self, d: Desc) {
        if self.base(d) >= self.len as u64 {
            return self.free_jumbo(d);
        }
        self.free_chunk(d);
    }

    /// [`Umem::free`] for a frame known to be a chunk's: what a port
    /// gives back (a port never holds a jumbo frame).
    #[inline]
    pub(crate) fn free_chunk(&mut self, d: Desc) {
        debug_assert!(!self.is_jumbo(d), "a jumbo frame at a port: {d:?}");
        debug_assert!(self.free.len() < self.frames(), "double free of {d:?}");
        let base = self.base(d);
        debug_assert!(!self.free.contains(&base), "double free of {d:?}");
        if self.free.len() < self.free.capacity() {
            self.free.push(base);
        }
    }

    /// [`Umem::free_chunk`] of every frame of `ds` (a TX completion batch
    /// of a port, so no jumbo frame): the free list grows by one copy of
    /// their chunk addresses.
    #[inline]
    pub fn free_slice(&mut self, ds: &[Desc]) {
        for &d in ds {
            debug_assert!(!self.is_jumbo(d), "a jumbo frame at a port: {d:?}");
            debug_assert!(!self.free.contains(&self.base(d)), "double free of {d:?}");
        }
        let room = self.free.capacity() - self.free.len();
        let mask = !(self.frame_size as u64 - 1);
        self.free
            .extend(ds[..ds.len().min(room)].iter().map(|d| d.addr & mask));
    }

    #[cold]
    #[inline(never)]
    fn free_jumbo(&mut self, d: Desc) {
        let off = d.addr - self.len as u64;
        let base = self.len as u64 + off - off % JUMBO_SIZE as u64;
        debug_assert!(!self.jumbo_free.contains(&base), "double free of {d:?}");
        if self.jumbo_free.len() < JUMBO_SLOTS {
            self.jumbo_free.push(base);
        }
    }

    /// Start of the chunk holding `d`. Jumbo slots are a multiple of
    /// the chunk size and start aligned to it: for a frame in one this is
    /// the slot's start while the frame starts in the slot's first
    /// chunk-sized part (its headroom: the pipeline never strips more).
    #[inline]
    pub fn base(&self, d: Desc) -> u64 {
        d.addr & !(self.frame_size as u64 - 1)
    }

    /// Bytes of the chunk (or jumbo slot) holding `d`.
    #[inline]
    fn chunk_len(&self, d: Desc) -> usize {
        if self.is_jumbo(d) {
            JUMBO_SIZE
        } else {
            self.frame_size as usize
        }
    }

    /// Bytes in front of the frame inside its chunk.
    #[inline]
    pub fn headroom(&self, d: Desc) -> usize {
        (d.addr - self.base(d)) as usize
    }

    /// Bytes after the frame inside its chunk.
    #[inline]
    pub fn tailroom(&self, d: Desc) -> usize {
        self.chunk_len(d)
            .saturating_sub(self.headroom(d) + d.len as usize)
    }

    /// The frame's bytes. Descriptors are made by this arena and its ports;
    /// one that leaves its chunk is a bug and panics.
    #[inline]
    pub fn bytes(&self, d: Desc) -> &[u8] {
        let (p, n) = self.span(d.addr as usize, d.len as usize);
        // SAFETY: `span` checked that the range lies inside the arena or
        // one jumbo slot, which live as long as `self`; the returned borrow
        // of `self` keeps `bytes_mut`/`copy` (which need `&mut self`) away.
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts(p, n)
        }
    }

    #[inline]
    pub fn bytes_mut(&mut self, d: Desc) -> &mut [u8] {
        let (p, n) = self.span(d.addr as usize, d.len as usize);
        // SAFETY: in bounds as in `bytes`; `&mut self` makes this the only
        // borrow of the arena while it lives.
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts_mut(p, n)
        }
    }

    /// The first byte of a byte range and its length, panicking (as slice
    /// indexing does) when it leaves the arena, or the jumbo slot it
    /// starts in.
    #[inline]
    fn span(&self, a: usize, n: usize) -> (*mut u8, usize) {
        match a.checked_add(n) {
            // SAFETY: `a + n <= len`: inside the arena.
            #[allow(unsafe_code)]
            Some(end) if end <= self.len => (unsafe { self.base.as_ptr().add(a) }, n),
            _ => self.jumbo_span(a, n),
        }
    }

    #[cold]
    #[inline(never)]
    fn jumbo_span(&self, a: usize, n: usize) -> (*mut u8, usize) {
        let off = a.wrapping_sub(self.len);
        if a < self.len || off / JUMBO_SIZE >= JUMBO_SLOTS || off % JUMBO_SIZE + n > JUMBO_SIZE {
            out_of_arena(a, n, self.len)
        }
        // SAFETY: `off + n` stays inside one slot of the jumbo allocation
        // of `JUMBO_SLOTS * JUMBO_SIZE` bytes.
        #[allow(unsafe_code)]
        let p = unsafe { self.jumbo.as_ptr().add(off) };
        (p, n)
    }

    /// Moves the start of the frame by `delta` bytes (negative: prepend
    /// room, positive: strip), keeping its end. `false` (and nothing
    /// changes) when the start would leave the chunk or pass the end.
    #[inline]
    pub fn adjust_head(&self, d: &mut Desc, delta: isize) -> bool {
        let head = self.headroom(*d) as isize;
        if head + delta < 0 || delta > d.len as isize {
            return false;
        }
        d.addr = (d.addr as i64 + delta as i64) as u64;
        d.len = (d.len as i64 - delta as i64) as u32;
        true
    }

    /// Copies `len` bytes at `from_off` of frame `from` to `to_off` of frame
    /// `to` (both of this arena; both ranges inside their frames).
    #[inline]
    pub fn copy(&mut self, from: Desc, from_off: usize, to: Desc, to_off: usize, len: usize) {
        assert!(from_off + len <= from.len as usize && to_off + len <= to.len as usize);
        let (s, _) = self.span(from.addr as usize + from_off, len);
        let (d, _) = self.span(to.addr as usize + to_off, len);
        // SAFETY: both ranges are inside the arena or a jumbo slot
        // (`span`); `copy` is a memmove, so they may overlap; `&mut self`
        // excludes other borrows.
        #[allow(unsafe_code)]
        unsafe {
            std::ptr::copy(s, d, len);
        }
    }

    /// Moves `len` bytes inside the arena from byte address `from` to `to`
    /// (memmove; the ranges may overlap). Panics when a range leaves it.
    #[inline]
    pub(crate) fn move_bytes(&mut self, from: u64, to: u64, len: usize) {
        let (s, _) = self.span(from as usize, len);
        let (d, _) = self.span(to as usize, len);
        // SAFETY: as in `copy`.
        #[allow(unsafe_code)]
        unsafe {
            std::ptr::copy(s, d, len);
        }
    }

    /// Sets the frame's length, keeping its start; `false` when it would
    /// leave the chunk.
    #[inline]
    pub fn set_len(&self, d: &mut Desc, len: usize) -> bool {
        if self.headroom(*d) + len > self.frame_size as usize {
            return self.set_len_jumbo(d, len);
        }
        d.len = len as u32;
        true
    }

    /// [`Umem::set_len`] past a chunk's size: only in a jumbo slot.
    #[cold]
    fn set_len_jumbo(&self, d: &mut Desc, len: usize) -> bool {
        if !self.is_jumbo(*d) || self.headroom(*d) + len > JUMBO_SIZE {
            return false;
        }
        d.len = len as u32;
        true
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn out_of_arena(a: usize, n: usize, len: usize) -> ! {
    panic!("frame {a:#x}+{n} outside the {len}-byte arena")
}

/// One port's counters as a worker publishes them (`sluice stats`, the
/// metrics endpoint): frames in and out, and what the rings dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub rx: u64,
    pub tx: u64,
    /// Frames the kernel dropped for the socket (`XDP_STATISTICS`
    /// `rx_dropped`), or the in-memory port refused to inject.
    pub rx_dropped: u64,
    /// Frames the kernel dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found no chunk on the fill ring.
    pub fill_ring_empty: u64,
    /// Frames the port's TX ring refused (full).
    pub tx_ring_full: u64,
    /// Invalid descriptors the kernel saw, RX and TX.
    pub invalid_descs: u64,
}

impl PortCounters {
    /// The names of [`PortCounters::values`], in order.
    pub const NAMES: [&'static str; 7] = [
        "rx",
        "tx",
        "rx_dropped",
        "rx_ring_full",
        "fill_ring_empty",
        "tx_ring_full",
        "invalid_descs",
    ];

    pub fn values(&self) -> [u64; 7] {
        [
            self.rx,
            self.tx,
            self.rx_dropped,
            self.rx_ring_full,
            self.fill_ring_empty,
            self.tx_ring_full,
            self.invalid_descs,
        ]
    }

    pub fn from_values(v: [u64; 7]) -> PortCounters {
        PortCounters {
            rx: v[0],
            tx: v[1],
            rx_dropped: v[2],
            rx_ring_full: v[3],
            fill_ring_empty: v[4],
            tx_ring_full: v[5],
            invalid_descs: v[6],
        }
    }

    /// Adds `o` in.
    pub fn merge(&mut self, o: &PortCounters) {
        let mut v = self.values();
        for (a, b) in v.iter_mut().zip(o.values()) {
            *a += b;
        }
        *self = PortCounters::from_values(v);
    }
}

/// Every port's [`PortCounters`] of one worker, published by it (its only
/// writer) and read from another thread without a lock.
#[derive(Debug)]
pub struct PortsBlock {
    values: Box<[std::sync::atomic::AtomicU64]>,
}

impl PortsBlock {
    pub fn new(ports: usize) -> PortsBlock {
        PortsBlock {
            values: (0..ports * 7)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        }
    }

    /// Stores port `i`'s counters.
    pub fn publish(&self, i: usize, c: &PortCounters) {
        use std::sync::atomic::Ordering;
        if let Some(cells) = self.values.get(i * 7..i * 7 + 7) {
            for (cell, v) in cells.iter().zip(c.values()) {
                cell.store(v, Ordering::Relaxed);
            }
        }
    }

    /// Every port's counters.
    pub fn read(&self) -> Vec<PortCounters> {
        use std::sync::atomic::Ordering;
        self.values
            .chunks(7)
            .map(|c| {
                let mut v = [0u64; 7];
                for (a, cell) in v.iter_mut().zip(c) {
                    *a = cell.load(Ordering::Relaxed);
                }
                PortCounters::from_values(v)
            })
            .collect()
    }
}

/// A packet source and sink: an AF_XDP socket on one NIC queue, or the
/// in-memory port of the tests. Every call moves descriptors of the
/// worker's [`Umem`], never bytes; none of them may block or allocate.
pub trait Port {
    /// Moves up to `out.len()` received frames into `out`; returns how many.
    fn rx(&mut self, umem: &mut Umem, out: &mut [Desc]) -> usize;

    /// Offers frames for transmission; returns how many of them, from the
    /// front, the port took (all-or-nothing rings take 0 or all). The frames
    /// it did not take still belong to the caller.
    fn tx(&mut self, umem: &mut Umem, frames: &[Desc]) -> usize;

    /// Housekeeping once per poll-loop turn: frames whose transmission
    /// completed go back to the `umem` free list, the RX side is restocked
    /// (the fill ring), wakeups are issued where needed.
    fn poll(&mut self, umem: &mut Umem);

    /// A descriptor that polls readable when frames wait (the worker's
    /// idle back-off sleeps on it); `None`: the port has none.
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Frames handed to the port and not yet sent (the worker does not
    /// sleep while there are: copy-mode AF_XDP needs a kick per 32).
    fn tx_pending(&self) -> bool {
        false
    }

    /// Arena frames the port holds now: on its fill ring, or taken by
    /// [`Port::tx`] and not yet completed (the worker's UMEM ledger).
    fn held(&self) -> usize {
        0
    }

    /// The port's counters, for publication (every few turns, never per
    /// batch); `kernel`: refresh what only a syscall tells (AF_XDP's
    /// `XDP_STATISTICS`), else the last values read.
    fn counters(&mut self, _kernel: bool) -> PortCounters {
        PortCounters::default()
    }

    /// The port's interface is gone (`true`) or back: a gone port takes
    /// and gives no frame and is not polled until [`Port::reopen`].
    fn set_gone(&mut self, _gone: bool) {}

    /// The port's link is down (`true`) or up again: a down port takes no
    /// frame to send and does not keep the worker awake with the frames
    /// it already has (they go when the link is up).
    fn set_down(&mut self, _down: bool) {}

    /// Opens the port again on an interface re-created with the same
    /// name; how many chunks of the old one were written off. Called
    /// between turns, never on the fast path.
    fn reopen(&mut self, _umem: &mut Umem) -> Result<u32, String> {
        Err("this kind of port cannot be reopened".into())
    }
}

/// The control side's requests about a worker's ports, for interfaces
/// that go away and come back (`sluice run` watches the links): posted
/// here, served by the worker at the start of its next turn (one atomic
/// load a turn when nothing is asked). Ports are bits `1 << index` (the
/// first 64).
#[derive(Debug, Default)]
pub struct PortControl {
    /// Bumped after each request; the worker serves when it changed.
    requests: std::sync::atomic::AtomicU64,
    /// Ports whose interface is gone.
    gone: std::sync::atomic::AtomicU64,
    /// Ports whose link is down.
    down: std::sync::atomic::AtomicU64,
    /// Ports to reopen (taken by the worker).
    reopen: std::sync::atomic::AtomicU64,
    /// Reopens done and failed, and the chunks written off by them.
    reopened: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    lost: std::sync::atomic::AtomicU64,
    /// The last failure's message.
    error: std::sync::Mutex<String>,
}

/// What a worker did about [`PortControl`] requests so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortControlDone {
    pub reopened: u64,
    pub failed: u64,
    /// Chunks written off by the reopens.
    pub lost: u64,
}

impl PortControl {
    /// Marks port `i` gone or back (`gone == false` also cancels nothing
    /// else: reopening is [`PortControl::reopen`]).
    pub fn set_gone(&self, i: usize, gone: bool) {
        self.post(&self.gone, i, gone);
    }

    /// Marks port `i`'s link down or up.
    pub fn set_down(&self, i: usize, down: bool) {
        self.post(&self.down, i, down);
    }

    /// Sets or clears port `i`'s bit of `mask`, then bumps the request
    /// generation (after: the worker that sees the new generation sees
    /// the bit).
    fn post(&self, mask: &std::sync::atomic::AtomicU64, i: usize, on: bool) {
        use std::sync::atomic::Ordering;
        let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
        if on {
            mask.fetch_or(bit, Ordering::AcqRel);
        } else {
            mask.fetch_and(!bit, Ordering::AcqRel);
        }
        self.requests.fetch_add(1, Ordering::Release);
    }

    /// Asks for port `i` to be reopened (and no longer gone).
    pub fn reopen(&self, i: usize) {
        use std::sync::atomic::Ordering;
        let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
        self.gone.fetch_and(!bit, Ordering::AcqRel);
        self.reopen.fetch_or(bit, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Release);
    }

    pub fn done(&self) -> PortControlDone {
        use std::sync::atomic::Ordering;
        PortControlDone {
            reopened: self.reopened.load(Ordering::Acquire),
            failed: self.failed.load(Ordering::Acquire),
            lost: self.lost.load(Ordering::Acquire),
        }
    }

    /// The last reopen failure's message.
    pub fn last_error(&self) -> String {
        self.error.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The request generation (the worker compares it once a turn).
    pub fn generation(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Serves the requests on `ports` (the worker, between turns).
    pub fn serve<P: Port>(&self, ports: &mut [P], umem: &mut Umem) {
        use std::sync::atomic::Ordering;
        let gone = self.gone.load(Ordering::Acquire);
        let down = self.down.load(Ordering::Acquire);
        let reopen = self.reopen.swap(0, Ordering::AcqRel);
        for (i, p) in ports.iter_mut().enumerate().take(64) {
            let bit = 1u64 << i;
            p.set_down(down & bit != 0);
            if reopen & bit == 0 {
                p.set_gone(gone & bit != 0);
                continue;
            }
            match p.reopen(umem) {
                Ok(lost) => {
                    p.set_gone(false);
                    p.set_down(down & bit != 0);
                    self.lost.fetch_add(u64::from(lost), Ordering::AcqRel);
                    self.reopened.fetch_add(1, Ordering::AcqRel);
                }
                Err(e) => {
                    // Still gone: it takes and gives nothing until the
                    // next attempt.
                    p.set_gone(true);
                    if let Ok(mut m) = self.error.lock() {
                        *m = e;
                    }
                    self.failed.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_and_bounds() {
        let mut u = Umem::new(4, 2048);
        assert_eq!(u.frames(), 4);
        assert_eq!(u.free_count(), 4);
        let mut d = u.alloc().unwrap();
        assert_eq!(d.addr, HEADROOM as u64);
        assert_eq!(u.headroom(d), 256);
        assert!(u.set_len(&mut d, 100));
        assert_eq!(u.tailroom(d), 2048 - 256 - 100);
        u.bytes_mut(d)[0] = 7;
        assert!(u.adjust_head(&mut d, -14));
        assert_eq!((u.headroom(d), d.len), (242, 114));
        assert_eq!(u.bytes(d)[14], 7);
        assert!(u.adjust_head(&mut d, 18));
        assert_eq!(u.bytes(d).len(), 96);
        assert!(!u.adjust_head(&mut d, -300));
        assert!(!u.set_len(&mut d, 2000));
        let others: Vec<Desc> = (0..3).map(|_| u.alloc().unwrap()).collect();
        assert!(u.alloc().is_none());
        u.free(d);
        for o in others {
            u.free(o);
        }
        assert_eq!(u.free_count(), 4);
    }

    #[test]
    fn jumbo_slots_hold_large_frames_apart_from_the_chunks() {
        let mut u = Umem::new(2, 2048);
        let mut j = u.alloc_jumbo().unwrap();
        assert!(u.is_jumbo(j) && u.jumbo_slot(j) == Some(0));
        assert_eq!(u.jumbo_used(), 1);
        assert!(u.set_len(&mut j, 65_600));
        assert!(!u.set_len(&mut j, JUMBO_SIZE));
        u.bytes_mut(j)[65_000] = 9;
        let mut d = u.alloc().unwrap();
        assert!(!u.is_jumbo(d) && u.jumbo_slot(d).is_none());
        assert!(u.set_len(&mut d, 100));
        u.copy(j, 64_950, d, 0, 100);
        assert_eq!(u.bytes(d)[50], 9);
        assert_eq!(u.headroom(j), HEADROOM as usize);
        let second = u.alloc_jumbo().unwrap();
        assert_eq!(u.jumbo_slot(second), Some(1));
        u.free(j);
        u.free(second);
        u.free(d);
        assert_eq!((u.jumbo_used(), u.free_count()), (0, 2));
        let all: Vec<Desc> = (0..JUMBO_SLOTS).map(|_| u.alloc_jumbo().unwrap()).collect();
        assert!(u.alloc_jumbo().is_none());
        for j in all {
            u.free(j);
        }
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn a_jumbo_range_past_its_slot_panics() {
        let mut u = Umem::new(2, 2048);
        let j = u.alloc_jumbo().unwrap();
        let past = Desc {
            addr: j.addr,
            len: JUMBO_SIZE as u32,
        };
        let _ = u.bytes(past);
    }
}
