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

use std::path::PathBuf;

use rboinc_core::db::{self, AppId, BatchId, WorkunitId};
use sqlx::Row;

use super::params::SeriesParams;
use super::store::{ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE};
use crate::create_work::{self, InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec};
use crate::project::unix_now;

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
    let mut prepared = Vec::with_capacity(rows.len());
    let mut round_ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let round_id: i64 = row.try_get("id")?;
        let wu_name: String = row.try_get("wu_name")?;
        match prepare_round(creator, row, &wu_name) {
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
    let now = unix_now();
    let ids = create_work::insert(&mut tx, &prepared, now).await?;
    for (chunk_rounds, chunk_wus) in round_ids.chunks(1000).zip(ids.chunks(1000)) {
        let mut qb = sqlx::QueryBuilder::new("UPDATE rb_series_round SET state = ");
        qb.push_bind(ROUND_CREATED)
            .push(", created_time = ")
            .push_bind(now)
            .push(", workunit_id = CASE id");
        for (r, w) in chunk_rounds.iter().zip(chunk_wus) {
            qb.push(" WHEN ").push_bind(*r).push(" THEN ").push_bind(*w);
        }
        qb.push(" END WHERE id IN ")
            .push_tuples(chunk_rounds.iter(), |mut b, r| {
                b.push_bind(*r);
            });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    out.workunits = ids;
    Ok(out)
}

fn prepare_round(
    creator: &mut WorkCreator,
    row: &sqlx::mysql::MySqlRow,
    wu_name: &str,
) -> Result<create_work::PreparedWorkunit, String> {
    let get = |e: sqlx::Error| e.to_string();
    let params: String = row.try_get("params").map_err(get)?;
    let params: SeriesParams = serde_json::from_str(&params).map_err(|e| e.to_string())?;
    let seed: u64 = row.try_get("seed").map_err(get)?;
    let dataset: String = row.try_get("dataset_file").map_err(get)?;
    let job = params.job(seed);
    job.validate().map_err(|e| e.to_string())?;
    let job_name = format!("{wu_name}_job.json");
    creator
        .stager()
        .stage_bytes(&job_name, job.canonical_json().as_bytes())
        .map_err(|e| e.to_string())?;
    let est = params.fpops_estimate();
    let spec = WorkSpec {
        name: wu_name.to_string(),
        wu_template: PathBuf::from(WU_TEMPLATE),
        result_template: RESULT_TEMPLATE.to_string(),
        inputs: vec![InputArg::Name(job_name), InputArg::Name(dataset)],
        command_line: None,
        desc: JobDesc::default(),
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
