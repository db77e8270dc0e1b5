//! The AF_XDP port: one socket per (interface, queue) through xsk-rs, all
//! the sockets of a worker sharing one UMEM (`XDP_SHARED_UMEM`), so a
//! frame goes from one port's RX ring to another's TX ring by descriptor.
//!
//! # API (what the daemon calls)
//!
//! ```text
//! preflight(ifname, queues_needed) -> Result<IfInfo, XskError>
//!     root? interface present, up, enough RX queues, no foreign XDP program
//! open_worker(ifaces, queue, &XskConfig) -> Result<(Umem, Vec<XskPort>), XskError>
//!     one UMEM, port i on ifaces[i] queue `queue` (preflight included);
//!     the pair is `Send`: a worker thread owns it
//! detach_stale(ifname) -> Result<bool, XskError>
//!     removes libxdp's xsk program (and with it its xsks map) a killed run
//!     left attached; `true` when there was one
//! xdp_programs(ifname) -> Result<Vec<XdpProg>, XskError>
//!     the XDP programs attached to an interface (libxdp's view)
//!     (each socket also holds IFF_ALLMULTI on its interface, see `allmulti`)
//! XskPort: Port + Send; stats() -> XskPortStats; mode() -> XskMode;
//!     fill_outstanding(), tx_outstanding() (the frame ledger)
//! ```
//!
//! # Contract
//!
//! Owns the sockets, their four rings and the xsk-rs UMEM handle; touches
//! the [`Umem`] free list (fill ring restock, completions) and frame bytes
//! only on the rare head-move path of [`Port::tx`]. Every chunk is in
//! exactly one place: the [`Umem`] free list, a port's fill ring, the
//! pipeline (received or allocated, not yet transmitted or freed) or a
//! port's TX ring/completion ring (`tx_outstanding`). The ledger test in
//! `dataplane/tests/xsk.rs` checks the sum after thousands of frames.
//!
//! Wakeups follow `Documentation/networking/af_xdp.rst` ("XDP_USE_NEED_WAKEUP"):
//! the fill ring is kicked (poll(2)) only when the kernel sets its
//! need_wakeup flag; TX is kicked (sendto) once per [`Port::poll`] (not in
//! [`Port::tx`]: at most one kick per ring per turn) while frames are
//! outstanding and the kernel asks — in copy mode it always
//! asks, and one sendto sends at most 32 frames, so kicking only when new
//! frames arrive would stall the ring.
//!
//! xsk-rs 0.11 fixes where a frame's data starts inside its chunk (its
//! `FrameDesc` address is not settable): chunk base + `XDP_PACKET_HEADROOM`
//! (256, our [`HEADROOM`]). A frame the pipeline moved ([`Umem::adjust_head`])
//! is moved back there before TX and counted (`head_moves`); RX frames and
//! freshly allocated ones already start there.
//!
//! Attach modes: native XDP where the driver has it — probed before any
//! socket exists by attaching a two-instruction `XDP_PASS` program in
//! native mode, since a socket whose attach fails after its bind can keep
//! the queue busy — generic (SKB) otherwise, with one warning line on
//! stderr; zero-copy first, copy when the bind refuses it (veth: copy). The kernel gives the sockets after the first one
//! (`XDP_SHARED_UMEM`) the first one's copy/zero-copy and need_wakeup mode.
//! libxdp detaches its program when the last socket on an interface
//! closes, so dropping the ports detaches; [`detach_stale`] cleans up
//! after a run that could not (SIGKILL).

use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::Arc;

use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags,
};
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::{CompQueue, FillQueue, RxQueue, Socket, TxQueue};

use super::{Desc, Port, Umem, DEFAULT_FRAME_SIZE, HEADROOM};

mod allmulti;
mod link;
use link::{check_root, ifindex, quiet_libraries, MultiProg};
pub use link::{detach_stale, preflight, xdp_programs};

/// Name libxdp gives its AF_XDP redirect program (`xsk_def_xdp_prog.c`).
pub const XSK_PROG_NAME: &str = "xsk_def_prog";

