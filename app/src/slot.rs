//! Running as a BOINC task: the app's entry point when the client starts it in a slot.
//!
//! The client starts the app with the slot as working directory. This module takes the slot
//! lock, reads `init_data.xml`, maps `boinc_mmap_file` and starts the [`Control`] thread,
//! resolves the logical names (`job.json`, `dataset`, `start_state.bin`, `metrics.json`,
//! `weights.npy`, `state.bin`) through the
//! link files, runs the job with a checkpoint in the slot, and ends the way the client expects
//! (see [`crate::boinc`] for the exit conventions). Without `init_data.xml` or the mapping file it
//! still runs, with plain file names and no client to talk to — like the BOINC API's standalone
//! mode.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::boinc::control::{Control, Request};
use crate::boinc::init_data::InitData;
use crate::boinc::shmem::{self, SharedMem};
use crate::boinc::{EXIT_ABORTED_BY_CLIENT, LOCK_FILE, links, markers};
use crate::host::{BoincFacts, Mode};
use crate::run::{self, Context, Outcome, Paths};

/// Runs the task in `slot` and returns the process exit status.
pub fn run_in(slot: &Path) -> i32 {
    let _lock = match lock_slot(slot) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("mnist: cannot lock the slot ({e}); another instance may be running");
            return temporary_exit(slot, 600, "waiting for the slot lock");
        }
    };
    let init = match InitData::read(slot) {
        Ok(init) => init,
        Err(e) => {
            eprintln!("mnist: {e}");
            return finish_with_error(slot, 1, &e.to_string());
        }
    };
    let control = match &init {
        None => {
            eprintln!("mnist: no init_data.xml: running without a BOINC client");
            Control::inert()
        }
        Some(init) => match SharedMem::open(&slot.join(shmem::FILE_NAME)) {
            Ok(shm) => Control::start(shm, init, init.wu_cpu_time),
            Err(e) => {
                eprintln!("mnist: no shared memory ({e}): progress will not be reported");
                Control::inert()
            }
        },
    };
    let paths = match resolve_paths(slot) {
        Ok(p) => p,
        Err(e) => {
            control.shutdown(None);
            eprintln!("mnist: cannot resolve file names: {e}");
            return finish_with_error(slot, 1, &e.to_string());
        }
    };
    let ctx = Context {
        control: &control,
        mode: Mode::Boinc,
        base_cpu: Some(init.as_ref().map_or(0.0, |i| i.wu_cpu_time)),
        boinc: init.as_ref().map(|i| BoincFacts {
            result_name: i.result_name.clone(),
            wu_name: i.wu_name.clone(),
            hostid: i.hostid,
        }),
    };
    match run::run(&paths, &ctx) {
        Ok(Outcome::Finished(_)) => {
            control.shutdown(Some(1.0));
            match markers::write_finish(slot, 0, None) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("mnist: cannot write the finish marker: {e}");
                    1
                }
            }
        }
        Ok(Outcome::Stopped(Request::Abort)) => {
            control.shutdown(None);
            EXIT_ABORTED_BY_CLIENT
        }
        Ok(Outcome::Stopped(Request::Quit | Request::ClientGone)) => {
            control.shutdown(None);
            0
        }
        Err(e) if e.is_transient() => {
            control.shutdown(None);
            eprintln!("mnist: {e}");
            temporary_exit(slot, 300, &e.to_string())
        }
        Err(e) => {
            control.shutdown(None);
            eprintln!("mnist: {e}");
            finish_with_error(slot, e.exit_code(), &e.to_string())
        }
    }
}

fn resolve_paths(slot: &Path) -> std::io::Result<Paths> {
    Ok(Paths {
        job: links::resolve(slot, run::JOB)?,
        dataset: links::resolve(slot, run::DATASET)?,
        metrics: links::resolve(slot, run::METRICS)?,
        weights: links::resolve(slot, run::WEIGHTS)?,
        start_state: links::resolve(slot, run::START_STATE)?,
        state: links::resolve(slot, run::STATE)?,
        checkpoint: Some(slot.join(run::CHECKPOINT)),
    })
}

/// Takes the slot's lock file, retrying for a few seconds in case a previous instance is still
/// exiting.
fn lock_slot(slot: &Path) -> std::io::Result<File> {
    let file = File::create(slot.join(LOCK_FILE))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "the lock is held",
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

fn finish_with_error(slot: &Path, status: i32, message: &str) -> i32 {
    if let Err(e) = markers::write_finish(slot, status, Some(message)) {
        eprintln!("mnist: cannot write the finish marker: {e}");
    }
    status
}

fn temporary_exit(slot: &Path, delay_s: u32, reason: &str) -> i32 {
    match markers::write_temporary_exit(slot, delay_s, reason) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mnist: cannot write the temporary-exit marker: {e}");
            1
        }
    }
}
