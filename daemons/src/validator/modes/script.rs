//! `script_validator`: the project's own programs check and compare results (BOINC's
//! `script_validator`), so validation can be written in Python, shell, anything.
//!
//! - `--init_script "NAME [WORD…]"` checks one result; it runs once per result read;
//! - `--compare_script "NAME [WORD…]"` compares two results;
//!
//! at least one of them. NAME is a program in the project's `bin/` directory (or an absolute
//! path); the words say which arguments it gets, in order:
//!
//! | word | arguments | init | compare |
//! |---|---|---|---|
//! | `files` | the paths of the (first) result's output files, in template order | ✓ | ✓ |
//! | `result_id` | its id | ✓ | ✓ |
//! | `runtime` | its elapsed time, six decimals | ✓ | ✓ |
//! | `files2`, `result_id2`, `runtime2` | the same for the second result | | ✓ |
//!
//! Without words the init script gets `files` and the compare script `files files2`, as in
//! BOINC. Exit status: 0 = valid / the results agree; 3 (BOINC's `VAL_RESULT_TRANSIENT_ERROR`)
//! = try again later; any other status = the result is invalid (init: outcome VALIDATE_ERROR)
//! / the results differ (compare). A script killed by a signal is an error: the result is
//! invalid (init) or the pair does not match (compare), as in BOINC.
//!
//! Differences from the C++ daemon, all on the side of safety:
//! - programs are started directly with an argument vector, never through a shell, so file
//!   names cannot be read as shell syntax;
//! - a script that runs longer than `--script_timeout` seconds (default
//!   [`DEFAULT_TIMEOUT_SECS`]) is killed with its whole process group and counts as a
//!   transient error: the job is looked at again later, the daemon goes on;
//! - a required output file that is missing makes the result a VALIDATE_ERROR before any
//!   script runs (BOINC passes the path of the missing file to the script);
//! - an unknown word is an error at start-up (BOINC ignores it silently);
//! - what a script prints (stdout and stderr, at most [`MAX_CAPTURED`] bytes kept) is logged
//!   at debug level, with the exit status when it fails, and in the `results disagree` line
//!   when a compare script says the results differ; a script printing without end cannot fill
//!   memory.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rboinc_core::db::result::ResultRow;

use crate::validator::plugin::{
    CompareError, Difference, Init, InitError, Outputs, Plugin, Verdict,
};

/// Seconds a script may run by default.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// Bytes of a script's output kept for the log.
pub const MAX_CAPTURED: usize = 4096;

/// BOINC's `VAL_RESULT_TRANSIENT_ERROR`, as a script's exit status.
pub const EXIT_TRANSIENT: i32 = 3;

/// One argument word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    Files,
    ResultId,
    Runtime,
    Files2,
    ResultId2,
    Runtime2,
}

impl Word {
    const ALL: [(&'static str, Word); 6] = [
        ("files", Word::Files),
        ("result_id", Word::ResultId),
        ("runtime", Word::Runtime),
        ("files2", Word::Files2),
        ("result_id2", Word::ResultId2),
        ("runtime2", Word::Runtime2),
    ];

    fn is_second(self) -> bool {
        matches!(self, Word::Files2 | Word::ResultId2 | Word::Runtime2)
    }
}

/// A parsed `--init_script` or `--compare_script` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCommand {
    pub program: PathBuf,
    pub words: Vec<Word>,
}

