//! `series submit`: a series as a BOINC batch plus its rounds, and the first workunits.
//!
//! Everything is written in one transaction: the batch, the series, the workunits of as many
//! rounds as the cushion has room for, and every round row (created ones with their workunit,
//! the rest queued for the `work_generator`). A failure leaves nothing: no row, and none of the
//! job files this submission staged. The rounds' job files are staged a chunk ahead of the
//! inserts, and the dataset bundled meanwhile; one `syncfs` makes them durable before the
//! commit ([`crate::job_files`]).

use std::path::PathBuf;
use std::time::Instant;

use rboinc_core::db::{self, AppId, UserId, WorkunitId, batch, user};
use rboinc_core::state::BatchState;

use crate::SeriesError;
use crate::dataset::{self, StagedDataset};
use crate::generator;
use crate::job_files::{
    CHUNK_ROUNDS, JobFiles, Round, SeriesSettings, StagedRound, WorkunitSettings,
};
use crate::params::{MIN_DELAY_BOUND_SECS, SeriesParams, seeds_from_base};
use crate::store::{self, ROUND_CREATED, ROUND_QUEUED, SERIES_ACTIVE, SeriesRow};
use crate::sweep::{self, Grid};
use rboinc_core::clock::now_i32;
use rboinc_tools::create_work::{self, CreateWorkError, InputArg, WorkCreator};
use rboinc_tools::project::Project;

/// What a researcher asks for.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Default `series_<unix time>`.
    pub name: Option<String>,
    pub app: String,
    /// The parameters, or the base of a sweep (its values stand where `grid` lists none).
    pub params: SeriesParams,
    /// The sweep's lists ([`crate::sweep`]); empty for a series of one configuration.
    pub grid: Grid,
    /// Seeds per configuration: the series has `configurations × rounds` rounds.
    pub rounds: usize,
    /// Refuse a series of more rounds than this (the researcher raises it with `--max-jobs`).
    pub max_jobs: usize,
    /// Explicit seeds (one per configuration's round); otherwise drawn from `base_seed`.
    pub seeds: Option<Vec<u64>>,
    /// Default: random.
    pub base_seed: Option<u64>,
    /// An IDX directory, a `.npz` or a dataset bundle.
    pub dataset: PathBuf,
    pub min_quorum: i32,
    pub target_nresults: i32,
    /// Seconds a host has for a job before it is sent to another [default: fitted to the job,
    /// [`SeriesParams::default_delay_bound`]].
    pub delay_bound: Option<i32>,
    pub priority: i32,
    /// The submitting account's email [default: the project's first account].
    pub submitter: Option<String>,
    /// Workunits created right away at most (the generator daemon makes the rest).
    pub cushion: usize,
    /// A chained series: the rounds are generations of one model ([`crate::generations`]);
    /// `params.train_epochs` is then the epochs per generation and every round has one seed.
    pub chain: Option<crate::generations::ChainOptions>,
}

impl SubmitOptions {
    /// The original experiment's settings for `rounds` rounds on `dataset`.
    pub fn original(dataset: PathBuf, rounds: usize) -> SubmitOptions {
        SubmitOptions {
            name: None,
            app: rboinc_tools::make_project::APP.to_string(),
            params: SeriesParams::default(),
            grid: Grid::default(),
            rounds,
            max_jobs: usize::MAX,
            seeds: None,
            base_seed: None,
            dataset,
            min_quorum: 2,
            target_nresults: 2,
            delay_bound: None,
            priority: 0,
            submitter: None,
            cushion: generator::DEFAULT_CUSHION,
            chain: None,
        }
    }

    /// The `delay_bound` of the series' workunits: the one given, else one fitted to the
    /// longest configuration's job.
    pub fn delay_bound(&self) -> i32 {
        self.delay_bound.unwrap_or_else(|| {
            self.configs()
                .iter()
                .map(SeriesParams::default_delay_bound)
                .max()
                .unwrap_or(MIN_DELAY_BOUND_SECS)
        })
    }

    /// The configurations: the grid's, or the one of `params`.
    pub fn configs(&self) -> Vec<SeriesParams> {
        self.grid.configs(&self.params)
    }

