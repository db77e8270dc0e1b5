//! The interface side of AF_XDP set-up: root, the interface's sysfs facts
//! ([`preflight`]), the XDP programs attached to it ([`xdp_programs`],
//! [`detach_stale`] after a killed run) and libbpf/libxdp's own messages.

use std::ffi::CStr;
use std::io;
use std::path::Path;
use std::ptr::NonNull;

use super::{IfInfo, XdpProg, XskError, XSK_PROG_NAME};

/// `0` for root; the daemon and the tests call this first.
pub(super) fn check_root() -> Result<(), XskError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(XskError::NotRoot)
    }
}

pub(super) fn sys_read(ifname: &str, file: &str) -> Result<String, XskError> {
    let p = Path::new("/sys/class/net").join(ifname).join(file);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|source| XskError::Sys {
            ifname: ifname.to_string(),
            what: "reading /sys/class/net",
            source,
        })
}

pub(super) fn parse_mac(s: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(s.split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    mac
}

/// Checks that `ifname` can take AF_XDP sockets on queues
/// `0..queues_needed` (see [`XskError`] for what is checked).
///
/// Reads `/sys/class/net`: in a network namespace entered with setns(2),
/// mount that namespace's sysfs first, as `ip netns exec` does.
pub fn preflight(ifname: &str, queues_needed: u32) -> Result<IfInfo, XskError> {
    quiet_libraries();
    check_root()?;
    if ifname.is_empty()
        || ifname.contains('/')
        || !Path::new("/sys/class/net").join(ifname).exists()
    {
        return Err(XskError::NoSuchInterface {
            ifname: ifname.to_string(),
        });
    }
    let ifindex = sys_read(ifname, "ifindex")?.parse().unwrap_or(0);
    let flags =
        u32::from_str_radix(sys_read(ifname, "flags")?.trim_start_matches("0x"), 16).unwrap_or(0);
    const IFF_UP: u32 = 0x1;
    if flags & IFF_UP == 0 {
        return Err(XskError::Down {
            ifname: ifname.to_string(),
        });
    }
    let mac = parse_mac(&sys_read(ifname, "address")?);
    let mtu = sys_read(ifname, "mtu")?.parse().unwrap_or(0);
    let queues = std::fs::read_dir(Path::new("/sys/class/net").join(ifname).join("queues"))
        .map_err(|source| XskError::Sys {
            ifname: ifname.to_string(),
            what: "listing queues",
            source,
        })?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count() as u32;
    if queues < queues_needed {
        return Err(XskError::TooFewQueues {
            ifname: ifname.to_string(),
            have: queues,
            need: queues_needed,
        });
    }
    if let Some(p) = xdp_programs(ifname)?
        .into_iter()
        .find(|p| p.name != XSK_PROG_NAME)
    {
        return Err(XskError::ForeignProgram {
            ifname: ifname.to_string(),
            name: p.name,
            id: p.id,
        });
    }
    Ok(IfInfo {
        ifindex,
        mac,
        mtu,
        queues,
    })
}

pub(super) fn ifindex(ifname: &str) -> Result<u32, XskError> {
    nix::net::if_::if_nametoindex(ifname).map_err(|_| XskError::NoSuchInterface {
        ifname: ifname.to_string(),
    })
}

/// libxdp's view of an interface's XDP programs, closed on drop.
pub(super) struct MultiProg(NonNull<libxdp_sys::xdp_multiprog>);

impl MultiProg {
    /// `None` when no program is attached.
    pub(super) fn get(ifname: &str) -> Result<Option<MultiProg>, XskError> {
        let idx = ifindex(ifname)?;
        // SAFETY: a plain query; libxdp returns an owned handle, NULL or
        // an error pointer, which `libxdp_get_error` tells apart.
        #[allow(unsafe_code)]
        let (mp, err) = unsafe {
            let mp = libxdp_sys::xdp_multiprog__get_from_ifindex(idx as i32);
            (mp, libxdp_sys::libxdp_get_error(mp as *const _))
        };
        if err == -(nix::libc::ENOENT as i64) || (err == 0 && mp.is_null()) {
            return Ok(None);
        }
        if err != 0 {
            return Err(XskError::Sys {
                ifname: ifname.to_string(),
                what: "querying XDP programs (libxdp)",
                source: io::Error::from_raw_os_error(-err as i32),
            });
        }
        Ok(NonNull::new(mp).map(MultiProg))
    }

    fn progs(&self) -> Vec<XdpProg> {
        let mp = self.0.as_ptr();
        let mut out = Vec::new();
        // SAFETY: `mp` is a live handle; the program pointers it yields
        // live as long as it and are only read here; names are C strings.
        #[allow(unsafe_code)]
        unsafe {
            let describe = |p: *mut libxdp_sys::xdp_program| {
                let name = libxdp_sys::xdp_program__name(p);
                XdpProg {
                    id: libxdp_sys::xdp_program__id(p),
                    name: if name.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(name).to_string_lossy().into_owned()
                    },
                }
            };
            if libxdp_sys::xdp_multiprog__is_legacy(mp) {
                let p = libxdp_sys::xdp_multiprog__main_prog(mp);
                if !p.is_null() {
                    out.push(describe(p));
                }
            } else {
                let mut p = std::ptr::null_mut();
                loop {
                    p = libxdp_sys::xdp_multiprog__next_prog(p, mp);
                    if p.is_null() {
                        break;
                    }
                    out.push(describe(p));
                }
            }
            let hw = libxdp_sys::xdp_multiprog__hw_prog(mp);
            if !hw.is_null() {
                out.push(describe(hw));
            }
        }
        out
    }

    pub(super) fn native(&self) -> bool {
        // SAFETY: `mp` is a live handle.
        #[allow(unsafe_code)]
        let mode = unsafe { libxdp_sys::xdp_multiprog__attach_mode(self.0.as_ptr()) };
        mode == libxdp_sys::xdp_attach_mode_XDP_MODE_NATIVE
    }

    fn detach(&self) -> i32 {
        // SAFETY: `mp` is a live handle.
        #[allow(unsafe_code)]
        unsafe {
            libxdp_sys::xdp_multiprog__detach(self.0.as_ptr())
        }
    }
}