/// A `--init_script` / `--compare_script` value or the script set cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptArgError {
    #[error("--{flag} is empty: give the program name and optional argument words")]
    Empty { flag: &'static str },
    #[error(
        "--{flag}: unknown word {word:?} (words: files, result_id, runtime; for --compare_script also files2, result_id2, runtime2)"
    )]
    UnknownWord { flag: &'static str, word: String },
    #[error("--{flag} {program}: no such program ({path})")]
    NoProgram {
        flag: &'static str,
        program: String,
        path: PathBuf,
    },
    #[error("--{flag} needs a value")]
    NoValue { flag: &'static str },
    #[error("--script_timeout {0:?}: give a whole number of seconds, at least 1")]
    BadTimeout(String),
    #[error("script_validator needs --init_script or --compare_script (or both)")]
    NoScript,
}

impl ScriptCommand {
    /// Parses `"NAME [WORD…]"`; `project_root` locates NAME in `bin/`.
    pub fn parse(
        flag: &'static str,
        value: &str,
        project_root: &Path,
    ) -> Result<ScriptCommand, ScriptArgError> {
        let compare = flag == "compare_script";
        let mut parts = value.split_whitespace();
        let name = parts.next().ok_or(ScriptArgError::Empty { flag })?;
        let mut words = Vec::new();
        for part in parts {
            let word = Word::ALL
                .iter()
                .find(|(text, w)| *text == part && (compare || !w.is_second()))
                .map(|(_, w)| *w)
                .ok_or_else(|| ScriptArgError::UnknownWord {
                    flag,
                    word: part.to_string(),
                })?;
            words.push(word);
        }
        if words.is_empty() {
            words = if compare {
                vec![Word::Files, Word::Files2]
            } else {
                vec![Word::Files]
            };
        }
        let p = Path::new(name);
        let program = if p.is_absolute() {
            p.to_path_buf()
        } else {
            project_root.join("bin").join(p)
        };
        if !program.is_file() {
            return Err(ScriptArgError::NoProgram {
                flag,
                program: name.to_string(),
                path: program,
            });
        }
        Ok(ScriptCommand { program, words })
    }

    fn args(
        &self,
        a: (&ResultRow, &[PathBuf]),
        b: Option<(&ResultRow, &[PathBuf])>,
    ) -> Vec<OsString> {
        let mut args = Vec::new();
        for word in &self.words {
            let (r, files) = match (word.is_second(), b) {
                (true, Some(b)) => b,
                _ => a,
            };
            match word {
                Word::Files | Word::Files2 => {
                    args.extend(files.iter().map(|f| f.clone().into_os_string()));
                }
                Word::ResultId | Word::ResultId2 => args.push(r.id.to_string().into()),
                Word::Runtime | Word::Runtime2 => {
                    args.push(format!("{:.6}", r.elapsed_time).into());
                }
            }
        }
        args
    }
}

/// The `script_validator` plug-in.
#[derive(Debug, Clone)]
pub struct Scripts {
    pub init: Option<ScriptCommand>,
    pub compare: Option<ScriptCommand>,
    pub timeout: Duration,
    /// Extra environment for the scripts (`BOINC_PROJECT_DIR`, `BOINC_APP`).
    pub env: Vec<(String, OsString)>,
}

impl Scripts {
    /// Reads the script flags from the arguments the validator did not take (BOINC's
    /// `validate_handler_init`); returns the plug-in and the arguments it did not use either.
    pub fn from_args(
        args: &[String],
        project_root: &Path,
    ) -> Result<(Scripts, Vec<String>), ScriptArgError> {
        let mut scripts = Scripts {
            init: None,
            compare: None,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            env: Vec::new(),
        };
        let mut unused = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let (name, inline) = match arg.strip_prefix("--") {
                Some(rest) => match rest.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (rest, None),
                },
                None => {
                    unused.push(arg.clone());
                    i += 1;
                    continue;
                }
            };
            let flag: &'static str = match name {
                "init_script" => "init_script",
                "compare_script" => "compare_script",
                "script_timeout" => "script_timeout",
                _ => {
                    unused.push(arg.clone());
                    i += 1;
                    continue;
                }
            };
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or(ScriptArgError::NoValue { flag })?
                }
            };
            match flag {
                "init_script" => {
                    scripts.init = Some(ScriptCommand::parse(flag, &value, project_root)?)
                }
                "compare_script" => {
                    scripts.compare = Some(ScriptCommand::parse(flag, &value, project_root)?)
                }
                _ => {
                    let secs: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| ScriptArgError::BadTimeout(value.clone()))?;
                    scripts.timeout = Duration::from_secs(secs);
                }
            }
            i += 1;
        }
        if scripts.init.is_none() && scripts.compare.is_none() {
            return Err(ScriptArgError::NoScript);
        }
        Ok((scripts, unused))
    }
}

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEnd {
    Exited(i32),
    Signalled(i32),
    TimedOut,
}

