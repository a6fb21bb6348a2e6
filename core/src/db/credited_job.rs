//! `credited_job`: which (user, job) pairs were credited, written by a
//! validator run with `--update_credited_job`. The "job" is the
//! workunit's `opaque` value, as BOINC's validator writes it.

use sqlx::mysql::MySqlExecutor;
use sqlx::{MySql, MySqlConnection, QueryBuilder};

use super::ids::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct CreditedJobRow {
    pub userid: UserId,
    pub workunitid: i64,
}

/// Records the pair; false if it was already recorded.
pub async fn insert(
    ex: impl MySqlExecutor<'_>,
    userid: UserId,
    workunitid: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("INSERT IGNORE INTO credited_job (userid, workunitid) VALUES (?, ?)")
        .bind(userid)
        .bind(workunitid)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the pairs `(user, job)`, 1,000 per statement; pairs already recorded are kept as
/// they are (the validator's batch write).
pub async fn insert_many(
    conn: &mut MySqlConnection,
    pairs: &[(UserId, i64)],
) -> Result<(), sqlx::Error> {
    for chunk in pairs.chunks(1000) {
        let mut q: QueryBuilder<MySql> =
            QueryBuilder::new("INSERT INTO credited_job (userid, workunitid) ");
        q.push_values(chunk, |mut v, (user, job)| {
            v.push_bind(*user).push_bind(*job);
        });
        q.push(" ON DUPLICATE KEY UPDATE userid = userid");
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn for_user(
    ex: impl MySqlExecutor<'_>,
    userid: UserId,
) -> Result<Vec<CreditedJobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT userid, workunitid FROM credited_job WHERE userid = ? ORDER BY workunitid",
    )
    .bind(userid)
    .fetch_all(ex)
    .await
}
