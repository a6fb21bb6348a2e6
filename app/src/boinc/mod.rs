//! A BOINC app runtime in plain Rust, without the C BOINC API library.
//!
//! It covers what a stock client (7.x, `api_version` ≥ 6) expects of an app:
//! - [`links`]: logical file names resolved through the slot's `<soft_link>` files;
//! - [`init_data`]: the task description `init_data.xml`;
//! - [`shmem`]: the `boinc_mmap_file` message channels;
//! - [`control`]: a thread that reports progress and CPU time and receives suspend, resume, quit
//!   and abort;
//! - [`cpu_time`]: process CPU time from `/proc`;
//! - [`markers`]: the finish and temporary-exit marker files.
//!
//! Exit conventions: 0 after writing `boinc_finish_called` when done; 0 without it after a quit
//! request (the client restarts the task from its checkpoint); [`EXIT_ABORTED_BY_CLIENT`] after
//! an abort; any other non-zero status is a failed task.

pub mod control;
pub mod cpu_time;
pub mod init_data;
pub mod links;
pub mod markers;
pub mod shmem;

/// The exit status the BOINC API uses when the client aborted the task.
pub const EXIT_ABORTED_BY_CLIENT: i32 = 194;

/// The lock file that keeps two instances out of one slot.
pub const LOCK_FILE: &str = "boinc_lockfile";
