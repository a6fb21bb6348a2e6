//! The project database: BOINC's MySQL schema, shared with the stock C++
//! daemons and PHP web code, so every table, column and number here is
//! BOINC's.
//!
//! Map:
//! - [`pool`]: connecting ([`connect`], [`connect_lazy`]) from
//!   [`crate::config::DbSettings`] (`Config::db_settings()`).
//! - [`migrate`]: creating the schema, or adopting one stock BOINC made.
//! - [`schema`]: the 17 BOINC tables as expected and as found; [`difference`]:
//!   which differences we can live with.
//! - [`found_rows`]: UPDATE counts mean rows *matched*, as in BOINC.
//! - [`conflict`]: [`is_retryable`], the deadlock / lock wait timeout test before a retry;
//!   [`unreachable`]: [`is_unreachable`], the "server is gone" test before waiting an outage out.
//! - one module per table ([`workunit`], [`result`], [`app`], ...): a typed
//!   row (`WorkunitRow`, `ResultRow`, ...) and one small function per query.
//! - [`ids`]: id newtypes; [`text`]: reading NULL/BLOB text columns.
//!
//! Query functions take any executor (`&MySqlPool`, `&mut MySqlConnection`,
//! or `&mut *tx` for a transaction the caller commits), return
//! `sqlx::Error`, and report "no such row" as `Ok(None)` (lookups) or
//! `Ok(false)` (updates). Duplicate keys come back as sqlx database errors:
//! test with `e.as_database_error().is_some_and(|d| d.is_unique_violation())`.
//! Row types skip the `mod_time` timestamp columns.
//!
//! The session differs from a default sqlx one in two ways that matter for
//! hand-written SQL (see [`pool`]): `||` is OR, as in stock MySQL, and
//! time zone is UTC (only `TIMESTAMP` columns notice).

pub mod app;
pub mod app_version;
pub mod batch;
pub mod conflict;
pub mod credited_job;
pub mod difference;
pub mod found_rows;
pub mod host;
pub mod host_app_version;
pub mod ids;
pub mod migrate;
pub mod platform;
pub mod pool;
pub mod replicas;
pub mod result;
pub mod schema;
pub mod team;
pub mod text;
pub mod unreachable;
pub mod user;
pub mod workunit;

pub use conflict::is_retryable;
pub use ids::{
    AppId, AppVersionId, BatchId, HostId, PlatformId, ResultId, TeamId, UserId, WorkunitId,
};
pub use migrate::{MigrateError, MigrationReport, migrate};
pub use pool::{ConnectError, connect, connect_lazy, connect_with, pool_options};
pub use unreachable::is_unreachable;

/// The pool type every binary passes around.
pub type Pool = sqlx::MySqlPool;
