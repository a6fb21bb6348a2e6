//! The app's side of the conversation with the client, run by a background thread.
//!
//! Every 0.1 s the thread reads the heartbeat and process-control channels; once a second it
//! reports CPU time, checkpoint CPU time and fraction done in the app-status channel (skipped
//! while suspended, as the BOINC API does) and checks that the client is still alive (its pid
//! from `init_data.xml`, or else a heartbeat within 30 s). The trainer calls [`Control::poll`]
//! between minibatches: that is where a suspended job waits without using CPU and where a quit
//! or abort request stops it. Stopping only between batches keeps the trainer single-threaded
//! and its arithmetic untouched, and batches take milliseconds, far inside the client's 60 s
//! grace period.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cpu_time;
use super::init_data::InitData;
use super::shmem::{Channel, SharedMem};
use crate::trainer::Flow;

/// The thread's clock. [`Timing::BOINC`] is what the BOINC API uses; tests shorten it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often the control channels are read.
    pub tick: Duration,
    /// Ticks between status reports.
    pub ticks_per_status: u32,
    /// Ticks between checks that the client process still exists (when its pid is known).
    pub ticks_per_client_check: u32,
    /// Without a client pid: how long without a heartbeat means the client is gone.
    pub heartbeat_giveup: Duration,
}

impl Timing {
    /// 0.1 s ticks, a status report every second, the client pid checked every 10 s, heartbeats
    /// given up after 30 s.
    pub const BOINC: Timing = Timing {
        tick: Duration::from_millis(100),
        ticks_per_status: 10,
        ticks_per_client_check: 100,
        heartbeat_giveup: Duration::from_secs(30),
    };
}

/// Why the client wants the app to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `<quit/>`: exit now, the task will be restarted later from its checkpoint.
    Quit,
    /// `<abort/>`: the task is cancelled.
    Abort,
    /// The client died or stopped sending heartbeats: exit like a quit.
    ClientGone,
}

#[derive(Debug, Default)]
struct Flags {
    suspended: bool,
    request: Option<Request>,
}

#[derive(Debug)]
struct Shared {
    shm: SharedMem,
    /// The job's own fraction done (0..=1), as f64 bits.
    fraction: AtomicU64,
    /// Job CPU seconds at the last checkpoint, as f64 bits.
    checkpoint_cpu: AtomicU64,
    base_cpu: f64,
    fd_start: f64,
    fd_end: f64,
    client_pid: i64,
    timing: Timing,
    flags: Mutex<Flags>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn status_message(&self, fraction: f64) -> String {
        let cpu = self.base_cpu + cpu_time::this_process();
        let checkpoint = f64::from_bits(self.checkpoint_cpu.load(Ordering::Relaxed));
        let reported = self.fd_start + fraction * (self.fd_end - self.fd_start);
        format!(
            "<current_cpu_time>{cpu:.6e}</current_cpu_time>\n\
             <checkpoint_cpu_time>{checkpoint:.6e}</checkpoint_cpu_time>\n\
             <fraction_done>{reported:.6e}</fraction_done>\n"
        )
    }

    fn set(&self, f: impl FnOnce(&mut Flags)) {
        let mut flags = self.flags.lock().expect("control flags poisoned");
        f(&mut flags);
        self.changed.notify_all();
    }

    fn handle_control(&self, msg: &str) {
        self.set(|flags| {
            if msg.contains("<suspend/>") {
                flags.suspended = true;
            }
            if msg.contains("<resume/>") {
                flags.suspended = false;
            }
            if msg.contains("<quit/>") && flags.request.is_none() {
                flags.request = Some(Request::Quit);
            }
            if msg.contains("<abort/>") {
                flags.request = Some(Request::Abort);
            }
        });
        eprintln!("mnist: client request {}", msg.trim());
    }

    fn client_alive(&self, last_heartbeat: Instant) -> bool {
        if self.client_pid > 0 {
            std::path::Path::new(&format!("/proc/{}", self.client_pid)).exists()
        } else {
            last_heartbeat.elapsed() < self.timing.heartbeat_giveup
        }
    }

