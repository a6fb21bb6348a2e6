//! The one INFO line each scheduler RPC leaves in the log, whatever became of it.
//!
//! An operator following a host or a job reads one line per visit: who asked (`host_id`,
//! `user_id`, `new_host` when the RPC created the host record, the client's version and
//! platform), what it reported (each result with its
//! outcome in BOINC's names; a result the client aborted shows as `CLIENT_ERROR(ABORTED)`), which jobs went out
//! with which version (`result_id`, `wu_id`, app, version number and plan class; resent lost
//! jobs are marked), the tasks the reply tells the client to abort (`aborts`: `<result_abort>`,
//! and `<result_abort_if_not_started>` marked `if not started`), the messages the reply
//! carries, the request delay and how long the RPC took.
//!
//! The steps fill an [`RpcLog`] as they go (the jobs sent are collected on the reply, see
//! [`SentJob`]); [`emit`] writes the line once the reply is ready. The lists are written
//! through `Display` adapters, so nothing is formatted unless the line is.

use std::fmt;
use std::time::Duration;

use rboinc_core::db::{ResultId, WorkunitId};
use rboinc_core::state::{ClientState, Outcome};

use super::reply::SchedReply;
use crate::metrics::RpcKind;

/// What the RPC's line says beyond the reply itself.
#[derive(Debug, Default, Clone)]
pub struct RpcLog {
    pub host_id: Option<i64>,
    pub user_id: Option<i64>,
    /// The RPC created the host record (a new computer, or a copied client state).
    pub new_host: bool,
    /// `major.minor.release`, once the request is parsed.
    pub client_version: Option<(u32, u32, u32)>,
    pub platform: String,
    /// Each result written, with its outcome.
    pub reported: Vec<ReportedResult>,
}

/// A reported result as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedResult {
    pub result_id: ResultId,
    pub outcome: Outcome,
    pub client_state: i32,
}

/// A job in the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct SentJob {
    pub result_id: ResultId,
    pub wu_id: WorkunitId,
    pub app: String,
    pub version_num: i32,
    pub plan_class: String,
    /// A lost job sent again.
    pub resent: bool,
}

/// Writes the RPC's INFO line.
pub fn emit(log: &RpcLog, reply: &SchedReply, kind: RpcKind, took: Duration) {
    tracing::info!(
        host_id = log.host_id,
        user_id = log.user_id,
        new_host = log.new_host,
        client = %ClientVersion(log.client_version),
        platform = %log.platform,
        kind = kind.label(),
        reported = %Reported(&log.reported),
        sent = %Sent(&reply.sent_jobs),
        acks = reply.result_acks.len(),
        aborts = %Aborts(reply),
        messages = %Messages(reply),
        delay = reply.request_delay(),
        ms = (took.as_secs_f64() * 1e4).round() / 10.0,
        "scheduler RPC"
    );
}

struct ClientVersion(Option<(u32, u32, u32)>);

impl fmt::Display for ClientVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((a, b, c)) => write!(f, "{a}.{b}.{c}"),
            None => f.write_str("?"),
        }
    }
}

/// `12 SUCCESS, 13 CLIENT_ERROR(ABORTED)`.
struct Reported<'a>(&'a [ReportedResult]);

impl fmt::Display for Reported<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {}", r.result_id, r.outcome)?;
            if r.outcome != Outcome::Success {
                match ClientState::try_from(r.client_state) {
                    Ok(state) => write!(f, "({state})")?,
                    Err(_) => write!(f, "(client_state {})", r.client_state)?,
                }
            }
        }
        Ok(())
    }
}

/// `14 (wu 7, mnist 100), 15 (wu 8, mnist 101 mt, resent)`.
struct Sent<'a>(&'a [SentJob]);

impl fmt::Display for Sent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, j) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{} (wu {}, {} {}",
                j.result_id, j.wu_id, j.app, j.version_num
            )?;
            if !j.plan_class.is_empty() {
                write!(f, " {}", j.plan_class)?;
            }
            if j.resent {
                f.write_str(", resent")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// `r1, r2 (if not started)`: the tasks the reply aborts, by name.
struct Aborts<'a>(&'a SchedReply);

impl fmt::Display for Aborts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = self.0.result_aborts.iter().map(|n| (n, ""));
        let later = self
            .0
            .result_aborts_if_not_started
            .iter()
            .map(|n| (n, " (if not started)"));
        for (i, (name, how)) in now.chain(later).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}{how}")?;
        }
        Ok(())
    }
}

/// The reply's messages, ` | `-separated.
struct Messages<'a>(&'a SchedReply);

impl fmt::Display for Messages<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.messages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            f.write_str(&m.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_documented() {
        let reported = [
            ReportedResult {
                result_id: ResultId(12),
                outcome: Outcome::Success,
                client_state: ClientState::FilesUploaded as i32,
            },
            ReportedResult {
                result_id: ResultId(13),
                outcome: Outcome::ClientError,
                client_state: ClientState::Aborted as i32,
            },
        ];
        assert_eq!(
            Reported(&reported).to_string(),
            "12 SUCCESS, 13 CLIENT_ERROR(ABORTED)"
        );
        let sent = [
            SentJob {
                result_id: ResultId(14),
                wu_id: WorkunitId(7),
                app: "mnist".into(),
                version_num: 100,
                plan_class: String::new(),
                resent: false,
            },
            SentJob {
                result_id: ResultId(15),
                wu_id: WorkunitId(8),
                app: "mnist".into(),
                version_num: 101,
                plan_class: "mt".into(),
                resent: true,
            },
        ];
        assert_eq!(
            Sent(&sent).to_string(),
            "14 (wu 7, mnist 100), 15 (wu 8, mnist 101 mt, resent)"
        );
        assert_eq!(ClientVersion(Some((7, 20, 5))).to_string(), "7.20.5");
        let mut reply = SchedReply::default();
        reply.result_aborts.push("wu_1_0".into());
        reply.result_aborts_if_not_started.push("wu_2_1".into());
        assert_eq!(
            Aborts(&reply).to_string(),
            "wu_1_0, wu_2_1 (if not started)"
        );
    }
}