/// A finished script run: how it ended and the start of what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    pub end: ScriptEnd,
    pub output: String,
}

/// Runs `program args` with a time limit, capturing at most [`MAX_CAPTURED`] bytes of its
/// merged stdout and stderr. The script leads its own process group, and the whole group is
/// killed on time-out, so a shell script's `sleep` does not outlive it.
pub fn run_script(
    program: &Path,
    args: &[OsString],
    env: &[(String, OsString)],
    timeout: Duration,
) -> std::io::Result<ScriptRun> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let (mut reader, writer) = std::io::pipe()?;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let mut child = command.spawn()?;
    // Our copies of the pipe's write end went away with `command` once the child started.
    drop(command);
    let (out_tx, out_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_CAPTURED.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = out_tx.send(kept);
    });
    let pid = rustix::process::Pid::from_raw(child.id() as i32);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            true
        } else {
            false
        }
    });
    let status: ExitStatus = child.wait()?;
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    // Children of the script that detached from its group may hold the pipe open: wait only
    // briefly for the rest of the output.
    let output = out_rx
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    let output = String::from_utf8_lossy(&output).into_owned();
    let end = if timed_out {
        ScriptEnd::TimedOut
    } else if let Some(code) = status.code() {
        ScriptEnd::Exited(code)
    } else {
        ScriptEnd::Signalled(status.signal().unwrap_or(0))
    };
    Ok(ScriptRun { end, output })
}

impl Scripts {
    fn run(
        &self,
        which: &str,
        cmd: &ScriptCommand,
        args: Vec<OsString>,
    ) -> Result<ScriptRun, String> {
        let run = run_script(&cmd.program, &args, &self.env, self.timeout)
            .map_err(|e| format!("cannot run {which} {}: {e}", cmd.program.display()))?;
        tracing::debug!(script = %cmd.program.display(), ?args, end = ?run.end, output = %run.output, "{which} ran");
        Ok(run)
    }

    fn describe(&self, which: &str, cmd: &ScriptCommand, run: &ScriptRun) -> String {
        let what = match run.end {
            ScriptEnd::Exited(code) => format!("exited with status {code}"),
            ScriptEnd::Signalled(sig) => format!("was killed by signal {sig}"),
            ScriptEnd::TimedOut => format!(
                "ran longer than {} s and was killed",
                self.timeout.as_secs()
            ),
        };
        // One log line, whatever the script printed.
        let output: String = run.output.trim().escape_debug().collect();
        if output.is_empty() {
            format!("{which} {} {what}", cmd.program.display())
        } else {
            format!(
                "{which} {} {what}; it printed: {output}",
                cmd.program.display()
            )
        }
    }
}

/// The output file paths of a result, as given to the scripts.
pub type ScriptFiles = Vec<PathBuf>;

impl Plugin for Scripts {
    type Data = ScriptFiles;

    fn name(&self) -> &str {
        "script"
    }

    fn init_result(&self, outputs: &Outputs<'_>) -> Result<Init<ScriptFiles>, InitError> {
        let files = outputs.files()?;
        for f in &files {
            // Missing required files, directories, an unmounted upload directory.
            outputs.open(f)?;
        }
        let paths: ScriptFiles = files.into_iter().map(|f| f.path).collect();
        let Some(cmd) = &self.init else {
            return Ok(Init::new(paths));
        };
        let args = cmd.args((outputs.result, &paths), None);
        let run = self
            .run("init script", cmd, args)
            .map_err(InitError::Transient)?;
        match run.end {
            ScriptEnd::Exited(0) => Ok(Init::new(paths)),
            ScriptEnd::Exited(EXIT_TRANSIENT) | ScriptEnd::TimedOut => Err(InitError::Transient(
                self.describe("init script", cmd, &run),
            )),
            _ => Err(InitError::Permanent(self.describe(
                "init script",
                cmd,
                &run,
            ))),
        }
    }

