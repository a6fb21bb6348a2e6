//! rboinc-e2e: the tests that run the whole system as a user runs it.
//!
//! This crate has no code of its own worth importing; it exists so that the slow, whole-loop
//! tests live in one place, apart from each crate's own tests, and run the *binaries* (built by
//! cargo for the test) rather than library calls:
//! - `tests/whole_loop.rs`: `make_project` → `update_versions` → `start` → two stock BOINC
//!   clients attach → a two-round `series run` → every result validated, the canonical one
//!   assimilated, the report written, distributed == local bit for bit → every file deleted,
//!   no row in an error state, one INFO line per event in each log and no WARN or ERROR line
//!   anywhere → `stop` leaves no process behind;
//! - `tests/faults.rs`, each with three clients: a client killed holding a job (its result
//!   times out and is reissued to a host without a result of that workunit), a client whose
//!   anonymous-platform build alters one metric (rejected; a third host settles the quorum),
//!   the scheduler killed and restarted mid-series (nothing lost or done twice);
//! - `tests/balancer.rs`: two schedulers behind Debian's `haproxy` (`docker/haproxy.cfg`), the
//!   transitioner and validator as `--mod 2` shards; three stock clients run a series through
//!   the balancer, one scheduler is killed mid-series, every round is validated and assimilated
//!   once (skips with a message without `haproxy`);
//! - `tests/dropin.rs`: the README's drop-in walk, its code blocks run as written on a stock
//!   BOINC project (the stock `make_project` output, BOINC's schema, a stand-in for BOINC's
//!   lockf-based `start` in `tests/dropin_stock/`), a job through a stock client, rollback
//!   and roll-forward with no daemon ever doubled;
//! - `tests/demo.rs`: `scripts/demo.sh` (the README's main command) with a small series and
//!   its embedded private MariaDB, run twice in one directory, then `--stop` with no process
//!   left;
//! - `tests/runbook.rs`: every WARN and ERROR message in the source has its row, saying what
//!   to do, in `docs/RUNBOOK.md` (and every row a message);
//! - `tests/docker_compose.rs`: `docker-compose config` accepts `docker/compose.yaml` with
//!   every required variable set, and refuses it when a password is missing (no defaults).
//!
//! Helpers shared by these tests are in `tests/common/mod.rs` (`Stack`: a project made and
//! run by the binaries; `Volunteer`: a stock client). The binaries come from cargo's build of
//! the workspace (debug), the served app from `app/build-static.sh` (release, static).
//!
//! [`workspace_root`] and [`target_dir`] locate the repository and cargo's output from a test.

use std::path::{Path, PathBuf};

/// The repository root (`tests-e2e/..`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests-e2e lives in the workspace")
        .to_path_buf()
}

/// Cargo's profile directory holding this test's binaries (`target/debug`), found from the
/// running test executable (`target/debug/deps/<test>`), so `CARGO_TARGET_DIR` is respected.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent", exe.display()))?;
    Ok(deps.parent().unwrap_or(deps).to_path_buf())
}
