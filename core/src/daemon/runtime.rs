//! The loop itself: passes, sleeping, backoff, stopping.

use std::sync::Arc;
use std::time::Duration;

use super::args::CommonDaemonArgs;
use super::backoff::Backoff;
use super::error::{DaemonError, InfraError};
use super::modulo::ModSlice;
use super::shutdown::{Shutdown, StopReason};
use super::stats::{DaemonStats, PassEnd, PassTally};
use crate::config::Config;
use crate::project::ProjectDir;

/// While passes keep failing, the WARN is repeated this often (not once per pass).
pub const STILL_FAILING_EVERY: Duration = Duration::from_secs(600);

/// What one pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassOutcome {
    /// Something was processed: run the next pass at once.
    DidWork,
    /// Nothing to do: sleep `--sleep_interval` before the next pass.
    Idle,
}

/// How a daemon's loop ended (all of these mean exit status 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A signal, the trigger file, or the program asked to stop.
    Requested(StopReason),
    /// `--one_pass` or `--drain` finished its pass.
    OnePassDone,
}

/// Everything a daemon needs around its own work: project, config, flags,
/// the stop token, and the loop.
#[derive(Debug)]
pub struct DaemonRuntime {
    name: String,
    project: ProjectDir,
    config: Arc<Config>,
    app: Option<String>,
    one_pass: bool,
    /// `--drain`: the single pass handles everything due, not one batch.
    drain: bool,
    sleep_interval: Option<Duration>,
    default_sleep_interval: Duration,
    modulo: ModSlice,
    backoff: Backoff,
    shutdown: Shutdown,
    tally: PassTally,
}

impl DaemonRuntime {
    /// The usual start-up of a daemon's `main`: logging (once per process),
    /// signal handlers, then [`DaemonRuntime::new`]. Must be called inside a
    /// Tokio runtime. Signals are hooked first, so a stop that arrives while
    /// the daemon is still starting is not lost.
    pub async fn start(name: &str, common: &CommonDaemonArgs) -> Result<Self, DaemonError> {
        crate::telemetry::init(common.log_format, common.debug_level());
        let runtime = Self::new(name, common)?;
        runtime
            .shutdown
            .listen_for_signals()
            .map_err(DaemonError::Signals)?;
        tracing::info!(
            daemon = %runtime.name,
            project = %runtime.project.root().display(),
            app = runtime.app.as_deref().unwrap_or(""),
            r#mod = %runtime.modulo,
            one_pass = runtime.one_pass,
            drain = runtime.drain,
            "starting"
        );
        crate::config::known::OptionAudit::of(runtime.config.options()).log();
        Ok(runtime)
    }

    /// Finds the project, loads its config and checks the flags, without
    /// touching process-wide state (logging, signals); tests use this.
    pub fn new(name: &str, common: &CommonDaemonArgs) -> Result<Self, DaemonError> {
        let modulo = common.mod_slice()?;
        let project = ProjectDir::locate(common.project_dir.as_deref())?;
        let config = Config::load(project.root())?;
        let shutdown = Shutdown::new(Some(project.stop_daemons_path()));
        let stats = DaemonStats::new(name, common.app.as_deref(), modulo, crate::clock::now_i64());
        let mut tally = PassTally::new(&project.pid_dir(), stats);
        if common.one_pass {
            tally = tally.counting_only();
        }
        Ok(DaemonRuntime {
            name: name.to_string(),
            project,
            config: Arc::new(config),
            app: common.app.clone(),
            one_pass: common.one_pass || common.drain,
            drain: common.drain,
            sleep_interval: common.sleep_interval.map(Duration::from_secs),
            default_sleep_interval: Duration::from_secs(5),
            modulo,
            backoff: Backoff::default(),
            shutdown,
            tally,
        })
    }

    /// The sleep between idle passes when `--sleep_interval` is not given
    /// (default 5 s, as BOINC's transitioner and validator).
    pub fn with_default_sleep_interval(mut self, interval: Duration) -> Self {
        self.default_sleep_interval = interval;
        self
    }

    /// The retry delays after a failed pass (default 1 s doubling to 60 s).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The daemon's name (its binary name), for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The config, shareable with tasks spawned by the daemon.
    pub fn config_arc(&self) -> Arc<Config> {
        Arc::clone(&self.config)
    }

    pub fn project(&self) -> &ProjectDir {
        &self.project
    }

    /// `--app`, if given.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// `--app`, for daemons that cannot run without one.
    pub fn require_app(&self) -> Result<&str, DaemonError> {
        self.app().ok_or(DaemonError::MissingApp)
    }

    /// The `--mod N I` slice ([`ModSlice::ALL`] without `--mod`).
    pub fn modulo(&self) -> ModSlice {
        self.modulo
    }

