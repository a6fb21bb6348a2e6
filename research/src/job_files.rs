//! Rounds' job files, staged a chunk ahead of the database work that names them.
//!
//! Creating many rounds' workunits has two halves that can run side by side: writing one job
//! file per round into the download hierarchy (file-system work, on blocking threads) and
//! rendering and inserting the workunit rows (database work, on the connection). [`JobFiles`]
//! stages chunk *n + 1* while the caller inserts chunk *n*. Once the last chunk is staged it
//! starts the one `syncfs` while the caller inserts that chunk; [`JobFiles::finish`] waits for
//! it, and the caller commits only after that, so a committed row never names a file a crash
//! could lose.
//!
//! If the caller's transaction fails, [`JobFiles::discard`] removes the files this run put in
//! place (not those it found there): a retried submission may draw other seeds under the same
//! names, and staged names are immutable.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rboinc_core::db::BatchId;
use tokio::task::JoinHandle;

use crate::params::SeriesParams;
use rboinc_tools::create_work::{self, InputArg, JobDesc, JobOverrides, WorkCreator, WorkSpec};
use rboinc_tools::stage::{StageError, StagedFile, Stager};

/// The input template every round uses, relative to the project.
pub const WU_TEMPLATE: &str = "templates/mnist_in";
/// The result template every round uses.
pub const RESULT_TEMPLATE: &str = "templates/mnist_out";
/// Rounds staged and inserted at a time: a multiple of every statement size
/// [`create_work::rows_per_statement`] picks, so chunks split into same-shape statements.
pub const CHUNK_ROUNDS: usize = 2048;

/// What every round of a series shares: its workunits' settings and the dataset input.
#[derive(Debug, Clone)]
pub struct SeriesSettings {
    pub overrides: JobOverrides,
    /// The dataset: by name (looked up once per batch), or as just staged.
    pub dataset: InputArg,
}

/// A series' workunit settings, as stored in its `rb_series` row.
#[derive(Debug, Clone, Copy)]
pub struct WorkunitSettings {
    pub batch: BatchId,
    pub min_quorum: i32,
    pub target_nresults: i32,
    pub delay_bound: i32,
    pub priority: i32,
}

impl SeriesSettings {
    pub fn new(params: &SeriesParams, w: WorkunitSettings, dataset: InputArg) -> SeriesSettings {
        let est = params.fpops_estimate();
        SeriesSettings {
            overrides: JobOverrides {
                rsc_fpops_est: Some(est),
                rsc_fpops_bound: Some(est * 100.0),
                delay_bound: Some(w.delay_bound),
                min_quorum: Some(w.min_quorum),
                target_nresults: Some(w.target_nresults),
                priority: Some(w.priority),
                batch: Some(w.batch.0),
                ..JobOverrides::default()
            },
            dataset,
        }
    }
}

/// A round whose job file is to be staged; `key` is the caller's (a row id, a round number).
#[derive(Debug)]
pub struct Round<K> {
    pub key: K,
    pub wu_name: String,
    file_name: String,
    bytes: Vec<u8>,
}

impl<K> Round<K> {
    /// The round of `seed` with workunit name `wu_name`, its job file rendered and checked.
    pub fn new(key: K, params: &SeriesParams, seed: u64, wu_name: String) -> Result<Self, String> {
        let job = params.job(seed);
        job.validate().map_err(|e| e.to_string())?;
        Ok(Round {
            key,
            file_name: format!("{wu_name}_job.json"),
            wu_name,
            bytes: job.canonical_json().into_bytes(),
        })
    }
}

/// A round after staging: its job file, or why it could not be staged.
#[derive(Debug)]
pub struct StagedRound<K> {
    pub key: K,
    pub wu_name: String,
    pub file: Result<StagedFile, StageError>,
}

impl<K> StagedRound<K> {
    /// Checks and renders the round's workunit (phase 1 of `create_work`).
    pub fn prepare(
        self,
        creator: &mut WorkCreator,
        settings: &SeriesSettings,
    ) -> (K, String, Result<create_work::PreparedWorkunit, String>) {
        let prepared = self.file.map_err(|e| e.to_string()).and_then(|job_file| {
            let spec = WorkSpec {
                name: self.wu_name.clone(),
                wu_template: PathBuf::from(WU_TEMPLATE),
                result_template: RESULT_TEMPLATE.to_string(),
                inputs: vec![InputArg::Staged(job_file), settings.dataset.clone()],
                command_line: None,
                desc: JobDesc::default(),
                overrides: settings.overrides.clone(),
                additional_xml: String::new(),
            };
            creator.prepare(&spec).map_err(|e| e.to_string())
        });
        (self.key, self.wu_name, prepared)
    }
}