/// What [`open_worker`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskConfig {
    /// Chunks of the worker's UMEM (all its ports share them).
    pub frames: u32,
    /// Descriptors of each RX, TX, fill and completion ring (power of two).
    pub ring_size: u32,
    /// Sets SO_PREFER_BUSY_POLL / SO_BUSY_POLL / SO_BUSY_POLL_BUDGET.
    pub busy_poll: bool,
    /// Copy mode even where the driver offers zero-copy.
    pub force_copy: bool,
    /// Generic (SKB) XDP even where the driver runs native XDP.
    pub force_generic: bool,
}

impl Default for XskConfig {
    fn default() -> XskConfig {
        XskConfig {
            frames: 8192,
            ring_size: 2048,
            busy_poll: false,
            force_copy: false,
            force_generic: false,
        }
    }
}

/// What [`preflight`] learnt about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfInfo {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// RX queues (`/sys/class/net/IF/queues/rx-*`).
    pub queues: u32,
}

/// An XDP program attached to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpProg {
    pub id: u32,
    pub name: String,
}

/// How a port ended up attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskMode {
    /// Native (driver) XDP; `false`: generic (SKB) XDP.
    pub native: bool,
    /// Zero-copy; `false`: copy mode.
    pub zerocopy: bool,
}

/// Counters of one AF_XDP port. The `kernel_*` ones come from
/// `XDP_STATISTICS` (read by [`XskPort::stats`], a syscall: call it when
/// publishing, not per batch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskPortStats {
    pub rx: u64,
    pub tx: u64,
    /// TX sendto kicks issued.
    pub tx_kicks: u64,
    /// Fill-ring wakeups (poll(2)) issued because the kernel asked.
    pub fill_wakeups: u64,
    /// Frames moved back to where xsk-rs wants a frame's start before TX.
    pub head_moves: u64,
    /// Frames dropped at TX because, moved back, they would leave the chunk.
    pub tx_too_long: u64,
    /// Frames [`Port::tx`] refused because the TX ring was full.
    pub tx_ring_full: u64,
    /// Times [`Port::poll`] found the fill ring empty (the kernel had no
    /// chunk to receive into) — the userspace view of `kernel_fill_empty`.
    pub fill_ring_empty: u64,
    /// Frames the kernel dropped for this socket (`rx_dropped`).
    pub kernel_rx_dropped: u64,
    /// Frames dropped because the RX ring was full (`rx_ring_full`).
    pub kernel_rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (`rx_fill_ring_empty_descs`).
    pub kernel_fill_empty: u64,
    /// Invalid descriptors (`rx_invalid_descs`, `tx_invalid_descs`).
    pub kernel_rx_invalid: u64,
    pub kernel_tx_invalid: u64,
    /// Frames [`Port::tx`] refused because the link is down or the
    /// interface gone.
    pub tx_link_down: u64,
    /// Chunks written off when the port was reopened: those its dead
    /// socket's fill and TX rings held (the kernel unbound the socket
    /// when the interface went away and returns none of them).
    pub lost_to_gone_link: u64,
    /// Times the port was reopened on a re-created interface.
    pub reopened: u64,
}

/// Why an AF_XDP port could not be set up; each message names the
/// interface and the fix.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    #[error("AF_XDP needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN): run sluice as root")]
    NotRoot,
    #[error("interface {ifname}: no such interface (check the name with `ip link`)")]
    NoSuchInterface { ifname: String },
    #[error("interface {ifname} is down: `ip link set dev {ifname} up`")]
    Down { ifname: String },
    #[error(
        "interface {ifname} has {have} RX queue(s), {need} needed: `ethtool -L {ifname} combined {need}` \
         (veth: recreate with `numrxqueues {need} numtxqueues {need}`) or run fewer workers"
    )]
    TooFewQueues {
        ifname: String,
        have: u32,
        need: u32,
    },
    #[error(
        "interface {ifname} already has an XDP program that is not sluice's ({name}, id {id}): \
         remove it (`ip link set dev {ifname} xdp off`, or `xdp-loader unload {ifname} --all`) \
         if nothing needs it"
    )]
    ForeignProgram {
        ifname: String,
        name: String,
        id: u32,
    },
    #[error(
        "interface {ifname} cannot take an XDP program in native or generic mode ({source}): \
         check the kernel (CONFIG_XDP_SOCKETS) and that bpffs is mounted \
         (`mount -t bpf bpf /sys/fs/bpf`)"
    )]
    NoXdp { ifname: String, source: io::Error },
    #[error("interface {ifname} queue {queue}: AF_XDP socket: {what}: {source}")]
    Socket {
        ifname: String,
        queue: u32,
        what: String,
        source: io::Error,
    },
    #[error("AF_XDP UMEM of {frames} frames: {what}: {source} (lower `frames`, or raise RLIMIT_MEMLOCK)")]
    Umem {
        frames: u32,
        what: String,
        source: io::Error,
    },
    #[error("AF_XDP configuration: {0}")]
    Config(String),
    #[error("interface {ifname}: {what}: {source}")]
    Sys {
        ifname: String,
        what: &'static str,
        source: io::Error,
    },
}

