//! Lock files: "is this daemon running?" answered by the kernel, not by a pid file.
//!
//! BOINC's `bin/start` (a Python script) takes a non-blocking exclusive POSIX record lock on
//! `pid_<host>/<name>.lock` with `fcntl.lockf` — an `fcntl(F_SETLK)` write lock over the whole
//! file — in the process that then `exec`s the daemon, so the lock lives exactly as long as the
//! daemon. Our lock must be the same kind: on Linux `flock` locks and record locks never see
//! each other, and with two kinds our `start` and BOINC's would each start their own copy.
//!
//! A classic record lock belongs to a *process*, is not inherited by a child, and is dropped as
//! soon as that process closes *any* descriptor of the file. That fits BOINC's fork-then-exec,
//! not a supervisor that spawns a daemon and must probe locks of files it has open itself. So
//! we take Linux's open-file-description flavour of the same lock (`F_OFD_SETLK`): the kernel
//! checks it against classic record locks in both directions (a `lockf` holder blocks us and we
//! block `lockf`), but it belongs to the open file, so the daemon holds it through the
//! descriptor it inherits and it ends when the last copy of that descriptor closes — when the
//! daemon exits, however it exits. A pid file can be stale or name a recycled pid; a lock
//! cannot. The probe ([`holder`]) uses `F_OFD_GETLK`, which never takes the lock, and names the
//! process of a classic holder (BOINC's `start`-launched daemon).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// An exclusive lock held on a file through an open descriptor.
#[derive(Debug)]
pub struct HeldLock {
    file: File,
    path: PathBuf,
}

/// Who holds a lock, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The holding process, for a classic record lock (BOINC's `start`, Python's `lockf`);
    /// `None` for an open-file-description lock (ours), which belongs to no single process.
    pub pid: Option<i32>,
}

/// The whole file, exclusively: what `fcntl.lockf(fd, LOCK_EX)` asks for.
fn whole_file(l_type: libc::c_short) -> libc::flock {
    libc::flock {
        l_type,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        // Must be 0 for the open-file-description commands.
        l_pid: 0,
    }
}

/// `fcntl(fd, cmd, &mut lock)`: the one system call `std` and rustix do not offer (rustix has
/// only the per-process `F_SETLK`).
#[allow(unsafe_code)]
fn fcntl_lock(file: &File, cmd: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
    // SAFETY: `file` keeps the descriptor open for the call, and `lock` is a valid, exclusively
    // borrowed `struct flock`, which is all F_OFD_SETLK and F_OFD_GETLK read or write.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, lock as *mut libc::flock) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn open_for_lock(path: &Path) -> io::Result<File> {
    // BOINC's script creates lock files group-writable (umask 002), so a project group shares
    // them; `mode` is filtered by the umask as usual.
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o664)
        .open(path)
}

/// Whether `file` is still the file at `path` (BOINC's `status` and `start` delete lock files
/// they could lock; a lock on a deleted file guards nothing).
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Tries to take the lock; `Ok(None)` if another process (or another open file) holds it.
pub fn try_lock(path: &Path) -> io::Result<Option<HeldLock>> {
    // A few tries: the file may be deleted between our open and our lock (see `still_at`).
    for _ in 0..5 {
        let file = open_for_lock(path)?;
        let mut lock = whole_file(libc::F_WRLCK as libc::c_short);
        match fcntl_lock(&file, libc::F_OFD_SETLK, &mut lock) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        if still_at(&file, path)? {
            return Ok(Some(HeldLock {
                file,
                path: path.to_path_buf(),
            }));
        }
    }
    Err(io::Error::other(format!(
        "{} keeps being deleted while it is locked",
        path.display()
    )))
}

/// Who holds the lock on `path`, if anyone (a missing file is not locked). Never takes the
/// lock, so probing cannot make a `start` running at the same moment think the daemon runs.
pub fn holder(path: &Path) -> io::Result<Option<Holder>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lock = whole_file(libc::F_WRLCK as libc::c_short);
    fcntl_lock(&file, libc::F_OFD_GETLK, &mut lock)?;
    if lock.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    Ok(Some(Holder {
        pid: (lock.l_pid > 0).then_some(lock.l_pid),
    }))
}

/// Whether some process holds the lock on `path` (a missing file is not locked).
pub fn is_locked(path: &Path) -> io::Result<bool> {
    Ok(holder(path)?.is_some())
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
    use crate::test_support::stock_lock::{LockfHolder, lockf_would_block};

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        assert!(!is_locked(&path).unwrap(), "a missing file is not locked");
        let held = try_lock(&path).unwrap().expect("free");
        assert!(try_lock(&path).unwrap().is_none(), "second taker refused");
        assert_eq!(holder(&path).unwrap(), Some(Holder { pid: None }));
        drop(held);
        assert!(!is_locked(&path).unwrap());
        assert!(try_lock(&path).unwrap().is_some());
    }

    #[test]
    fn a_lock_held_by_bin_start_s_lockf_refuses_us_and_names_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transitioner.lock");
        let stock = LockfHolder::start(&path, dir.path());
        assert!(
            try_lock(&path).unwrap().is_none(),
            "lockf holder refuses us"
        );
        assert_eq!(
            holder(&path).unwrap(),
            Some(Holder {
                pid: Some(stock.pid())
            }),
            "the probe names the classic holder's process"
        );
        drop(stock);
        assert!(!is_locked(&path).unwrap(), "released when the holder exits");
        assert!(try_lock(&path).unwrap().is_some());
    }

    #[test]
    fn our_lock_refuses_bin_start_s_lockf_also_through_an_inherited_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.lock");
        let held = try_lock(&path).unwrap().unwrap();
        assert!(lockf_would_block(&path), "lockf sees our lock");
        // As `start` hands a lock to a daemon: the child inherits it, our copy closes.
        held.make_inheritable().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        drop(held);
        assert!(lockf_would_block(&path), "the child holds the lock now");
        assert!(is_locked(&path).unwrap());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!lockf_would_block(&path), "released when the child exits");
    }

    #[test]
    fn a_lock_on_a_deleted_file_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("start.lock.h");
        let first = try_lock(&path).unwrap().unwrap();
        std::fs::remove_file(&path).unwrap();
        // The path is a new, free file now; the old lock guards nothing.
        let second = try_lock(&path).unwrap().expect("the new file is free");
        assert!(still_at(&second.file, &path).unwrap());
        assert!(!still_at(&first.file, &path).unwrap());
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
