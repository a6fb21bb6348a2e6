//! Reading and comparing a batch's results with the plug-in, before any database lock is
//! taken.
//!
//! For each job this does what BOINC's validator does between loading a workunit and writing
//! it: `init_result` for the results that matter (and, with `--check_punitive`, for failed
//! ones), `check_set` (no canonical result yet) or `check_pair` for each late result,
//! `cleanup_result`. The outcome is a [`Judgement`] per job, applied later by
//! `handle::handle_job` inside the batch's transaction. Jobs are spread over a few threads:
//! the work is file I/O, hashing and, for `script_validator`, child processes.

use std::collections::HashMap;

use rboinc_core::db::ResultId;
use rboinc_core::db::result::ResultRow;
use rboinc_core::hier::Hierarchy;
use rboinc_core::state::{Outcome, ServerState};

use super::handle::{is_late, is_viable};
use super::load::Job;
use super::plugin::{InitError, Outputs, PluginHandle};
use super::quorum::{Reads, SetOutcome, check_pair, check_set};

/// What the plug-in said about one job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Judgement {
    /// Failed results whose host the plug-in calls a long-term failure (`--check_punitive`).
    pub punished: Vec<ResultId>,
    pub decision: Decision,
}

/// The comparison part of a job's decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Decision {
    /// Nothing to compare: too few results for the quorum, or no late result.
    #[default]
    Nothing,
    /// No canonical result yet: the viable results after `check_set`.
    Set {
        viable: Vec<ResultRow>,
        outcome: SetOutcome,
        /// Results that could not be read now (left as they are).
        unread: Vec<ResultId>,
    },
    /// A canonical result exists: the late results checked against it, in order, up to the
    /// first that must be retried (`retry`, not included).
    Late {
        checked: Vec<ResultRow>,
        retry: bool,
    },
    /// The job names a canonical result it does not have.
    CanonicalMissing,
}

/// What the judging needs besides the jobs.
#[derive(Debug, Clone, Copy)]
pub struct JudgeSettings<'a> {
    pub plugin: &'a PluginHandle,
    pub upload: &'a Hierarchy,
    pub check_punitive: bool,
    /// `app.target_nresults` (adaptive replication).
    pub app_target_nresults: i32,
}

/// Judges `jobs` on a few threads; the answer is in the jobs' order.
pub fn judge_jobs(settings: JudgeSettings<'_>, jobs: &[Job]) -> Vec<Judgement> {
    let batch_span = tracing::Span::current();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let chunk = jobs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                let parent = batch_span.clone();
                scope.spawn(move || {
                    part.iter()
                        .map(|job| {
                            let span =
                                tracing::info_span!(parent: &parent, "judge", wu_id = %job.wu.id);
                            span.in_scope(|| judge_job(settings, job))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("judging a job does not panic"))
            .collect()
    })
}

/// Reads results once each and releases them all at the end.
struct Reader<'a> {
    settings: JudgeSettings<'a>,
    reads: Reads,
    rows: HashMap<ResultId, &'a ResultRow>,
}

impl<'a> Reader<'a> {
    fn read(&mut self, r: &'a ResultRow) {
        if self.reads.contains_key(&r.id) {
            return;
        }
        let read = self
            .settings
            .plugin
            .init_result(&Outputs::new(r, self.settings.upload));
        self.rows.insert(r.id, r);
        self.reads.insert(r.id, read);
    }

    fn cleanup(self) {
        for (id, read) in self.reads {
            if let Ok(read) = read {
                self.settings.plugin.cleanup_result(self.rows[&id], read);
            }
        }
    }
}

/// Judges one job (see the module docs).
pub fn judge_job(settings: JudgeSettings<'_>, job: &Job) -> Judgement {
    let wu = &job.wu;
    let mut reader = Reader {
        settings,
        reads: Reads::new(),
        rows: HashMap::new(),
    };
    let mut judgement = Judgement::default();
    if settings.check_punitive {
        for r in job
            .results
            .iter()
            .filter(|r| r.server_state == ServerState::Over && r.outcome == Outcome::ClientError)
        {
            reader.read(r);
            if matches!(reader.reads.get(&r.id), Some(Err(InitError::LongTermFail))) {
                judgement.punished.push(r.id);
            }
        }
    }
    judgement.decision = if wu.canonical_resultid.get() != 0 {
        match job.results.iter().find(|r| r.id == wu.canonical_resultid) {
            None => Decision::CanonicalMissing,
            Some(canonical) => {
                let late: Vec<&ResultRow> = job.results.iter().filter(|r| is_late(r)).collect();
                if late.is_empty() {
                    Decision::Nothing
                } else {
                    reader.read(canonical);
                    let mut checked = Vec::new();
                    let mut retry = false;
                    for original in late {
                        reader.read(original);
                        let mut r = original.clone();
                        if check_pair(settings.plugin, wu.id, &mut r, canonical, &reader.reads) {
                            retry = true;
                            break;
                        }
                        checked.push(r);
                    }
                    Decision::Late { checked, retry }
                }
            }
        }
    } else {
        let viable: Vec<&ResultRow> = job.results.iter().filter(|r| is_viable(r)).collect();
        if (viable.len() as i64) < i64::from(wu.min_quorum) {
            Decision::Nothing
        } else {
            for r in &viable {
                reader.read(r);
            }
            let mut rows: Vec<ResultRow> = viable.into_iter().cloned().collect();
            let outcome = check_set(
                settings.plugin,
                wu.id,
                &mut rows,
                &reader.reads,
                wu.min_quorum,
                settings.app_target_nresults,
            );
            let unread = rows
                .iter()
                .filter(|r| matches!(reader.reads.get(&r.id), Some(Err(InitError::Transient(_)))))
                .map(|r| r.id)
                .collect();
            Decision::Set {
                viable: rows,
                outcome,
                unread,
            }
        }
    };
    reader.cleanup();
    judgement
}
