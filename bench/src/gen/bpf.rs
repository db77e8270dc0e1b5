//! The few `bpf(2)` commands the live-frames engine ([`super::live`])
//! needs — array maps, loading an XDP program, `BPF_PROG_TEST_RUN` — as
//! raw syscalls, and an assembler for the handful of eBPF instructions
//! its program uses. No libbpf: the program is about 60 instructions
//! built at run time from the frame layout, with no ELF or BTF.
//!
//! `union bpf_attr` is written as a zeroed 160-byte buffer with the fields
//! at their offsets in `include/uapi/linux/bpf.h`; the kernel requires
//! the bytes it does not know to be zero, which they are.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

const MAP_CREATE: libc::c_int = 0;
const MAP_LOOKUP_ELEM: libc::c_int = 1;
const MAP_UPDATE_ELEM: libc::c_int = 2;
const PROG_LOAD: libc::c_int = 5;
const PROG_TEST_RUN: libc::c_int = 10;

const MAP_TYPE_ARRAY: u32 = 2;
const PROG_TYPE_XDP: u32 = 6;

/// `BPF_F_TEST_XDP_LIVE_FRAMES`: every run's verdict is acted on (XDP_TX
/// and XDP_REDIRECT transmit), frames come from a page pool initialised
/// once from `data_in`.
pub const F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// `XDP_DROP`, `XDP_TX`.
pub const XDP_DROP: i32 = 1;
pub const XDP_TX: i32 = 3;

/// `union bpf_attr`, zeroed, with little helpers to place fields.
#[repr(C, align(8))]
struct Attr([u8; 160]);

impl Default for Attr {
    fn default() -> Attr {
        Attr([0; 160])
    }
}

impl Attr {
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn get_u32(&self, off: usize) -> u32 {
        let b = &self.0;
        u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    /// `bpf(cmd, &attr, sizeof attr)`: the return value or the errno.
    fn call(&mut self, cmd: libc::c_int) -> Result<libc::c_long, std::io::Error> {
        // SAFETY: the attribute buffer is valid for 160 bytes for the
        // duration of the call; pointers inside it are set by the callers
        // to buffers that outlive the call.
        #[allow(unsafe_code)]
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                self.0.as_mut_ptr() as *mut libc::c_void,
                self.0.len() as libc::c_uint,
            )
        };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }
}

/// A `BPF_MAP_TYPE_ARRAY` of `entries` values of `value_size` bytes.
pub struct ArrayMap {
    fd: OwnedFd,
    value_size: usize,
    entries: u32,
}

impl ArrayMap {
    pub fn new(value_size: usize, entries: u32) -> Result<ArrayMap, String> {
        let mut a = Attr::default();
        a.u32(0, MAP_TYPE_ARRAY)
            .u32(4, 4)
            .u32(8, value_size as u32)
            .u32(12, entries);
        let fd = a.call(MAP_CREATE).map_err(|e| {
            format!("creating a BPF array map ({entries} × {value_size} bytes): {e}")
        })?;
        // SAFETY: a successful BPF_MAP_CREATE returns a new descriptor
        // that nothing else owns.
        #[allow(unsafe_code)]
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        Ok(ArrayMap {
            fd,
            value_size,
            entries,
        })
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Writes entry `key` (`value` is the value size).
    pub fn set(&self, key: u32, value: &[u8]) -> Result<(), String> {
        if value.len() != self.value_size || key >= self.entries {
            return Err(format!(
                "BPF map entry {key} of {} bytes: the map holds {} × {} bytes",
                value.len(),
                self.entries,
                self.value_size
            ));
        }
        self.elem(MAP_UPDATE_ELEM, key, value.as_ptr() as u64, "writing")
    }

    /// Reads entry `key` into `value` (the value size).
    pub fn get(&self, key: u32, value: &mut [u8]) -> Result<(), String> {
        if value.len() != self.value_size {
            return Err(format!("BPF map read of {} bytes", value.len()));
        }
        self.elem(MAP_LOOKUP_ELEM, key, value.as_mut_ptr() as u64, "reading")
    }

    /// `cmd` on entry `key` with the value at `value`.
    fn elem(&self, cmd: libc::c_int, key: u32, value: u64, what: &str) -> Result<(), String> {
        let mut a = Attr::default();
        a.u32(0, self.fd() as u32)
            .u64(8, &key as *const u32 as u64)
            .u64(16, value);
        a.call(cmd)
            .map(drop)
            .map_err(|e| format!("{what} BPF map entry {key}: {e}"))
    }

    /// Entry `key` as a native-endian u64 (an 8-byte map).
    pub fn get_u64(&self, key: u32) -> Result<u64, String> {
        let mut v = [0u8; 8];
        self.get(key, &mut v)?;
        Ok(u64::from_ne_bytes(v))
    }
}

/// A loaded XDP program.
pub struct Prog {
    fd: OwnedFd,
}

/// What one `BPF_PROG_TEST_RUN` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (of the last run).
    pub retval: u32,
    /// Bytes written to `data_out`.
    pub data_size_out: u32,
}

