//! The per-process list of sendable jobs: BOINC's feeder, in memory.
//!
//! BOINC's feeder keeps unsent results in shared memory so the CGI scheduler need not query for
//! work on every request. We keep the idea, per process: [`JobCache`] holds a few hundred unsent
//! results with their workunits, read in one batch, highest priority first, oldest first. A
//! request takes the candidates that suit its host out of the list (so two requests in this
//! process never try the same one, and prefer not to try another result of a workunit a request
//! took a moment ago: its claim locks the workunit row until that RPC commits); then, in the
//! RPC's transaction, it claims each in the database ([`super::claim`]), which decides.
//!
//! With several apps, each app gets its share of the batch by `app.weight`
//! ([`super::app_shares`], BOINC's feeder with `--allapps`), so a backlog of one app cannot
//! crowd out the others; the share an app cannot fill goes to the apps with more jobs.
//!
//! Each batch is shuffled within a priority level, so processes that loaded the same batch
//! rarely reach for the same job at the same moment; and the list is re-read when it runs dry or
//! gets old, so new work and new priorities show within seconds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rboinc_core::db::{AppId, ResultId, WorkunitId};
use rboinc_core::state::ServerState;
use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use super::app_shares;
use super::job::{COLUMNS, Candidate, JobWorkunit};
use super::rows::text;

/// A batch older than this is read again even if it still has candidates.
const MAX_AGE: Duration = Duration::from_secs(10);
/// After a read that found nothing, wait this long before reading again.
const EMPTY_RETRY: Duration = Duration::from_millis(1000);
/// Never read more often than this.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long the other results of a just-claimed job's workunit are left for later requests
/// (an RPC's transaction commits within milliseconds).
const SIBLING_WAIT: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Inner {
    items: Vec<Arc<Candidate>>,
    /// Ids taken by requests in flight (not in `items`, not to be re-added by a read).
    reserved: HashSet<ResultId>,
    /// Workunits of candidates taken or claimed moments ago, by RPCs that may not have
    /// committed yet: a claim locks its workunit row until then, so a sibling result tried now
    /// would only fail its claim (and be dropped from the list). [`JobCache::take`] leaves them
    /// for [`SIBLING_WAIT`] unless nothing else suits.
    recent_wus: HashMap<WorkunitId, Instant>,
    loaded_at: Option<Instant>,
    last_found: usize,
}

/// The per-process candidate list. See the module docs.
#[derive(Debug)]
pub struct JobCache {
    inner: Mutex<Inner>,
    refill: tokio::sync::Mutex<()>,
    /// Candidates read per batch (BOINC's `shmem_work_items`).
    size: usize,
}