    fn run(&self) {
        let mut tick: u32 = 0;
        let mut last_heartbeat = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(self.timing.tick);
            tick = tick.wrapping_add(1);
            if let Some(msg) = self.shm.receive(Channel::Heartbeat)
                && msg.contains("<heartbeat/>")
            {
                last_heartbeat = Instant::now();
            }
            if let Some(msg) = self.shm.receive(Channel::ProcessControlRequest) {
                self.handle_control(&msg);
            }
            let check_client = if self.client_pid > 0 {
                tick.is_multiple_of(self.timing.ticks_per_client_check)
            } else {
                tick.is_multiple_of(self.timing.ticks_per_status)
            };
            if check_client && !self.client_alive(last_heartbeat) {
                eprintln!("mnist: the BOINC client is gone; exiting");
                self.set(|flags| {
                    flags.request.get_or_insert(Request::ClientGone);
                });
            }
            if tick.is_multiple_of(self.timing.ticks_per_status) {
                let suspended = self.flags.lock().expect("control flags poisoned").suspended;
                if !suspended {
                    let fraction = f64::from_bits(self.fraction.load(Ordering::Relaxed));
                    // If the client has not read the last report, skip this one.
                    self.shm
                        .send(Channel::AppStatus, &self.status_message(fraction));
                }
            }
        }
    }
}

/// The running conversation with the client. Without a shared-memory file (a run outside a
/// client) it is inert: never suspends, never stops.
#[derive(Debug)]
pub struct Control {
    shared: Option<Arc<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    /// A control that talks to nobody.
    pub fn inert() -> Control {
        Control {
            shared: None,
            thread: None,
        }
    }

    /// Starts the background thread. `base_cpu` is the CPU time of earlier runs of the task.
    pub fn start(shm: SharedMem, init: &InitData, base_cpu: f64) -> Control {
        Control::start_with(shm, init, base_cpu, Timing::BOINC)
    }

