//! Sendable jobs: an in-memory list of candidates, and the atomic claim in the database.
//!
//! BOINC's feeder keeps unsent results in shared memory so the CGI scheduler need not query for
//! work on every request. We keep the idea, per process: [`JobCache`] holds a few hundred unsent
//! results with their workunits, read in one batch, highest priority first, oldest first. A
//! request takes the candidates that suit its host out of the list (so two requests in this
//! process never try the same one, and prefer not to try another result of a workunit a request
//! took a moment ago: its claim locks the workunit row until that RPC commits); then, in the RPC's transaction, it claims each with one
//! conditional `UPDATE` that never waits for a lock ([`claim`]):
//!
//! ```sql
//! SET STATEMENT innodb_lock_wait_timeout = 0 FOR
//! UPDATE result r JOIN workunit w ON w.id = r.workunitid
//!        LEFT JOIN result h ON h.workunitid = r.workunitid AND h.hostid = ?  -- one per host
//!    SET r.server_state = IN_PROGRESS, r.hostid = …, …, w.transition_time = LEAST(…)
//!  WHERE r.id = ? AND r.server_state = UNSENT AND w.error_mask = 0 AND h.id IS NULL
//! ```
//!
//! The database decides: the claim only matches an unsent row of a workunit that has not
//! failed (and, with `one_result_per_host_per_wu` / `one_result_per_user_per_wu`, of which the
//! host or user has no result yet: BOINC's separate `count(*)` check, in the same statement);
//! a row can be changed by one transaction at a time; and a row another transaction holds (a
//! concurrent scheduler claiming the same job, the transitioner busy with its workunit) makes
//! the claim fail at once (MariaDB's per-statement lock timeout of 0, "NOWAIT") instead of
//! waiting, so two schedulers never wait for each other over jobs and cannot deadlock. Several
//! scheduler processes on one database therefore never send one result twice, whatever their
//! caches hold. The result and its workunit change in the same statement, so the workunit's
//! `transition_time` (which makes the transitioner notice a missed deadline) can never lag
//! behind a sent result. One statement per job sent: where an earlier version read, locked
//! (`FOR UPDATE SKIP LOCKED`) and then updated, the claim is now a third of the round trips.
//!
//! Each batch is shuffled within a priority level, so processes that loaded the same batch
//! rarely reach for the same job at the same moment; and the list is re-read when it runs dry or
//! gets old, so new work and new priorities show within seconds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rboinc_core::db::{AppId, HostId, ResultId, UserId, WorkunitId, found_rows};
use rboinc_core::state::ServerState;
use sqlx::Row;
use sqlx::mysql::{MySqlConnection, MySqlExecutor};

/// A batch older than this is read again even if it still has candidates.
const MAX_AGE: Duration = Duration::from_secs(10);
/// After a read that found nothing, wait this long before reading again.
const EMPTY_RETRY: Duration = Duration::from_millis(1000);
/// Never read more often than this.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long the other results of a just-claimed job's workunit are left for later requests
/// (an RPC's transaction commits within milliseconds).
const SIBLING_WAIT: Duration = Duration::from_millis(250);

/// The workunit fields a reply needs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobWorkunit {
    pub id: WorkunitId,
    pub appid: AppId,
    pub name: String,
    pub xml_doc: String,
    pub rsc_fpops_est: f64,
    pub rsc_fpops_bound: f64,
    pub rsc_memory_bound: f64,
    pub rsc_disk_bound: f64,
    pub delay_bound: i32,
    /// If nonzero, only this version number may run the job.
    pub app_version_num: i32,
    pub keywords: String,
}

