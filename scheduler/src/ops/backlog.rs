//! Each daemon's backlog over time: the queue sizes, cached for a few seconds, and a short
//! history for the ops page's trends.
//!
//! Prometheus may scrape every few seconds and several people may reload the page; the
//! counts are grouped queries over the job tables, so one answer serves every reader for
//! [`FRESH_FOR`]. Each answer older than [`SAMPLE_EVERY`] than the last kept one is also
//! kept, for [`HISTORY`], so the page can say whether a backlog grows. The history is this
//! process's, and fills only while someone reads `/metrics` or `/ops` (Prometheus's scrapes
//! keep it fed; Prometheus itself keeps the long view).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::queues::{Queue, QueueSizes};

/// How long one answer serves every reader.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// The least time between two kept samples.
pub const SAMPLE_EVERY: i64 = 30;
/// How far back samples are kept (seconds).
pub const HISTORY: i64 = 2 * 3600;
/// The span a trend compares over (seconds).
pub const TREND_WINDOW: i64 = 15 * 60;

/// The queue totals (over all apps) at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Unix seconds.
    pub time: i64,
    pub totals: Vec<(Queue, i64)>,
}

impl Sample {
    fn of(q: &QueueSizes, time: i64) -> Sample {
        Sample {
            time,
            totals: q.all().iter().map(|(k, _)| (*k, q.total(*k))).collect(),
        }
    }

    pub fn get(&self, queue: Queue) -> i64 {
        self.totals
            .iter()
            .find(|(k, _)| *k == queue)
            .map_or(0, |(_, n)| *n)
    }
}

/// Where one queue is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trend {
    pub now: i64,
    /// `now` minus the value at the start of the window.
    pub delta: i64,
    /// The window actually covered (seconds; 0 with a single sample).
    pub over: i64,
    /// The values in the window, oldest first (for a sparkline).
    pub points: Vec<i64>,
}

/// The cache and history, shared by the ops routes of one process.
#[derive(Debug, Default)]
pub struct BacklogCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    latest: Option<(Instant, QueueSizes)>,
    history: VecDeque<Sample>,
}

impl BacklogCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last answer, if it is fresh enough to serve.
    pub fn fresh(&self) -> Option<QueueSizes> {
        let inner = self.lock();
        inner
            .latest
            .as_ref()
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, q)| q.clone())
    }

    /// Keeps a new answer, read at Unix time `now`.
    pub fn store(&self, q: &QueueSizes, now: i64) {
        let mut inner = self.lock();
        inner.latest = Some((Instant::now(), q.clone()));
        let due = inner
            .history
            .back()
            .is_none_or(|last| now - last.time >= SAMPLE_EVERY);
        if due {
            inner.history.push_back(Sample::of(q, now));
        }
        while inner
            .history
            .front()
            .is_some_and(|first| now - first.time > HISTORY)
        {
            inner.history.pop_front();
        }
    }

    /// The trend of every queue over the last [`TREND_WINDOW`], `current` being now.
    pub fn trends(&self, current: &QueueSizes, now: i64) -> Vec<(Queue, Trend)> {
        let inner = self.lock();
        let window: Vec<&Sample> = inner
            .history
            .iter()
            .filter(|s| now - s.time <= TREND_WINDOW && s.time < now)
            .collect();
        current
            .all()
            .iter()
            .map(|(queue, _)| {
                let value = current.total(*queue);
                let mut points: Vec<i64> = window.iter().map(|s| s.get(*queue)).collect();
                points.push(value);
                let (delta, over) = match window.first() {
                    Some(first) => (value - first.get(*queue), now - first.time),
                    None => (0, 0),
                };
                (
                    *queue,
                    Trend {
                        now: value,
                        delta,
                        over,
                        points,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(unsent: i64, validate: i64) -> QueueSizes {
        let mut q = QueueSizes::default();
        q.unsent.insert("mnist".into(), unsent);
        q.need_validate.insert("mnist".into(), validate);
        q.need_validate.insert("other".into(), 1);
        q
    }

    #[test]
    fn samples_are_spaced_and_trends_compare_with_the_window_start() {
        let cache = BacklogCache::default();
        let t0 = 1_700_000_000;
        assert!(cache.fresh().is_none());
        cache.store(&sizes(10, 0), t0 - 3 * 3600); // beyond the history: dropped later
        cache.store(&sizes(10, 0), t0 - 20 * 60); // before the window
        cache.store(&sizes(8, 2), t0 - 10 * 60);
        cache.store(&sizes(7, 3), t0 - 10 * 60 + 5); // too close to the last: not kept
        cache.store(&sizes(5, 6), t0 - 5 * 60);
        assert_eq!(cache.fresh(), Some(sizes(5, 6)));
        assert_eq!(cache.lock().history.len(), 3);

        let trends = cache.trends(&sizes(2, 9), t0);
        let of = |q: Queue| trends.iter().find(|(k, _)| *k == q).unwrap().1.clone();
        assert_eq!(
            of(Queue::Unsent),
            Trend {
                now: 2,
                delta: -6,
                over: 600,
                points: vec![8, 5, 2]
            }
        );
        let v = of(Queue::NeedValidate);
        assert_eq!((v.now, v.delta, v.points), (10, 7, vec![3, 7, 10]));
        assert_eq!(of(Queue::PurgeReady).delta, 0);

        let alone = BacklogCache::default().trends(&sizes(1, 1), t0);
        assert_eq!(
            alone[0].1,
            Trend {
                now: 1,
                delta: 0,
                over: 0,
                points: vec![1]
            }
        );
    }
}
