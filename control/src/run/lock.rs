//! One daemon per network namespace: an exclusive `flock` on
//! `/run/sluice/netns-<inode>.lock`, held for the daemon's life (the
//! kernel drops it when the process dies, however it dies). The file
//! holds the holder's pid. A file nobody holds that names a pid means the
//! previous daemon was killed without cleaning up: its XDP programs may
//! still be attached ([`RunLock::stale`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// The lock's folder; also where later issues put the control socket.
pub const RUN_DIR: &str = "/run/sluice";

pub struct RunLock {
    file: File,
    path: PathBuf,
    /// A previous daemon of this namespace did not exit cleanly.
    pub stale: bool,
}

impl RunLock {
    pub fn take() -> Result<RunLock, String> {
        let ns = std::fs::metadata("/proc/self/ns/net")
            .map_err(|e| format!("cannot read /proc/self/ns/net: {e}"))?
            .ino();
        std::fs::create_dir_all(RUN_DIR).map_err(|e| format!("cannot create {RUN_DIR}: {e}"))?;
        let path = PathBuf::from(format!("{RUN_DIR}/netns-{ns}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut held = String::new();
        let _ = file.read_to_string(&mut held);
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "another sluice run (pid {}) is running in this network namespace ({} is locked): stop it first",
                    held.trim(),
                    path.display()
                ))
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()))
            }
        }
        let stale = !held.trim().is_empty();
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(RunLock { file, path, stale })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // A clean exit: empty the file, so the next start knows nothing
        // was left behind. The file stays (removing it would race with a
        // daemon starting now); the lock goes when the file is closed.
        let _ = self.file.set_len(0);
        let _ = &self.path;
    }
}