impl JobCache {
    pub fn new(size: usize) -> Self {
        JobCache {
            inner: Mutex::new(Inner::default()),
            refill: tokio::sync::Mutex::new(()),
            size: size.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes up to `max` candidates that `suits` accepts, in list order, reserving them for the
    /// caller. Candidates it rejects stay for other hosts.
    pub fn take(
        &self,
        max: usize,
        mut suits: impl FnMut(&Candidate) -> bool,
    ) -> Vec<Arc<Candidate>> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner
            .recent_wus
            .retain(|_, at| now.duration_since(*at) < SIBLING_WAIT);
        let mut taken = Vec::new();
        // Siblings of just-claimed jobs only if nothing else suits.
        for siblings_too in [false, true] {
            let mut i = 0;
            while i < inner.items.len() && taken.len() < max {
                let c = &inner.items[i];
                if (siblings_too || !inner.recent_wus.contains_key(&c.wu.id)) && suits(c) {
                    let c = inner.items.remove(i);
                    inner.reserved.insert(c.result_id);
                    inner.recent_wus.insert(c.wu.id, now);
                    taken.push(c);
                } else {
                    i += 1;
                }
            }
            if !taken.is_empty() {
                break;
            }
        }
        taken
    }

    /// Returns candidates the caller did not use (the host could not take them) to the front.
    pub fn put_back(&self, unused: Vec<Arc<Candidate>>) {
        if unused.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for c in &unused {
            inner.reserved.remove(&c.result_id);
        }
        let rest = std::mem::take(&mut inner.items);
        inner.items = unused.into_iter().chain(rest).collect();
    }

    /// Forgets candidates that were lost to another process, or cannot be sent.
    pub fn release(&self, done: &[Arc<Candidate>]) {
        let mut inner = self.lock();
        for c in done {
            inner.reserved.remove(&c.result_id);
        }
    }

    /// Forgets a candidate this process claimed; its workunit's other results wait a moment
    /// more (until the claim's transaction has committed).
    pub fn claimed(&self, c: &Candidate) {
        let mut inner = self.lock();
        inner.reserved.remove(&c.result_id);
        inner.recent_wus.insert(c.wu.id, Instant::now());
    }

    /// Number of candidates in the list.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a read now would be sensible. An empty list is read again at once, unless the
    /// last read found no work at all (then only after `EMPTY_RETRY`, so an idle project is
    /// not queried on every RPC); a list that still has candidates, none of them for this host,
    /// at most every `MIN_INTERVAL`.
    pub fn should_refill(&self) -> bool {
        let inner = self.lock();
        let Some(at) = inner.loaded_at else {
            return true;
        };
        let age = at.elapsed();
        if inner.items.is_empty() {
            inner.last_found > 0 || age >= EMPTY_RETRY
        } else {
            age >= MIN_INTERVAL
        }
    }

    /// Whether the list is old enough to be replaced even though it has candidates.
    pub fn is_old(&self) -> bool {
        self.lock().loaded_at.is_none_or(|t| t.elapsed() >= MAX_AGE)
    }

    /// Reads a fresh batch and replaces the list. If another request is already reading, waits
    /// for it instead of reading again. Reads through the caller's connection (inside its
    /// `READ COMMITTED` transaction, so it sees what others committed): a request holding a
    /// connection must never wait for a second one from the pool, or a busy pool deadlocks.
    pub async fn refill(
        &self,
        conn: &mut MySqlConnection,
        active_apps: &[AppId],
    ) -> Result<(), sqlx::Error> {
        let Ok(_guard) = self.refill.try_lock() else {
            let _wait = self.refill.lock().await;
            return Ok(());
        };
        if !self.should_refill() {
            return Ok(());
        }
        let mut batch = read_shared(conn, self.size, active_apps).await?;
        shuffle_within_priority(&mut batch);
        let mut inner = self.lock();
        let reserved = std::mem::take(&mut inner.reserved);
        batch.retain(|c| !reserved.contains(&c.result_id));
        inner.reserved = reserved;
        inner.last_found = batch.len();
        inner.items = batch;
        inner.loaded_at = Some(Instant::now());
        tracing::debug!(candidates = inner.items.len(), "job cache refilled");
        Ok(())
    }
}

fn shuffle_within_priority(batch: &mut [Arc<Candidate>]) {
    let mut rng = rand::thread_rng();
    let mut start = 0;
    while start < batch.len() {
        let p = batch[start].priority;
        let end = start
            + batch[start..]
                .iter()
                .take_while(|c| c.priority == p)
                .count();
        batch[start..end].shuffle(&mut rng);
        start = end;
    }
}

/// Up to `size` unsent results of `active_apps`, each app's share by its weight
/// ([`super::app_shares`]), highest priority first. Slots an app leaves empty go to the
/// apps that filled theirs (each read again with a larger limit: the same order, more rows).
async fn read_shared(
    conn: &mut MySqlConnection,
    size: usize,
    active_apps: &[AppId],
) -> Result<Vec<Arc<Candidate>>, sqlx::Error> {
    if active_apps.len() <= 1 {
        return read_batch(conn, size, active_apps).await;
    }
    let apps = vec!["?"; active_apps.len()].join(",");
    let sql = format!("SELECT id, weight FROM app WHERE id IN ({apps}) ORDER BY id");
    let mut q = sqlx::query_as::<_, (AppId, f64)>(sqlx::AssertSqlSafe(sql));
    for app in active_apps {
        q = q.bind(*app);
    }
    let weights = q.fetch_all(&mut *conn).await?;
    let mut parts = Vec::with_capacity(weights.len());
    let mut found = 0;
    for (app, share) in app_shares::shares(&weights, size) {
        let part = if share > 0 {
            read_batch(conn, share, &[app]).await?
        } else {
            Vec::new()
        };
        found += part.len();
        parts.push((app, share, part));
    }
    // Heaviest apps first for the slots others left.
    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    for (app, share, part) in &mut parts {
        if found >= size {
            break;
        }
        if part.len() < *share {
            continue;
        }
        let more = read_batch(conn, *share + size - found, &[*app]).await?;
        found += more.len() - part.len();
        *part = more;
    }
    let mut out: Vec<Arc<Candidate>> = parts.into_iter().flat_map(|(_, _, p)| p).collect();
    // Highest priority first, as one enumeration would give them (stable: oldest first
    // within an app).
    out.sort_by_key(|c| std::cmp::Reverse(c.priority));
    Ok(out)
}

/// Unsent results of `active_apps`, priority level by priority level (highest first), oldest
/// first within a level. Each level is one range of the index `ind_res_st` (`server_state,
/// priority`, then the primary key) read in order, joined row by row to its workunit
/// (`STRAIGHT_JOIN`), and stopped by the `LIMIT`: no sort, no temporary table, however many
/// results are unsent. (Letting the optimizer start from the small `app` table instead made
/// it sort every unsent result, blobs and all: seconds per read with a few thousand jobs.)
async fn read_batch(
    conn: &mut MySqlConnection,
    size: usize,
    active_apps: &[AppId],
) -> Result<Vec<Arc<Candidate>>, sqlx::Error> {
    let mut out: Vec<Arc<Candidate>> = Vec::with_capacity(size);
    if active_apps.is_empty() {
        return Ok(out);
    }
    let apps = vec!["?"; active_apps.len()].join(",");
    let sql = format!(
        "SELECT STRAIGHT_JOIN r.id, r.name, r.xml_doc_in, r.priority, {COLUMNS} \
         FROM result r FORCE INDEX (ind_res_st) \
         JOIN workunit w ON w.id = r.workunitid \
         WHERE r.server_state = ? AND r.priority = ? AND w.error_mask = 0 \
         AND w.transitioner_flags = 0 AND w.appid IN ({apps}) \
         ORDER BY r.id LIMIT ?"
    );
    let mut level: Option<i32> =
        sqlx::query_scalar("SELECT MAX(priority) FROM result WHERE server_state = ?")
            .bind(ServerState::Unsent)
            .fetch_one(&mut *conn)
            .await?;
    while let Some(priority) = level {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(ServerState::Unsent)
            .bind(priority);
        for app in active_apps {
            q = q.bind(*app);
        }
        let rows = q
            .bind((size - out.len()) as i64)
            .fetch_all(&mut *conn)
            .await?;
        let mut last_wu: Option<Arc<JobWorkunit>> = None;
        for row in rows {
            let wu_id: WorkunitId = row.try_get("wu_id")?;
            let wu = match &last_wu {
                Some(w) if w.id == wu_id => Arc::clone(w),
                _ => {
                    let w = Arc::new(JobWorkunit::from_row(&row)?);
                    last_wu = Some(Arc::clone(&w));
                    w
                }
            };
            out.push(Arc::new(Candidate {
                result_id: row.try_get("id")?,
                name: row.try_get("name")?,
                xml_doc_in: text(&row, "xml_doc_in")?,
                priority: row.try_get("priority")?,
                wu,
            }));
        }
        if out.len() >= size {
            break;
        }
        level = sqlx::query_scalar(
            "SELECT MAX(priority) FROM result WHERE server_state = ? AND priority < ?",
        )
        .bind(ServerState::Unsent)
        .bind(priority)
        .fetch_one(&mut *conn)
        .await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, priority: i32) -> Arc<Candidate> {
        Arc::new(Candidate {
            result_id: ResultId(id),
            name: format!("r{id}"),
            xml_doc_in: String::new(),
            priority,
            wu: Arc::new(JobWorkunit {
                id: WorkunitId(id),
                appid: AppId(1),
                name: format!("w{id}"),
                xml_doc: String::new(),
                rsc_fpops_est: 1.0,
                rsc_fpops_bound: 1.0,
                rsc_memory_bound: 0.0,
                rsc_disk_bound: 0.0,
                delay_bound: 10,
                app_version_num: 0,
                keywords: String::new(),
                hr_class: 0,
                app_version_id: 0,
                batch: 0,
                target_nresults: 1,
            }),
        })
    }

    #[test]
    fn take_reserves_and_put_back_restores() {
        let cache = JobCache::new(10);
        cache.lock().items = (1..=5).map(|i| candidate(i, 0)).collect();
        let odd = cache.take(10, |c| c.result_id.get() % 2 == 1);
        assert_eq!(
            odd.iter().map(|c| c.result_id.get()).collect::<Vec<_>>(),
            [1, 3, 5]
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lock().reserved.len(), 3);
        let (used, unused) = odd.split_at(1);
        cache.release(used);
        cache.put_back(unused.to_vec());
        let order: Vec<_> = cache
            .lock()
            .items
            .iter()
            .map(|c| c.result_id.get())
            .collect();
        assert_eq!(order, [3, 5, 2, 4]);
        assert!(cache.lock().reserved.is_empty());
        assert_eq!(cache.take(1, |_| true).len(), 1);
    }

    #[test]
    fn siblings_of_a_job_just_taken_come_last() {
        let cache = JobCache::new(10);
        let mut sibling = (*candidate(2, 0)).clone();
        sibling.wu = Arc::clone(&candidate(1, 0).wu);
        cache.lock().items = vec![candidate(1, 0), Arc::new(sibling), candidate(3, 0)];
        let first = cache.take(1, |_| true);
        assert_eq!(first[0].result_id.get(), 1);
        let next = cache.take(1, |_| true);
        assert_eq!(next[0].result_id.get(), 3, "the sibling waits");
        cache.claimed(&first[0]);
        cache.claimed(&next[0]);
        let last = cache.take(1, |_| true);
        assert_eq!(
            last[0].result_id.get(),
            2,
            "but is taken when nothing else suits"
        );
        assert!(cache.take(1, |_| true).is_empty());
    }

    #[test]
    fn shuffling_keeps_priority_order() {
        let mut batch: Vec<_> = (0..50)
            .map(|i| candidate(i, if i < 20 { 5 } else { 0 }))
            .collect();
        shuffle_within_priority(&mut batch);
        assert!(batch[..20].iter().all(|c| c.priority == 5));
        assert!(batch[20..].iter().all(|c| c.priority == 0));
        let mut ids: Vec<_> = batch.iter().map(|c| c.result_id.get()).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn refill_is_rate_limited() {
        let cache = JobCache::new(10);
        assert!(cache.should_refill(), "never read");
        cache.lock().loaded_at = Some(Instant::now());
        cache.lock().last_found = 0;
        assert!(!cache.should_refill(), "just read, found nothing");
        cache.lock().last_found = 10;
        assert!(
            cache.should_refill(),
            "emptied by requests: read again at once"
        );
        cache.lock().items = vec![candidate(1, 0)];
        assert!(!cache.should_refill(), "candidates left, just read");
        cache.lock().loaded_at = Some(Instant::now() - Duration::from_secs(2));
        assert!(cache.should_refill());
        assert!(!cache.is_old());
        cache.lock().loaded_at = Some(Instant::now() - MAX_AGE);
        assert!(cache.is_old());
    }
}