/// The xsk-rs UMEM behind an [`Umem`]: the handle that keeps the mapping
/// alive, where it is, and the frame descriptor xsk-rs made for each chunk
/// (the only way to name a chunk to its rings).
pub(crate) struct Region {
    _umem: xsk_rs::Umem,
    base: NonNull<u8>,
    len: usize,
}

impl Region {
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// One AF_XDP socket (see the module docs).
pub struct XskPort {
    ifname: String,
    queue: u32,
    mode: XskMode,
    rx_q: RxQueue,
    tx_q: TxQueue,
    fill_q: FillQueue,
    comp_q: CompQueue,
    umem: xsk_rs::Umem,
    chunks: Arc<[FrameDesc]>,
    frame_shift: u32,
    /// Reused descriptor buffer of `ring_size` entries.
    scratch: Vec<FrameDesc>,
    /// Chunks on the fill ring (produced, not yet received).
    fill_out: u32,
    /// Chunks this port keeps on its fill ring.
    fill_target: u32,
    /// Frames on the TX ring not yet completed.
    tx_out: u32,
    /// Frames produced on the TX ring since the last kick.
    tx_new: u32,
    stats: XskPortStats,
    /// The last `XDP_STATISTICS` read for [`Port::counters`].
    kernel: XskPortStats,
    /// SO_BUSY_POLL was set (a reopened socket gets it again).
    busy_poll: bool,
    /// The interface is gone ([`Port::set_gone`]): no frame in or out
    /// until [`Port::reopen`].
    gone: bool,
    /// The link is down ([`Port::set_down`]): no frame taken to send, no
    /// TX kick (the kernel refuses it with ENETDOWN and keeps the ring).
    down: bool,
    /// The interface index whose IFF_ALLMULTI this socket holds
    /// (`allmulti`): released when the socket closes.
    allmulti: Option<u32>,
}

impl Drop for XskPort {
    fn drop(&mut self) {
        if let Some(idx) = self.allmulti {
            allmulti::release(&self.ifname, idx);
        }
    }
}

impl fmt::Debug for XskPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskPort")
            .field("ifname", &self.ifname)
            .field("queue", &self.queue)
            .field("mode", &self.mode)
            .field("fill_out", &self.fill_out)
            .field("tx_out", &self.tx_out)
            .finish()
    }
}

impl XskPort {
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    pub fn mode(&self) -> XskMode {
        self.mode
    }

    /// Chunks on this port's fill ring.
    pub fn fill_outstanding(&self) -> usize {
        self.fill_out as usize
    }

    /// Frames on this port's TX ring not yet completed.
    pub fn tx_outstanding(&self) -> usize {
        self.tx_out as usize
    }

    /// The counters, with the kernel's `XDP_STATISTICS` (one getsockopt).
    pub fn stats(&self) -> XskPortStats {
        let mut s = self.stats;
        if let Ok(k) = self.rx_q.fd().xdp_statistics() {
            s.kernel_rx_dropped = k.rx_dropped();
            s.kernel_rx_ring_full = k.rx_ring_full();
            s.kernel_fill_empty = k.rx_fill_ring_empty_descs();
            s.kernel_rx_invalid = k.rx_invalid_descs();
            s.kernel_tx_invalid = k.tx_invalid_descs();
        }
        s
    }

    #[inline]
    fn chunk(&self, addr: u64) -> FrameDesc {
        self.chunks[(addr >> self.frame_shift) as usize]
    }