    /// [`Control::start`] with another clock.
    pub fn start_with(shm: SharedMem, init: &InitData, base_cpu: f64, timing: Timing) -> Control {
        let shared = Arc::new(Shared {
            shm,
            fraction: AtomicU64::new(0f64.to_bits()),
            checkpoint_cpu: AtomicU64::new(base_cpu.to_bits()),
            base_cpu,
            fd_start: init.fraction_done_start,
            fd_end: init.fraction_done_end,
            client_pid: init.client_pid,
            timing,
            flags: Mutex::new(Flags::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("boinc-control".into())
            .stack_size(256 * 1024)
            .spawn(move || worker.run())
            .expect("cannot start the control thread");
        Control {
            shared: Some(shared),
            thread: Some(thread),
        }
    }

    /// Records progress and honours suspend/quit/abort. Called between minibatches; blocks while
    /// the task is suspended.
    pub fn poll(&self, fraction: f64) -> Flow {
        let Some(shared) = &self.shared else {
            return Flow::Continue;
        };
        shared.fraction.store(fraction.to_bits(), Ordering::Relaxed);
        let mut flags = shared.flags.lock().expect("control flags poisoned");
        while flags.suspended && flags.request.is_none() {
            flags = shared.changed.wait(flags).expect("control flags poisoned");
        }
        if flags.request.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// The pending stop request, if any.
    pub fn request(&self) -> Option<Request> {
        let shared = self.shared.as_ref()?;
        shared.flags.lock().expect("control flags poisoned").request
    }

    /// Tells the client a checkpoint was written at job CPU time `cpu`.
    pub fn checkpointed(&self, cpu: f64) {
        if let Some(shared) = &self.shared {
            shared
                .checkpoint_cpu
                .store(cpu.to_bits(), Ordering::Relaxed);
        }
    }

    /// Stops the thread and, if `fraction` is given, sends a last status report (waiting up to a
    /// second for the client to read the previous one).
    pub fn shutdown(mut self, final_fraction: Option<f64>) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(fraction) = final_fraction {
            let msg = shared.status_message(fraction);
            let deadline = Instant::now() + Duration::from_secs(1);
            while !shared.shm.send(Channel::AppStatus, &msg) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Parses the `<fraction_done>` of an app-status message (used by tests that play the client).
pub fn parse_status(msg: &str) -> Option<(f64, f64, f64)> {
    let field = |tag: &str| -> Option<f64> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = msg.find(&open)? + open.len();
        let len = msg[start..].find(&close)?;
        msg[start..start + len].trim().parse().ok()
    };
    Some((
        field("current_cpu_time")?,
        field("checkpoint_cpu_time")?,
        field("fraction_done")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boinc::shmem::FILE_SIZE;

    fn setup() -> (tempfile::TempDir, SharedMem, Control) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boinc_mmap_file");
        std::fs::write(&path, vec![0u8; FILE_SIZE]).unwrap();
        let client = SharedMem::open(&path).unwrap();
        let init = InitData {
            client_pid: i64::from(std::process::id()),
            fraction_done_start: 0.5,
            fraction_done_end: 1.0,
            ..InitData::default()
        };
        let control = Control::start(SharedMem::open(&path).unwrap(), &init, 2.0);
        (dir, client, control)
    }

    fn wait_status(client: &SharedMem) -> (f64, f64, f64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(m) = client.receive(Channel::AppStatus) {
                return parse_status(&m).unwrap_or_else(|| panic!("bad status {m:?}"));
            }
            assert!(Instant::now() < deadline, "no status report");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn reports_progress_mapped_into_the_clients_range() {
        let (_dir, client, control) = setup();
        assert_eq!(control.poll(0.5), Flow::Continue);
        control.checkpointed(3.5);
        let (cpu, checkpoint, fraction) = wait_status(&client);
        assert!(cpu >= 2.0);
        assert_eq!(checkpoint, 3.5);
        assert_eq!(fraction, 0.75);
        control.shutdown(Some(1.0));
        let (_, _, fraction) = wait_status(&client);
        assert_eq!(fraction, 1.0);
    }

    #[test]
    fn suspend_blocks_until_resume_and_quit_stops() {
        let (_dir, client, control) = setup();
        assert!(client.send(Channel::ProcessControlRequest, "<suspend/>"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while client.has_message(Channel::ProcessControlRequest) {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        let resumer = std::thread::spawn({
            let client_path = _dir.path().join("boinc_mmap_file");
            move || {
                std::thread::sleep(Duration::from_millis(400));
                let c = SharedMem::open(&client_path).unwrap();
                assert!(c.send(Channel::ProcessControlRequest, "<resume/>"));
            }
        });
        let start = Instant::now();
        assert_eq!(control.poll(0.1), Flow::Continue);
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "poll returned while suspended"
        );
        resumer.join().unwrap();

        assert!(client.send(Channel::ProcessControlRequest, "<quit/>"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while control.poll(0.2) == Flow::Continue {
            assert!(Instant::now() < deadline, "quit not honoured");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(control.request(), Some(Request::Quit));
        control.shutdown(None);
    }

    #[test]
    fn abort_wakes_a_suspended_worker() {
        let (_dir, client, control) = setup();
        assert!(client.send(Channel::ProcessControlRequest, "<suspend/>"));
        std::thread::sleep(Duration::from_millis(300));
        let path = _dir.path().join("boinc_mmap_file");
        let aborter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let c = SharedMem::open(&path).unwrap();
            assert!(c.send(Channel::ProcessControlRequest, "<abort/>"));
        });
        assert_eq!(control.poll(0.3), Flow::Stop);
        assert_eq!(control.request(), Some(Request::Abort));
        aborter.join().unwrap();
        control.shutdown(None);
    }

    const FAST: Timing = Timing {
        tick: Duration::from_millis(10),
        ticks_per_status: 5,
        ticks_per_client_check: 5,
        heartbeat_giveup: Duration::from_millis(400),
    };

    fn started(client_pid: i64) -> (tempfile::TempDir, SharedMem, Control) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boinc_mmap_file");
        std::fs::write(&path, vec![0u8; FILE_SIZE]).unwrap();
        let init = InitData {
            client_pid,
            ..InitData::default()
        };
        let control = Control::start_with(SharedMem::open(&path).unwrap(), &init, 0.0, FAST);
        (dir, SharedMem::open(&path).unwrap(), control)
    }

    fn wait_for_stop(control: &Control, within: Duration) -> Option<Request> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if control.poll(0.5) == Flow::Stop {
                return control.request();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn a_dead_client_process_stops_the_app() {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = i64::from(gone.id());
        gone.wait().unwrap();
        let (_dir, _client, control) = started(pid);
        assert_eq!(
            wait_for_stop(&control, Duration::from_secs(5)),
            Some(Request::ClientGone)
        );
        control.shutdown(None);
    }

    #[test]
    fn heartbeats_keep_the_app_alive_and_their_absence_stops_it() {
        let (_dir, client, control) = started(0);
        // A client sending heartbeats: no stop well past the give-up time.
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1000) {
            client.send(Channel::Heartbeat, "<heartbeat/>\n<wss>1e6</wss>\n");
            assert_eq!(control.poll(0.1), Flow::Continue);
            std::thread::sleep(Duration::from_millis(30));
        }
        // Silence: the app gives up.
        assert_eq!(
            wait_for_stop(&control, Duration::from_secs(5)),
            Some(Request::ClientGone)
        );
        control.shutdown(None);
    }

    #[test]
    fn inert_control_never_stops() {
        let c = Control::inert();
        assert_eq!(c.poll(0.5), Flow::Continue);
        assert_eq!(c.request(), None);
        c.shutdown(Some(1.0));
    }
}
