//! Column decoding shared by the scheduler's queries.

use sqlx::Row;
use sqlx::mysql::MySqlRow;

/// A `BLOB`/nullable text column as a `String` (NULL is empty, bytes are UTF-8).
pub fn text(row: &MySqlRow, column: &str) -> Result<String, sqlx::Error> {
    let t: rboinc_core::db::text::NullableText = row.try_get(column)?;
    Ok(t.0)
}