    /// Whether the series is a sweep (more than one configuration).
    pub fn is_sweep(&self) -> bool {
        self.configs().len() > 1
    }
}

/// What was submitted.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub series: SeriesRow,
    /// Workunits created at once.
    pub created: usize,
    pub dataset_train_rows: usize,
    /// Configurations (1 unless a sweep).
    pub configs: usize,
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

/// Submits a series (see the module docs of [`super`]).
pub async fn submit(
    project: &Project,
    pool: &db::Pool,
    o: &SubmitOptions,
) -> Result<Submitted, SeriesError> {
    if o.rounds == 0 {
        return Err(SeriesError::Invalid("--rounds must be at least 1".into()));
    }
    o.grid
        .check(&o.params, o.rounds, o.max_jobs)
        .map_err(SeriesError::Invalid)?;
    let configs = o.configs();
    let total = configs.len() * o.rounds;
    let seeds = match &o.seeds {
        Some(s) if s.len() != o.rounds => {
            return Err(SeriesError::Invalid(format!(
                "{} seeds given for {} rounds",
                s.len(),
                o.rounds
            )));
        }
        Some(s) => s.clone(),
        None if o.chain.is_some() => {
            vec![seeds_from_base(o.base_seed.unwrap_or_else(rand::random), 1)[0]; o.rounds]
        }
        None => seeds_from_base(o.base_seed.unwrap_or_else(rand::random), o.rounds),
    };
    if let Some(c) = o.chain {
        if c.rounds() != o.rounds || c.epochs_per_generation != o.params.train_epochs {
            return Err(SeriesError::Invalid(format!(
                "a chain of {} generations of {} shards of {} epochs needs {} rounds of {} epochs",
                c.generations,
                c.shards,
                c.epochs_per_generation,
                c.rounds(),
                c.epochs_per_generation
            )));
        }
        let shards = u64::from(c.shards.max(1));
        crate::generations::shard_job(&o.params, 0, c.generations, shards - 1, shards)
            .validate()
            .map_err(|e| SeriesError::Invalid(format!("the last generation's job: {e}")))?;
        if o.params.sample_count < shards {
            return Err(SeriesError::Invalid(format!(
                "--shards {shards}: more shards than the {} drawn rows",
                o.params.sample_count
            )));
        }
    }
    if o.chain.is_some() && o.grid.configs(&o.params).len() > 1 {
        return Err(SeriesError::Invalid(
            "a chained series trains one configuration: give one value per parameter, not a list"
                .into(),
        ));
    }
    if o.chain.is_some() && seeds.windows(2).any(|w| w[0] != w[1]) {
        return Err(SeriesError::Invalid(
            "a chained series trains one model: give one seed".into(),
        ));
    }
    if let Some(d) = o.delay_bound.filter(|d| *d < 1) {
        return Err(SeriesError::Invalid(format!(
            "--delay-bound {d}: a host needs at least 1 second for a job"
        )));
    }
    if o.min_quorum < 1 || o.target_nresults < o.min_quorum {
        return Err(SeriesError::Invalid(format!(
            "--min-quorum {} and --target-nresults {}: need 1 <= quorum <= target",
            o.min_quorum, o.target_nresults
        )));
    }
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("series_{}", now_i32()));
    check_name(&name)?;
    if !o.dataset.exists() {
        return Err(SeriesError::MissingDataset(o.dataset.clone()));
    }
    let started = Instant::now();
    // The dataset is bundled on a blocking thread meanwhile: while the database is asked
    // whether the name is free and how many workunits to create now, and job files are staged.
    let stager = rboinc_tools::stage::Stager::from_config(&project.config)?;
    let source = o.dataset.clone();
    let cache = project.dir.tmp_dir().join("series_datasets");
    let bundling = tokio::task::spawn_blocking(move || dataset::stage(&stager, &cache, &source));
    if store::series_by_name(pool, &name).await?.is_some() {
        return Err(SeriesError::Invalid(format!(
            "a series named {name:?} already exists; choose another --name"
        )));
    }
    let mut creator = match WorkCreator::new(pool, project.config.clone(), &o.app).await {
        Ok(c) => c,
        Err(CreateWorkError::UnknownApp { app, .. }) => {
            let known = rboinc_core::db::app::all(pool).await?;
            return Err(SeriesError::UnknownApp {
                app,
                known: known.into_iter().map(|a| a.name).collect(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let user_id = submitter(pool, o.submitter.as_deref()).await?;
    let direct = created_at_once(pool, creator.app().id, o).await?;
    let plan: Vec<(usize, u64)> = sweep::round_plan(configs.len(), o.rounds)
        .into_iter()
        .map(|(c, s)| (c, seeds[s]))
        .collect();
    let rounds = (0..direct)
        .map(|i| {
            let (c, seed) = plan[i];
            Round::new(i, &configs[c], seed, round_wu_name(&name, i + 1))
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(SeriesError::Invalid)?;
    let mut files = JobFiles::start(creator.stager().clone(), rounds);
    // The dataset is staged outside `files`; the one sync covers it too.
    files.also_sync();
    let mut tx = pool.begin().await?;
    let written = write_series(
        &mut tx,
        &mut creator,
        &mut files,
        bundling,
        o,
        &name,
        &Plan {
            configs: &configs,
            rounds: &plan,
        },
        user_id,
    )
    .await;
    let synced = match written {
        Ok(w) => files.finish().await.map(|()| w).map_err(SeriesError::from),
        Err(e) => Err(e),
    };
    let w = match synced {
        Ok(w) => w,
        Err(e) => {
            let _ = tx.rollback().await;
            files.discard().await;
            return Err(e);
        }
    };
    tx.commit().await?;
    let mut created = w.created;
    let mut failed = w.failed;
    if o.chain.is_some() {
        let a = crate::generations::advance(pool, &mut creator, &project.config).await?;
        created += a.created.len();
        for (_, g, error) in &a.failed {
            tracing::error!(round_id = 0, wu_name = %format!("{name}_{g}"), error = %error, "cannot create the round's workunit");
        }
    } else if direct == 0 {
        // Other series' queued rounds come first: the generator's order decides.
        let c = generator::top_up(pool, &mut creator, o.cushion).await?;
        created += c.workunits.len();
        failed.extend(c.failed);
    }
    tracing::debug!(
        series = %name,
        rounds = total,
        created,
        dataset_s = w.dataset_s,
        waited_for_staging_s = files.waited.as_secs_f64(),
        total_s = started.elapsed().as_secs_f64(),
        "series submitted"
    );
    for f in &failed {
        tracing::error!(round_id = f.round_id, wu_name = %f.wu_name, error = %f.error, "cannot create the round's workunit");
    }
    let series = store::series_by_id(pool, w.series_id)
        .await?
        .ok_or(SeriesError::Sql(sqlx::Error::RowNotFound))?;
    Ok(Submitted {
        series,
        created,
        dataset_train_rows: w.train_rows,
        configs: configs.len(),
    })
}

/// How many of a new series' rounds get their workunits in its own transaction: room in the
/// cushion, unless another series' queued rounds come first in the generator's order (higher
/// or equal priority, older) — then none, and [`generator::top_up`] runs after the commit.
async fn created_at_once(
    pool: &db::Pool,
    appid: AppId,
    o: &SubmitOptions,
) -> Result<usize, SeriesError> {
    let ahead: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM rb_series_round r JOIN rb_series s ON s.id = r.series_id \
         WHERE r.state = ? AND s.state = ? AND s.appid = ? AND s.priority >= ? \
         AND NOT EXISTS (SELECT 1 FROM rb_series_chain c WHERE c.series_id = s.id) LIMIT 1",
    )
    .bind(ROUND_QUEUED)
    .bind(SERIES_ACTIVE)
    .bind(appid)
    .bind(o.priority)
    .fetch_optional(pool)
    .await?;
    if ahead.is_some() || o.chain.is_some() {
        return Ok(0);
    }
    let cap = i64::try_from(o.cushion).unwrap_or(i64::MAX);
    let waiting = generator::waiting_up_to(pool, appid, cap).await?;
    Ok(o.cushion
        .saturating_sub(usize::try_from(waiting).unwrap_or(0))
        .min(o.configs().len() * o.rounds))
}

/// What [`write_series`] wrote.
struct Written {
    series_id: i64,
    created: usize,
    failed: Vec<generator::RoundError>,
    train_rows: usize,
    dataset_s: f64,
}

/// The configurations of a series and each round's (configuration, seed), by round index.
struct Plan<'a> {
    configs: &'a [SeriesParams],
    rounds: &'a [(usize, u64)],
}

impl Plan<'_> {
    fn is_sweep(&self) -> bool {
        self.configs.len() > 1
    }
}

/// The batch, the series, its first rounds' workunits and every round row, in `tx`.
#[allow(clippy::too_many_arguments)]
async fn write_series(
    tx: &mut sqlx::MySqlConnection,
    creator: &mut WorkCreator,
    files: &mut JobFiles<usize>,
    bundling: tokio::task::JoinHandle<Result<StagedDataset, SeriesError>>,
    o: &SubmitOptions,
    name: &str,
    plan: &Plan<'_>,
    user_id: UserId,
) -> Result<Written, SeriesError> {
    let total = plan.rounds.len();
    let started = Instant::now();
    let now = now_i32();
    let batch_id = batch::insert(
        &mut *tx,
        &batch::NewBatch {
            user_id,
            create_time: now,
            name,
            app_id: creator.app().id,
            njobs: i32::try_from(total).unwrap_or(i32::MAX),
            state: BatchState::InProgress,
            description: "series submitted by the series tool",
        },
    )
    .await?;
    let dataset = bundling.await.expect("dataset bundling does not panic")?;
    let dataset_s = started.elapsed().as_secs_f64();
    sweep::check_samples(plan.configs, dataset.train_rows).map_err(SeriesError::Invalid)?;
    let params = serde_json::to_string(&plan.configs[0]).expect("params serialise");
    let done = sqlx::query(
        "INSERT INTO rb_series (name, batch_id, appid, user_id, create_time, state, rounds, params, \
         dataset_file, dataset_sha256, min_quorum, target_nresults, delay_bound, priority) \
         VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(name)
    .bind(batch_id)
    .bind(creator.app().id)
    .bind(user_id)
    .bind(now)
    .bind(total as i64)
    .bind(&params)
    .bind(&dataset.file.name)
    .bind(&dataset.sha256)
    .bind(o.min_quorum)
    .bind(o.target_nresults)
    .bind(o.delay_bound())
    .bind(o.priority)
    .execute(&mut *tx)
    .await?;
    let series_id = done.last_insert_id() as i64;
    if let Some(chain) = o.chain {
        crate::generations::insert_chain(&mut *tx, series_id, chain).await?;
    }
    let w = WorkunitSettings {
        batch: batch_id,
        min_quorum: o.min_quorum,
        target_nresults: o.target_nresults,
        delay_bound: o.delay_bound(),
        priority: o.priority,
    };
    // One set of workunit settings per configuration (its own operation count).
    let settings: Vec<SeriesSettings> = plan
        .configs
        .iter()
        .map(|c| SeriesSettings::new(c, w, InputArg::Staged(dataset.file.clone())))
        .collect();
    let round_settings = |i: usize| &settings[plan.rounds[i].0];
    creator.new_batch();
    // Rounds with their workunits, a chunk at a time; then the rest, queued. While the server
    // inserts a chunk, the next one is rendered (the insert's future has sent its statement
    // and waits for the answer when the other branch of the join runs).
    let mut created = 0;
    let mut failed_rounds = Vec::new();
    let mut next_round = 0;
    let mut current = files
        .next()
        .await
        .map(|chunk| prepare_chunk(creator, &round_settings, chunk, &mut failed_rounds));
    while let Some(chunk) = current.take() {
        let write = async {
            let ids = create_work::insert(&mut *tx, &chunk.prepared, now).await?;
            let mut ids = chunk.of_round.iter().copied().zip(ids).peekable();
            let rows: Vec<RoundInsert> = chunk
                .rounds
                .iter()
                .map(|&round| RoundInsert {
                    round,
                    workunit_id: ids.next_if(|(r, _)| *r == round).map(|(_, id)| id),
                })
                .collect();
            insert_round_rows(&mut *tx, series_id, name, plan, &rows, now).await?;
            Ok::<_, SeriesError>(())
        };
        let render = async {
            files
                .next()
                .await
                .map(|next| prepare_chunk(creator, &round_settings, next, &mut failed_rounds))
        };
        let (written, next) = tokio::join!(write, render);
        written?;
        created += chunk.prepared.len();
        next_round = chunk.rounds.last().map_or(next_round, |last| last + 1);
        current = next;
    }
    let rest: Vec<RoundInsert> = (next_round..total)
        .map(|round| RoundInsert {
            round,
            workunit_id: None,
        })
        .collect();
    for chunk in rest.chunks(CHUNK_ROUNDS) {
        insert_round_rows(&mut *tx, series_id, name, plan, chunk, now).await?;
    }
    // Failed rounds stay queued; their row ids are known only now.
    let failed = if failed_rounds.is_empty() {
        Vec::new()
    } else {
        let by_round: std::collections::HashMap<i32, i64> =
            sqlx::query_as("SELECT round, id FROM rb_series_round WHERE series_id = ?")
                .bind(series_id)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        failed_rounds
            .into_iter()
            .map(|(i, wu_name, error)| generator::RoundError {
                round_id: by_round.get(&((i + 1) as i32)).copied().unwrap_or(0),
                wu_name,
                error,
            })
            .collect()
    };
    Ok(Written {
        series_id,
        created,
        failed,
        train_rows: dataset.train_rows,
        dataset_s,
    })
}

/// A chunk of rounds with their workunits rendered.
struct PreparedChunk {
    /// Every round of the chunk (0-based), in order.
    rounds: Vec<usize>,
    prepared: Vec<create_work::PreparedWorkunit>,
    /// The round of each prepared workunit.
    of_round: Vec<usize>,
}

fn prepare_chunk<'s>(
    creator: &mut WorkCreator,
    settings: &impl Fn(usize) -> &'s SeriesSettings,
    chunk: Vec<StagedRound<usize>>,
    failed: &mut Vec<(usize, String, String)>,
) -> PreparedChunk {
    let mut out = PreparedChunk {
        rounds: Vec::with_capacity(chunk.len()),
        prepared: Vec::with_capacity(chunk.len()),
        of_round: Vec::with_capacity(chunk.len()),
    };
    for round in chunk {
        let s = settings(round.key);
        let (i, wu_name, p) = round.prepare(creator, s);
        out.rounds.push(i);
        match p {
            Ok(p) => {
                out.prepared.push(p);
                out.of_round.push(i);
            }
            Err(error) => failed.push((i, wu_name, error)),
        }
    }
    out
}

/// One `rb_series_round` row to insert: round index (0-based) and its workunit, if created.
struct RoundInsert {
    round: usize,
    workunit_id: Option<WorkunitId>,
}

async fn insert_round_rows(
    conn: &mut sqlx::MySqlConnection,
    series_id: i64,
    name: &str,
    plan: &Plan<'_>,
    rows: &[RoundInsert],
    now: i32,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    // A sweep's rounds carry their configuration's parameters; a plain series' use its own.
    let texts: Vec<Option<String>> = plan
        .configs
        .iter()
        .map(|c| {
            plan.is_sweep()
                .then(|| serde_json::to_string(c).expect("params serialise"))
        })
        .collect();
    let mut qb = sqlx::QueryBuilder::new(
        "INSERT INTO rb_series_round (series_id, round, seed, state, workunit_id, wu_name, create_time, created_time, config, params) ",
    );
    qb.push_values(rows, |mut b, r| {
        let (state, wu, created) = match r.workunit_id {
            Some(id) => (ROUND_CREATED, id, now),
            None => (ROUND_QUEUED, WorkunitId(0), 0),
        };
        let (config, seed) = plan.rounds[r.round];
        b.push_bind(series_id)
            .push_bind((r.round + 1) as i64)
            .push_bind(seed)
            .push_bind(state)
            .push_bind(wu)
            .push_bind(round_wu_name(name, r.round + 1))
            .push_bind(now)
            .push_bind(created)
            .push_bind(config as i32)
            .push_bind(texts[config].clone());
    });
    qb.build().execute(conn).await?;
    Ok(())
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
