//! One pass over the running chains: create each chain's next generation when its time has
//! come, stop a chain whose generation failed for good.
//!
//! A chain's *frontier* is its newest generation with a created workunit. Per chain:
//! - no generation created yet: generation 1's workunits are created (job and dataset in);
//! - a frontier workunit failed for good (`error_mask`): the chain stops with the reason;
//! - a frontier round still queued (a shard queued again by [`super::resume`]): it is created
//!   from the state the frontier started from;
//! - every frontier workunit has its canonical result, and generations remain: the next
//!   generation's start state is staged as `mnist_state_<sha256>` — the canonical result's
//!   `state.bin` for a chain of one shard, the shards' states combined by
//!   [`super::fedavg::combine`] (in shard order, weighted by shard rows) for K shards — and
//!   the next generation's workunits are created with it as `start_state.bin`. The staged name
//!   is remembered in `rb_series_chain`, so a generation created again after a failure does
//!   not need the uploads;
//! - otherwise the frontier is still with the hosts.
//!
//! A generation's round rows are claimed `FOR UPDATE SKIP LOCKED` in the transaction that
//! inserts their workunits, as the cushion generator claims rounds, so two generators never
//! create a generation twice; staged files are synced before the commit.

use std::path::PathBuf;
use std::time::Instant;

use rboinc_core::clock::now_i32;
use rboinc_core::config::Config;
use rboinc_core::db::{self, BatchId, WorkunitId};
use rboinc_core::hier::Hierarchy;
use rboinc_core::job_files::output_files;
use rboinc_tools::create_work::{self, CreateWorkError, InputArg, JobDesc, WorkCreator, WorkSpec};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::release;
use super::templates::{self, CHAIN_IN, CHAIN_OUT};
use super::{CHAIN_RUNNING, STATE_OUTPUT, fedavg, generation_of, state_file_name};
use crate::job_files::{SeriesSettings, WU_TEMPLATE, WorkunitSettings};
use crate::params::SeriesParams;
use crate::store::{ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE};

/// What a pass did.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Workunits created: (series id, generation, workunit).
    pub created: Vec<(i64, i32, WorkunitId)>,
    /// Chains stopped: (series id, reason).
    pub stopped: Vec<(i64, String)>,
    /// Generations that could not be created (they stay queued): (series id, generation, why).
    pub failed: Vec<(i64, i32, String)>,
    /// Chains whose frontier generation is with the hosts.
    pub waiting: usize,
}

/// A running chain, as the pass reads it.
#[derive(sqlx::FromRow)]
struct Chain {
    series_id: i64,
    generations: i32,
    shards: i32,
    state_round: i32,
    state_file: String,
    dataset_sha256: String,
}

/// One round of a chain with its workunit's outcome.
#[derive(sqlx::FromRow)]
struct RoundState {
    round: i32,
    state: i32,
    wu_name: String,
    canonical: i64,
    error_mask: i64,
    workunit_id: i64,
    validated_time: i32,
}

