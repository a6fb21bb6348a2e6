//! The scheduler and data server: everything a stock BOINC client talks to.
//!
//! One axum service per project (or several behind a load balancer: all shared state is in the
//! database) answers at the project's own URLs from `config.xml`, so attached clients cannot
//! tell it from BOINC's CGI programs. Map, in reading order:
//! - [`cli`]: the `scheduler` binary's flags and start-up; [`settings`] and [`urls`]: what it
//!   takes from `config.xml` (including this server's own options);
//! - [`server`]: the router, request spans, graceful shutdown; [`state`]: what handlers share,
//!   split by concern; [`keys`]: the signing keys; [`body`]: reading request bodies and the
//!   client's address; [`error`]: the HTTP error of the plain web routes;
//! - [`master`]: the master page that tells clients the scheduler URL;
//! - [`sched`]: the scheduler RPC — requests, authentication, reports, work sending, replies;
//!   [`plan_class`]: which builds a host can run (`plan_class_spec.xml` or BOINC's named
//!   classes) and how it runs them;
//! - [`upload`]: the file upload handler; [`download`]: the download tree;
//! - [`account`]: the account web RPCs (`get_project_config.php`, `lookup_account.php`,
//!   `create_account.php`);
//! - [`metrics`]: counters and the RPC latency histogram for the ops page and `/metrics`;
//!   [`ops`]: the `/ops` page and `/metrics`, behind a login.
//!
//! Modules depend one way: [`server`] → [`state`] → the feature modules, whose routers are
//! generic over any state their parts can be taken from (axum's `FromRef`).

pub mod account;
pub mod body;
pub mod cli;
pub mod download;
pub mod error;
pub mod keys;
pub mod master;
pub mod metrics;
pub mod ops;
pub mod plan_class;
pub mod sched;
pub mod server;
pub mod settings;
pub mod state;
pub mod upload;
pub mod urls;
