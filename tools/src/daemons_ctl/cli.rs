//! The command line shared by `start`, `stop` and `status`.
//!
//! In a stock BOINC project `bin/stop` and `bin/status` are symbolic links to `bin/start`, and
//! the script picks its action from the name it was called by. Ours does the same, and the
//! three binaries are one program: called as `start` it enables (starts), as `stop` it
//! disables (stops), as `status` it shows status (and as `cron`, which the script's own notes
//! suggest linking, it does `--cron`). So copying our `start` over a stock `bin/start` keeps
//! the stock links working, and copying our `stop` over `bin/stop` — which writes through the
//! link onto `bin/start` — still leaves every name doing what it says. A flag overrides the
//! name, in BOINC's spellings too (`-e`/`--enable`/`--start`, `-d`/`--disable`/`--stop`/`-k`/
//! `--kill`, `-s`/`--status`, `-c`/`--cron`), so `start --cron` in a crontab works; under any
//! other name a flag is required, as with BOINC's script. `start --foreground` is ours: it
//! stays in the foreground as a supervisor (restarting daemons that die, running due tasks)
//! until SIGTERM or SIGINT, then stops everything — what a container's main process or a
//! systemd unit needs.
//!
//! Exit status: 0 when everything is as asked; 1 when a daemon could not be started or
//! stopped, or on an error; for `status`, 3 when the project is disabled or an enabled daemon
//! is not running (as LSB init scripts say "not running").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgGroup, Parser};

use super::report::{self, StartEntry, StopOutcome};
use super::{Controller, DEFAULT_START_CHECK, DEFAULT_STOP_TIMEOUT};
use crate::output;

/// Starts, stops or shows the project's daemons from config.xml's <daemons> and runs its
/// <tasks>, like BOINC's bin/start, bin/stop and bin/status.
#[derive(Debug, Parser)]
#[command(version, group(ArgGroup::new("action").args(["enable", "disable", "status", "cron"])))]
pub struct Cli {
    /// Project directory [default: BOINC_PROJECT_DIR, else . or .. if it holds config.xml].
    #[arg(long = "project-dir", alias = "project_dir", value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Enable the project and start its daemons (default when called as `start`).
    #[arg(short = 'e', long, visible_alias = "start")]
    pub enable: bool,
    /// Disable the project and stop its daemons (default when called as `stop`).
    #[arg(
        short = 'd',
        long,
        visible_alias = "stop",
        alias = "kill",
        short_alias = 'k'
    )]
    pub disable: bool,
    /// Show each daemon: running?, pid, uptime, last log line (default when called as
    /// `status`).
    #[arg(short = 's', long)]
    pub status: bool,
    /// If enabled, start daemons that are not running and run due tasks (for a crontab).
    #[arg(short = 'c', long)]
    pub cron: bool,
    /// With --cron: run every task now, whatever its period.
    #[arg(long = "ignore-timestamps", alias = "ignore_timestamps")]
    pub ignore_timestamps: bool,
    /// With --enable: stay in the foreground, restart daemons that die and run due tasks every
    /// --interval seconds, and stop everything on SIGTERM or SIGINT.
    #[arg(long)]
    pub foreground: bool,
    /// Seconds between supervision rounds with --foreground.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub interval: f64,
    /// Seconds to wait for daemons to exit after SIGHUP before killing them.
    #[arg(long, default_value_t = DEFAULT_STOP_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub timeout: f64,
    /// Seconds to watch newly started daemons for an immediate exit.
    #[arg(long = "start-check", default_value_t = DEFAULT_START_CHECK.as_secs_f64(), value_name = "SECS")]
    pub start_check: f64,
    /// `status`: print JSON (one object per daemon) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Accepted for BOINC's script (`-v`); the output is the same.
    #[arg(long)]
    pub verbose: bool,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Enable,
    Disable,
    Status,
    Cron,
}

impl Action {
    /// The action a program called `name` does by default, as BOINC's script decides it.
    pub fn from_program_name(name: &str) -> Option<Action> {
        match name {
            "start" => Some(Action::Enable),
            "stop" => Some(Action::Disable),
            "status" => Some(Action::Status),
            "cron" => Some(Action::Cron),
            _ => None,
        }
    }
}