/// Runs one pass for the chains of the creator's app (see the module docs).
pub async fn advance(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    config: &Config,
) -> Result<Advanced, CreateWorkError> {
    let mut out = Advanced::default();
    let upload = config.upload_hier();
    let chains: Vec<Chain> = sqlx::query_as(
        "SELECT c.series_id, c.generations, c.shards, c.state_round, c.state_file, s.dataset_sha256 \
         FROM rb_series_chain c JOIN rb_series s ON s.id = c.series_id \
         WHERE c.state = ? AND s.state = ? AND s.appid = ? ORDER BY s.priority DESC, c.series_id",
    )
    .bind(CHAIN_RUNNING)
    .bind(SERIES_ACTIVE)
    .bind(creator.app().id)
    .fetch_all(pool)
    .await?;
    for c in chains {
        let rounds: Vec<RoundState> = sqlx::query_as(
            "SELECT r.round, CAST(r.state AS SIGNED INTEGER) AS state, r.wu_name, \
             CAST(COALESCE(w.canonical_resultid, 0) AS SIGNED) AS canonical, \
             CAST(COALESCE(w.error_mask, 0) AS SIGNED) AS error_mask, \
             CAST(r.workunit_id AS SIGNED) AS workunit_id, r.validated_time \
             FROM rb_series_round r LEFT JOIN workunit w ON w.id = r.workunit_id AND r.state = ? \
             WHERE r.series_id = ? ORDER BY r.round",
        )
        .bind(ROUND_CREATED)
        .bind(c.series_id)
        .fetch_all(pool)
        .await?;
        if rounds
            .iter()
            .any(|r| r.canonical != 0 && r.validated_time == 0)
        {
            mark_validated(pool, c.series_id).await?;
        }
        let k = c.shards.max(1);
        let generation = |r: &RoundState| generation_of(r.round, k).0;
        let frontier = rounds
            .iter()
            .filter(|r| r.state == ROUND_CREATED)
            .map(generation)
            .max()
            .unwrap_or(0);
        if frontier == 0 {
            create(pool, creator, config, &mut out, &c, 1, None).await?;
            continue;
        }
        let of_frontier: Vec<&RoundState> = rounds
            .iter()
            .filter(|r| generation(r) == frontier)
            .collect();
        if let Some(r) = of_frontier
            .iter()
            .find(|r| r.state == ROUND_CREATED && r.error_mask != 0)
        {
            let reason = format!(
                "generation {frontier} (workunit {}) failed for good: error_mask {:#x}",
                r.wu_name, r.error_mask
            );
            super::stop(pool, c.series_id, &reason).await?;
            out.stopped.push((c.series_id, reason));
            continue;
        }
        if of_frontier.iter().any(|r| r.state == ROUND_QUEUED) {
            let start = (frontier > 1).then(|| (frontier - 1, c.state_file.clone()));
            if frontier > 1 && (c.state_round != frontier - 1 || c.state_file.is_empty()) {
                let reason = format!(
                    "generation {frontier}: the state of generation {} is not staged",
                    frontier - 1
                );
                super::stop(pool, c.series_id, &reason).await?;
                out.stopped.push((c.series_id, reason));
                continue;
            }
            create(pool, creator, config, &mut out, &c, frontier, start).await?;
            continue;
        }
        if of_frontier.iter().any(|r| r.canonical == 0) {
            // A shard validated before the others is assimilated and its upload deleted
            // while they run: keep its state now.
            // The last generation's states are no one's input: nothing to keep.
            if k > 1 && frontier < c.generations {
                for r in of_frontier.iter().filter(|r| r.canonical != 0) {
                    if let Err(e) = keep_shard_state(pool, creator, &upload, r).await {
                        let reason = format!(
                            "generation {frontier} (workunit {}): cannot keep its state: {e}",
                            r.wu_name
                        );
                        super::stop(pool, c.series_id, &reason).await?;
                        out.stopped.push((c.series_id, reason));
                        break;
                    }
                }
            }
            out.waiting += 1;
            continue;
        }
        // Every workunit of the frontier is validated: the state it started from is no longer
        // needed by `series resume`, so the file deleter may take it with them.
        if frontier > 1 && c.state_round == frontier - 1 && !c.state_file.is_empty() {
            let ids: Vec<i64> = of_frontier.iter().map(|r| r.workunit_id).collect();
            release::start_state(pool, &ids, &c.state_file).await?;
        }
        if frontier >= c.generations {
            continue;
        }
        let staged = if c.state_round == frontier && !c.state_file.is_empty() {
            Ok(c.state_file.clone())
        } else {
            stage_state(pool, creator, &upload, &c, frontier, &of_frontier).await
        };
        match staged {
            Ok(name) => {
                let start = Some((frontier, name));
                let before = out.created.len();
                create(pool, creator, config, &mut out, &c, frontier + 1, start).await?;
                if k > 1 && out.created.len() > before {
                    // The shards' copies were read into the staged average; the next
                    // generation starts from that, and a resume of it too.
                    for r in &of_frontier {
                        forget_shard_state(creator, r).await;
                    }
                }
            }
            Err(e) => {
                let reason = format!("generation {frontier}: cannot take its state: {e}");
                super::stop(pool, c.series_id, &reason).await?;
                out.stopped.push((c.series_id, reason));
            }
        }
    }
    Ok(out)
}

/// Where the `state.bin` of result `canonical` was uploaded.
async fn state_path(
    pool: &db::Pool,
    upload: &Hierarchy,
    canonical: i64,
) -> Result<PathBuf, String> {
    let xml: Vec<u8> = sqlx::query_scalar("SELECT xml_doc_in FROM result WHERE id = ?")
        .bind(canonical)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    let files = output_files(&String::from_utf8_lossy(&xml), upload).map_err(|e| e.to_string())?;
    Ok(files
        .into_iter()
        .find(|f| f.open_name == STATE_OUTPUT)
        .ok_or_else(|| format!("the canonical result has no output {STATE_OUTPUT}"))?
        .path)
}

/// The name under which a shard's validated state is kept in `download/` until its
/// generation is combined.
fn kept_name(wu_name: &str) -> String {
    format!("{wu_name}_state.bin")
}