type Staging<K> = JoinHandle<(Vec<StagedRound<K>>, Vec<PathBuf>)>;

/// Job files being staged a chunk ahead (see the module docs).
#[derive(Debug)]
pub struct JobFiles<K> {
    stager: Stager,
    rest: std::vec::IntoIter<Vec<Round<K>>>,
    in_flight: Option<Staging<K>>,
    sync: Option<JoinHandle<Result<(), StageError>>>,
    /// Files this run put in place.
    placed: Vec<PathBuf>,
    staged_any: bool,
    /// Time the caller spent waiting for staging.
    pub waited: Duration,
}

impl<K: Send + 'static> JobFiles<K> {
    /// Starts staging the first chunk of `rounds`.
    pub fn start(stager: Stager, mut rounds: Vec<Round<K>>) -> JobFiles<K> {
        let staged_any = !rounds.is_empty();
        let mut chunks = Vec::with_capacity(rounds.len().div_ceil(CHUNK_ROUNDS));
        while !rounds.is_empty() {
            let rest = rounds.split_off(rounds.len().min(CHUNK_ROUNDS));
            chunks.push(std::mem::replace(&mut rounds, rest));
        }
        let mut files = JobFiles {
            stager,
            rest: chunks.into_iter(),
            in_flight: None,
            sync: None,
            placed: Vec::new(),
            staged_any,
            waited: Duration::ZERO,
        };
        files.in_flight = files.rest.next().map(|c| files.spawn(c));
        files
    }

    /// Makes [`JobFiles::finish`] sync even if no job file is staged: the caller staged other
    /// files its rows name (it must do so before the first [`JobFiles::next`]).
    pub fn also_sync(&mut self) {
        self.staged_any = true;
    }

    fn spawn(&self, chunk: Vec<Round<K>>) -> Staging<K> {
        let stager = self.stager.clone();
        tokio::task::spawn_blocking(move || {
            let mut meta = Vec::with_capacity(chunk.len());
            let mut files = Vec::with_capacity(chunk.len());
            for r in chunk {
                meta.push((r.key, r.wu_name));
                files.push((r.file_name, r.bytes));
            }
            let mut placed = Vec::new();
            let staged = meta
                .into_iter()
                .zip(stager.stage_many_placed(&files))
                .map(|((key, wu_name), file)| StagedRound {
                    key,
                    wu_name,
                    file: file.map(|p| {
                        if p.placed {
                            placed.push(p.file.path.clone());
                        }
                        p.file
                    }),
                })
                .collect();
            (staged, placed)
        })
    }

    /// The next staged chunk, in order; the one after it starts staging. When this returns
    /// the last chunk, the `syncfs` starts: whatever else the caller's rows name (the dataset)
    /// must be staged before the first call.
    pub async fn next(&mut self) -> Option<Vec<StagedRound<K>>> {
        let staging = self.in_flight.take()?;
        let t = Instant::now();
        let (chunk, placed) = staging.await.expect("staging threads do not panic");
        self.waited += t.elapsed();
        self.placed.extend(placed);
        self.in_flight = self.rest.next().map(|c| self.spawn(c));
        if self.in_flight.is_none() && self.sync.is_none() {
            let stager = self.stager.clone();
            self.sync = Some(tokio::task::spawn_blocking(move || stager.sync()));
        }
        Some(chunk)
    }

    /// Waits until every staged file is durable: call it after the last chunk, before the
    /// commit.
    pub async fn finish(&mut self) -> Result<(), StageError> {
        debug_assert!(self.in_flight.is_none(), "finish before the last chunk");
        match self.sync.take() {
            Some(sync) => sync.await.expect("syncfs does not panic"),
            None if self.staged_any => {
                let stager = self.stager.clone();
                tokio::task::spawn_blocking(move || stager.sync())
                    .await
                    .expect("syncfs does not panic")
            }
            None => Ok(()),
        }
    }

    /// After a failed transaction: waits for staging still running, then removes the files
    /// this run put in place.
    pub async fn discard(mut self) {
        if let Some(staging) = self.in_flight.take()
            && let Ok((_, placed)) = staging.await
        {
            self.placed.extend(placed);
        }
        if let Some(sync) = self.sync.take() {
            let _ = sync.await;
        }
        let stager = self.stager.clone();
        let placed = std::mem::take(&mut self.placed);
        let _ = tokio::task::spawn_blocking(move || stager.remove_placed(&placed)).await;
    }
}
