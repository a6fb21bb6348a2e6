//! Turning queued series rounds into workunits, a cushion at a time.
//!
//! Like BOINC's `sample_work_generator`, work is created only while few jobs are waiting to be
//! sent, so a 10,000-round series becomes 10,000 workunits gradually instead of flooding the
//! job tables (and the feeder-less scheduler's queries) at once. The cushion counts
//! *workunits waiting to be sent*: created ones with no results yet (the transitioner has not
//! seen them) or with an unsent result.
//!
//! Rounds are claimed with `FOR UPDATE SKIP LOCKED` inside the transaction that inserts their
//! workunits and marks them created, so `series submit` and the `work_generator` daemon (or two
//! daemons) never create a round twice, and a crash leaves a round either queued or created
//! with its workunit — never half.
//!
//! A pass stages the rounds' job files with [`crate::stage::Stager::stage_many`] a chunk ahead
//! of rendering and inserting the chunk before, and syncs them once, before its commit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use rboinc_core::db::{self, AppId, BatchId, WorkunitId};
use sqlx::Row;

use super::params::SeriesParams;
use super::store::{ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE};
use crate::create_work::{self, InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec};
use crate::project::unix_now;
use crate::stage::StagedFile;

/// The input template every round uses, relative to the project.
pub const WU_TEMPLATE: &str = "templates/mnist_in";
/// The result template every round uses.
pub const RESULT_TEMPLATE: &str = "templates/mnist_out";
/// Default cushion of workunits waiting to be sent.
pub const DEFAULT_CUSHION: usize = 100;

/// Workunits of series rounds still waiting to be sent (see the module docs).
pub async fn waiting(pool: &db::Pool, appid: AppId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM rb_series_round r JOIN workunit w ON w.id = r.workunit_id \
         WHERE r.state = ? AND w.appid = ? AND w.canonical_resultid = 0 AND w.error_mask = 0 \
         AND w.assimilate_state = 0 AND (\
           NOT EXISTS (SELECT 1 FROM result x WHERE x.workunitid = w.id) \
           OR EXISTS (SELECT 1 FROM result x WHERE x.workunitid = w.id AND x.server_state = 2))",
    )
    .bind(ROUND_CREATED)
    .bind(appid)
    .fetch_one(pool)
    .await
}

/// One round's failure (logged; the round stays queued).
#[derive(Debug)]
pub struct RoundError {
    pub round_id: i64,
    pub wu_name: String,
    pub error: String,
}

/// What one call created.
#[derive(Debug, Default)]
pub struct Created {
    pub workunits: Vec<WorkunitId>,
    pub failed: Vec<RoundError>,
}

/// Creates workunits for up to `limit` queued rounds of active series of the creator's app.
pub async fn create_rounds(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    limit: usize,
) -> Result<Created, create_work::CreateWorkError> {
    let mut out = Created::default();
    if limit == 0 {
        return Ok(out);
    }
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT r.id, r.round, r.seed, r.wu_name, s.params, s.dataset_file, s.min_quorum, \
         s.target_nresults, s.delay_bound, s.priority, s.batch_id \
         FROM rb_series_round r JOIN rb_series s ON s.id = r.series_id \
         WHERE r.state = ? AND s.state = ? AND s.appid = ? \
         ORDER BY s.priority DESC, r.series_id, r.round LIMIT ? \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(ROUND_QUEUED)
    .bind(SERIES_ACTIVE)
    .bind(creator.app().id)
    .bind(limit as i64)
    .fetch_all(&mut *tx)
    .await?;
    creator.new_batch();
    let mut rounds = Vec::with_capacity(rows.len());
    let mut params_of: HashMap<String, SeriesParams> = HashMap::new();
    for row in &rows {
        let round_id: i64 = row.try_get("id")?;
        let wu_name: String = row.try_get("wu_name")?;
        match round_job(row, &wu_name, &mut params_of) {
            Ok(job) => rounds.push((round_id, wu_name, job)),
            Err(error) => out.failed.push(RoundError {
                round_id,
                wu_name,
                error,
            }),
        }
    }
    let claimed_s = started.elapsed().as_secs_f64();
    // A chunk's job files are staged (by a few threads) while the chunk before is rendered
    // and inserted; files are synced once, before the commit.
    let staged_any = !rounds.is_empty();
    let mut chunks = Vec::new();
    while !rounds.is_empty() {
        let rest = rounds.split_off(rounds.len().min(PIPELINE_ROUNDS));
        chunks.push(std::mem::replace(&mut rounds, rest));
    }
    let stager = creator.stager().clone();
    let stage = |mut chunk: Vec<(i64, String, RoundJob)>| {
        let stager = stager.clone();
        tokio::task::spawn_blocking(move || {
            let files: Vec<(String, Vec<u8>)> = chunk
                .iter_mut()
                .map(|(_, _, j)| (j.file_name.clone(), std::mem::take(&mut j.bytes)))
                .collect();
            let staged = stager.stage_many(&files);
            (chunk, staged)
        })
    };
    let mut chunks = chunks.into_iter();
    let mut next = chunks.next().map(stage);
    let mut waited_s = 0.0;
    let now = unix_now();
    let mut ids = Vec::new();
    while let Some(staging) = next.take() {
        let t = Instant::now();
        let (chunk, staged) = staging.await.expect("staging threads do not panic");
        waited_s += t.elapsed().as_secs_f64();
        next = chunks.next().map(stage);
        let mut prepared = Vec::with_capacity(chunk.len());
        let mut round_ids = Vec::with_capacity(chunk.len());
        for ((round_id, wu_name, job), file) in chunk.into_iter().zip(staged) {
            let result = file
                .map_err(|e| e.to_string())
                .and_then(|f| prepare_round(creator, &wu_name, job, f));
            match result {
                Ok(p) => {
                    prepared.push(p);
                    round_ids.push(round_id);
                }
                Err(error) => out.failed.push(RoundError {
                    round_id,
                    wu_name,
                    error,
                }),
            }
        }
        ids.extend(create_work::insert(&mut tx, &prepared, now).await?);
        mark_created(&mut tx, &round_ids, now).await?;
    }
    let db_s = started.elapsed().as_secs_f64() - claimed_s - waited_s;
    if staged_any {
        creator.stager().sync()?;
    }
    let synced_s = started.elapsed().as_secs_f64() - claimed_s - waited_s - db_s;
    tx.commit().await?;
    tracing::debug!(
        workunits = ids.len(),
        failed = out.failed.len(),
        claimed_s,
        waited_for_staging_s = waited_s,
        db_s,
        synced_s,
        committed_s = started.elapsed().as_secs_f64() - claimed_s - waited_s - db_s - synced_s,
        "created round workunits"
    );
    out.workunits = ids;
    Ok(out)
}

