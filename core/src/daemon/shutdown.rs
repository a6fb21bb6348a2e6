//! Graceful stop: signals and the `stop_daemons` trigger file.
//!
//! BOINC's daemons stop in two ways, and ours honour both:
//! - a signal (`bin/stop` sends SIGHUP; systemd and Docker send SIGTERM;
//!   a terminal sends SIGINT);
//! - the `stop_daemons` file in the project directory, which `bin/stop`
//!   creates so that daemons on every host sharing the directory stop.
//!
//! Neither interrupts work in progress: the daemon finishes the item it is
//! on, sees the request at its next check (between items, and every second
//! while sleeping) and exits with status 0. The C++ daemons do the same
//! (`check_stop_daemons()`), so a stop never leaves a half-updated row.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How often the trigger file is looked for while waiting (BOINC: 1 s).
const POLL: Duration = Duration::from_secs(1);

/// Which signal asked us to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Term,
    Int,
    Hup,
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Term => "SIGTERM",
            StopSignal::Int => "SIGINT",
            StopSignal::Hup => "SIGHUP",
        })
    }
}

/// Why a daemon is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal(StopSignal),
    /// The `stop_daemons` trigger file is present.
    StopFile,
    /// Asked by the program itself ([`Shutdown::request`]).
    Requested,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Signal(s) => write!(f, "received {s}"),
            StopReason::StopFile => f.write_str("the stop_daemons trigger file is present"),
            StopReason::Requested => f.write_str("stop requested"),
        }
    }
}

/// A cheap, cloneable stop token shared by the loop and the handlers.
///
/// Handlers call [`Shutdown::should_stop`] between items; the runtime calls
/// [`Shutdown::sleep`] between passes.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    reason: watch::Sender<Option<StopReason>>,
    stop_file: Option<PathBuf>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("reason", &*self.inner.reason.borrow())
            .field("stop_file", &self.inner.stop_file)
            .finish()
    }
}

impl Shutdown {
    /// A token that also watches `stop_file` (the project's `stop_daemons`),
    /// if given.
    pub fn new(stop_file: Option<PathBuf>) -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                reason: watch::Sender::new(None),
                stop_file,
            }),
        }
    }

    /// Asks everyone holding this token to stop. The first reason given is
    /// the one kept.
    pub fn request(&self, reason: StopReason) {
        self.inner.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// The stop reason, if a stop was requested or the trigger file exists.
    /// Costs one `stat` when no signal has arrived: cheap enough to call
    /// between every two items.
    pub fn check(&self) -> Option<StopReason> {
        if let Some(reason) = *self.inner.reason.borrow() {
            return Some(reason);
        }
        if self.inner.stop_file.as_ref().is_some_and(|f| f.exists()) {
            self.request(StopReason::StopFile);
            return *self.inner.reason.borrow();
        }
        None
    }

    /// Whether to stop now (see [`Shutdown::check`]).
    pub fn should_stop(&self) -> bool {
        self.check().is_some()
    }

    /// Sleeps for `duration` unless a stop comes first; returns the reason
    /// if it did. Signals wake it at once; the trigger file is looked for
    /// every second.
    pub async fn sleep(&self, duration: Duration) -> Option<StopReason> {
        let deadline = tokio::time::Instant::now() + duration;
        let mut rx = self.inner.reason.subscribe();
        loop {
            if let Some(reason) = self.check() {
                return Some(reason);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            let slice = (deadline - now).min(POLL);
            tokio::select! {
                _ = rx.wait_for(Option::is_some) => {}
                _ = tokio::time::sleep(slice) => {}
            }
        }
    }

    /// Waits until a stop is requested, however long that takes.
    pub async fn wait(&self) -> StopReason {
        loop {
            if let Some(reason) = self.sleep(Duration::from_secs(3600)).await {
                return reason;
            }
        }
    }

    /// Turns SIGTERM, SIGINT and SIGHUP into stop requests for this token,
    /// for the rest of the process's life. Must be called inside a Tokio
    /// runtime. Later signals are logged and otherwise ignored: the current
    /// item still finishes.
    pub fn listen_for_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let token = self.clone();
        tokio::spawn(async move {
            loop {
                let sig = tokio::select! {
                    Some(()) = term.recv() => StopSignal::Term,
                    Some(()) = int.recv() => StopSignal::Int,
                    Some(()) = hup.recv() => StopSignal::Hup,
                    else => return,
                };
                tracing::info!(signal = %sig, "stop signal received; finishing the current item");
                token.request(StopReason::Signal(sig));
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_sticks() {
        let s = Shutdown::new(None);
        assert_eq!(s.check(), None);
        s.request(StopReason::Signal(StopSignal::Hup));
        s.request(StopReason::StopFile);
        assert_eq!(s.check(), Some(StopReason::Signal(StopSignal::Hup)));
        assert!(s.clone().should_stop(), "clones share the state");
    }

    #[test]
    fn trigger_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stop_daemons");
        let s = Shutdown::new(Some(file.clone()));
        assert!(!s.should_stop());
        std::fs::write(&file, "<stop/>\n").unwrap();
        assert_eq!(s.check(), Some(StopReason::StopFile));
        // Once seen, the stop stays requested even if the file goes away.
        std::fs::remove_file(&file).unwrap();
        assert!(s.should_stop());
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_runs_its_full_time_without_a_stop() {
        let s = Shutdown::new(None);
        let start = tokio::time::Instant::now();
        assert_eq!(s.sleep(Duration::from_secs(30)).await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_wakes_a_sleeper_at_once() {
        let s = Shutdown::new(None);
        let other = s.clone();
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            other.request(StopReason::Signal(StopSignal::Term));
        });
        let reason = s.sleep(Duration::from_secs(60)).await;
        assert_eq!(reason, Some(StopReason::Signal(StopSignal::Term)));
        assert_eq!(start.elapsed(), Duration::from_millis(2500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_trigger_file_is_polled_every_second_while_sleeping() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stop_daemons");
        let s = Shutdown::new(Some(file.clone()));
        let start = tokio::time::Instant::now();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.sleep(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_millis(3500)).await;
        std::fs::write(&file, "").unwrap();
        assert_eq!(waiter.await.unwrap(), Some(StopReason::StopFile));
        // Seen at the next one-second poll after it appeared.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }
}