    /// Completed TX frames back to the free list.
    fn complete(&mut self, umem: &mut Umem) {
        if self.tx_out == 0 {
            return;
        }
        let want = (self.tx_out as usize).min(self.scratch.len());
        // SAFETY: the completion ring hands back frames we produced on the
        // TX ring of this UMEM; after `consume` the kernel is done with them.
        #[allow(unsafe_code)]
        let n = unsafe { self.comp_q.consume(&mut self.scratch[..want]) };
        for fd in &self.scratch[..n] {
            umem.free_chunk(Desc {
                addr: fd.addr() as u64,
                len: 0,
            });
        }
        self.tx_out -= n as u32;
    }

    /// Tops the fill ring up to its target from the free list.
    fn refill(&mut self, umem: &mut Umem) {
        let room = self.fill_target.saturating_sub(self.fill_out);
        if room == 0 {
            return;
        }
        let free = self.fill_q.nb_free(room).min(room) as usize;
        let want = free.min(umem.free_count()).min(self.scratch.len());
        let mut n = 0;
        while n < want {
            let Some(d) = umem.alloc() else { break };
            self.scratch[n] = self.chunk(d.addr);
            n += 1;
        }
        if n == 0 {
            return;
        }
        // SAFETY: the chunks came off the free list, so neither the
        // pipeline nor any ring holds them; they belong to this UMEM.
        #[allow(unsafe_code)]
        let produced = unsafe { self.fill_q.produce(&self.scratch[..n]) };
        if produced == n {
            self.fill_out += n as u32;
        } else {
            // All-or-nothing and the room was checked: not expected, but
            // the chunks must not be lost.
            for fd in &self.scratch[..n] {
                umem.free_chunk(Desc {
                    addr: fd.addr() as u64,
                    len: 0,
                });
            }
        }
    }

    /// Kicks TX while frames are outstanding and the kernel asks.
    fn kick_tx(&mut self) {
        // Copy mode sends at most 32 frames per sendto (the kernel's
        // TX_BATCH_SIZE): one kick per 32 frames produced since the last
        // turn (at least one while any is outstanding), up to MAX_KICKS,
        // so a turn that received a full batch on each port also sends it.
        if self.tx_out == 0 || !self.tx_q.needs_wakeup() {
            self.tx_new = 0;
            return;
        }
        let kicks = self.tx_new.div_ceil(32).clamp(1, MAX_KICKS);
        for _ in 0..kicks {
            // Transient errors (EAGAIN, EBUSY, ENOBUFS, ENETDOWN) are
            // swallowed by xsk-rs; the next poll kicks again.
            let _ = self.tx_q.wakeup();
            self.stats.tx_kicks += 1;
        }
        self.tx_new = 0;
    }
}

/// Most TX kicks (sendto) per port per poll turn.
const MAX_KICKS: u32 = 8;

impl Port for XskPort {
    fn counters(&mut self, kernel: bool) -> super::PortCounters {
        if kernel {
            self.kernel = self.stats();
        }
        let (s, k) = (&self.stats, &self.kernel);
        super::PortCounters {
            rx: s.rx,
            tx: s.tx,
            rx_dropped: k.kernel_rx_dropped,
            rx_ring_full: k.kernel_rx_ring_full,
            fill_ring_empty: k.kernel_fill_empty,
            tx_ring_full: s.tx_ring_full,
            invalid_descs: k.kernel_rx_invalid + k.kernel_tx_invalid,
        }
    }

    fn rx(&mut self, _umem: &mut Umem, out: &mut [Desc]) -> usize {
        if self.gone {
            return 0;
        }
        let want = out.len().min(self.scratch.len());
        // SAFETY: the RX ring hands over frames the kernel filled from
        // chunks we put on this port's fill ring; they are ours now.
        #[allow(unsafe_code)]
        let n = unsafe { self.rx_q.consume(&mut self.scratch[..want]) };
        for (slot, fd) in out.iter_mut().zip(&self.scratch[..n]) {
            *slot = Desc {
                addr: fd.addr() as u64,
                len: fd.lengths().data() as u32,
            };
        }
        self.fill_out -= n as u32;
        self.stats.rx += n as u64;
        n
    }

