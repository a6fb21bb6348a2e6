//! rboinc-core: the library every rboinc binary shares.
//!
//! Map of the crate:
//! - [`calendar`]: UTC calendar dates from Unix time.
//! - [`clock`]: the current Unix time in the integer and float types BOINC's columns use.
//! - [`config`]: a stock BOINC `config.xml`, parsed raw then validated into `Config`.
//! - [`project`]: finding the project directory, host-specific dirs, trigger files.
//! - [`run_files`]: the daemons' pid, lock and log files as `bin/start` lays them out; is a
//!   daemon running; `run_state_<host>.xml`.
//! - [`db`]: the MySQL pool, typed rows per BOINC table, the migration runner.
//! - [`state`]: BOINC's state constants as enums with BOINC's numeric values.
//! - [`sweep`]: a sweep configuration's name, as the `series` tool and the ops page show it.
//! - [`auth`]: account authenticators and password hashes as BOINC makes them.
//! - [`hier`]: the upload/download fan-out directory hierarchy.
//! - [`job_files`]: the files a job's XML names; a result's output files, located.
//! - [`crypt`]: BOINC key files, file signatures, upload authorization signatures.
//! - [`logfile`]: the last line of a daemon's log, colour sequences removed.
//! - [`md5file`]: MD5 of files and the `.md5` cache files next to staged inputs.
//! - [`template`]: job templates filled in per job or result.
//! - [`xml`]: small XML helpers shared by the server parts.
//! - [`telemetry`]: `tracing` set-up (text or JSON).
//! - [`daemon`]: the loop, flags, signals and stop trigger every daemon shares.
//! - `test_support` (feature `test-support`, for dev-dependencies only): fresh databases and
//!   temporary projects for tests.

pub mod auth;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod crypt;
pub mod daemon;
pub mod db;
pub mod hier;
pub mod job_files;
pub mod logfile;
pub mod md5file;
pub mod project;
pub mod run_files;
pub mod state;
pub mod sweep;
pub mod telemetry;
pub mod template;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod xml;
