//! `start`, `stop` and `status` as binaries, on a project directory whose `<daemons>` are real
//! processes: small shell daemons that behave like BOINC's (exit on SIGHUP or when
//! `stop_daemons` appears) and one that ignores both, so every path of BOINC's `bin/start`
//! behaviour is exercised with the kernel's own locks, signals and process groups.
//! (The whole loop with the real scheduler and daemons is in `tests-e2e/`.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rboinc_core::project::short_hostname;
use rboinc_core::test_support::stock_lock::{LockfHolder, lockf_would_block};

const START: &str = env!("CARGO_BIN_EXE_start");
const STOP: &str = env!("CARGO_BIN_EXE_stop");
const STATUS: &str = env!("CARGO_BIN_EXE_status");

/// A well-behaved daemon: reports where it runs, exits on SIGHUP or `stop_daemons`.
const GOOD: &str = r#"#!/bin/sh
echo "good daemon: cwd=$(pwd) path0=${PATH%%:*} args=$*"
trap 'echo "good daemon: SIGHUP, exiting"; exit 0' HUP
while [ ! -e ../stop_daemons ]; do sleep 0.05; done
echo "good daemon: stop_daemons seen, exiting"
"#;

/// A daemon that ignores SIGHUP and the trigger file: `stop` must kill it.
const STUBBORN: &str = r#"#!/bin/sh
trap '' HUP
echo "stubborn daemon up"
while true; do sleep 0.05; done
"#;

/// Dies at start-up, as a daemon with a bad flag does.
const BROKEN: &str = "#!/bin/sh\necho 'broken: unknown flag --bogus' >&2\nexit 2\n";

/// A task: appends a line and exits.
const TASK: &str = "#!/bin/sh\necho \"task ran at $(date +%s) in $(pwd)\"\n";

struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    host: String,
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn project(daemons: &str, tasks: &str) -> Project {
    project_with("", daemons, tasks)
}

fn project_with(extra_config: &str, daemons: &str, tasks: &str) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("proj");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let host = short_hostname();
    std::fs::write(
        root.join("config.xml"),
        format!(
            "<?xml version=\"1.0\" ?>\n<boinc>\n<config>\n<host>{host}</host>\n<db_name>unused</db_name>\n<db_user>unused</db_user>\n{extra_config}</config>\n\
             <daemons>\n{daemons}</daemons>\n<tasks>\n{tasks}</tasks>\n</boinc>\n"
        ),
    )
    .unwrap();
    write_exec(&root.join("bin/good"), GOOD);
    write_exec(&root.join("bin/stubborn"), STUBBORN);
    write_exec(&root.join("bin/broken"), BROKEN);
    write_exec(&root.join("bin/task"), TASK);
    Project {
        _tmp: tmp,
        root,
        host,
    }
}