    fn tx(&mut self, umem: &mut Umem, frames: &[Desc]) -> usize {
        if frames.is_empty() {
            return 0;
        }
        if self.gone || self.down {
            self.stats.tx_link_down += frames.len() as u64;
            return 0;
        }
        let want = frames.len().min(self.scratch.len()) as u32;
        let n = self.tx_q.nb_free(want).min(want) as usize;
        self.stats.tx_ring_full += (frames.len() - n) as u64;
        if n == 0 {
            return 0;
        }
        let frame_size = 1usize << self.frame_shift;
        let mut k = 0;
        for &d in &frames[..n] {
            let mut fd = self.chunk(d.addr);
            let start = fd.addr() as u64;
            let base = start & !(frame_size as u64 - 1);
            if d.addr != start {
                if (start - base) as usize + d.len as usize > frame_size {
                    umem.free_chunk(d);
                    self.stats.tx_too_long += 1;
                    continue;
                }
                umem.move_bytes(d.addr, start, d.len as usize);
                self.stats.head_moves += 1;
            }
            // SAFETY: `fd` names the chunk of `d`, which the caller owns
            // (it is in neither ring); setting the length writes no byte.
            #[allow(unsafe_code)]
            unsafe {
                self.umem.data_mut(&mut fd).cursor().set_pos(d.len as usize);
            }
            self.scratch[k] = fd;
            k += 1;
        }
        if k > 0 {
            // SAFETY: the frames are the caller's (not on any ring) and of
            // this UMEM; from here the kernel owns them until completion.
            #[allow(unsafe_code)]
            let produced = unsafe { self.tx_q.produce(&self.scratch[..k]) };
            if produced != k {
                // The room was checked and we are the only producer; if
                // the ring still refused, drop rather than lose the chunks.
                for fd in &self.scratch[..k] {
                    umem.free_chunk(Desc {
                        addr: fd.addr() as u64,
                        len: 0,
                    });
                }
                self.stats.tx_ring_full += k as u64;
                return n;
            }
            self.tx_out += k as u32;
            self.tx_new += k as u32;
            self.stats.tx += k as u64;
            // The kick waits for `poll`, at the end of the turn: one
            // sendto per turn however many `tx` calls the turn made.
        }
        n
    }

    fn poll(&mut self, umem: &mut Umem) {
        if self.gone {
            return;
        }
        self.complete(umem);
        if !self.down {
            self.kick_tx();
        }
        if self.fill_out == 0 {
            self.stats.fill_ring_empty += 1;
        }
        self.refill(umem);
        if self.fill_q.needs_wakeup() {
            let _ = self.fill_q.wakeup(self.rx_q.fd_mut(), 0);
            self.stats.fill_wakeups += 1;
        }
    }

    fn fd(&self) -> Option<RawFd> {
        // A dead socket polls readable (POLLERR) for ever.
        (!self.gone).then(|| self.rx_q.fd().as_raw_fd())
    }

    fn tx_pending(&self) -> bool {
        // A down link's TX ring waits for the link (the kernel does not
        // take from it meanwhile): no reason to stay awake.
        !self.gone && !self.down && self.tx_outstanding() > 0
    }

    fn set_down(&mut self, down: bool) {
        self.down = down;
    }

    fn set_gone(&mut self, gone: bool) {
        self.gone = gone;
    }

    /// A new socket on the same interface name and queue, sharing the
    /// worker's UMEM, in the mode the old one had; the old one is closed.
    /// The chunks the old socket's fill and TX rings held are written off
    /// (`lost_to_gone_link`): after `NETDEV_UNREGISTER` the kernel
    /// unbinds the socket and hands none of them back.
    fn reopen(&mut self, umem: &mut Umem) -> Result<u32, String> {
        let ring = QueueSize::new(self.scratch.len() as u32).map_err(|e| e.to_string())?;
        let spec = PortSpec {
            xumem: &self.umem,
            chunks: &self.chunks,
            ifname: &self.ifname,
            queue: self.queue,
            ring,
            mode: self.mode,
            busy_poll: self.busy_poll,
            fill_target: self.fill_target,
        };
        let mut new = open_port(&spec).map_err(|e| e.to_string())?;
        let lost = self.fill_out + self.tx_out;
        new.stats = self.stats;
        new.stats.lost_to_gone_link += u64::from(lost);
        new.stats.reopened += 1;
        *self = new;
        self.refill(umem);
        Ok(lost)
    }