    /// Whether the daemon runs one pass and exits (`--one_pass` or `--drain`).
    pub fn one_pass(&self) -> bool {
        self.one_pass
    }

    /// Whether that pass handles a single batch (`--one_pass`, as a C++ daemon's one pass
    /// reads one query of at most 1000 rows) rather than everything due (`--drain`, and every
    /// pass of a daemon that keeps running). Daemons pass this to their pass loop.
    pub fn single_batch(&self) -> bool {
        self.one_pass && !self.drain
    }

    /// The sleep between idle passes in force.
    pub fn sleep_interval(&self) -> Duration {
        self.sleep_interval.unwrap_or(self.default_sleep_interval)
    }

    /// The stop token (clone it into spawned tasks).
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The counts the pass adds to (items by outcome, per-item errors); the loop adds passes
    /// and their durations, and writes them for `/metrics` ([`super::stats`]).
    pub fn tally(&self) -> &PassTally {
        &self.tally
    }

    /// Whether to stop before the next item: call between items.
    pub fn should_stop(&self) -> bool {
        self.shutdown.should_stop()
    }

    /// Runs `pass` until told to stop.
    ///
    /// - `Ok(DidWork)`: the next pass starts at once;
    /// - `Ok(Idle)`: sleep [`DaemonRuntime::sleep_interval`] first;
    /// - `Err(_)`: wait (capped exponential backoff) and try again, for as
    ///   long as it takes: a daemon whose database is down keeps running and
    ///   resumes when the database is back. An outage is logged once: one WARN
    ///   at its first failed pass (repeated every [`STILL_FAILING_EVERY`] while
    ///   it lasts), the following failures at DEBUG, and one INFO when a pass
    ///   succeeds again.
    ///
    /// A stop (signal or `stop_daemons`) is seen between passes and every
    /// second while sleeping; `pass` should also check
    /// [`DaemonRuntime::should_stop`] between items. With `--one_pass` (or `--drain`) the
    /// loop runs exactly one pass, and a failed pass is returned as
    /// [`DaemonError::PassFailed`] (exit status 1), since nobody will retry.
    pub async fn run<F>(&self, mut pass: F) -> Result<Stopped, DaemonError>
    where
        F: AsyncFnMut(&DaemonRuntime) -> Result<PassOutcome, InfraError>,
    {
        if !self.one_pass
            && let Some(reason) = self.shutdown.check()
        {
            return Ok(self.stopped(reason));
        }
        let mut backoff = self.backoff.clone();
        let mut pass_number: u64 = 0;
        // When the current run of failed passes began, and when it was last logged as a WARN.
        let mut failing_since: Option<(tokio::time::Instant, tokio::time::Instant)> = None;
        self.tally.flush();
        loop {
            pass_number += 1;
            tracing::debug!(pass = pass_number, "starting a pass");
            let started = std::time::Instant::now();
            let pass_started = tokio::time::Instant::now();
            let result = pass(self).await;
            let end = match &result {
                Ok(PassOutcome::DidWork) => PassEnd::DidWork,
                Ok(PassOutcome::Idle) => PassEnd::Idle,
                Err(_) => PassEnd::Failed,
            };
            self.tally
                .pass_done(end, started.elapsed(), crate::clock::now_i64());
            let wait = match result {
                Ok(outcome) => {
                    if backoff.failures() > 0 {
                        let down_secs = failing_since
                            .take()
                            .map_or(0.0, |(start, _)| start.elapsed().as_secs_f64());
                        tracing::info!(
                            failed_passes = backoff.failures(),
                            down_secs,
                            "pass succeeded after failures; resuming normal operation"
                        );
                        backoff.reset();
                    }
                    if self.one_pass {
                        self.tally.flush();
                        tracing::info!("one pass done; exiting");
                        return Ok(Stopped::OnePassDone);
                    }
                    match outcome {
                        PassOutcome::DidWork => None,
                        PassOutcome::Idle => {
                            tracing::debug!(
                                sleep_secs = self.sleep_interval().as_secs_f64(),
                                "nothing to do; sleeping"
                            );
                            Some(self.sleep_interval())
                        }
                    }
                }
                Err(e) => {
                    if self.one_pass {
                        tracing::error!(error = %e, "pass failed");
                        return Err(DaemonError::PassFailed(e.to_string()));
                    }
                    let delay = backoff.next_delay();
                    let now = tokio::time::Instant::now();
                    let warn = match &mut failing_since {
                        None => {
                            // The outage began at the latest when this pass did.
                            failing_since = Some((pass_started, now));
                            true
                        }
                        Some((_, warned)) if now.duration_since(*warned) >= STILL_FAILING_EVERY => {
                            *warned = now;
                            true
                        }
                        Some(_) => false,
                    };
                    if warn {
                        tracing::warn!(
                            error = %e,
                            attempt = backoff.failures(),
                            retry_in_secs = delay.as_secs_f64(),
                            "pass failed; retrying after a pause"
                        );
                    } else {
                        tracing::debug!(
                            error = %e,
                            attempt = backoff.failures(),
                            retry_in_secs = delay.as_secs_f64(),
                            "pass failed again; still retrying"
                        );
                    }
                    Some(delay)
                }
            };
            let stop = match wait {
                Some(delay) => self.shutdown.sleep(delay).await,
                None => self.shutdown.check(),
            };
            if let Some(reason) = stop {
                return Ok(self.stopped(reason));
            }
        }
    }