impl Drop for MultiProg {
    fn drop(&mut self) {
        // SAFETY: closes the handle `get` returned, once.
        #[allow(unsafe_code)]
        unsafe {
            libxdp_sys::xdp_multiprog__close(self.0.as_ptr())
        }
    }
}

/// The XDP programs attached to `ifname` (a libxdp dispatcher is seen
/// through: its component programs are listed).
pub fn xdp_programs(ifname: &str) -> Result<Vec<XdpProg>, XskError> {
    Ok(MultiProg::get(ifname)?.map_or_else(Vec::new, |m| m.progs()))
}

/// Removes libxdp's AF_XDP program (and so its xsks map) that a previous
/// run left on `ifname` when it was killed before it could detach.
/// `Ok(false)` when there was none; a foreign program is left alone and
/// reported ([`XskError::ForeignProgram`]). Call it at daemon start, before
/// [`open_worker`], never while another sluice runs on the interface.
pub fn detach_stale(ifname: &str) -> Result<bool, XskError> {
    check_root()?;
    quiet_libraries();
    let Some(mp) = MultiProg::get(ifname)? else {
        return Ok(false);
    };
    let progs = mp.progs();
    if let Some(p) = progs.iter().find(|p| p.name != XSK_PROG_NAME) {
        return Err(XskError::ForeignProgram {
            ifname: ifname.to_string(),
            name: p.name.clone(),
            id: p.id,
        });
    }
    if progs.is_empty() {
        return Ok(false);
    }
    let err = mp.detach();
    if err != 0 {
        return Err(XskError::Sys {
            ifname: ifname.to_string(),
            what: "detaching the stale XDP program",
            source: io::Error::from_raw_os_error(-err),
        });
    }
    Ok(true)
}

extern "C" {
    /// libbpf's (linked in through libxdp-sys, which does not bind it):
    /// `NULL` turns its messages off.
    fn libbpf_set_print(f: Option<unsafe extern "C" fn()>) -> Option<unsafe extern "C" fn()>;
}

/// Turns libbpf's and libxdp's own stderr messages off, once. They report
/// what the errors here report again in one line naming the interface
/// (and, on a kernel that refuses libxdp's dispatcher, a dozen lines of
/// "skipping unrecognized data section" and the fallback to a single
/// program, which works): an operator reading the daemon's log should see
/// sluice's lines only. `SLUICE_LIBBPF_DEBUG=1` keeps them.
pub(super) fn quiet_libraries() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("SLUICE_LIBBPF_DEBUG").is_some() {
            return;
        }
        // SAFETY: both functions only store the callback pointer (NULL
        // here: print nothing) in a library global; they are called once,
        // before any socket exists, so no library call races with it.
        #[allow(unsafe_code)]
        unsafe {
            libbpf_set_print(None);
            libxdp_sys::libxdp_set_print(None);
        }
    });
}
