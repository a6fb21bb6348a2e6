//! How a daemon's `main` ends: one place that turns the run's result into an exit status.
//!
//! Every daemon binary (and the scheduler) ends the same way: status 0 when it stopped as
//! asked (signal, `stop_daemons`, `--one_pass` done), status 1 with the whole cause chain when
//! it could not start or a one-pass run failed. The error goes both to the log (with its chain,
//! as one field) and to stderr, because a daemon that fails before logging is set up (a bad
//! flag value, an unreadable `config.xml`) would otherwise die silently: `start` shows the last
//! line of the daemon's log file, which is where its stderr goes.

use std::process::ExitCode;

/// The exit status for a daemon's run: `Ok` → 0; `Err` → logged, printed to stderr as
/// `name: outer: inner: …`, and 1.
pub fn exit(name: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain = format!("{e:#}");
            tracing::error!(daemon = name, error = %chain, "exiting after an error");
            eprintln!("{name}: {chain}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn ok_is_success_and_an_error_is_failure() {
        assert_eq!(exit("demo", Ok(())), ExitCode::SUCCESS);
        let failed: anyhow::Result<()> =
            Err(std::io::Error::other("connection refused")).context("connecting to the database");
        assert_eq!(exit("demo", failed), ExitCode::FAILURE);
    }
}