    fn held(&self) -> usize {
        self.fill_outstanding() + self.tx_outstanding()
    }
}

/// One UMEM of `cfg.frames` chunks and one AF_XDP port per interface on
/// queue `queue`; port `i` is on `ifaces[i]`. Runs [`preflight`] on each
/// interface (for `queue + 1` queues) first.
pub fn open_worker(
    ifaces: &[&str],
    queue: u32,
    cfg: &XskConfig,
) -> Result<(Umem, Vec<XskPort>), XskError> {
    check_root()?;
    quiet_libraries();
    if ifaces.is_empty() {
        return Err(XskError::Config("no interface to open".into()));
    }
    for (i, a) in ifaces.iter().enumerate() {
        if ifaces[..i].contains(a) {
            return Err(XskError::Config(format!("interface {a} named twice")));
        }
        preflight(a, queue + 1)?;
    }
    let mut native = Vec::with_capacity(ifaces.len());
    for a in ifaces {
        native.push(!cfg.force_generic && native_xdp(a)?);
    }
    let generic: Vec<&str> = ifaces
        .iter()
        .zip(&native)
        .filter(|(_, &n)| !n)
        .map(|(i, _)| *i)
        .collect();
    if !generic.is_empty() && !cfg.force_generic {
        eprintln!(
            "sluice: warning: no native XDP on {}: using generic (SKB) mode, which is slower",
            generic.join(", ")
        );
    }
    let mut zerocopy = !cfg.force_copy;
    loop {
        match try_open(ifaces, queue, cfg, &native, zerocopy) {
            Ok(r) => return Ok(r),
            // The zero-copy bind fails before anything is attached: retry
            // in copy mode. (A failure after the bind is not retried: the
            // kernel may hold the queue until the socket is gone.)
            Err((0, XskError::Socket { source, .. }))
                if zerocopy
                    && matches!(
                        source.raw_os_error(),
                        Some(nix::libc::EOPNOTSUPP | nix::libc::EINVAL)
                    ) =>
            {
                zerocopy = false;
            }
            Err((i, XskError::Socket { source, .. }))
                if source.raw_os_error() == Some(nix::libc::EOPNOTSUPP) =>
            {
                return Err(XskError::NoXdp {
                    ifname: ifaces[i].to_string(),
                    source,
                })
            }
            Err((_, e)) => return Err(e),
        }
    }
}

/// Whether `ifname` runs XDP in native (driver) mode: the mode of the
/// program already attached (another worker's), or else a probe that
/// attaches a two-instruction `XDP_PASS` program in native mode and
/// detaches it.
fn native_xdp(ifname: &str) -> Result<bool, XskError> {
    if let Some(mp) = MultiProg::get(ifname)? {
        return Ok(mp.native());
    }
    let idx = ifindex(ifname)? as i32;
    const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
    const XDP_FLAGS_DRV_MODE: u32 = 4;
    let insn = |code: u8, imm: i32| libxdp_sys::bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: libxdp_sys::bpf_insn::new_bitfield_1(0, 0),
        off: 0,
        imm,
    };
    // r0 = XDP_PASS (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT).
    let prog = [insn(0xb7, 2), insn(0x95, 0)];
    // SAFETY: `prog` and the two C strings outlive the call, which copies
    // them into the kernel; the returned fd is ours and closed below.
    #[allow(unsafe_code)]
    let fd = unsafe {
        libxdp_sys::bpf_prog_load(
            libxdp_sys::bpf_prog_type_BPF_PROG_TYPE_XDP,
            c"sluice_probe".as_ptr(),
            c"GPL".as_ptr(),
            prog.as_ptr(),
            prog.len(),
            std::ptr::null_mut(),
        )
    };
    if fd < 0 {
        return Err(XskError::NoXdp {
            ifname: ifname.to_string(),
            source: io::Error::from_raw_os_error(-fd),
        });
    }
    // SAFETY: plain syscalls on our ifindex and fd; no memory is shared.
    #[allow(unsafe_code)]
    let native = unsafe {
        let ok = libxdp_sys::bpf_xdp_attach(
            idx,
            fd,
            XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
            std::ptr::null(),
        ) == 0;
        if ok {
            libxdp_sys::bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, std::ptr::null());
        }
        nix::libc::close(fd);
        ok
    };
    Ok(native)
}