impl Cli {
    /// The flag given, else the default of the program's name.
    fn action(&self, by_name: Option<Action>) -> Option<Action> {
        match (self.enable, self.disable, self.status, self.cron) {
            (true, ..) => Some(Action::Enable),
            (_, true, ..) => Some(Action::Disable),
            (_, _, true, _) => Some(Action::Status),
            (.., true) => Some(Action::Cron),
            _ => by_name,
        }
    }
}

/// The file name a program was called by (`bin/stop` → `stop`).
pub fn program_name(argv0: &std::ffi::OsStr) -> String {
    std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// BOINC's `-v` means "verbose" to its script; [`rboinc_core::daemon::normalize_args`] would
/// make it `--version`.
fn boinc_spellings(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let args = args
        .into_iter()
        .map(|a| if a == "-v" { "--verbose".into() } else { a });
    rboinc_core::daemon::normalize_args(args)
}

fn secs(v: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).with_context(|| format!("--{name} {v}: not a duration"))
}

/// Runs `start`, `stop` or `status`, whichever the program was called as (see the module docs).
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let name = program_name(args.first().map_or("".as_ref(), |a| a.as_os_str()));
    let cli = Cli::parse_from(boinc_spellings(args));
    let Some(action) = cli.action(Action::from_program_name(&name)) else {
        output::eprintln(format_args!(
            "{name}: no action given, and the name `{name}` is not start, stop or status; \
             use --enable, --disable, --status or --cron"
        ));
        return ExitCode::FAILURE;
    };
    match run(&cli, action) {
        Ok(code) => code,
        Err(e) => {
            output::eprintln(format_args!("{name}: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, action: Action) -> anyhow::Result<ExitCode> {
    let ctl = Controller::open(cli.project_dir.as_deref())?;
    let check = secs(cli.start_check, "start-check")?;
    let timeout = secs(cli.timeout, "timeout")?;
    let say = |text: &str| -> std::io::Result<()> {
        if !cli.quiet {
            output::print(text)?;
        }
        Ok(())
    };
    match action {
        Action::Enable => {
            say(&format!(
                "Starting daemons of {}\n",
                ctl.project().root().display()
            ))?;
            let entries = ctl.start(check)?;
            say(&report::render_start(&entries))?;
            report_failures(&entries);
            let ok = entries.iter().all(|e| e.outcome.is_ok());
            if cli.foreground {
                return supervise(&ctl, cli, check, timeout);
            }
            Ok(exit(ok))
        }
        Action::Disable => {
            say(&format!(
                "Stopping daemons of {}\n",
                ctl.project().root().display()
            ))?;
            let entries = ctl.stop(timeout)?;
            say(&report::render_stop(&entries))?;
            let failed: Vec<_> = entries
                .iter()
                .filter(|e| matches!(e.outcome, StopOutcome::Failed(_)))
                .collect();
            for e in &failed {
                output::eprintln(format_args!(
                    "could not stop {}: {:?}",
                    e.pid_file.display(),
                    e.outcome
                ));
            }
            Ok(exit(failed.is_empty()))
        }
        Action::Status => {
            let enabled = ctl.enabled()?;
            let rows = ctl.status();
            let tasks = ctl.task_status()?;
            if cli.json {
                let doc = serde_json::json!({
                    "project": ctl.project().root(),
                    "enabled": enabled,
                    "daemons": rows,
                    "tasks": tasks,
                });
                output::println(serde_json::to_string_pretty(&doc)?)?;
            } else {
                let now = rboinc_core::clock::now_f64();
                output::print(report::render_status(enabled, &rows))?;
                output::print(report::render_task_status(&tasks, now))?;
            }
            let healthy = enabled && rows.iter().all(|r| r.running || r.disabled);
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Action::Cron => {
            let (daemons, tasks) = ctl.cron(check, cli.ignore_timestamps)?;
            let mut ok = true;
            match daemons {
                Some(entries) => {
                    say(&report::render_start(&entries))?;
                    report_failures(&entries);
                    ok &= entries.iter().all(|e| e.outcome.is_ok());
                }
                None => say("Project is DISABLED: no daemon started\n")?,
            }
            say(&report::render_tasks(&tasks))?;
            ok &= !tasks
                .iter()
                .any(|t| matches!(t, report::TaskOutcome::Failed { .. }));
            Ok(exit(ok))
        }
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Failures go to stderr even with --quiet.
fn report_failures(entries: &[StartEntry]) {
    for e in entries.iter().filter(|e| !e.outcome.is_ok()) {
        output::eprintln(format_args!(
            "daemon `{}` is not running; see {}",
            e.cmd,
            e.log.display()
        ));
    }
}

/// `start --foreground`: a supervision loop until SIGTERM/SIGINT, then a full stop.
fn supervise(
    ctl: &Controller,
    cli: &Cli,
    check: Duration,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let interval = secs(cli.interval, "interval")?.max(Duration::from_millis(100));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal listener")?;
    let signal = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        loop {
            reap_children();
            tokio::select! {
                _ = term.recv() => return Ok::<_, std::io::Error>("SIGTERM received"),
                _ = int.recv() => return Ok("SIGINT received"),
                _ = tokio::time::sleep(interval) => {}
            }
            reap_children();
            // `stop` run by hand (or by a container's stop hook) ends the supervision too.
            if !ctl.enabled().unwrap_or(true) {
                return Ok("the project was disabled");
            }
            match ctl.cron(check, false) {
                Ok((daemons, tasks)) => {
                    // Only news: restarts and task runs.
                    let restarted: Vec<StartEntry> = daemons
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|e| {
                            !matches!(
                                e.outcome,
                                report::StartOutcome::AlreadyRunning(_)
                                    | report::StartOutcome::Disabled
                            )
                        })
                        .collect();
                    // Supervision goes on whatever becomes of standard output.
                    if !cli.quiet && !restarted.is_empty() {
                        let _ = output::print(report::render_start(&restarted));
                    }
                    let ran: Vec<_> = tasks
                        .into_iter()
                        .filter(|t| !matches!(t, report::TaskOutcome::NotDue { .. }))
                        .collect();
                    if !cli.quiet && !ran.is_empty() {
                        let _ = output::print(report::render_tasks(&ran));
                    }
                }
                // Another start/stop holds the project lock for a moment: try next round.
                Err(super::CtlError::Busy(_)) => {}
                Err(e) => output::eprintln(format_args!("start: supervision round failed: {e}")),
            }
        }
    })?;
    if !cli.quiet {
        output::println(format_args!("{signal}: stopping daemons"))?;
    }
    let entries = ctl.stop(timeout)?;
    reap_children();
    if !cli.quiet {
        output::print(report::render_stop(&entries))?;
    }
    Ok(exit(
        entries
            .iter()
            .all(|e| !matches!(e.outcome, StopOutcome::Failed(_))),
    ))
}

/// Collects the exit status of any child that has exited (daemons this process started, and
/// orphans when it runs as a container's process 1), so none lingers as a zombie.
fn reap_children() {
    while let Ok(Some(_)) = rustix::process::wait(rustix::process::WaitOptions::NOHANG) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The action of a command line, as `main` decides it.
    fn action_of(line: &str) -> Option<Action> {
        let args: Vec<std::ffi::OsString> = line.split_whitespace().map(Into::into).collect();
        let name = program_name(&args[0]);
        let cli = Cli::try_parse_from(boinc_spellings(args)).unwrap();
        cli.action(Action::from_program_name(&name))
    }

    #[test]
    fn the_name_called_by_picks_the_action() {
        assert_eq!(action_of("/p/bin/start"), Some(Action::Enable));
        assert_eq!(action_of("/p/bin/stop"), Some(Action::Disable));
        assert_eq!(action_of("bin/status"), Some(Action::Status));
        assert_eq!(action_of("./cron"), Some(Action::Cron));
        assert_eq!(action_of("start_rboinc"), None, "another name needs a flag");
    }

    #[test]
    fn flags_override_the_name_in_boinc_s_spellings() {
        for (line, want) in [
            ("bin/start --cron", Action::Cron),
            ("bin/start -c", Action::Cron),
            ("bin/status --disable", Action::Disable),
            ("bin/status --stop", Action::Disable),
            ("bin/status --kill", Action::Disable),
            ("bin/status -k", Action::Disable),
            ("bin/status -d", Action::Disable),
            ("bin/stop --start", Action::Enable),
            ("bin/stop -e", Action::Enable),
            ("bin/stop -s -v", Action::Status),
            ("other --enable -q", Action::Enable),
        ] {
            assert_eq!(action_of(line), Some(want), "{line}");
        }
    }
}
