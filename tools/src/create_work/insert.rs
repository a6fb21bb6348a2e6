//! Phase 2 of `create_work`: prepared workunits into `workunit` rows, many per statement.
//!
//! Rows go in as multi-row `INSERT`s of about 1 MB, as BOINC's bulk mode sends them, in the
//! caller's transaction. Statement sizes are powers of two, so the statements of a batch share
//! one prepared statement: preparing one with ~25,000 placeholders costs about as much as
//! executing it (the server answers with a definition per placeholder). Sending the rows as
//! SQL text instead (strings as hex literals) was measured slower: the server parses twice the
//! bytes.
//!
//! Results are not created here: the transitioner does that, as in BOINC.

use std::collections::HashMap;

use rboinc_core::db::{BatchId, WorkunitId};
use rboinc_core::state::TransitionerFlags;
use sqlx::MySqlConnection;

use super::{CreateWorkError, PreparedWorkunit};

/// Bytes of SQL per multi-row INSERT, about (BOINC's bulk mode sends about 1 MB).
const INSERT_BYTES: usize = 1 << 20;
/// Rows per INSERT at most (MySQL allows 65,535 placeholders; 25 per row).
const INSERT_ROWS: usize = 2048;
/// A row's bytes besides its strings.
const ROW_OVERHEAD: usize = 200;

fn row_bytes(w: &PreparedWorkunit) -> usize {
    w.name.len() + w.xml_doc.len() + w.result_template.len() + w.desc.keywords.len() + ROW_OVERHEAD
}

/// Rows per INSERT statement for these workunits: about [`INSERT_BYTES`] each, and a power
/// of two, so that callers that hand over fixed-size chunks get same-size statements.
pub fn rows_per_statement(wus: &[PreparedWorkunit]) -> usize {
    let widest = wus.iter().map(row_bytes).max().unwrap_or(1);
    (INSERT_BYTES / widest.next_power_of_two()).clamp(1, INSERT_ROWS)
}

/// Inserts prepared workunits (`transition_time` = `now`, so the transitioner makes their
/// results at once). Returns their ids in order. Runs in the caller's connection or
/// transaction; a duplicate name is reported as [`CreateWorkError::Duplicate`].
pub async fn insert(
    conn: &mut MySqlConnection,
    wus: &[PreparedWorkunit],
    now: i32,
) -> Result<Vec<WorkunitId>, CreateWorkError> {
    let mut ids = Vec::with_capacity(wus.len());
    if wus.is_empty() {
        return Ok(ids);
    }
    let id_step = consecutive_id_step(&mut *conn).await?;
    let per_statement = rows_per_statement(wus);
    for chunk in wus.chunks(per_statement) {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO workunit (create_time, appid, name, xml_doc, batch, rsc_fpops_est, rsc_fpops_bound, \
             rsc_memory_bound, rsc_disk_bound, need_validate, canonical_resultid, canonical_credit, \
             transition_time, delay_bound, error_mask, file_delete_state, assimilate_state, hr_class, opaque, \
             min_quorum, target_nresults, max_error_results, max_total_results, max_success_results, \
             result_template_file, priority, rsc_bandwidth_bound, fileset_id, app_version_id, \
             transitioner_flags, size_class, keywords, app_version_num) ",
        );
        qb.push_values(chunk, |mut b, wu| {
            let d = &wu.desc;
            b.push_bind(now)
                .push_bind(wu.appid)
                .push_bind(&wu.name)
                .push_bind(&wu.xml_doc)
                .push_bind(BatchId(d.batch))
                .push_bind(d.rsc_fpops_est)
                .push_bind(d.rsc_fpops_bound)
                .push_bind(d.rsc_memory_bound)
                .push_bind(d.rsc_disk_bound)
                .push("0, 0")
                .push_bind(d.canonical_credit)
                .push_bind(now)
                .push_bind(d.delay_bound)
                .push("0, 0, 0, 0")
                .push_bind(d.opaque)
                .push_bind(d.min_quorum)
                .push_bind(d.target_nresults)
                .push_bind(d.max_error_results)
                .push_bind(d.max_total_results)
                .push_bind(d.max_success_results)
                .push_bind(&wu.result_template)
                .push_bind(d.priority)
                .push_bind(d.rsc_bandwidth_bound)
                .push("0, 0")
                .push_bind(TransitionerFlags::Normal)
                .push_bind(d.size_class)
                .push_bind(&d.keywords)
                .push_bind(d.app_version_num);
        });
        let done = match qb.build().execute(&mut *conn).await {
            Ok(done) => done,
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                return Err(duplicate(conn, chunk).await);
            }
            Err(e) => return Err(e.into()),
        };
        if done.rows_affected() != chunk.len() as u64 {
            return Err(CreateWorkError::Sql(sqlx::Error::Protocol(format!(
                "inserted {} of {} workunits",
                done.rows_affected(),
                chunk.len()
            ))));
        }
        match id_step {
            // Consecutive ids from the first one the server reports.
            Some(step) => {
                let first = done.last_insert_id() as i64;
                ids.extend((0..chunk.len() as i64).map(|k| WorkunitId(first + k * step)));
            }
            // Otherwise by name: the ids of a multi-row INSERT need not be consecutive.
            None => ids.extend(ids_by_name(conn, chunk).await?),
        }
    }
    Ok(ids)
}

/// Which name of a chunk was taken.
async fn duplicate(conn: &mut MySqlConnection, chunk: &[PreparedWorkunit]) -> CreateWorkError {
    let names: Vec<&str> = chunk.iter().map(|w| w.name.as_str()).collect();
    let taken: Result<Vec<String>, sqlx::Error> =
        sqlx::QueryBuilder::new("SELECT name FROM workunit WHERE name IN ")
            .push_tuples(names.iter(), |mut b, n| {
                b.push_bind(*n);
            })
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await;
    match taken {
        Ok(taken) => {
            CreateWorkError::Duplicate(taken.into_iter().next().unwrap_or_else(|| names.join(",")))
        }
        Err(e) => e.into(),
    }
}

async fn ids_by_name(
    conn: &mut MySqlConnection,
    chunk: &[PreparedWorkunit],
) -> Result<Vec<WorkunitId>, sqlx::Error> {
    let rows: Vec<(WorkunitId, String)> =
        sqlx::QueryBuilder::new("SELECT id, name FROM workunit WHERE name IN ")
            .push_tuples(chunk.iter(), |mut b, w| {
                b.push_bind(&w.name);
            })
            .build_query_as()
            .fetch_all(&mut *conn)
            .await?;
    let by_name: HashMap<String, WorkunitId> = rows.into_iter().map(|(id, n)| (n, id)).collect();
    Ok(chunk
        .iter()
        .map(|w| by_name.get(&w.name).copied().unwrap_or_default())
        .collect())
}

/// The id increment when a multi-row `INSERT` is guaranteed consecutive ids: InnoDB's
/// auto-increment lock modes 0 and 1 give a statement whose row count is known in advance one
/// run of ids, `@@auto_increment_increment` apart (lock mode 2, "interleaved", does not).
async fn consecutive_id_step(conn: &mut MySqlConnection) -> Result<Option<i64>, sqlx::Error> {
    let (mode, step): (i64, i64) = sqlx::query_as(
        "SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED), CAST(@@auto_increment_increment AS SIGNED)",
    )
    .fetch_one(conn)
    .await?;
    Ok((mode <= 1 && step >= 1).then_some(step))
}
