//! rboinc-core: the library every rboinc binary shares.
//!
//! Map of the crate:
//! - [`calendar`]: UTC calendar dates from Unix time.
//! - [`config`]: a stock BOINC `config.xml`, parsed raw then validated into `Config`.
//! - [`project`]: finding the project directory, host-specific dirs, trigger files.
//! - [`db`]: the MySQL pool, typed rows per BOINC table, the migration runner.
//! - [`state`]: BOINC's state constants as enums with BOINC's numeric values.
//! - [`auth`]: account authenticators and password hashes as BOINC makes them.
//! - [`hier`]: the upload/download fan-out directory hierarchy.
//! - [`crypt`]: BOINC key files, file signatures, upload authorization signatures.
//! - [`logfile`]: the last line of a daemon's log, colour sequences removed.
//! - [`md5file`]: MD5 of files and the `.md5` cache files next to staged inputs.
//! - [`template`]: job templates filled in per job or result.
//! - [`xml`]: small XML helpers shared by the server parts.
//! - [`telemetry`]: `tracing` set-up (text or JSON).
//! - [`daemon`]: the loop, flags, signals and stop trigger every daemon shares.
//! - [`test_support`]: fresh databases and temporary projects for tests.

pub mod auth;
pub mod calendar;
pub mod config;
pub mod crypt;
pub mod daemon;
pub mod db;
pub mod hier;
pub mod logfile;
pub mod md5file;
pub mod project;
pub mod state;
pub mod telemetry;
pub mod template;
pub mod test_support;
pub mod xml;