impl Prog {
    /// Loads `insns` as an XDP program named `name`; a verifier refusal
    /// comes back with the verifier's log.
    pub fn load_xdp(name: &str, insns: &[Insn]) -> Result<Prog, String> {
        let license = b"GPL\0";
        let mut pname = [0u8; 16];
        for (d, s) in pname.iter_mut().zip(name.bytes().take(15)) {
            *d = s;
        }
        let mut log = vec![0u8; 1 << 16];
        let mut a = Attr::default();
        a.u32(0, PROG_TYPE_XDP)
            .u32(4, insns.len() as u32)
            .u64(8, insns.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64)
            .u32(24, 1)
            .u32(28, log.len() as u32)
            .u64(32, log.as_mut_ptr() as u64);
        a.0[48..64].copy_from_slice(&pname);
        match a.call(PROG_LOAD) {
            Ok(fd) => {
                // SAFETY: a new descriptor from a successful PROG_LOAD.
                #[allow(unsafe_code)]
                let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
                Ok(Prog { fd })
            }
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                let tail: Vec<&str> = text.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!(
                    "loading the XDP program: {e}{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; verifier: {}", tail.join(" | "))
                    }
                ))
            }
        }
    }

    /// `BPF_PROG_TEST_RUN` over `data` with `ctx` (a `struct xdp_md`:
    /// `data_end` must be `data.len()`), `repeat` times, with `flags`;
    /// `out` receives the frame after the (last) run where the mode
    /// allows it (not with live frames).
    pub fn test_run(
        &self,
        data: &[u8],
        ctx: &XdpMd,
        out: Option<&mut [u8]>,
        repeat: u32,
        flags: u32,
        batch_size: u32,
    ) -> Result<TestRun, std::io::Error> {
        let ctx_bytes = ctx.bytes();
        let mut a = Attr::default();
        a.u32(0, self.fd.as_raw_fd() as u32)
            .u32(8, data.len() as u32)
            .u64(16, data.as_ptr() as u64)
            .u32(32, repeat)
            .u32(40, ctx_bytes.len() as u32)
            .u64(48, ctx_bytes.as_ptr() as u64)
            .u32(64, flags)
            .u32(72, batch_size);
        if let Some(o) = out {
            a.u32(12, o.len() as u32).u64(24, o.as_mut_ptr() as u64);
        }
        a.call(PROG_TEST_RUN)?;
        Ok(TestRun {
            retval: a.get_u32(4),
            data_size_out: a.get_u32(12),
        })
    }
}

/// `struct xdp_md` as the test run takes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct XdpMd {
    pub data: u32,
    pub data_end: u32,
    pub data_meta: u32,
    pub ingress_ifindex: u32,
    pub rx_queue_index: u32,
    pub egress_ifindex: u32,
}

impl XdpMd {
    fn bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        let f = [
            self.data,
            self.data_end,
            self.data_meta,
            self.ingress_ifindex,
            self.rx_queue_index,
            self.egress_ifindex,
        ];
        for (c, v) in b.chunks_mut(4).zip(f) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
        b
    }
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// Registers: r0 return value, r1–r5 arguments (clobbered by calls),
/// r6–r9 kept across calls, r10 the frame pointer.
pub type Reg = u8;
pub const R0: Reg = 0;
pub const R1: Reg = 1;
pub const R2: Reg = 2;
pub const R3: Reg = 3;
pub const R4: Reg = 4;
pub const R6: Reg = 6;
pub const R7: Reg = 7;
pub const R8: Reg = 8;
pub const R9: Reg = 9;
pub const R10: Reg = 10;

/// Memory access sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    W = 0x00,
    H = 0x08,
    B = 0x10,
    DW = 0x18,
}

impl Size {
    pub fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }
}

const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const MODE_MEM: u8 = 0x60;
const SRC_X: u8 = 0x08;

/// ALU operations (`BPF_ADD` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add = 0x00,
    Div = 0x30,
    And = 0x50,
    Rsh = 0x70,
    Mod = 0x90,
    Xor = 0xa0,
    Mov = 0xb0,
}

/// Conditional jumps (`BPF_JEQ` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jmp {
    Eq = 0x10,
    Gt = 0x20,
    Ne = 0x50,
}

/// Helper ids.
pub const FN_MAP_LOOKUP_ELEM: i32 = 1;
pub const FN_KTIME_GET_NS: i32 = 5;

fn insn(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (dst & 0x0f) | (src << 4),
        off,
        imm,
    }
}

/// `dst op= imm` (64-bit).
pub fn alu_k(op: Alu, dst: Reg, imm: i32) -> Insn {
    insn(CLASS_ALU64 | op as u8, dst, 0, 0, imm)
}

/// `dst op= src` (64-bit).
pub fn alu_x(op: Alu, dst: Reg, src: Reg) -> Insn {
    insn(CLASS_ALU64 | op as u8 | SRC_X, dst, src, 0, 0)
}