/// Records when the work generator first saw each created round of the series validated
/// (BOINC keeps no such time; the report splits a generation's time there).
async fn mark_validated(pool: &db::Pool, series_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE rb_series_round r JOIN workunit w ON w.id = r.workunit_id \
         SET r.validated_time = ? \
         WHERE r.series_id = ? AND r.state = ? AND r.validated_time = 0 AND w.canonical_resultid <> 0",
    )
    .bind(now_i32())
    .bind(series_id)
    .bind(ROUND_CREATED)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes the copy [`keep_shard_state`] made of shard `r`'s state, once the average of its
/// generation is staged and the next generation created from it. Not an input of any
/// workunit, so the file deleter never sees it.
async fn forget_shard_state(creator: &WorkCreator, r: &RoundState) {
    let name = kept_name(&r.wu_name);
    let path = match creator.stager().lookup_path(&name) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(file = %name, error = %e, "cannot locate a shard's kept state");
            return;
        }
    };
    match tokio::fs::remove_file(&path).await {
        Ok(()) => tracing::debug!(file = %name, "removed a shard's kept state"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %name, error = %e, "cannot remove a shard's kept state"),
    }
}

/// Copies the validated state of shard `r` into `download/` (once).
async fn keep_shard_state(
    pool: &db::Pool,
    creator: &WorkCreator,
    upload: &Hierarchy,
    r: &RoundState,
) -> Result<(), String> {
    let name = kept_name(&r.wu_name);
    let stager = creator.stager().clone();
    if stager
        .lookup_path(&name)
        .map_err(|e| e.to_string())?
        .is_file()
    {
        return Ok(());
    }
    let from = state_path(pool, upload, r.canonical).await?;
    tokio::task::spawn_blocking(move || {
        stager
            .stage_copy(&from, &name)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .expect("staging does not panic")
}

/// Stages the start state of the generation after `g`, from the canonical results of `g`'s
/// shards (in shard order), under its content-addressed name.
async fn stage_state(
    pool: &db::Pool,
    creator: &WorkCreator,
    upload: &Hierarchy,
    c: &Chain,
    g: i32,
    shards: &[&RoundState],
) -> Result<String, String> {
    let mut paths = Vec::with_capacity(shards.len());
    for r in shards {
        let kept = creator
            .stager()
            .lookup_path(&kept_name(&r.wu_name))
            .map_err(|e| e.to_string())?;
        paths.push(if shards.len() > 1 && kept.is_file() {
            kept
        } else {
            state_path(pool, upload, r.canonical).await?
        });
    }
    let canonicals = shards;
    // The fingerprint the shards' states carry, to read them (only needed to combine).
    let combine = if canonicals.len() > 1 {
        let (params, seed): (String, u64) = sqlx::query_as(
            "SELECT s.params, r.seed FROM rb_series s JOIN rb_series_round r ON r.series_id = s.id \
             WHERE s.id = ? ORDER BY r.round LIMIT 1",
        )
        .bind(c.series_id)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
        let params: SeriesParams = serde_json::from_str(&params).map_err(|e| e.to_string())?;
        let k = canonicals.len() as u64;
        let job = super::shard_job(&params, seed, g as u32, 0, k);
        let fp = mnist_app::generation::fingerprint(&job, &c.dataset_sha256);
        let rows: Vec<u64> = (0..k)
            .map(|i| fedavg::shard_rows(params.sample_count, i, k))
            .collect();
        Some((fp, rows))
    } else {
        None
    };
    let stager = creator.stager().clone();
    tokio::task::spawn_blocking(move || {
        let bytes = match combine {
            None => std::fs::read(&paths[0]).map_err(|e| format!("{}: {e}", paths[0].display()))?,
            Some((fp, rows)) => {
                let mut states = Vec::with_capacity(paths.len());
                for p in &paths {
                    let cp = mnist_app::checkpoint::load(p, &fp)
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("{} is missing", p.display()))?;
                    states.push(cp.state);
                }
                let shards: Vec<(u64, &mnist_app::trainer::State)> =
                    rows.iter().copied().zip(states.iter()).collect();
                let combined = fedavg::combine(&shards).map_err(|e| e.to_string())?;
                mnist_app::generation::encode(&combined, &fp)
            }
        };
        let name = state_file_name(&hex::encode(Sha256::digest(&bytes)));
        stager
            .stage_bytes(&name, &bytes)
            .map_err(|e| e.to_string())?;
        Ok(name)
    })
    .await
    .expect("staging does not panic")
}

/// Creates the queued rounds of generation `g` of chain `c`, starting from `start` (the
/// generation that computed the state and its staged name) unless it is the first.
async fn create(
    pool: &db::Pool,
    creator: &mut WorkCreator,
    config: &Config,
    out: &mut Advanced,
    c: &Chain,
    g: i32,
    start: Option<(i32, String)>,
) -> Result<(), CreateWorkError> {
    let started = Instant::now();
    let series_id = c.series_id;
    let k = c.shards.max(1);
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT r.id, r.round, r.wu_name, r.seed, s.params, s.dataset_file, s.min_quorum, \
         s.target_nresults, s.delay_bound, s.priority, s.batch_id \
         FROM rb_series_round r JOIN rb_series s ON s.id = r.series_id \
         WHERE r.series_id = ? AND r.round BETWEEN ? AND ? AND r.state = ? \
         ORDER BY r.round FOR UPDATE SKIP LOCKED",
    )
    .bind(series_id)
    .bind((g - 1) * k + 1)
    .bind(g * k)
    .bind(ROUND_QUEUED)
    .fetch_all(&mut *tx)
    .await?;
    let Some(first) = rows.first() else {
        // Another generator has them, or they were cancelled meanwhile.
        return Ok(());
    };
    let params: SeriesParams = match serde_json::from_str(&first.try_get::<String, _>("params")?) {
        Ok(p) => p,
        Err(e) => {
            out.failed
                .push((series_id, g, format!("series parameters: {e}")));
            return Ok(());
        }
    };
    let w = WorkunitSettings {
        batch: first.try_get::<BatchId, _>("batch_id")?,
        min_quorum: first.try_get("min_quorum")?,
        target_nresults: first.try_get("target_nresults")?,
        delay_bound: first.try_get("delay_bound")?,
        priority: first.try_get("priority")?,
    };
    let dataset = InputArg::Name(first.try_get("dataset_file")?);
    let settings = SeriesSettings::new(&params, w, dataset.clone());
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let round: i32 = row.try_get("round")?;
        let seed: u64 = row.try_get("seed")?;
        let wu_name: String = row.try_get("wu_name")?;
        let shard = generation_of(round, k).1 as u64;
        let job = super::shard_job(&params, seed, g as u32, shard, k as u64);
        jobs.push((
            row.try_get::<i64, _>("id")?,
            wu_name.clone(),
            format!("{wu_name}_job.json"),
            job.canonical_json().into_bytes(),
        ));
    }
    let stager = creator.stager().clone();
    let state_name = start.as_ref().map(|(_, n)| n.clone());
    let files: Vec<(String, Vec<u8>)> = jobs
        .iter()
        .map(|(_, _, name, bytes)| (name.clone(), bytes.clone()))
        .collect();
    let staged = tokio::task::spawn_blocking(move || {
        let mut job_files = Vec::with_capacity(files.len());
        for (name, bytes) in &files {
            job_files.push(stager.stage_bytes(name, bytes)?);
        }
        let state = state_name.map(|n| stager.locate(&n)).transpose()?;
        stager.sync()?;
        Ok::<_, rboinc_tools::stage::StageError>((job_files, state))
    })
    .await
    .expect("staging does not panic");
    let (job_files, state) = match staged {
        Ok(s) => s,
        Err(e) => {
            out.failed.push((series_id, g, e.to_string()));
            return Ok(());
        }
    };
    if let Err(e) = templates::ensure(&config.project_dir) {
        out.failed.push((
            series_id,
            g,
            format!("cannot write the chain templates: {e}"),
        ));
        return Ok(());
    }
    creator.new_batch();
    let mut prepared = Vec::with_capacity(jobs.len());
    for ((_, wu_name, _, _), job_file) in jobs.iter().zip(job_files) {
        let mut inputs = vec![InputArg::Staged(job_file), dataset.clone()];
        inputs.extend(state.clone().map(InputArg::Staged));
        let spec = WorkSpec {
            name: wu_name.clone(),
            wu_template: PathBuf::from(if g == 1 { WU_TEMPLATE } else { CHAIN_IN }),
            result_template: CHAIN_OUT.to_string(),
            inputs,
            command_line: None,
            desc: JobDesc::default(),
            overrides: settings.overrides.clone(),
            additional_xml: String::new(),
        };
        match creator.prepare(&spec) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                // A generation is created whole or not at all.
                out.failed.push((series_id, g, e.to_string()));
                return Ok(());
            }
        }
    }
    creator.sync_staged()?;
    let now = now_i32();
    let ids = create_work::insert(&mut tx, &prepared, now).await?;
    for ((round_id, ..), wu) in jobs.iter().zip(&ids) {
        sqlx::query(
            "UPDATE rb_series_round SET state = ?, created_time = ?, workunit_id = ? WHERE id = ?",
        )
        .bind(ROUND_CREATED)
        .bind(now)
        .bind(*wu)
        .bind(round_id)
        .execute(&mut *tx)
        .await?;
    }
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
        workunits = ids.len(),
        s = started.elapsed().as_secs_f64(),
        "created the chain's next generation"
    );
    out.created
        .extend(ids.into_iter().map(|wu| (series_id, g, wu)));
    Ok(())
}