impl Project {
    fn run(&self, bin: &str, args: &[&str]) -> Output {
        Command::new(bin)
            .arg("--project-dir")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }
    fn pid_dir(&self) -> PathBuf {
        self.root.join(format!("pid_{}", self.host))
    }
    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("log_{}/{name}", self.host)))
            .unwrap_or_default()
    }
    fn pid(&self, name: &str) -> i32 {
        std::fs::read_to_string(self.pid_dir().join(format!("{name}.pid")))
            .unwrap_or_else(|e| panic!("pid file {name}.pid: {e}"))
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Never leave a process behind, even when an assertion failed half-way.
        let _ = Command::new(STOP)
            .arg("--project-dir")
            .arg(&self.root)
            .args(["--timeout", "1", "-q"])
            .output();
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn start_runs_daemons_like_bin_start_and_refuses_a_second_copy() {
    let other_host = format!("{}-elsewhere", short_hostname());
    let p = project(
        &format!(
            "<daemon><cmd>good -d 3 --app 'two words'</cmd></daemon>\n\
             <daemon><cmd>good -d 3 --app second</cmd><output>good_second.log</output><pid_file>good_second.pid</pid_file></daemon>\n\
             <daemon><cmd>good --disabled-one</cmd><output>off.log</output><disabled>1</disabled></daemon>\n\
             <daemon><cmd>good --elsewhere</cmd><output>else.log</output><host>{other_host}</host></daemon>\n"
        ),
        "",
    );
    std::fs::write(p.root.join("stop_sched"), "<stop/>\n").unwrap();
    std::fs::write(p.root.join("stop_daemons"), "<stop/>\n").unwrap();

    let out = p.run(START, &["--start-check", "0.3"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("started          good -d 3 --app 'two words' (pid "),
        "{stdout}"
    );
    assert!(
        stdout.contains("disabled         good --disabled-one"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("--elsewhere"),
        "another host's daemon is not ours: {stdout}"
    );
    assert!(
        !p.root.join("stop_sched").exists(),
        "start removes stop_sched"
    );
    assert!(
        !p.root.join("stop_daemons").exists(),
        "start removes stop_daemons"
    );

    let first = p.pid("good");
    let second = p.pid("good_second");
    assert!(alive(first) && alive(second));
    // Both default names come from the program name, so the second needed its own <output>
    // (for the lock) and <pid_file>.
    assert!(p.pid_dir().join("good.lock").exists());
    assert!(p.pid_dir().join("good_second.log.lock").exists());
    assert!(!p.pid_dir().join("off.pid").exists());

    wait_until(
        "the daemon's first log line",
        Duration::from_secs(5),
        || p.log("good.log").contains("good daemon:"),
    );
    let log = p.log("good.log");
    let executing = log.lines().next().unwrap();
    assert!(
        executing.starts_with('[')
            && executing.ends_with("] Executing command: good -d 3 --app 'two words'"),
        "{log}"
    );
    let tmp = p.root.join(format!("tmp_{}", p.host));
    assert!(
        log.contains(&format!("cwd={} ", tmp.display())),
        "runs in tmp_<host>: {log}"
    );
    assert!(
        log.contains(&format!("path0={} ", p.root.join("bin").display())),
        "bin/ first in PATH: {log}"
    );
    assert!(log.contains("args=-d 3 --app two words"), "{log}");
    let run_state =
        std::fs::read_to_string(p.root.join(format!("run_state_{}.xml", p.host))).unwrap();
    assert!(run_state.contains("<enabled>1</enabled>"), "{run_state}");

    // A second start finds the locks held and starts nothing.
    let again = p.run(START, &["--start-check", "0.3"]);
    assert!(again.status.success(), "{}", text(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains(&format!(
            "already running  good -d 3 --app 'two words' (pid {first})"
        )),
        "{stdout}"
    );
    assert_eq!(p.pid("good"), first);
    assert_eq!(
        p.log("good.log").matches("Executing command").count(),
        1,
        "no second copy was started"
    );

    // status: the table, JSON, and exit 0 when everything enabled runs.
    let st = p.run(STATUS, &[]);
    assert!(st.status.success(), "{}", text(&st));
    let table = String::from_utf8_lossy(&st.stdout);
    assert!(table.starts_with("Project is ENABLED\n"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("good -d 3 --app 'two words'"))
        .unwrap();
    assert!(
        row.contains("running") && row.contains(&first.to_string()),
        "{row}"
    );
    assert!(
        row.contains("good daemon: cwd="),
        "last log line shown: {row}"
    );
    let off = table
        .lines()
        .find(|l| l.contains("--disabled-one"))
        .unwrap();
    assert!(off.contains("disabled"), "{off}");
    let js = p.run(STATUS, &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(doc["enabled"], true);
    assert_eq!(doc["daemons"][0]["pid"], first);
    assert_eq!(doc["daemons"][0]["running"], true);
    assert!(doc["daemons"][0]["uptime"].as_f64().unwrap() >= 0.0);

    // stop: trigger files, SIGHUP, wait, pid files gone, processes gone.
    let out = p.run(STOP, &["--timeout", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("stopped          good (pid {first}")),
        "{stdout}"
    );
    assert!(!alive(first) && !alive(second));
    assert!(p.root.join("stop_daemons").exists() && p.root.join("stop_sched").exists());
    assert!(!p.pid_dir().join("good.pid").exists());
    assert!(!p.pid_dir().join("good_second.pid").exists());

    let st = p.run(STATUS, &[]);
    assert_eq!(st.status.code(), Some(3), "{}", text(&st));
    let table = String::from_utf8_lossy(&st.stdout);
    assert!(table.starts_with("Project is DISABLED\n"), "{table}");
    assert!(table.lines().nth(2).unwrap().contains("stopped"), "{table}");
}

#[test]
fn stop_kills_a_daemon_that_ignores_sighup_and_spares_strangers() {
    let p = project(
        "<daemon><cmd>stubborn</cmd></daemon>\n<daemon><cmd>good</cmd></daemon>\n",
        "",
    );
    let out = p.run(START, &["--start-check", "0.3"]);
    assert!(out.status.success(), "{}", text(&out));
    let stubborn = p.pid("stubborn");
    wait_until("the stubborn daemon", Duration::from_secs(5), || {
        p.log("stubborn.log").contains("stubborn daemon up")
    });
    // A stale pid file naming an unrelated live process (this test): never signalled.
    let me = std::process::id();
    std::fs::write(p.pid_dir().join("leftover.pid"), format!("{me}\n")).unwrap();

    let t = Instant::now();
    let out = p.run(STOP, &["--timeout", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("KILLED           stubborn (pid {stubborn}")),
        "{stdout}"
    );
    assert!(stdout.contains("stopped          good"), "{stdout}");
    assert!(stdout.contains("not running      leftover"), "{stdout}");
    assert!(t.elapsed() < Duration::from_secs(8));
    assert!(!alive(stubborn));
    // Its `sleep` children were in its process group and went with it.
    let group_left = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let r = s.rsplit_once(')')?.1.split_whitespace().nth(2)?.to_string();
                    r.parse::<i32>().ok()
                })
                == Some(stubborn)
        })
        .filter(|pid| alive(*pid))
        .count();
    assert_eq!(group_left, 0, "no process of the killed group is left");
    assert!(alive(me as i32));
    assert!(!p.pid_dir().join("leftover.pid").exists());
}

#[test]
fn bad_entries_are_reported_and_the_rest_start() {
    let p = project(
        "<daemon><cmd>good</cmd></daemon>\n\
         <daemon><cmd>broken --bogus</cmd></daemon>\n\
         <daemon><cmd>good | tee x</cmd><output>piped.log</output><pid_file>piped.pid</pid_file></daemon>\n\
         <daemon><cmd>no_such_program -d 3</cmd></daemon>\n\
         <daemon><cmd>good --twin</cmd></daemon>\n\
         <daemon><cmd>good --half-twin</cmd><output>half.log</output></daemon>\n\
         <daemon><cmd>good --through-shell 2&gt;&amp;1</cmd><output>shell.log</output><pid_file>shell.pid</pid_file><use_shell>1</use_shell></daemon>\n",
        "",
    );
    let out = p.run(START, &["--start-check", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("started          good (pid"), "{stdout}");
    assert!(
        stdout.contains("EXITED AT ONCE   broken --bogus (exit status: 2)")
            && stdout.contains("broken: unknown flag --bogus"),
        "the log's last line explains it: {stdout}"
    );
    assert!(
        stdout.contains("NOT STARTED      good | tee x: `|` is shell syntax; set <use_shell>"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("NOT STARTED      no_such_program -d 3: program `no_such_program` not found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("NOT STARTED      good --twin: shares its lock file good.lock with `good`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "NOT STARTED      good --half-twin: shares its pid file good.pid with `good`"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("daemon `broken --bogus` is not running; see "),
        "{stderr}"
    );
    assert!(
        !p.pid_dir().join("no_such_program.pid").exists(),
        "nothing written for a daemon that was not started"
    );
    // The shell entry runs its pipeline through /bin/sh, and stop reaches it.
    let shell_pid = p.pid("shell");
    assert!(alive(shell_pid));
    wait_until("the shell daemon", Duration::from_secs(5), || {
        p.log("shell.log").contains("args=--through-shell")
    });
    let st = p.run(STATUS, &[]);
    assert_eq!(st.status.code(), Some(3), "a daemon is down: {}", text(&st));

    let out = p.run(STOP, &["--timeout", "5"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("KILLED"));
    assert!(!alive(shell_pid));
}

#[test]
fn cron_restarts_dead_daemons_and_runs_due_tasks_only_when_enabled() {
    let p = project(
        "<daemon><cmd>good</cmd></daemon>\n",
        "<task><cmd>task --hourly</cmd><period>1 hour</period><output>hourly.out</output></task>\n\
         <task><cmd>task --always</cmd><period>1 s</period><output>always.out</output><always_run>1</always_run></task>\n",
    );
    // Never started: cron does nothing but the always_run task.
    let out = p.run(START, &["--cron", "--start-check", "0.2"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Project is DISABLED"), "{stdout}");
    assert!(
        stdout.contains("task started     task --always"),
        "{stdout}"
    );
    assert!(!stdout.contains("task --hourly"), "{stdout}");
    assert!(!p.pid_dir().join("good.pid").exists());

    let out = p.run(START, &["--start-check", "0.2"]);
    assert!(out.status.success(), "{}", text(&out));
    let first = p.pid("good");
    // The daemon dies behind our back; cron brings it back and runs the due task.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(first).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_until("the daemon's death", Duration::from_secs(5), || {
        !alive(first)
    });
    std::thread::sleep(Duration::from_millis(1100));
    let out = p.run(START, &["--cron", "--start-check", "0.2"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("started          good (pid"), "{stdout}");
    assert!(
        stdout.contains("task started     task --hourly"),
        "{stdout}"
    );
    assert!(
        stdout.contains("task started     task --always"),
        "{stdout}"
    );
    assert_ne!(p.pid("good"), first);
    wait_until("the task's output", Duration::from_secs(5), || {
        p.log("hourly.out").contains("task ran at")
    });
    assert!(p.log("hourly.out").starts_with('['), "Executing line first");

    // Not due again within the hour.
    let out = p.run(START, &["--cron", "--start-check", "0.2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("task not due     task --hourly"),
        "{stdout}"
    );
    assert!(stdout.contains("already running  good"), "{stdout}");
    // status lists the tasks with their last and next runs.
    let st = p.run(STATUS, &[]);
    let table = String::from_utf8_lossy(&st.stdout);
    let hourly = table
        .lines()
        .find(|l| l.starts_with("task --hourly"))
        .unwrap();
    assert!(
        hourly.contains("1 hour") && !hourly.contains("never"),
        "{table}"
    );
    let js: serde_json::Value = serde_json::from_slice(&p.run(STATUS, &["--json"]).stdout).unwrap();
    assert_eq!(js["tasks"][0]["cmd"], "task --hourly");
    assert!(js["tasks"][0]["last_run"].as_f64().unwrap() > 1e9);
    // --ignore-timestamps runs it anyway (BOINC's flag).
    let out = p.run(
        START,
        &["--cron", "--ignore-timestamps", "--start-check", "0.2"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("task started     task --hourly"),
        "{stdout}"
    );
    let run_state =
        std::fs::read_to_string(p.root.join(format!("run_state_{}.xml", p.host))).unwrap();
    assert!(
        run_state.contains("<cmd>task --hourly</cmd>"),
        "{run_state}"
    );
}

#[test]
fn not_a_project_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(STATUS)
        .arg("--project-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("status: ") && stderr.contains("not a project directory"),
        "{stderr}"
    );
}

#[test]
fn foreground_supervises_and_stops_everything_on_sigterm_or_stop() {
    let p = project(
        "<daemon><cmd>good</cmd></daemon>\n<daemon><cmd>stubborn</cmd></daemon>\n",
        "",
    );
    let spawn = || {
        Command::new(START)
            .arg("--project-dir")
            .arg(&p.root)
            .args(["--foreground", "--interval", "0.3", "--timeout", "1"])
            .args(["--start-check", "0.2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut sup = spawn();
    wait_until("both daemons", Duration::from_secs(10), || {
        p.pid_dir().join("good.pid").exists() && p.pid_dir().join("stubborn.pid").exists()
    });
    let first = p.pid("good");
    // A daemon that dies is started again by the supervisor.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(first).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    wait_until("the restart", Duration::from_secs(10), || {
        std::fs::read_to_string(p.pid_dir().join("good.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .is_some_and(|pid| pid != first && alive(pid))
    });
    // The supervisor collects its dead children: no zombie is left (it may be process 1 of a
    // container, where nothing else would).
    wait_until("the dead daemon reaped", Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{first}")).exists()
    });
    let second = p.pid("good");
    let stubborn = p.pid("stubborn");
    // SIGTERM: the supervisor stops everything (the stubborn one by SIGKILL) and exits 0.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(sup.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = wait_child(&mut sup, Duration::from_secs(15));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("SIGTERM received: stopping daemons"),
        "{stdout}"
    );
    assert!(stdout.contains("KILLED           stubborn"), "{stdout}");
    assert!(!alive(second) && !alive(stubborn));
    assert!(
        !alive(first),
        "the killed daemon was reaped, not left a zombie"
    );

    // `stop` from elsewhere ends a supervisor too.
    let mut sup = spawn();
    wait_until("the daemons again", Duration::from_secs(10), || {
        p.pid_dir().join("good.pid").exists()
    });
    let good = p.pid("good");
    let out = p.run(STOP, &["--timeout", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = wait_child(&mut sup, Duration::from_secs(15));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the project was disabled"),
        "{}",
        text(&out)
    );
    assert!(!alive(good));
}

fn wait_child(child: &mut std::process::Child, timeout: Duration) -> Output {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    if let Some(mut o) = child.stdout.take() {
        o.read_to_end(&mut stdout).unwrap();
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_end(&mut stderr).unwrap();
    }
    Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}

#[test]
fn a_project_owned_by_another_user_is_refused() {
    let p = project_with(
        "<project_user_name>no-such-user-here</project_user_name>\n",
        "<daemon><cmd>good</cmd></daemon>\n",
        "",
    );
    let out = p.run(START, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("runs as user `no-such-user-here` (<project_user_name>)"),
        "{stderr}"
    );
    assert!(!p.pid_dir().exists(), "nothing was started or created");
}

/// A daemon started by BOINC's own `bin/start` holds its lock file with Python's
/// `fcntl.lockf`; [`LockfHolder`] does exactly that (and writes the pid file) in `tmp_<host>/`.
fn stock_started(p: &Project, name: &str) -> LockfHolder {
    let tmp = p.root.join(format!("tmp_{}", p.host));
    for d in [p.pid_dir(), tmp.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    let lock = p.pid_dir().join(format!("{name}.lock"));
    let pid = p.pid_dir().join(format!("{name}.pid"));
    LockfHolder::try_start(&lock, Some(&pid), &tmp).expect("lock free")
}

#[test]
fn a_daemon_started_by_bin_start_s_lockf_is_running_to_us_and_never_doubled() {
    let p = project("<daemon><cmd>good -d 3</cmd></daemon>\n", "");
    let mut stock = stock_started(&p, "good");
    let pid = stock.pid();
    assert_eq!(p.pid("good"), pid);

    // status sees it running, by its lock and pid.
    let js = p.run(STATUS, &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(doc["daemons"][0]["running"], true, "{doc}");
    assert_eq!(doc["daemons"][0]["pid"], pid);

    // start refuses a second copy and leaves the pid file alone.
    let out = p.run(START, &["--start-check", "0.3"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("already running  good -d 3 (pid {pid})")),
        "{stdout}"
    );
    assert_eq!(p.pid("good"), pid, "pid file not overwritten");
    assert!(
        !p.log("good.log").contains("Executing command"),
        "no copy of ours was started"
    );

    // stop stops it as BOINC's stop would (SIGHUP to the pid in the pid file).
    let out = p.run(STOP, &["--timeout", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_until(
        "the stock-started daemon to exit",
        Duration::from_secs(5),
        || !stock.running(),
    );
    assert!(!lockf_would_block(&p.pid_dir().join("good.lock")));
}

#[test]
fn bin_start_s_lockf_is_refused_on_a_daemon_we_started() {
    let p = project("<daemon><cmd>good</cmd></daemon>\n", "");
    let out = p.run(START, &["--start-check", "0.3"]);
    assert!(out.status.success(), "{}", text(&out));
    let ours = p.pid("good");
    let lock = p.pid_dir().join("good.lock");
    assert!(lockf_would_block(&lock), "BOINC's start sees our lock");
    let tmp = p.root.join(format!("tmp_{}", p.host));
    assert!(
        LockfHolder::try_start(&lock, Some(&p.pid_dir().join("good.pid")), &tmp).is_none(),
        "BOINC's start would report it already running"
    );
    assert_eq!(p.pid("good"), ours, "and writes no pid file");
    let out = p.run(STOP, &["--timeout", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!alive(ours));
    assert!(!lockf_would_block(&lock), "released with the daemon");
}

#[test]
fn start_waits_while_bin_start_holds_the_project_lock() {
    let p = project("<daemon><cmd>good</cmd></daemon>\n", "");
    std::fs::create_dir_all(p.pid_dir()).unwrap();
    let start_lock = p.pid_dir().join(format!("start.lock.{}", p.host));
    let stock = LockfHolder::start(&start_lock, &p.root);
    let t = Instant::now();
    let child = Command::new(START)
        .arg("--project-dir")
        .arg(&p.root)
        .args(["--start-check", "0.3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !p.pid_dir().join("good.pid").exists(),
        "nothing started while BOINC's start runs"
    );
    drop(stock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(t.elapsed() >= Duration::from_millis(1500));
    assert!(alive(p.pid("good")));
}

#[test]
fn the_stock_links_stop_and_status_to_start_act_by_their_names() {
    let p = project("<daemon><cmd>good</cmd></daemon>\n", "");
    // A stock bin/: `stop` and `status` are absolute links to `start`; ours copied over start.
    let bin = p.root.join("bin");
    std::fs::copy(START, bin.join("start")).unwrap();
    for name in ["stop", "status"] {
        std::os::unix::fs::symlink(bin.join("start"), bin.join(name)).unwrap();
    }
    let run = |name: &str, args: &[&str]| {
        Command::new(bin.join(name))
            .arg("--project-dir")
            .arg(&p.root)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run("start", &["--start-check", "0.3"]);
    assert!(out.status.success(), "{}", text(&out));
    let first = p.pid("good");
    let st = run("status", &[]);
    assert!(st.status.success(), "{}", text(&st));
    assert!(
        String::from_utf8_lossy(&st.stdout).starts_with("Project is ENABLED\n"),
        "{}",
        text(&st)
    );
    let out = run("stop", &["--timeout", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("Stopping daemons of"),
        "{}",
        text(&out)
    );
    assert!(!alive(first), "bin/stop stopped the daemon");

    // Copying our `stop` over bin/stop writes through the link onto bin/start: every name still
    // does what it says.
    std::fs::copy(STOP, bin.join("stop")).unwrap();
    assert!(bin.join("stop").is_symlink());
    let out = run("start", &["--start-check", "0.3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Starting daemons of"));
    let second = p.pid("good");
    assert!(alive(second));
    let out = run("stop", &["--timeout", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!alive(second));

    // Under another name, an action flag is required.
    std::fs::copy(START, bin.join("start_rboinc")).unwrap();
    let out = run("start_rboinc", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no action given"),
        "{}",
        text(&out)
    );
}