/// An unsent result and its workunit.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub result_id: ResultId,
    pub name: String,
    pub xml_doc_in: String,
    pub priority: i32,
    pub wu: Arc<JobWorkunit>,
}

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
    /// last read found no work at all (then only after [`EMPTY_RETRY`], so an idle project is
    /// not queried on every RPC); a list that still has candidates, none of them for this host,
    /// at most every [`MIN_INTERVAL`].
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
        let mut batch = read_batch(conn, self.size, active_apps).await?;
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
        "SELECT STRAIGHT_JOIN r.id, r.name, r.xml_doc_in, r.priority, w.id AS wu_id, w.appid, \
         w.name AS wu_name, w.xml_doc, w.rsc_fpops_est, w.rsc_fpops_bound, w.rsc_memory_bound, \
         w.rsc_disk_bound, w.delay_bound, w.app_version_num, w.keywords \
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
                    let w = Arc::new(JobWorkunit {
                        id: wu_id,
                        appid: row.try_get("appid")?,
                        name: row.try_get("wu_name")?,
                        xml_doc: text(&row, "xml_doc")?,
                        rsc_fpops_est: row.try_get("rsc_fpops_est")?,
                        rsc_fpops_bound: row.try_get("rsc_fpops_bound")?,
                        rsc_memory_bound: row.try_get("rsc_memory_bound")?,
                        rsc_disk_bound: row.try_get("rsc_disk_bound")?,
                        delay_bound: row.try_get("delay_bound")?,
                        app_version_num: row.try_get("app_version_num")?,
                        keywords: row.try_get("keywords")?,
                    });
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

/// A `BLOB`/nullable text column as a `String` (NULL is empty, bytes are UTF-8).
pub fn text(row: &sqlx::mysql::MySqlRow, column: &str) -> Result<String, sqlx::Error> {
    let t: rboinc_core::db::text::NullableText = row.try_get(column)?;
    Ok(t.0)
}

/// What a claim writes (BOINC's `mark_as_sent` plus the workunit's transition time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim {
    pub result_id: ResultId,
    pub hostid: HostId,
    pub userid: UserId,
    pub sent_time: i64,
    /// Deadline stored in the database: send time + delay bound + grace period. The workunit's
    /// `transition_time` is lowered to it.
    pub db_deadline: i64,
    pub flops_estimate: f64,
    /// The chosen version's id, or BOINC's negative anonymous-platform code.
    pub app_version_id: i64,
}

/// BOINC's replica placement rules: whose results of the same workunit rule a job out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// Any host may get several results of a workunit.
    Anywhere,
    /// `one_result_per_host_per_wu`: not if this host already has one.
    OnePerHost(HostId),
    /// `one_result_per_user_per_wu`: not if any host of this user already has one.
    OnePerUser(UserId),
}