    fn compare_results(
        &self,
        a: &ResultRow,
        a_files: &ScriptFiles,
        b: &ResultRow,
        b_files: &ScriptFiles,
    ) -> Result<Verdict, CompareError> {
        let Some(cmd) = &self.compare else {
            return Ok(Verdict::Match);
        };
        let args = cmd.args((a, a_files), Some((b, b_files)));
        let run = self
            .run("compare script", cmd, args)
            .map_err(CompareError::Transient)?;
        match run.end {
            ScriptEnd::Exited(0) => Ok(Verdict::Match),
            ScriptEnd::Exited(EXIT_TRANSIENT) | ScriptEnd::TimedOut => Err(
                CompareError::Transient(self.describe("compare script", cmd, &run)),
            ),
            ScriptEnd::Exited(code) => {
                // What the script printed is its own account of the difference.
                let printed: String = run.output.trim().escape_debug().take(300).collect();
                let left = if printed.is_empty() {
                    format!("exit status {code}")
                } else {
                    format!("exit status {code}, printed: {printed}")
                };
                Ok(Verdict::Differ(Difference {
                    file: String::new(),
                    field: "compare script".into(),
                    left,
                    right: String::new(),
                }))
            }
            ScriptEnd::Signalled(_) => Err(CompareError::Failed(self.describe(
                "compare script",
                cmd,
                &run,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_words_and_defaults_follow_boinc() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "check", "exit 0");
        let (s, unused) = Scripts::from_args(
            &strings(&[
                "--init_script",
                "check",
                "--compare_script=check files2 result_id runtime2",
                "--is_gzip",
                "x",
            ]),
            dir.path(),
        )
        .unwrap();
        assert_eq!(s.init.unwrap().words, [Word::Files]);
        assert_eq!(
            s.compare.unwrap().words,
            [Word::Files2, Word::ResultId, Word::Runtime2]
        );
        assert_eq!(unused, ["--is_gzip", "x"]);
        let (s, _) =
            Scripts::from_args(&strings(&["--compare_script", "check"]), dir.path()).unwrap();
        assert_eq!(s.compare.unwrap().words, [Word::Files, Word::Files2]);
        assert_eq!(s.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    }

    #[test]
    fn bad_script_flags_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "check", "exit 0");
        let parse = |v: &[&str]| Scripts::from_args(&strings(v), dir.path()).map(|_| ());
        assert_eq!(parse(&[]), Err(ScriptArgError::NoScript));
        assert!(matches!(
            parse(&["--init_script", "check files2"]),
            Err(ScriptArgError::UnknownWord { word, .. }) if word == "files2"
        ));
        assert!(matches!(
            parse(&["--compare_script", "nothere"]),
            Err(ScriptArgError::NoProgram { .. })
        ));
        assert!(matches!(
            parse(&["--init_script"]),
            Err(ScriptArgError::NoValue { .. })
        ));
        assert!(matches!(
            parse(&["--init_script", "check", "--script_timeout", "0"]),
            Err(ScriptArgError::BadTimeout(_))
        ));
    }

    #[test]
    fn runs_capture_the_end_and_a_bounded_output_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let env = [];
        let t = Duration::from_secs(5);
        let ok = script(dir.path(), "ok", "echo \"args: $*\"; exit 0");
        let run = run_script(&ok, &["a b".into(), "c".into()], &env, t).unwrap();
        assert_eq!(run.end, ScriptEnd::Exited(0));
        assert_eq!(run.output, "args: a b c\n");
        let junk = script(
            dir.path(),
            "junk",
            "head -c 1000000 /dev/zero | tr '\\0' 'x'; echo oops >&2; exit 7",
        );
        let run = run_script(&junk, &[], &env, t).unwrap();
        assert_eq!(run.end, ScriptEnd::Exited(7));
        assert_eq!(run.output.len(), MAX_CAPTURED);
        let crash = script(dir.path(), "crash", "kill -SEGV $$");
        assert_eq!(
            run_script(&crash, &[], &env, t).unwrap().end,
            ScriptEnd::Signalled(11)
        );
        let hang = script(dir.path(), "hang", "sleep 600");
        let started = std::time::Instant::now();
        let run = run_script(&hang, &[], &env, Duration::from_secs(1)).unwrap();
        assert_eq!(run.end, ScriptEnd::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the sleep was killed too"
        );
    }
}
