//! What a daemon has done since it started, in a small file the scheduler's `/metrics` reads.
//!
//! The daemons have no HTTP server, and giving each one a `--metrics-listen` port would mean a
//! port per `<daemon>` line in `config.xml` and a scrape target per daemon in Prometheus, kept in
//! step by hand. Instead each daemon rewrites `pid_<host>/<instance>.metrics.json` after its
//! passes (at most once a second, and on every idle or failed pass): the pid directory is
//! already where `start`, `stop` and the ops page look for a daemon's state, the file is a few
//! hundred bytes, and the scheduler, which has the HTTP server and the login, serves every
//! daemon of its host on the one `/metrics` it already has. A daemon that dies leaves its last
//! file behind; its counters stay as they were, and `rboinc_daemon_up` (from the lock file)
//! says it is down.
//!
//! The file is JSON ([`DaemonStats`]), replaced atomically (written beside, then renamed), so a
//! reader never sees half of it. Counters start at zero with each process, as Prometheus
//! expects of counters (`rate()` handles the reset).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::modulo::ModSlice;

/// The file name ending the scheduler looks for in the pid directory.
pub const STATS_SUFFIX: &str = ".metrics.json";

/// Upper bounds (seconds) of the pass-duration buckets: an idle pass is a query or two
/// (milliseconds), a busy one a batch of workunits (up to seconds), an assimilator script or a
/// big purge minutes.
pub const PASS_SECONDS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

/// How often, at most, a run of busy passes rewrites the file.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// How passes ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassCounts {
    /// Passes that found work.
    pub did_work: u64,
    /// Passes that found nothing to do.
    pub idle: u64,
    /// Passes ended by an infrastructure error (database unreachable), retried after a pause.
    pub failed: u64,
}

/// A histogram as recorded: bucket bounds and per-bucket (not cumulative) counts, the last
/// count being the `+Inf` bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedHistogram {
    pub bounds: Vec<f64>,
    /// `bounds.len() + 1` counts.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl RecordedHistogram {
    pub fn new(bounds: &[f64]) -> Self {
        RecordedHistogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// `(upper bound, count)` pairs with `+Inf` last, as Prometheus encoders take them; `None`
    /// if the file's counts do not match its bounds.
    pub fn buckets(&self) -> Option<Vec<(f64, u64)>> {
        (self.counts.len() == self.bounds.len() + 1).then(|| {
            self.bounds
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(self.counts.iter().copied())
                .collect()
        })
    }
}

/// The content of a daemon's metrics file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStats {
    /// The program (`validator`).
    pub daemon: String,
    /// `--app`, or empty.
    pub app: String,
    /// `--mod N I` as `N/I`, or empty for the whole table.
    pub slice: String,
    pub pid: u32,
    /// When the process started (Unix seconds).
    pub start_time: i64,
    /// When the last pass ended (Unix seconds; 0 before the first).
    pub last_pass_end: i64,
    pub passes: PassCounts,
    /// Items handled, by outcome (each daemon's outcomes are listed in `docs/RUNBOOK.md`).
    pub items: BTreeMap<String, u64>,
    /// Items that failed and were logged, the pass going on.
    pub errors: u64,
    /// How long passes took.
    pub pass_seconds: RecordedHistogram,
}

impl DaemonStats {
    pub fn new(daemon: &str, app: Option<&str>, slice: ModSlice, start_time: i64) -> Self {
        DaemonStats {
            daemon: daemon.to_string(),
            app: app.unwrap_or_default().to_string(),
            slice: slice_label(slice),
            pid: std::process::id(),
            start_time,
            last_pass_end: 0,
            passes: PassCounts::default(),
            items: BTreeMap::new(),
            errors: 0,
            pass_seconds: RecordedHistogram::new(&PASS_SECONDS_BUCKETS),
        }
    }

    /// The file's name: the program, then `_<app>` and `_mod<N>_<I>` when given, so two
    /// instances of one program (a validator per app, `--mod` slices) keep separate files.
    pub fn file_name(&self) -> String {
        let sanitize = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let mut name = sanitize(&self.daemon);
        if !self.app.is_empty() {
            name = format!("{name}_{}", sanitize(&self.app));
        }
        if !self.slice.is_empty() {
            name = format!("{name}_mod{}", sanitize(&self.slice));
        }
        name + STATS_SUFFIX
    }

