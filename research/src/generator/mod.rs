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
//! A pass stages the rounds' job files a chunk ahead of rendering and inserting the chunk
//! before, and syncs them once, before its commit ([`crate::job_files`]). [`daemon`] is the
//! `work_generator` daemon's pass around [`top_up`]. Chained series' rounds are left to
//! [`crate::generations::advance`], which the same pass runs.

pub mod daemon;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rboinc_core::db::{self, AppId, BatchId, WorkunitId};
use sqlx::Row;

use crate::job_files::{CHUNK_ROUNDS, JobFiles, Round, SeriesSettings, WorkunitSettings};
pub use crate::job_files::{RESULT_TEMPLATE, WU_TEMPLATE};
use crate::params::SeriesParams;
use crate::store::{ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE};
use rboinc_core::clock::now_i32;
use rboinc_tools::create_work::{self, InputArg, WorkCreator};

/// Default cushion of workunits waiting to be sent.
pub const DEFAULT_CUSHION: usize = 100;

/// Workunits of series rounds still waiting to be sent (see the module docs).
pub async fn waiting(pool: &db::Pool, appid: AppId) -> Result<i64, sqlx::Error> {
    waiting_up_to(pool, appid, i64::MAX).await
}

/// [`waiting`], counting no further than `limit`: a pass only needs to know whether the
/// cushion is full, and a project with many unsent workunits should not count them all every
/// pass.
pub async fn waiting_up_to(pool: &db::Pool, appid: AppId, limit: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM rb_series_round r JOIN workunit w ON w.id = r.workunit_id \
         WHERE r.state = ? AND w.appid = ? AND w.canonical_resultid = 0 AND w.error_mask = 0 \
         AND w.assimilate_state = 0 AND (\
           NOT EXISTS (SELECT 1 FROM result x WHERE x.workunitid = w.id) \
           OR EXISTS (SELECT 1 FROM result x WHERE x.workunitid = w.id AND x.server_state = 2)) \
         LIMIT ?) waiting",
    )
    .bind(ROUND_CREATED)
    .bind(appid)
    .bind(limit)
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
        "SELECT r.id, r.series_id, r.seed, r.wu_name, r.config, COALESCE(r.params, s.params) AS params, \
         s.dataset_file, s.min_quorum, \
         s.target_nresults, s.delay_bound, s.priority, s.batch_id \
         FROM rb_series_round r JOIN rb_series s ON s.id = r.series_id \
         WHERE r.state = ? AND s.state = ? AND s.appid = ? \
         AND NOT EXISTS (SELECT 1 FROM rb_series_chain c WHERE c.series_id = s.id) \
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
    // Each round is keyed by its row id and its configuration's settings.
    let mut series: HashMap<(i64, i32), Result<ConfigSettings, String>> = HashMap::new();
    let mut rounds = Vec::with_capacity(rows.len());
    for row in &rows {
        let round_id: i64 = row.try_get("id")?;
        let wu_name: String = row.try_get("wu_name")?;
        let series_id: i64 = row.try_get("series_id")?;
        let config: i32 = row.try_get("config")?;
        let of_series = series
            .entry((series_id, config))
            .or_insert_with(|| series_settings(row))
            .clone();
        let round = of_series.and_then(|(params, settings)| {
            let seed: u64 = row.try_get("seed").map_err(|e| e.to_string())?;
            Round::new((round_id, settings), &params, seed, wu_name.clone())
        });
        match round {
            Ok(r) => rounds.push(r),
            Err(error) => out.failed.push(RoundError {
                round_id,
                wu_name,
                error,
            }),
        }
    }
    let claimed_s = started.elapsed().as_secs_f64();
    let mut files = JobFiles::start(creator.stager().clone(), rounds);
    let now = now_i32();
    let inserted = insert_rounds(&mut tx, creator, &mut files, &mut out, now).await;
    let db_s = started.elapsed().as_secs_f64() - claimed_s;
    let waited_s = files.waited.as_secs_f64();
    let ids = match inserted {
        Ok(ids) => ids,
        Err(e) => {
            files.discard().await;
            return Err(e);
        }
    };
    if let Err(e) = files.finish().await {
        files.discard().await;
        return Err(e.into());
    }
    let synced_s = started.elapsed().as_secs_f64() - claimed_s - db_s;
    tx.commit().await?;
    tracing::debug!(
        workunits = ids.len(),
        failed = out.failed.len(),
        claimed_s,
        db_s,
        waited_for_staging_s = waited_s,
        synced_s,
        committed_s = started.elapsed().as_secs_f64() - claimed_s - db_s - synced_s,
        "created round workunits"
    );
    out.workunits = ids;
    Ok(out)
}

