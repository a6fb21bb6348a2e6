//! Lock files: "is this daemon running?" answered by the kernel, not by a pid file.
//!
//! BOINC's `bin/start` takes a non-blocking exclusive `flock` on `pid_<host>/<name>.lock` and
//! lets the daemon inherit the descriptor, so the lock lives exactly as long as the daemon (and
//! anything the daemon itself started that inherited the descriptor in turn). We do the same
//! with `std`'s `File::try_lock` (an `flock` on Unix), which also means our `start` and BOINC's
//! see each other's locks. A pid file can be stale or name a recycled pid; a lock cannot.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// An exclusive lock held on a file through an open descriptor.
#[derive(Debug)]
pub struct HeldLock {
    file: File,
    path: PathBuf,
}

/// Tries to take the lock; `Ok(None)` if another process holds it.
pub fn try_lock(path: &Path) -> io::Result<Option<HeldLock>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(HeldLock {
            file,
            path: path.to_path_buf(),
        })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Whether some process holds the lock on `path` (a missing file is not locked).
pub fn is_locked(path: &Path) -> io::Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    // Taking the lock and dropping it at once is the only portable probe; a `start` racing with
    // this probe sees the lock busy for a moment and reports "already running", which is safe.
    Ok(try_lock(path)?.is_none())
}

impl HeldLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets the next program this process starts inherit the descriptor, and with it the lock.
    ///
    /// `std` opens every file close-on-exec; clearing the flag on this one descriptor is what
    /// hands the lock to the daemon. The caller must start exactly one child and then drop this
    /// value (closing its own copy), before starting anything else.
    pub fn make_inheritable(&self) -> io::Result<()> {
        let fd = self.file.as_fd();
        let flags = rustix::io::fcntl_getfd(fd)?;
        rustix::io::fcntl_setfd(fd, flags - rustix::io::FdFlags::CLOEXEC)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        assert!(!is_locked(&path).unwrap(), "a missing file is not locked");
        let held = try_lock(&path).unwrap().expect("free");
        assert!(try_lock(&path).unwrap().is_none(), "second taker refused");
        assert!(is_locked(&path).unwrap());
        drop(held);
        assert!(!is_locked(&path).unwrap());
        assert!(try_lock(&path).unwrap().is_some());
    }

    #[test]
    fn inheritable_clears_close_on_exec() {
        let dir = tempfile::tempdir().unwrap();
        let held = try_lock(&dir.path().join("y.lock")).unwrap().unwrap();
        let fd = held.file.as_fd();
        assert!(
            rustix::io::fcntl_getfd(fd)
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC)
        );
        held.make_inheritable().unwrap();
        assert!(
            !rustix::io::fcntl_getfd(fd)
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC)
        );
    }
}