    /// Reads a metrics file.
    pub fn read(path: &Path) -> std::io::Result<DaemonStats> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// Replaces the file at `path` atomically (a temporary file beside it, then a rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

fn slice_label(slice: ModSlice) -> String {
    if slice.is_all() {
        String::new()
    } else {
        format!("{}/{}", slice.n(), slice.i())
    }
}

/// The metrics files in a pid directory, in name order (unreadable ones skipped).
pub fn read_all(pid_dir: &Path) -> Vec<DaemonStats> {
    let Ok(entries) = std::fs::read_dir(pid_dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(STATS_SUFFIX))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| match DaemonStats::read(p) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(path = %p.display(), error = %e, "unreadable metrics file");
                None
            }
        })
        .collect()
}

/// A daemon's running tally, shared between its loop and its pass: the pass counts items by
/// outcome ([`PassTally::items`]) and per-item errors ([`PassTally::errors`]); the loop
/// ([`super::DaemonRuntime::run`]) counts passes and their durations and writes the file.
#[derive(Debug)]
pub struct PassTally {
    path: PathBuf,
    /// Whether the file is written (not for `--one_pass` runs: see [`PassTally::counting_only`]).
    writes: bool,
    state: Mutex<TallyState>,
}

#[derive(Debug)]
struct TallyState {
    stats: DaemonStats,
    last_write: Option<Instant>,
}

/// How a pass ended, for [`PassTally::pass_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassEnd {
    DidWork,
    Idle,
    Failed,
}

impl PassTally {
    /// A tally writing to `pid_dir/<instance>.metrics.json`.
    pub fn new(pid_dir: &Path, stats: DaemonStats) -> Self {
        PassTally {
            path: pid_dir.join(stats.file_name()),
            writes: true,
            state: Mutex::new(TallyState {
                stats,
                last_write: None,
            }),
        }
    }

    /// A tally that counts but never writes its file: a `--one_pass` run (by hand, or a
    /// `<task>`) must not replace the file of the daemon that runs with the same name, whose
    /// counters would seem to reset.
    pub fn counting_only(mut self) -> Self {
        self.writes = false;
        self
    }

    /// Where the file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TallyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `n` items ended with `outcome` (a short snake_case word: `valid`, `assimilated`, …).
    pub fn items(&self, outcome: &str, n: u64) {
        if n > 0 {
            *self
                .lock()
                .stats
                .items
                .entry(outcome.to_string())
                .or_default() += n;
        }
    }

    /// `n` items failed (each was logged; the pass went on).
    pub fn errors(&self, n: u64) {
        self.lock().stats.errors += n;
    }

    /// A copy of the figures so far.
    pub fn snapshot(&self) -> DaemonStats {
        self.lock().stats.clone()
    }

    /// Records a pass and rewrites the file unless a busy daemon wrote it less than a second
    /// ago.
    pub fn pass_done(&self, end: PassEnd, took: Duration, now: i64) {
        let mut s = self.lock();
        match end {
            PassEnd::DidWork => s.stats.passes.did_work += 1,
            PassEnd::Idle => s.stats.passes.idle += 1,
            PassEnd::Failed => s.stats.passes.failed += 1,
        }
        s.stats.pass_seconds.observe(took.as_secs_f64());
        s.stats.last_pass_end = now;
        let due =
            end != PassEnd::DidWork || s.last_write.is_none_or(|t| t.elapsed() >= WRITE_EVERY);
        if due {
            self.write_locked(&mut s);
        }
    }

    /// Writes the file now (at start, and when the daemon stops).
    pub fn flush(&self) {
        let mut s = self.lock();
        self.write_locked(&mut s);
    }

