//! One pass over the running chains: create each chain's next generation when its time has
//! come, stop a chain whose generation failed for good.
//!
//! A chain's *frontier* is its newest created generation (generation 1, queued, if none is
//! created yet). Per frontier:
//! - generation 1 queued: its workunit is created (job and dataset in);
//! - created, canonical result chosen, not the last: the canonical result's `state.bin` is
//!   staged as `mnist_state_<sha256>` and generation g + 1's workunit created with it as
//!   `start_state.bin` — the staged name is remembered in `rb_series_chain`, so a generation
//!   recreated by [`super::resume`] finds it even after the upload is deleted;
//! - created, workunit failed (`error_mask`): the chain stops with the reason;
//! - otherwise: the generation is still with the hosts, nothing to do.
//!
//! The next generation's round row is claimed `FOR UPDATE SKIP LOCKED` in the transaction
//! that inserts its workunit, as the cushion generator claims rounds, so two generators never
//! create a generation twice; staged files are synced before the commit.

use std::path::PathBuf;
use std::time::Instant;

use rboinc_core::clock::now_i32;
use rboinc_core::db::{self, BatchId, WorkunitId};
use rboinc_core::config::Config;
use rboinc_core::job_files::output_files;
use rboinc_tools::create_work::{self, CreateWorkError, InputArg, JobDesc, WorkCreator, WorkSpec};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::templates::{self, CHAIN_IN, CHAIN_OUT};
use super::{CHAIN_RUNNING, STATE_OUTPUT, state_file_name};
use crate::job_files::{SeriesSettings, WU_TEMPLATE, WorkunitSettings};
use crate::params::SeriesParams;
use crate::store::{ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE};

/// What a pass did.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Generations whose workunit was created: (series id, generation, workunit).
    pub created: Vec<(i64, i32, WorkunitId)>,
    /// Chains stopped: (series id, reason).
    pub stopped: Vec<(i64, String)>,
    /// Generations that could not be created (they stay queued): (series id, generation, why).
    pub failed: Vec<(i64, i32, String)>,
    /// Chains whose frontier generation is with the hosts.
    pub waiting: usize,
}

/// A chain's frontier, as the pass's query reads it.
struct Frontier {
    series_id: i64,
    generations: i32,
    state_round: i32,
    state_file: String,
    round: i32,
    round_state: i32,
    canonical: i64,
    error_mask: i64,
    wu_name: String,
}

/// Runs one pass for the chains of the creator's app (see the module docs).
pub async fn advance(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    config: &Config,
) -> Result<Advanced, CreateWorkError> {
    let mut out = Advanced::default();
    let upload = &config.upload_hier();
    let rows = sqlx::query(
        "SELECT c.series_id, c.generations, c.state_round, c.state_file, r.round, \
         r.state AS round_state, r.wu_name, \
         COALESCE(w.canonical_resultid, 0) AS canonical, COALESCE(w.error_mask, 0) AS error_mask \
         FROM rb_series_chain c JOIN rb_series s ON s.id = c.series_id \
         JOIN rb_series_round r ON r.series_id = c.series_id \
         LEFT JOIN workunit w ON w.id = r.workunit_id AND r.state = ? \
         WHERE c.state = ? AND s.state = ? AND s.appid = ? \
         AND r.round = (SELECT COALESCE(MAX(x.round), 1) FROM rb_series_round x \
                        WHERE x.series_id = c.series_id AND x.state = ?) \
         ORDER BY s.priority DESC, c.series_id",
    )
    .bind(ROUND_CREATED)
    .bind(CHAIN_RUNNING)
    .bind(SERIES_ACTIVE)
    .bind(creator.app().id)
    .bind(ROUND_CREATED)
    .fetch_all(pool)
    .await?;
    let mut frontiers = Vec::with_capacity(rows.len());
    for r in &rows {
        frontiers.push(Frontier {
            series_id: r.try_get("series_id")?,
            generations: r.try_get("generations")?,
            state_round: r.try_get("state_round")?,
            state_file: r.try_get("state_file")?,
            round: r.try_get("round")?,
            round_state: r.try_get("round_state")?,
            canonical: r.try_get("canonical")?,
            error_mask: r.try_get("error_mask")?,
            wu_name: r.try_get("wu_name")?,
        });
    }
    for f in frontiers {
        if f.round_state == ROUND_QUEUED {
            create(pool, creator, config, &mut out, f.series_id, f.round, None).await?;
        } else if f.error_mask != 0 {
            let reason = format!(
                "generation {} (workunit {}) failed for good: error_mask {:#x}",
                f.round, f.wu_name, f.error_mask
            );
            super::stop(pool, f.series_id, &reason).await?;
            out.stopped.push((f.series_id, reason));
        } else if f.canonical == 0 {
            out.waiting += 1;
        } else if f.round < f.generations {
            let staged = if f.state_round == f.round && !f.state_file.is_empty() {
                Ok(f.state_file.clone())
            } else {
                stage_state(pool, creator, upload, f.canonical).await
            };
            match staged {
                Ok(name) => {
                    create(
                        pool,
                        creator,
                        config,
                        &mut out,
                        f.series_id,
                        f.round + 1,
                        Some((f.round, name)),
                    )
                    .await?
                }
                Err(e) => {
                    let reason = format!(
                        "generation {} (workunit {}): cannot take its state: {e}",
                        f.round, f.wu_name
                    );
                    super::stop(pool, f.series_id, &reason).await?;
                    out.stopped.push((f.series_id, reason));
                }
            }
        }
    }
    Ok(out)
}