/// Claims an unsent result for a host (see the module docs). `Ok(false)`: not claimed, and
/// nothing was written — another process sent it or is sending it right now, its workunit
/// failed meanwhile, or `replicas` rules it out for this host ([`workunits_already_held`]
/// tells which). Never waits for a row lock.
pub async fn claim(
    conn: &mut MySqlConnection,
    c: &Claim,
    replicas: Replicas,
) -> Result<bool, sqlx::Error> {
    // Three fixed texts, so each is prepared once per connection.
    const SET: &str = "SET r.server_state = ?, r.hostid = ?, r.userid = ?, r.sent_time = ?, \
         r.report_deadline = ?, r.flops_estimate = ?, r.app_version_id = ?, \
         w.transition_time = IF(w.transition_time < ?, w.transition_time, ?) \
         WHERE r.id = ? AND r.server_state = ? AND w.error_mask = 0";
    const HEAD: &str = "SET STATEMENT innodb_lock_wait_timeout = 0 FOR \
         UPDATE result r JOIN workunit w ON w.id = r.workunitid";
    static ANYWHERE: LazyLock<String> = LazyLock::new(|| format!("{HEAD} {SET}"));
    static PER_HOST: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{HEAD} LEFT JOIN result h ON h.workunitid = r.workunitid AND h.hostid = ? \
             {SET} AND h.id IS NULL"
        )
    });
    static PER_USER: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{HEAD} LEFT JOIN result h ON h.workunitid = r.workunitid AND h.userid = ? \
             {SET} AND h.id IS NULL"
        )
    });
    let (sql, holder): (&'static str, Option<i64>) = match replicas {
        Replicas::Anywhere => (ANYWHERE.as_str(), None),
        Replicas::OnePerHost(h) => (PER_HOST.as_str(), Some(h.get())),
        Replicas::OnePerUser(u) => (PER_USER.as_str(), Some(u.get())),
    };
    let mut q = sqlx::query(sql);
    if let Some(holder) = holder {
        q = q.bind(holder);
    }
    let done = q
        .bind(ServerState::InProgress)
        .bind(c.hostid)
        .bind(c.userid)
        .bind(c.sent_time)
        .bind(c.db_deadline)
        .bind(c.flops_estimate)
        .bind(c.app_version_id)
        .bind(c.db_deadline)
        .bind(c.db_deadline)
        .bind(c.result_id)
        .bind(ServerState::Unsent)
        .execute(&mut *conn)
        .await;
    match done {
        // Rows matched across both tables: the result and its workunit, or nothing.
        Ok(done) => Ok(found_rows::matched(&done) > 0),
        Err(e) if is_lock_timeout(&e) => {
            // InnoDB undid the statement only, unless the server runs with
            // innodb_rollback_on_timeout: then the caller's whole transaction is gone, and the
            // RPC must fail (and be retried) rather than go on outside a transaction.
            let rolled_back: i64 =
                sqlx::query_scalar("SELECT CAST(@@innodb_rollback_on_timeout AS SIGNED)")
                    .fetch_one(&mut *conn)
                    .await?;
            if rolled_back != 0 {
                return Err(e);
            }
            tracing::debug!(result_id = %c.result_id, "job locked by another transaction");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// MySQL's lock wait timeout (1205), which a lock timeout of 0 raises at once.
fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|m| m.number() == 1205)
}

/// Gives a lost result a new send time and deadline for the same host (a resend). `Ok(false)`
/// if it is no longer in progress on that host.
pub async fn reclaim(ex: impl MySqlExecutor<'_>, c: &Claim) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE result r JOIN workunit w ON w.id = r.workunitid \
         SET r.sent_time = ?, r.report_deadline = ?, r.flops_estimate = ?, r.app_version_id = ?, \
         w.transition_time = IF(w.transition_time < ?, w.transition_time, ?) \
         WHERE r.id = ? AND r.server_state = ? AND r.hostid = ?",
    )
    .bind(c.sent_time)
    .bind(c.db_deadline)
    .bind(c.flops_estimate)
    .bind(c.app_version_id)
    .bind(c.db_deadline)
    .bind(c.db_deadline)
    .bind(c.result_id)
    .bind(ServerState::InProgress)
    .bind(c.hostid)
    .execute(ex)
    .await?;
    Ok(found_rows::matched(&done) > 0)
}

/// Which of `wus` already have a result sent to this host (or, with `by_user`, to any host of
/// this user): BOINC's `one_result_per_host_per_wu` / `one_result_per_user_per_wu` check, for
/// a whole batch of candidates in one query (a plain read: only this host's own requests could
/// change the answer, and a client sends one request at a time). [`claim`] checks the same in
/// its statement; this tells a refused claim's reason.
pub async fn workunits_already_held(
    ex: impl MySqlExecutor<'_>,
    wus: &[WorkunitId],
    host: HostId,
    user: UserId,
    by_user: bool,
) -> Result<HashSet<WorkunitId>, sqlx::Error> {
    if wus.is_empty() {
        return Ok(HashSet::new());
    }
    let placeholders = vec!["?"; wus.len()].join(",");
    let column = if by_user { "userid" } else { "hostid" };
    let sql = format!(
        "SELECT DISTINCT workunitid FROM result WHERE workunitid IN ({placeholders}) AND {column} = ?"
    );
    let mut q = sqlx::query_scalar::<_, WorkunitId>(sqlx::AssertSqlSafe(sql));
    for w in wus {
        q = q.bind(*w);
    }
    q = if by_user {
        q.bind(user.get())
    } else {
        q.bind(host.get())
    };
    Ok(q.fetch_all(ex).await?.into_iter().collect())
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