    fn write_locked(&self, s: &mut TallyState) {
        if !self.writes {
            return;
        }
        s.last_write = Some(Instant::now());
        if let Some(dir) = self.path.parent()
            && let Err(e) = std::fs::create_dir_all(dir).and_then(|()| s.stats.write(&self.path))
        {
            // The daemon's work goes on; the ops page shows the daemon without figures.
            tracing::debug!(path = %self.path.display(), error = %e, "cannot write the metrics file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_per_bucket_with_inf_last() {
        let mut h = RecordedHistogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.1, 0.5, 7.0] {
            h.observe(v);
        }
        assert_eq!(h.counts, [2, 1, 1]);
        assert_eq!(h.count, 4);
        assert!((h.sum - 7.65).abs() < 1e-9);
        assert_eq!(
            h.buckets().unwrap(),
            [(0.1, 2), (1.0, 1), (f64::INFINITY, 1)]
        );
        h.counts.pop();
        assert_eq!(h.buckets(), None);
    }

    #[test]
    fn file_names_keep_instances_apart() {
        let all = ModSlice::ALL;
        let name =
            |d: &str, app: Option<&str>, s: ModSlice| DaemonStats::new(d, app, s, 0).file_name();
        assert_eq!(name("transitioner", None, all), "transitioner.metrics.json");
        assert_eq!(
            name("validator", Some("mnist"), all),
            "validator_mnist.metrics.json"
        );
        assert_eq!(
            name("validator", Some("a b/c"), ModSlice::new(3, 1).unwrap()),
            "validator_a_b_c_mod3_1.metrics.json"
        );
    }

    #[test]
    fn the_tally_is_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let pid_dir = dir.path().join("pid_here");
        let tally = PassTally::new(
            &pid_dir,
            DaemonStats::new("validator", Some("mnist"), ModSlice::ALL, 1_700_000_000),
        );
        tally.flush();
        let first = DaemonStats::read(tally.path()).unwrap();
        assert_eq!(first.passes, PassCounts::default());
        assert_eq!(first.pid, std::process::id());

        tally.items("valid", 2);
        tally.items("invalid", 1);
        tally.items("valid", 1);
        tally.items("unused", 0);
        tally.errors(1);
        tally.pass_done(PassEnd::DidWork, Duration::from_millis(30), 1_700_000_010);
        // Busy passes within a second of the last write wait for the next one.
        tally.pass_done(PassEnd::DidWork, Duration::from_millis(30), 1_700_000_011);
        assert_eq!(DaemonStats::read(tally.path()).unwrap().passes.did_work, 0);
        tally.pass_done(PassEnd::Idle, Duration::from_millis(2), 1_700_000_012);
        tally.pass_done(PassEnd::Failed, Duration::from_secs(5), 1_700_000_020);

        let read = read_all(&pid_dir);
        assert_eq!(read.len(), 1);
        let s = &read[0];
        assert_eq!(
            s.passes,
            PassCounts {
                did_work: 2,
                idle: 1,
                failed: 1
            }
        );
        assert_eq!(
            s.items,
            BTreeMap::from([("invalid".into(), 1), ("valid".into(), 3)])
        );
        assert_eq!((s.errors, s.last_pass_end), (1, 1_700_000_020));
        assert_eq!(s.pass_seconds.count, 4);
        assert_eq!(*s, tally.snapshot());
        // Nothing but the file is left in the directory (no temporary file).
        let names: Vec<_> = std::fs::read_dir(&pid_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["validator_mnist.metrics.json"]);
        // Other files and unreadable metrics files are skipped.
        std::fs::write(pid_dir.join("x.metrics.json"), "{broken").unwrap();
        std::fs::write(pid_dir.join("validator.pid"), "1\n").unwrap();
        assert_eq!(read_all(&pid_dir).len(), 1);
        assert!(read_all(&dir.path().join("missing")).is_empty());

        // A counting-only tally (a --one_pass run) leaves the daemon's file as it was.
        let one_pass = PassTally::new(
            &pid_dir,
            DaemonStats::new("validator", Some("mnist"), ModSlice::ALL, 1_700_000_100),
        )
        .counting_only();
        one_pass.items("valid", 9);
        one_pass.pass_done(PassEnd::Idle, Duration::from_millis(1), 1_700_000_101);
        one_pass.flush();
        assert_eq!(one_pass.snapshot().items["valid"], 9);
        assert_eq!(read_all(&pid_dir)[0].items["valid"], 3);
    }
}