/// `dst = htobe(dst)` of its low `bits` (16, 32), zero-extended.
pub fn to_be(dst: Reg, bits: i32) -> Insn {
    insn(CLASS_ALU | 0xd0 | SRC_X, dst, 0, 0, bits)
}

/// `dst = *(size *)(src + off)`.
pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    insn(CLASS_LDX | MODE_MEM | size as u8, dst, src, off, 0)
}

/// `*(size *)(dst + off) = src`.
pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
    insn(CLASS_STX | MODE_MEM | size as u8, dst, src, off, 0)
}

/// `*(size *)(dst + off) = imm`.
pub fn st(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
    insn(CLASS_ST | MODE_MEM | size as u8, dst, 0, off, imm)
}

/// `if dst op imm goto +off`.
pub fn jmp_k(op: Jmp, dst: Reg, imm: i32, off: i16) -> Insn {
    insn(CLASS_JMP | op as u8, dst, 0, off, imm)
}

/// `if dst op src goto +off`.
pub fn jmp_x(op: Jmp, dst: Reg, src: Reg, off: i16) -> Insn {
    insn(CLASS_JMP | op as u8 | SRC_X, dst, src, off, 0)
}

/// `call helper`.
pub fn call(helper: i32) -> Insn {
    insn(CLASS_JMP | 0x80, 0, 0, 0, helper)
}

pub fn exit() -> Insn {
    insn(CLASS_JMP | 0x90, 0, 0, 0, 0)
}

/// `dst = map` (the two-slot `ld_imm64` with `BPF_PSEUDO_MAP_FD`).
pub fn ld_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
    [insn(0x18, dst, 1, 0, fd), insn(0, 0, 0, 0, 0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings against `include/uapi/linux/bpf.h` and the kernel's
    /// `filter.h` macros, byte for byte.
    #[test]
    fn encodings() {
        let b = |i: Insn| (i.code, i.regs, i.off, i.imm);
        assert_eq!(b(alu_x(Alu::Mov, R6, R1)), (0xbf, 0x16, 0, 0));
        assert_eq!(b(alu_k(Alu::Add, R2, -4)), (0x07, 0x02, 0, -4));
        assert_eq!(b(alu_k(Alu::Mod, R8, 1000)), (0x97, 0x08, 0, 1000));
        assert_eq!(b(alu_k(Alu::Div, R7, 3)), (0x37, 0x07, 0, 3));
        assert_eq!(b(alu_k(Alu::Rsh, R1, 16)), (0x77, 0x01, 0, 16));
        assert_eq!(b(alu_k(Alu::Xor, R4, 0xffff)), (0xa7, 0x04, 0, 0xffff));
        assert_eq!(b(alu_k(Alu::And, R4, 0xffff)), (0x57, 0x04, 0, 0xffff));
        assert_eq!(b(alu_x(Alu::Add, R4, R1)), (0x0f, 0x14, 0, 0));
        assert_eq!(b(to_be(R1, 32)), (0xdc, 0x01, 0, 32));
        assert_eq!(b(ldx(Size::W, R2, R6, 4)), (0x61, 0x62, 4, 0));
        assert_eq!(b(ldx(Size::H, R1, R2, 50)), (0x69, 0x21, 50, 0));
        assert_eq!(b(ldx(Size::DW, R1, R8, 8)), (0x79, 0x81, 8, 0));
        assert_eq!(b(stx(Size::DW, R0, 0, R1)), (0x7b, 0x10, 0, 0));
        assert_eq!(b(stx(Size::H, R2, 40, R4)), (0x6b, 0x42, 40, 0));
        assert_eq!(b(st(Size::W, R10, -4, 0)), (0x62, 0x0a, -4, 0));
        assert_eq!(b(jmp_k(Jmp::Eq, R0, 0, 7)), (0x15, 0x00, 7, 0));
        assert_eq!(b(jmp_k(Jmp::Ne, R4, 0, 1)), (0x55, 0x04, 1, 0));
        assert_eq!(b(jmp_x(Jmp::Gt, R1, R3, 2)), (0x2d, 0x31, 2, 0));
        assert_eq!(b(call(FN_KTIME_GET_NS)), (0x85, 0, 0, 5));
        assert_eq!(b(exit()), (0x95, 0, 0, 0));
        let m = ld_map_fd(R1, 9);
        assert_eq!((b(m[0]), b(m[1])), ((0x18, 0x11, 0, 9), (0, 0, 0, 0)));
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn attr_fields_land_at_their_offsets() {
        let mut a = Attr::default();
        a.u32(4, 0x0102_0304).u64(16, 0x1122_3344_5566_7788);
        assert_eq!(a.get_u32(4), 0x0102_0304);
        assert_eq!(a.0[16..24], 0x1122_3344_5566_7788u64.to_ne_bytes());
        assert_eq!(a.0[..4], [0; 4]);
    }
}
