//! rboinc-testkit: helpers for end-to-end tests that run the real parts together.
//!
//! Dev-only (no crate depends on it outside `[dev-dependencies]`). Everything here starts real
//! things — a project made by our `make_project`, MariaDB databases, the `scheduler` binary,
//! stock `boinc` clients — in private temporary places, and cleans them up on `Drop`:
//! - [`project::TestProject`]: a project directory and database on a free loopback port, with
//!   the project's own tools to publish app versions and create work;
//! - [`scheduler::SchedulerProcess`]: the `scheduler` binary serving a project;
//! - [`client::BoincClient`]: a stock BOINC client in its own data directory, driven through
//!   `boinccmd` (attach, wait for task states, read its log);
//! - [`sim`]: scripted scheduler requests in the real client's shape, for load tests;
//! - [`http`]: a tiny HTTP/1.1 client for loopback tests;
//! - [`mnist`]: the mnist app's static binary, dataset bundle and job files;
//! - [`net::free_port`].

pub mod client;
pub mod http;
pub mod mnist;
pub mod net;
pub mod project;
pub mod scheduler;
pub mod sim;

/// Waits until `check` returns `Some`, polling every `every`; `None` after `timeout`.
pub async fn wait_for<T>(
    timeout: std::time::Duration,
    every: std::time::Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}