    fn stopped(&self, reason: StopReason) -> Stopped {
        self.tally.flush();
        tracing::info!(reason = %reason, "stopping");
        Stopped::Requested(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::StopSignal;
    use std::path::Path;

    fn project(extra_args: &[&str]) -> (tempfile::TempDir, DaemonRuntime) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.xml"),
            "<boinc><config><db_name>t</db_name></config></boinc>",
        )
        .unwrap();
        let mut args = vec!["demo".to_string(), "--project-dir".into()];
        args.push(dir.path().display().to_string());
        args.extend(extra_args.iter().map(|s| s.to_string()));
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            common: CommonDaemonArgs,
        }
        let cli: Cli = crate::daemon::try_parse_args_from(args).unwrap();
        let rt = DaemonRuntime::new("demo", &cli.common).unwrap();
        (dir, rt)
    }

    fn stop_file(dir: &Path) {
        std::fs::write(dir.join("stop_daemons"), "").unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn idle_passes_sleep_the_interval() {
        let (_dir, rt) = project(&["--sleep_interval", "7"]);
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        let stopped = rt
            .run(async |rt| {
                times.push(start.elapsed().as_secs());
                if times.len() == 3 {
                    rt.shutdown().request(StopReason::Requested);
                }
                Ok(PassOutcome::Idle)
            })
            .await
            .unwrap();
        assert_eq!(times, [0, 7, 14]);
        assert_eq!(stopped, Stopped::Requested(StopReason::Requested));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_passes_follow_each_other_without_sleeping() {
        let (_dir, rt) = project(&[]);
        let start = tokio::time::Instant::now();
        let mut n = 0;
        rt.run(async |rt| {
            n += 1;
            if n == 5 {
                rt.shutdown().request(StopReason::Requested);
            }
            Ok(PassOutcome::DidWork)
        })
        .await
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_then_recover() {
        let (_dir, rt) = project(&["--sleep_interval", "100"]);
        let rt = rt.with_backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(4)));
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        rt.run(async |rt| {
            times.push(start.elapsed().as_secs());
            match times.len() {
                1..=5 => Err(InfraError::new(
                    "query",
                    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
                )),
                6 => Ok(PassOutcome::DidWork),
                7 => Err(std::io::Error::other("again").into()),
                _ => {
                    rt.shutdown().request(StopReason::Requested);
                    Ok(PassOutcome::Idle)
                }
            }
        })
        .await
        .unwrap();
        // Waits 1, 2, 4, 4, 4 (capped); success resets; the next failure
        // waits 1 again.
        assert_eq!(times, [0, 1, 3, 7, 11, 15, 15, 16]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_during_backoff_ends_the_wait() {
        let (dir, rt) = project(&[]);
        let rt = rt.with_backoff(Backoff::new(
            Duration::from_secs(30),
            Duration::from_secs(60),
        ));
        let start = tokio::time::Instant::now();
        let path = dir.path().to_path_buf();
        let stopped = rt
            .run(async |_| {
                let path = path.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(2200)).await;
                    stop_file(&path);
                });
                Err(std::io::Error::other("database down").into())
            })
            .await
            .unwrap();
        assert_eq!(stopped, Stopped::Requested(StopReason::StopFile));
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(3),
            "seen at the next 1 s poll"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_file_present_at_start_means_no_pass() {
        let (dir, rt) = project(&[]);
        stop_file(dir.path());
        let mut passes = 0;
        let stopped = rt
            .run(async |_| {
                passes += 1;
                Ok(PassOutcome::DidWork)
            })
            .await
            .unwrap();
        assert_eq!(passes, 0);
        assert_eq!(stopped, Stopped::Requested(StopReason::StopFile));
    }

    #[tokio::test(start_paused = true)]
    async fn one_pass_runs_once_even_with_the_stop_file() {
        let (dir, rt) = project(&["--one_pass"]);
        stop_file(dir.path());
        let mut passes = 0;
        let stopped = rt
            .run(async |_| {
                passes += 1;
                Ok(PassOutcome::DidWork)
            })
            .await
            .unwrap();
        assert_eq!((passes, stopped), (1, Stopped::OnePassDone));
    }

    #[tokio::test(start_paused = true)]
    async fn one_pass_is_one_batch_and_drain_is_everything_due() {
        let (_dir, rt) = project(&[]);
        assert!(
            !rt.one_pass() && !rt.single_batch(),
            "a running daemon drains each pass"
        );
        let (_dir, rt) = project(&["--one_pass"]);
        assert!(rt.one_pass() && rt.single_batch());
        let (_dir, rt) = project(&["--drain"]);
        assert!(rt.one_pass() && !rt.single_batch());
        let (_dir, rt) = project(&["--one_pass", "--drain"]);
        assert!(rt.one_pass() && !rt.single_batch(), "--drain wins");
        let mut passes = 0;
        let stopped = rt
            .run(async |_| {
                passes += 1;
                Ok(PassOutcome::DidWork)
            })
            .await
            .unwrap();
        assert_eq!((passes, stopped), (1, Stopped::OnePassDone));
    }

    #[tokio::test(start_paused = true)]
    async fn one_pass_failure_is_an_error() {
        let (_dir, rt) = project(&["-one_pass"]);
        let e = rt
            .run(async |_| {
                Err(InfraError::new(
                    "enumerating workunits",
                    std::io::Error::other("connection refused"),
                ))
            })
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the pass failed: enumerating workunits: connection refused"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn handlers_see_the_stop_between_items() {
        let (_dir, rt) = project(&[]);
        let mut handled = Vec::new();
        let stopped = rt
            .run(async |rt| {
                for item in 1..=5 {
                    if rt.should_stop() {
                        break;
                    }
                    handled.push(item);
                    if item == 2 {
                        // A signal arrives while item 2 is being worked on.
                        rt.shutdown().request(StopReason::Signal(StopSignal::Term));
                    }
                }
                Ok(PassOutcome::DidWork)
            })
            .await
            .unwrap();
        assert_eq!(handled, [1, 2]);
        assert_eq!(
            stopped,
            Stopped::Requested(StopReason::Signal(StopSignal::Term))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn passes_and_items_reach_the_metrics_file() {
        let (dir, rt) = project(&["--app", "mnist"]);
        let mut n = 0;
        rt.run(async |rt| {
            n += 1;
            match n {
                1 => {
                    rt.tally().items("valid", 2);
                    rt.tally().errors(1);
                    Ok(PassOutcome::DidWork)
                }
                2 => Err(std::io::Error::other("database gone").into()),
                _ => {
                    rt.shutdown().request(StopReason::Requested);
                    Ok(PassOutcome::Idle)
                }
            }
        })
        .await
        .unwrap();
        let host = rt.project().host().to_string();
        let path = dir
            .path()
            .join(format!("pid_{host}/demo_mnist.metrics.json"));
        assert_eq!(rt.tally().path(), path);
        let s = super::super::stats::DaemonStats::read(&path).unwrap();
        assert_eq!((s.daemon.as_str(), s.app.as_str()), ("demo", "mnist"));
        assert_eq!(
            (s.passes.did_work, s.passes.failed, s.passes.idle),
            (1, 1, 1)
        );
        assert_eq!((s.items["valid"], s.errors), (2, 1));
        assert_eq!(s.pass_seconds.count, 3);
        assert!(s.last_pass_end > 0);
    }

    #[test]
    fn flags_are_exposed() {
        let (_dir, rt) = project(&["-app", "mnist", "--mod", "3", "1"]);
        assert_eq!(rt.app(), Some("mnist"));
        assert_eq!(rt.require_app().unwrap(), "mnist");
        assert_eq!(rt.modulo(), ModSlice::new(3, 1).unwrap());
        assert_eq!(rt.sleep_interval(), Duration::from_secs(5));
        let rt = rt.with_default_sleep_interval(Duration::from_secs(60));
        assert_eq!(rt.sleep_interval(), Duration::from_secs(60));
        assert_eq!(rt.config().db.name, "t");

        let (_dir, rt) = project(&[]);
        assert_eq!(
            rt.require_app().unwrap_err().to_string(),
            "this daemon needs --app NAME"
        );
    }

    #[test]
    fn bad_mod_is_refused_at_start() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            common: CommonDaemonArgs,
        }
        let cli: Cli = crate::daemon::try_parse_args_from(["demo", "--mod", "0", "0"]).unwrap();
        let e = DaemonRuntime::new("demo", &cli.common).unwrap_err();
        assert_eq!(e.to_string(), "--mod 0 0: N must be at least 1");
    }

    #[test]
    fn infra_error_shows_the_cause_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("pool timed out")]
        struct Outer(#[source] std::io::Error);
        let e: InfraError = Outer(std::io::Error::other("connection refused")).into();
        assert_eq!(e.to_string(), "pool timed out: connection refused");
    }
}
