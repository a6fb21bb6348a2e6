//! `series submit`: a series as a BOINC batch plus its rounds, and the first workunits.

use std::path::{Path, PathBuf};

use rboinc_core::db::{self, UserId, batch, user};
use rboinc_core::md5file::Md5Hex;
use rboinc_core::state::BatchState;

use super::SeriesError;
use super::generator;
use super::params::{SeriesParams, seeds_from_base};
use super::store::{self, SeriesRow};
use crate::create_work::WorkCreator;
use crate::project::{Project, unix_now};

/// What a researcher asks for.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Default `series_<unix time>`.
    pub name: Option<String>,
    pub app: String,
    pub params: SeriesParams,
    pub rounds: usize,
    /// Explicit seeds (one per round); otherwise drawn from `base_seed`.
    pub seeds: Option<Vec<u64>>,
    /// Default: random.
    pub base_seed: Option<u64>,
    /// An IDX directory, a `.npz` or a dataset bundle.
    pub dataset: PathBuf,
    pub min_quorum: i32,
    pub target_nresults: i32,
    /// Seconds a host has for a job before it is sent to another.
    pub delay_bound: i32,
    pub priority: i32,
    /// The submitting account's email [default: the project's first account].
    pub submitter: Option<String>,
    /// Workunits created right away at most (the generator daemon makes the rest).
    pub cushion: usize,
}

impl SubmitOptions {
    /// The original experiment's settings for `rounds` rounds on `dataset`.
    pub fn original(dataset: PathBuf, rounds: usize) -> SubmitOptions {
        SubmitOptions {
            name: None,
            app: crate::make_project::APP.to_string(),
            params: SeriesParams::default(),
            rounds,
            seeds: None,
            base_seed: None,
            dataset,
            min_quorum: 2,
            target_nresults: 2,
            delay_bound: 3600,
            priority: 0,
            submitter: None,
            cushion: generator::DEFAULT_CUSHION,
        }
    }
}

/// What was submitted.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub series: SeriesRow,
    /// Workunits created at once.
    pub created: usize,
    pub dataset_train_rows: usize,
}

fn check_name(name: &str) -> Result<(), SeriesError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(SeriesError::Invalid(format!(
            "series name {name:?}: use letters, digits, '_', '-' and '.' (at most 100)"
        )))
    }
}

/// The dataset as a bundle, staged under a content-addressed name: a host downloads it once
/// (it is sticky), and a changed dataset gets a new name. Returns (name, sha256, train rows).
pub fn stage_dataset(
    stager: &crate::stage::Stager,
    dataset: &Path,
) -> Result<(String, String, usize), SeriesError> {
    if !dataset.exists() {
        return Err(SeriesError::MissingDataset(dataset.to_path_buf()));
    }
    let tmp = tempfile_in(&stager.download_dir)?;
    let info = mnist_app::dataset::bundle::write(dataset, &tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SeriesError::Dataset(format!("{}: {e}", dataset.display()))
    })?;
    let bytes = std::fs::read(&tmp);
    let _ = std::fs::remove_file(&tmp);
    let bytes = bytes.map_err(|e| SeriesError::Dataset(e.to_string()))?;
    let md5 = Md5Hex::of_bytes(&bytes);
    let name = format!("mnist_dataset_{}.bin", &md5.as_str()[..16]);
    stager.stage_bytes(&name, &bytes)?;
    // The series row about to be committed names this file.
    stager.sync()?;
    Ok((name, info.dataset_sha256, info.train_rows))
}

fn tempfile_in(dir: &Path) -> Result<PathBuf, SeriesError> {
    Ok(dir.join(format!(
        ".dataset.{}.{}.tmp",
        std::process::id(),
        rand::random::<u64>()
    )))
}

