//! The commands end quietly when their reader goes away (`status --json | head`): output into a
//! pipe whose reader has closed is not a panic, and the exit status is the command's own.

mod common;

use std::process::{Command, Output, Stdio};

const STATUS: &str = env!("CARGO_BIN_EXE_status");

/// Runs `bin` with standard output a pipe whose reading end is already closed, so that its
/// first write fails with EPIPE.
fn into_closed_pipe(bin: &str, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(bin)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[tokio::test]
async fn status_into_a_closed_pipe_exits_as_usual_without_a_panic() {
    let p = common::project("pipe1").await;
    let root = p.root().to_str().unwrap();
    for args in [
        &["--project-dir", root, "--json"][..],
        &["--project-dir", root][..],
    ] {
        // The same command into a reader that reads everything: what it prints and how it exits.
        let full = Command::new(STATUS).args(args).output().unwrap();
        assert!(!full.stdout.is_empty(), "{args:?}");
        let closed = into_closed_pipe(STATUS, args);
        let err = String::from_utf8_lossy(&closed.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        // A project that is not started: `status` says so with exit status 3 either way.
        assert_eq!(full.status.code(), Some(3), "{args:?}");
        assert_eq!(closed.status.code(), Some(3), "{args:?}: {err}");
    }
}
