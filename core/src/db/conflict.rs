//! Lock conflicts: the errors after which a whole transaction is worth running again.
//!
//! InnoDB ends a statement with a deadlock (error 1213, `ER_LOCK_DEADLOCK`; the transaction is
//! rolled back) or a lock wait timeout (1205, `ER_LOCK_WAIT_TIMEOUT`) when two writers touch the
//! same rows: two validators crediting one user, a validator and the scheduler on one host, the
//! scheduler's RPCs on one host. Nothing is wrong with the data; running the transaction again
//! usually succeeds. Every other error is reported as it is.

/// MySQL's error number for a deadlock.
pub const ER_LOCK_DEADLOCK: u16 = 1213;
/// MySQL's error number for a lock wait timeout.
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;

/// Whether `e` is a deadlock or a lock wait timeout, so the caller may retry the transaction.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|m| matches!(m.number(), ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT))
}