type Key = (i64, Arc<SeriesSettings>);

/// A configuration's parameters and workunit settings.
type ConfigSettings = (SeriesParams, Arc<SeriesSettings>);

/// Renders and inserts the claimed rounds' workunits a chunk at a time, marking each round
/// created; rounds that fail go to `out.failed` (and stay queued).
async fn insert_rounds(
    tx: &mut sqlx::MySqlConnection,
    creator: &mut WorkCreator,
    files: &mut JobFiles<Key>,
    out: &mut Created,
    now: i32,
) -> Result<Vec<WorkunitId>, create_work::CreateWorkError> {
    let mut ids = Vec::new();
    while let Some(chunk) = files.next().await {
        let mut prepared = Vec::with_capacity(chunk.len());
        let mut round_ids = Vec::with_capacity(chunk.len());
        for round in chunk {
            let settings = round.key.1.clone();
            match round.prepare(creator, &settings) {
                ((round_id, _), _, Ok(p)) => {
                    prepared.push(p);
                    round_ids.push(round_id);
                }
                ((round_id, _), wu_name, Err(error)) => out.failed.push(RoundError {
                    round_id,
                    wu_name,
                    error,
                }),
            }
        }
        ids.extend(create_work::insert(&mut *tx, &prepared, now).await?);
        mark_created(&mut *tx, &round_ids, now).await?;
    }
    Ok(ids)
}

/// A claimed row's settings: its series' and its configuration's (the dataset looked up by
/// name).
fn series_settings(
    row: &sqlx::mysql::MySqlRow,
) -> Result<(SeriesParams, Arc<SeriesSettings>), String> {
    let get = |e: sqlx::Error| e.to_string();
    let text: String = row.try_get("params").map_err(get)?;
    let params: SeriesParams = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let w = WorkunitSettings {
        batch: row.try_get::<BatchId, _>("batch_id").map_err(get)?,
        min_quorum: row.try_get("min_quorum").map_err(get)?,
        target_nresults: row.try_get("target_nresults").map_err(get)?,
        delay_bound: row.try_get("delay_bound").map_err(get)?,
        priority: row.try_get("priority").map_err(get)?,
    };
    let dataset = InputArg::Name(row.try_get("dataset_file").map_err(get)?);
    let settings = Arc::new(SeriesSettings::new(&params, w, dataset));
    Ok((params, settings))
}

/// Marks rounds created, each with the workunit of its name.
async fn mark_created(
    conn: &mut sqlx::MySqlConnection,
    round_ids: &[i64],
    now: i32,
) -> Result<(), sqlx::Error> {
    for chunk in round_ids.chunks(CHUNK_ROUNDS) {
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

/// One generator pass: tops the cushion up. Returns what was created.
pub async fn top_up(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    cushion: usize,
) -> Result<Created, create_work::CreateWorkError> {
    let cap = i64::try_from(cushion).unwrap_or(i64::MAX);
    let waiting = waiting_up_to(pool, creator.app().id, cap).await?;
    let room = cushion.saturating_sub(usize::try_from(waiting).unwrap_or(0));
    create_rounds(pool, creator, room).await
}