fn try_open(
    ifaces: &[&str],
    queue: u32,
    cfg: &XskConfig,
    native: &[bool],
    zerocopy: bool,
) -> Result<(Umem, Vec<XskPort>), (usize, XskError)> {
    let ring = QueueSize::new(cfg.ring_size).map_err(|e| {
        (
            0,
            XskError::Config(format!("ring_size {}: {e}", cfg.ring_size)),
        )
    })?;
    let frames =
        NonZeroU32::new(cfg.frames).ok_or((0, XskError::Config("frames must not be 0".into())))?;
    let frame_size = DEFAULT_FRAME_SIZE;
    let umem_cfg = UmemConfig::builder()
        .frame_size(FrameSize::new(frame_size).map_err(|e| (0, XskError::Config(e.to_string())))?)
        .fill_queue_size(ring)
        .comp_queue_size(ring)
        .frame_headroom(0)
        .build()
        .map_err(|e| (0, XskError::Config(e.to_string())))?;
    let (xumem, chunks) = xsk_rs::Umem::new(umem_cfg, frames, false).map_err(|e| {
        let source = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map_or_else(
                || io::Error::other(e.to_string()),
                |s| io::Error::new(s.kind(), s.to_string()),
            );
        (
            0,
            XskError::Umem {
                frames: cfg.frames,
                what: e.to_string(),
                source,
            },
        )
    })?;
    debug_assert!(chunks
        .iter()
        .enumerate()
        .all(|(i, c)| c.addr() == i * frame_size as usize + HEADROOM as usize));
    let mut first = chunks[0];
    // SAFETY: only the address of chunk 0's data area is taken; no byte
    // is read or written. xsk-rs maps `frames * frame_size` contiguous
    // bytes and chunk 0's data starts `addr()` bytes into the region.
    #[allow(unsafe_code)]
    let base = unsafe {
        let data = xumem.data_mut(&mut first).contents_mut().as_mut_ptr();
        NonNull::new(data.sub(first.addr()))
    }
    .ok_or((
        0,
        XskError::Config("the UMEM mapping came back at address 0".into()),
    ))?;
    let chunks: Arc<[FrameDesc]> = chunks.into();
    let region = Region {
        _umem: xumem.clone(),
        base,
        len: frames.get() as usize * frame_size as usize,
    };
    let umem = Umem::from_region(region, frame_size);
    let n_ports = ifaces.len() as u32;
    // Leave half of the chunks for the pipeline and the TX rings.
    let fill_target = cfg.ring_size.min(cfg.frames / (2 * n_ports)).max(1);
    let mut ports = Vec::with_capacity(ifaces.len());
    for (i, ifname) in ifaces.iter().enumerate() {
        let spec = PortSpec {
            xumem: &xumem,
            chunks: &chunks,
            ifname,
            queue,
            ring,
            mode: XskMode {
                native: native[i],
                zerocopy,
            },
            busy_poll: cfg.busy_poll,
            fill_target,
        };
        ports.push(open_port(&spec).map_err(|e| (i, e))?);
    }
    let mut umem = umem;
    for p in &mut ports {
        p.refill(&mut umem);
    }
    Ok((umem, ports))
}

/// What [`open_port`] needs: the worker's UMEM and where to bind.
struct PortSpec<'a> {
    xumem: &'a xsk_rs::Umem,
    chunks: &'a Arc<[FrameDesc]>,
    ifname: &'a str,
    queue: u32,
    ring: QueueSize,
    mode: XskMode,
    busy_poll: bool,
    fill_target: u32,
}

