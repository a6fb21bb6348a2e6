//! `create_work --stdin`: one job per line, all created in one transaction.
//!
//! Checking and rendering a job (client side) and inserting it (database side) overlap: a
//! worker thread prepares the lines a chunk at a time while the connection inserts the chunk
//! before, so the database — the slower half — never waits for the whole input to be read.
//! A bad line (unless the caller skips bad lines) rolls the transaction back, so nothing is
//! created: rows inserted before it were never visible outside the transaction. Files the
//! lines staged are synced once, before the commit.

use std::io::BufRead;
use std::time::{Duration, Instant};

use rboinc_core::db;
use tokio::sync::mpsc;

use super::{CreateWorkError, PreparedWorkunit, WorkCreator, WorkSpec, insert};

/// Workunits handed from the worker to the inserting side at a time: a multiple of every
/// statement size [`super::rows_per_statement`] picks, so chunks split into same-shape
/// statements.
const CHUNK: usize = 2048;

/// Why a bulk run created nothing.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("stdin line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("reading standard input: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    CreateWork(#[from] CreateWorkError),
    #[error("the line-reading thread stopped unexpectedly")]
    Worker,
}

impl From<sqlx::Error> for BulkError {
    fn from(e: sqlx::Error) -> Self {
        BulkError::CreateWork(e.into())
    }
}

/// What a bulk run did.
#[derive(Debug, Clone, Default)]
pub struct BulkOutcome {
    pub created: usize,
    /// Bad lines skipped (only when skipping was asked for).
    pub skipped: usize,
    /// Time the worker spent checking and rendering jobs.
    pub preparing: Duration,
    /// Time the connection spent inserting (including waits for the worker).
    pub inserting: Duration,
    pub committing: Duration,
}

enum Msg {
    Chunk(Vec<PreparedWorkunit>),
    Failed(BulkError),
    Done { skipped: usize, busy: Duration },
}

/// Creates one workunit per non-blank line of `input`. `spec_of(index, line)` turns a line
/// (0-based index) into a job; `on_skip` hears about each bad line when `skip_bad_lines` is
/// set (otherwise the first bad line fails the run).
pub async fn create<R, S, K>(
    pool: &db::Pool,
    mut creator: WorkCreator,
    input: R,
    mut spec_of: S,
    skip_bad_lines: bool,
    mut on_skip: K,
    now: i32,
) -> Result<BulkOutcome, BulkError>
where
    R: BufRead + Send + 'static,
    S: FnMut(usize, &str) -> Result<WorkSpec, String> + Send + 'static,
    K: FnMut(&BulkError) + Send + 'static,
{
    let (to_db, mut from_worker) = mpsc::channel::<Msg>(2);
    let worker = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let waited = std::cell::Cell::new(Duration::ZERO);
        let send = |msg: Msg| {
            let t = Instant::now();
            let ok = to_db.blocking_send(msg).is_ok();
            waited.set(waited.get() + t.elapsed());
            ok
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut skipped = 0;
        for (i, line) in input.lines().enumerate() {
            let text = match line {
                Ok(t) => t,
                Err(e) => {
                    send(Msg::Failed(BulkError::Read(e)));
                    return;
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let line_err = |message: String| BulkError::Line {
                line: i + 1,
                message,
            };
            let prepared = spec_of(i, &text)
                .map_err(line_err)
                .and_then(|spec| creator.prepare(&spec).map_err(|e| line_err(e.to_string())));
            match prepared {
                Ok(p) => {
                    chunk.push(p);
                    if chunk.len() == CHUNK
                        && !send(Msg::Chunk(std::mem::replace(
                            &mut chunk,
                            Vec::with_capacity(CHUNK),
                        )))
                    {
                        return;
                    }
                }
                Err(e) if skip_bad_lines => {
                    on_skip(&e);
                    skipped += 1;
                }
                Err(e) => {
                    send(Msg::Failed(e));
                    return;
                }
            }
        }
        if !chunk.is_empty() && !send(Msg::Chunk(chunk)) {
            return;
        }
        if let Err(e) = creator.sync_staged() {
            send(Msg::Failed(e.into()));
            return;
        }
        let busy = started.elapsed().saturating_sub(waited.get());
        send(Msg::Done { skipped, busy });
    });

    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let mut created = 0;
    let outcome = loop {
        match from_worker.recv().await {
            Some(Msg::Chunk(wus)) => created += insert(&mut tx, &wus, now).await?.len(),
            Some(Msg::Failed(e)) => return Err(e),
            Some(Msg::Done { skipped, busy }) => {
                break BulkOutcome {
                    created,
                    skipped,
                    preparing: busy,
                    inserting: started.elapsed(),
                    committing: Duration::ZERO,
                };
            }
            None => return Err(BulkError::Worker),
        }
    };
    let t = Instant::now();
    tx.commit().await?;
    let _ = worker.await;
    Ok(BulkOutcome {
        committing: t.elapsed(),
        ..outcome
    })
}