/// A round's job file and workunit settings, read from its row.
struct RoundJob {
    file_name: String,
    bytes: Vec<u8>,
    dataset: String,
    overrides: JobOverrides,
}

fn round_job(
    row: &sqlx::mysql::MySqlRow,
    wu_name: &str,
    params_of: &mut HashMap<String, SeriesParams>,
) -> Result<RoundJob, String> {
    let get = |e: sqlx::Error| e.to_string();
    let text: String = row.try_get("params").map_err(get)?;
    let params = match params_of.get(&text) {
        Some(p) => p.clone(),
        None => {
            let p: SeriesParams = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            params_of.insert(text, p.clone());
            p
        }
    };
    let seed: u64 = row.try_get("seed").map_err(get)?;
    let job = params.job(seed);
    job.validate().map_err(|e| e.to_string())?;
    let est = params.fpops_estimate();
    Ok(RoundJob {
        file_name: format!("{wu_name}_job.json"),
        bytes: job.canonical_json().into_bytes(),
        dataset: row.try_get("dataset_file").map_err(get)?,
        overrides: JobOverrides {
            rsc_fpops_est: Some(est),
            rsc_fpops_bound: Some(est * 100.0),
            delay_bound: Some(row.try_get("delay_bound").map_err(get)?),
            min_quorum: Some(row.try_get("min_quorum").map_err(get)?),
            target_nresults: Some(row.try_get("target_nresults").map_err(get)?),
            priority: Some(row.try_get("priority").map_err(get)?),
            batch: Some(row.try_get::<BatchId, _>("batch_id").map_err(get)?.0),
            ..JobOverrides::default()
        },
    })
}

/// Rounds staged and inserted at a time (see [`create_rounds`]).
const PIPELINE_ROUNDS: usize = 2048;

/// Marks rounds created, each with the workunit of its name.
async fn mark_created(
    conn: &mut sqlx::MySqlConnection,
    round_ids: &[i64],
    now: i32,
) -> Result<(), sqlx::Error> {
    for chunk in round_ids.chunks(PIPELINE_ROUNDS) {
        let mut qb = sqlx::QueryBuilder::new(
            "UPDATE rb_series_round r JOIN workunit w ON w.name = r.wu_name SET r.state = ",
        );
        qb.push_bind(ROUND_CREATED)
            .push(", r.created_time = ")
            .push_bind(now)
            .push(", r.workunit_id = w.id WHERE r.id IN ")
            .push_tuples(chunk.iter(), |mut b, r| {
                b.push_bind(*r);
            });
        let done = qb.build().execute(&mut *conn).await?;
        if done.rows_affected() != chunk.len() as u64 {
            return Err(sqlx::Error::Protocol(format!(
                "marked {} of {} rounds created",
                done.rows_affected(),
                chunk.len()
            )));
        }
    }
    Ok(())
}

fn prepare_round(
    creator: &mut WorkCreator,
    wu_name: &str,
    job: RoundJob,
    job_file: StagedFile,
) -> Result<create_work::PreparedWorkunit, String> {
    let spec = WorkSpec {
        name: wu_name.to_string(),
        wu_template: PathBuf::from(WU_TEMPLATE),
        result_template: RESULT_TEMPLATE.to_string(),
        inputs: vec![InputArg::Staged(job_file), InputArg::Name(job.dataset)],
        command_line: None,
        desc: JobDesc::default(),
        overrides: job.overrides,
        additional_xml: String::new(),
    };
    creator.prepare(&spec).map_err(|e| e.to_string())
}

/// One generator pass: tops the cushion up. Returns what was created.
pub async fn top_up(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    cushion: usize,
) -> Result<Created, create_work::CreateWorkError> {
    let waiting = waiting(pool, creator.app().id).await?;
    let room = cushion.saturating_sub(usize::try_from(waiting).unwrap_or(0));
    create_rounds(pool, creator, room).await
}