/// Submits a series (see the module docs of [`super`]).
pub async fn submit(
    project: &Project,
    pool: &db::Pool,
    o: &SubmitOptions,
) -> Result<Submitted, SeriesError> {
    o.params
        .check()
        .map_err(|e| SeriesError::Invalid(e.to_string()))?;
    if o.rounds == 0 {
        return Err(SeriesError::Invalid("--rounds must be at least 1".into()));
    }
    let seeds = match &o.seeds {
        Some(s) if s.len() != o.rounds => {
            return Err(SeriesError::Invalid(format!(
                "{} seeds given for {} rounds",
                s.len(),
                o.rounds
            )));
        }
        Some(s) => s.clone(),
        None => seeds_from_base(o.base_seed.unwrap_or_else(rand::random), o.rounds),
    };
    if o.min_quorum < 1 || o.target_nresults < o.min_quorum {
        return Err(SeriesError::Invalid(format!(
            "--min-quorum {} and --target-nresults {}: need 1 <= quorum <= target",
            o.min_quorum, o.target_nresults
        )));
    }
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("series_{}", unix_now()));
    check_name(&name)?;
    if store::series_by_name(pool, &name).await?.is_some() {
        return Err(SeriesError::Invalid(format!(
            "a series named {name:?} already exists; choose another --name"
        )));
    }
    let mut creator = WorkCreator::new(pool, project.config.clone(), &o.app).await?;
    let user_id = submitter(pool, o.submitter.as_deref()).await?;

    let started = std::time::Instant::now();
    let stager = creator.stager().clone();
    let dataset = o.dataset.clone();
    let (dataset_file, sha256, train_rows) =
        tokio::task::spawn_blocking(move || stage_dataset(&stager, &dataset))
            .await
            .expect("dataset staging does not panic")?;
    let needed = o.params.sample_count as usize + usize::from(o.params.val_count.is_none());
    if needed > train_rows {
        return Err(SeriesError::Invalid(format!(
            "--sample-count {} does not fit the dataset's {train_rows} training rows",
            o.params.sample_count
        )));
    }

    let dataset_s = started.elapsed().as_secs_f64();
    let now = unix_now();
    let mut tx = pool.begin().await?;
    let batch_id = batch::insert(
        &mut *tx,
        &batch::NewBatch {
            user_id,
            create_time: now,
            name: &name,
            app_id: creator.app().id,
            njobs: i32::try_from(o.rounds).unwrap_or(i32::MAX),
            state: BatchState::InProgress,
            description: "series submitted by the series tool",
        },
    )
    .await?;
    let params = serde_json::to_string(&o.params).expect("params serialise");
    let done = sqlx::query(
        "INSERT INTO rb_series (name, batch_id, appid, user_id, create_time, state, rounds, params, \
         dataset_file, dataset_sha256, min_quorum, target_nresults, delay_bound, priority) \
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&name)
    .bind(batch_id)
    .bind(creator.app().id)
    .bind(user_id)
    .bind(now)
    .bind(o.rounds as i64)
    .bind(&params)
    .bind(&dataset_file)
    .bind(&sha256)
    .bind(o.min_quorum)
    .bind(o.target_nresults)
    .bind(o.delay_bound)
    .bind(o.priority)
    .execute(&mut *tx)
    .await?;
    let series_id = done.last_insert_id() as i64;
    let numbered: Vec<(usize, u64)> = seeds.iter().copied().enumerate().collect();
    for chunk in numbered.chunks(2000) {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, create_time) ",
        );
        qb.push_values(chunk, |mut b, (i, seed)| {
            b.push_bind(series_id)
                .push_bind((*i + 1) as i64)
                .push_bind(*seed)
                .push("0, 0")
                .push_bind(round_wu_name(&name, i + 1))
                .push_bind(now);
        });
        qb.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let queued_s = started.elapsed().as_secs_f64() - dataset_s;
    let created = generator::top_up(pool, &mut creator, o.cushion).await?;
    tracing::debug!(
        series = %name,
        rounds = o.rounds,
        created = created.workunits.len(),
        dataset_s,
        queued_s,
        created_s = started.elapsed().as_secs_f64() - dataset_s - queued_s,
        "series submitted"
    );
    for f in &created.failed {
        tracing::error!(round_id = f.round_id, wu_name = %f.wu_name, error = %f.error, "cannot create the round's workunit");
    }
    let series = store::series_by_id(pool, series_id)
        .await?
        .ok_or(SeriesError::Sql(sqlx::Error::RowNotFound))?;
    Ok(Submitted {
        series,
        created: created.workunits.len(),
        dataset_train_rows: train_rows,
    })
}

/// The workunit name of a round (1-based).
pub fn round_wu_name(series: &str, round: usize) -> String {
    format!("{series}_{round}")
}

async fn submitter(pool: &db::Pool, email: Option<&str>) -> Result<UserId, SeriesError> {
    if let Some(email) = email {
        return user::by_email(pool, email)
            .await?
            .map(|u| u.id)
            .ok_or_else(|| SeriesError::Invalid(format!("no account with email {email}")));
    }
    let first: Option<UserId> = sqlx::query_scalar("SELECT id FROM user ORDER BY id LIMIT 1")
        .fetch_optional(pool)
        .await?;
    first.ok_or_else(|| {
        SeriesError::Invalid(
            "the project has no account to submit as; make_project creates one".into(),
        )
    })
}