/// Stages the `state.bin` of result `canonical` under its content-addressed name.
async fn stage_state(
    pool: &db::Pool,
    creator: &WorkCreator,
    upload: &rboinc_core::hier::Hierarchy,
    canonical: i64,
) -> Result<String, String> {
    let xml: Vec<u8> = sqlx::query_scalar("SELECT xml_doc_in FROM result WHERE id = ?")
        .bind(canonical)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    let xml = String::from_utf8_lossy(&xml);
    let files = output_files(&xml, upload).map_err(|e| e.to_string())?;
    let path: PathBuf = files
        .into_iter()
        .find(|f| f.open_name == STATE_OUTPUT)
        .ok_or_else(|| format!("the canonical result has no output {STATE_OUTPUT}"))?
        .path;
    let stager = creator.stager().clone();
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = state_file_name(&hex::encode(Sha256::digest(&bytes)));
        stager.stage_bytes(&name, &bytes).map_err(|e| e.to_string())?;
        Ok(name)
    })
    .await
    .expect("staging does not panic")
}

/// Creates generation `g` of series `series_id`, starting from `start` (the generation that
/// computed the state and its staged name) unless it is the first.
async fn create(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    config: &Config,
    out: &mut Advanced,
    series_id: i64,
    g: i32,
    start: Option<(i32, String)>,
) -> Result<(), CreateWorkError> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT r.id, r.wu_name, r.seed, s.params, s.dataset_file, s.min_quorum, \
         s.target_nresults, s.delay_bound, s.priority, s.batch_id \
         FROM rb_series_round r JOIN rb_series s ON s.id = r.series_id \
         WHERE r.series_id = ? AND r.round = ? AND r.state = ? FOR UPDATE SKIP LOCKED",
    )
    .bind(series_id)
    .bind(g)
    .bind(ROUND_QUEUED)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        // Another generator has it, or it was cancelled meanwhile.
        return Ok(());
    };
    let round_id: i64 = row.try_get("id")?;
    let wu_name: String = row.try_get("wu_name")?;
    let seed: u64 = row.try_get("seed")?;
    let params: Result<SeriesParams, String> =
        serde_json::from_str(&row.try_get::<String, _>("params")?).map_err(|e| e.to_string());
    let params = match params {
        Ok(p) => p,
        Err(e) => {
            out.failed.push((series_id, g, format!("series parameters: {e}")));
            return Ok(());
        }
    };
    let w = WorkunitSettings {
        batch: row.try_get::<BatchId, _>("batch_id")?,
        min_quorum: row.try_get("min_quorum")?,
        target_nresults: row.try_get("target_nresults")?,
        delay_bound: row.try_get("delay_bound")?,
        priority: row.try_get("priority")?,
    };
    let dataset = InputArg::Name(row.try_get("dataset_file")?);
    let settings = SeriesSettings::new(&params, w, dataset.clone());
    let job = super::job(&params, seed, g as u32);
    let stager = creator.stager().clone();
    let job_name = format!("{wu_name}_job.json");
    let job_bytes = job.canonical_json().into_bytes();
    let state_name = start.as_ref().map(|(_, n)| n.clone());
    let staged = tokio::task::spawn_blocking(move || {
        let job_file = stager.stage_bytes(&job_name, &job_bytes)?;
        let state = state_name.map(|n| stager.locate(&n)).transpose()?;
        stager.sync()?;
        Ok::<_, rboinc_tools::stage::StageError>((job_file, state))
    })
    .await
    .expect("staging does not panic");
    let (job_file, state) = match staged {
        Ok(s) => s,
        Err(e) => {
            out.failed.push((series_id, g, e.to_string()));
            return Ok(());
        }
    };
    let mut inputs = vec![InputArg::Staged(job_file), dataset];
    inputs.extend(state.map(InputArg::Staged));
    let spec = WorkSpec {
        name: wu_name.clone(),
        wu_template: PathBuf::from(if g == 1 { WU_TEMPLATE } else { CHAIN_IN }),
        result_template: CHAIN_OUT.to_string(),
        inputs,
        command_line: None,
        desc: JobDesc::default(),
        overrides: settings.overrides,
        additional_xml: String::new(),
    };
    if let Err(e) = templates::ensure(&config.project_dir) {
        out.failed
            .push((series_id, g, format!("cannot write the chain templates: {e}")));
        return Ok(());
    }
    creator.new_batch();
    let prepared = match creator.prepare(&spec) {
        Ok(p) => p,
        Err(e) => {
            out.failed.push((series_id, g, e.to_string()));
            return Ok(());
        }
    };
    creator.sync_staged()?;
    let now = now_i32();
    let ids = create_work::insert(&mut tx, std::slice::from_ref(&prepared), now).await?;
    let wu = ids[0];
    sqlx::query(
        "UPDATE rb_series_round SET state = ?, created_time = ?, workunit_id = ? WHERE id = ?",
    )
    .bind(ROUND_CREATED)
    .bind(now)
    .bind(wu)
    .bind(round_id)
    .execute(&mut *tx)
    .await?;
    if let Some((from, name)) = &start {
        sqlx::query(
            // MySQL assigns left to right: the time is decided before the name changes.
            "UPDATE rb_series_chain SET \
             state_time = IF(state_round = ? AND state_file = ?, state_time, ?), \
             state_round = ?, state_file = ? WHERE series_id = ?",
        )
        .bind(from)
        .bind(name)
        .bind(now)
        .bind(from)
        .bind(name)
        .bind(series_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::debug!(
        series_id,
        generation = g,
        wu_id = wu.0,
        wu_name = %wu_name,
        s = started.elapsed().as_secs_f64(),
        "created the chain's next generation"
    );
    out.created.push((series_id, g, wu));
    Ok(())
}
