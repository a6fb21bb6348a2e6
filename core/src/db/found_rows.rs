//! "Did my UPDATE apply?" with BOINC's meaning of affected rows.
//!
//! BOINC's C++ code connects with the `CLIENT_FOUND_ROWS` flag, so the
//! affected-row count of an UPDATE is the number of rows the WHERE clause
//! *matched*, not the number whose values changed. Its daemons rely on that:
//! an update that writes the values a row already has still counts as done,
//! and only a count of 0 means "no such row" (ERR_DB_NOT_FOUND).
//!
//! Without the flag MySQL reports rows *changed*, and such a no-op update
//! would look like a missing row. sqlx's MySQL driver (0.9) always asks the
//! server for `CLIENT_FOUND_ROWS` during the handshake (see its
//! `MySqlStream::with_socket`), and there is no option to turn it off; we do
//! not rely on reading that code, though: every pooled connection runs
//! [`verify`] once when it is opened (see [`super::pool`]), so a driver
//! change would fail at connect time with [`FoundRowsError`] instead of
//! silently changing what [`matched`] means. The test `db_found_rows` shows
//! a no-op UPDATE reported as applied.

use sqlx::Executor;
use sqlx::mysql::{MySqlConnection, MySqlQueryResult};

/// Rows an UPDATE matched (BOINC's "affected rows"); for INSERT and DELETE,
/// the rows inserted or deleted.
pub fn matched(done: &MySqlQueryResult) -> u64 {
    done.rows_affected()
}

/// True if the UPDATE matched at least one row, whether or not it changed it.
pub fn applied(done: &MySqlQueryResult) -> bool {
    matched(done) > 0
}

/// The connection reports rows changed instead of rows matched.
#[derive(Debug, thiserror::Error)]
pub enum FoundRowsError {
    #[error(
        "the MySQL connection reports rows changed, not rows matched (CLIENT_FOUND_ROWS is off): \
         a no-op UPDATE of 1 row reported {0} rows"
    )]
    NotMatchedRows(u64),
    #[error("cannot check the connection's affected-rows mode: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Checks on a real statement that this connection counts matched rows: a
/// session-private temporary table gets one row, which an UPDATE then sets to
/// the value it already has. Needs the `CREATE TEMPORARY TABLES` privilege,
/// which BOINC's project database user has.
pub async fn verify(conn: &mut MySqlConnection) -> Result<(), FoundRowsError> {
    conn.execute("CREATE TEMPORARY TABLE rb_found_rows_probe (x INTEGER NOT NULL)")
        .await?;
    let outcome = async {
        conn.execute("INSERT INTO rb_found_rows_probe VALUES (1)")
            .await?;
        let done = conn
            .execute("UPDATE rb_found_rows_probe SET x = 1 WHERE x = 1")
            .await?;
        Ok::<u64, sqlx::Error>(matched(&done))
    }
    .await;
    conn.execute("DROP TEMPORARY TABLE IF EXISTS rb_found_rows_probe")
        .await?;
    match outcome? {
        1 => Ok(()),
        n => Err(FoundRowsError::NotMatchedRows(n)),
    }
}