/// One AF_XDP socket on `spec.ifname` queue `spec.queue`, sharing
/// `spec.xumem` (its fill ring empty: the caller refills it).
fn open_port(spec: &PortSpec<'_>) -> Result<XskPort, XskError> {
    let PortSpec {
        xumem,
        chunks,
        ifname,
        queue,
        ring,
        mode,
        busy_poll,
        fill_target,
    } = *spec;
    let iface: Interface = ifname.parse().map_err(|_| XskError::NoSuchInterface {
        ifname: ifname.to_string(),
    })?;
    let xdp = if mode.native {
        XdpFlags::XDP_FLAGS_DRV_MODE
    } else {
        XdpFlags::XDP_FLAGS_SKB_MODE
    };
    let mut bind = BindFlags::XDP_USE_NEED_WAKEUP;
    bind |= if mode.zerocopy {
        BindFlags::XDP_ZEROCOPY
    } else {
        BindFlags::XDP_COPY
    };
    let sock_cfg = SocketConfig::builder()
        .rx_queue_size(ring)
        .tx_queue_size(ring)
        .libxdp_flags(LibxdpFlags::empty())
        .xdp_flags(xdp)
        .bind_flags(bind)
        .build();
    let sock_err = |what: String, source: io::Error| XskError::Socket {
        ifname: ifname.to_string(),
        queue,
        what,
        source,
    };
    // One socket set up at a time in the process: libxdp checks whether
    // the interface has its XDP program and then attaches it, and two
    // workers reopening their ports on a re-created interface at once
    // raced there (the loser's attach failed with EBUSY). Start-up opens
    // the workers one after the other already; this lock is taken once
    // per port open, never on a frame's path.
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _setup = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // SAFETY: xsk-rs asks that no other socket is bound to this
    // (interface, queue) with this UMEM; the caller opens each pair
    // once per worker (a reopen closes the old socket after, and its
    // interface is gone) and `ifaces` names distinct interfaces (checked
    // by the kernel too: a second bind fails with EBUSY).
    #[allow(unsafe_code)]
    let (tx_q, rx_q, fq_cq) =
        unsafe { Socket::new(sock_cfg, xumem, &iface, queue) }.map_err(|e| {
            let src = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .and_then(io::Error::raw_os_error)
                .map_or_else(|| io::Error::other("unknown"), io::Error::from_raw_os_error);
            sock_err(e.to_string(), src)
        })?;
    let Some((fill_q, comp_q)) = fq_cq else {
        return Err(sock_err(
            "no fill/completion ring for this interface".into(),
            io::Error::other("same interface and queue twice?"),
        ));
    };
    if busy_poll {
        set_busy_poll(rx_q.fd().as_raw_fd())
            .map_err(|e| sock_err("setting busy poll".into(), e))?;
    }
    let idx = ifindex(ifname)?;
    let allmulti = allmulti::hold(ifname, idx)?.then_some(idx);
    Ok(XskPort {
        ifname: ifname.to_string(),
        queue,
        mode,
        rx_q,
        tx_q,
        fill_q,
        comp_q,
        umem: xumem.clone(),
        chunks: Arc::clone(chunks),
        frame_shift: DEFAULT_FRAME_SIZE.trailing_zeros(),
        scratch: vec![FrameDesc::default(); ring.get() as usize],
        fill_out: 0,
        fill_target,
        tx_out: 0,
        tx_new: 0,
        stats: XskPortStats::default(),
        kernel: XskPortStats::default(),
        busy_poll,
        gone: false,
        down: false,
        allmulti,
    })
}

/// SO_PREFER_BUSY_POLL, SO_BUSY_POLL 20 µs, SO_BUSY_POLL_BUDGET 64
/// (`Documentation/networking/af_xdp.rst`, "busy polling").
fn set_busy_poll(fd: RawFd) -> io::Result<()> {
    use nix::libc;
    for (opt, val) in [
        (libc::SO_PREFER_BUSY_POLL, 1),
        (libc::SO_BUSY_POLL, 20),
        (libc::SO_BUSY_POLL_BUDGET, 64),
    ] {
        let v: libc::c_int = val;
        // SAFETY: `fd` is the open socket; `v` outlives the call and its
        // size is passed.
        #[allow(unsafe_code)]
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker thread owns its arena and ports.
    #[test]
    fn worker_state_is_send() {
        fn send<T: Send>() {}
        send::<(Umem, Vec<XskPort>)>();
    }

    #[test]
    fn errors_name_the_interface_and_the_fix() {
        let e = XskError::TooFewQueues {
            ifname: "eth1".into(),
            have: 1,
            need: 4,
        };
        let m = e.to_string();
        assert!(
            m.contains("eth1") && m.contains("ethtool -L eth1 combined 4"),
            "{m}"
        );
        let m = XskError::Down {
            ifname: "eth2".into(),
        }
        .to_string();
        assert!(m.contains("ip link set dev eth2 up"), "{m}");
    }
}
