//! The `<scheduler_reply>` a client gets, written the way BOINC's scheduler writes it.
//!
//! Element names and layout follow PROTOCOL.md §4 and the C++ scheduler's reply writer; the
//! client parses the whole reply before linking apps → file_infos → app_versions → workunits →
//! results, so the order of the big blocks does not matter to it, but we keep BOINC's order so
//! replies diff cleanly against a stock server's. Every reply, even a refusal, is well formed
//! and names the project; a reply that only carries a message and a delay is "nucleus only".

use std::fmt::Write as _;

use rboinc_core::xml::escape;

/// Longest `request_delay` BOINC sends (two days).
pub const DELAY_MAX: f64 = 2.0 * 86_400.0;
/// `DELAY_MISSING_KEY`: after a bad account key.
pub const DELAY_MISSING_KEY: f64 = 3600.0;
/// `DELAY_PLATFORM_UNSUPPORTED` and `DELAY_BAD_CLIENT_VERSION`.
pub const DELAY_UNSUPPORTED: f64 = 86_400.0;
/// The scheduler version we report (the 7.20 server's number, which the client accepted).
pub const SCHEDULER_VERSION: u32 = 720;

/// Message priority as the client reads it: `notice` becomes a notice, `low` a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Low,
    Notice,
}

impl Priority {
    fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Notice => "notice",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub priority: Priority,
    pub text: String,
}

/// The account and host part of a reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountInfo {
    pub userid: i64,
    pub user_name: String,
    pub user_total_credit: f64,
    pub user_expavg_credit: f64,
    pub user_create_time: i64,
    pub email_hash: String,
    pub cross_project_id: String,
    pub external_cpid: String,
    /// `user.project_prefs` verbatim (empty: an empty `<project_preferences>` is sent).
    pub project_prefs: String,
    /// `user.global_prefs` verbatim, when the account's copy is newer than the client's.
    pub global_prefs: Option<String>,
    pub host_total_credit: f64,
    pub host_expavg_credit: f64,
    pub host_venue: String,
    pub host_create_time: i64,
    pub team: Option<(i64, String)>,
}

/// A reply being assembled. Ids deduplicate apps, versions and workunits sent for several jobs.
#[derive(Debug, Default)]
pub struct SchedReply {
    pub messages: Vec<Message>,
    request_delay: f64,
    pub project_is_down: bool,
    /// Only messages and delays: the request was refused before the account was known.
    pub nucleus_only: bool,
    pub next_rpc_delay: Option<f64>,
    /// Client version ≥ 7.0.28: tell it not to use the duration correction factor.
    pub dont_use_dcf: bool,
    pub account: Option<AccountInfo>,
    /// Sent only when a host record was created or re-found (the client resets its seqno).
    pub new_hostid: Option<i64>,
    pub result_acks: Vec<String>,
    /// Tasks the client must abort, running or not (see [`super::abort`]).
    pub result_aborts: Vec<String>,
    /// Tasks the client must abort unless it has started them.
    pub result_aborts_if_not_started: Vec<String>,
    /// `<code_sign_key>` (and signature) elements, or empty.
    pub code_sign: String,
    /// `<no_rsc_apps>` (and, for clients before 7.0.40, `<no_cpu_apps>` …): the client's
    /// resource types the project has no versions for, so it stops asking work for them.
    pub no_apps: String,
    /// The jobs in this reply, for the RPC's log line (not part of the reply text).
    pub sent_jobs: Vec<super::rpc_log::SentJob>,
    apps: Vec<(i64, String)>,
    app_versions: Vec<(i64, String)>,
    workunits: Vec<(i64, String)>,
    results: Vec<String>,
}

impl SchedReply {
    /// A reply that only carries a message and a delay (refusals).
    pub fn refusal(text: impl Into<String>, priority: Priority, delay: f64) -> Self {
        let mut reply = SchedReply {
            nucleus_only: true,
            ..Default::default()
        };
        reply.message(priority, text);
        reply.set_delay(delay);
        reply
    }

    /// The reply while `stop_sched` is present or the database is unreachable.
    pub fn project_down(text: impl Into<String>, delay: f64) -> Self {
        let mut reply = Self::refusal(text, Priority::Low, delay);
        reply.project_is_down = true;
        reply
    }

    pub fn message(&mut self, priority: Priority, text: impl Into<String>) {
        self.messages.push(Message {
            priority,
            text: text.into(),
        });
    }

    /// Raises `request_delay` to at least `delay` (never above two days), as BOINC's
    /// `set_delay` does.
    pub fn set_delay(&mut self, delay: f64) {
        if self.request_delay < delay {
            self.request_delay = delay;
        }
        self.request_delay = self.request_delay.min(DELAY_MAX);
    }

    pub fn request_delay(&self) -> f64 {
        self.request_delay
    }

    pub fn add_app(&mut self, id: i64, xml: impl FnOnce() -> String) {
        if !self.apps.iter().any(|(i, _)| *i == id) {
            self.apps.push((id, xml()));
        }
    }

    pub fn add_app_version(&mut self, id: i64, xml: impl FnOnce() -> String) {
        if !self.app_versions.iter().any(|(i, _)| *i == id) {
            self.app_versions.push((id, xml()));
        }
    }

    pub fn add_workunit(&mut self, id: i64, xml: impl FnOnce() -> String) {
        if !self.workunits.iter().any(|(i, _)| *i == id) {
            self.workunits.push((id, xml()));
        }
    }

    pub fn add_result(&mut self, xml: String) {
        self.results.push(xml);
    }

    /// Number of results (jobs) in the reply.
    pub fn job_count(&self) -> usize {
        self.results.len()
    }

    /// The reply text. `min_sendwork_interval` (seconds) is BOINC's setting: when set, every
    /// reply asks the client to wait slightly longer than it.
    pub fn render(
        &self,
        project_name: &str,
        master_url: &str,
        min_sendwork_interval: f64,
    ) -> String {
        let mut out = String::with_capacity(
            1024 + self
                .workunits
                .iter()
                .chain(&self.app_versions)
                .map(|(_, x)| x.len())
                .sum::<usize>()
                + self.results.iter().map(String::len).sum::<usize>(),
        );
        out.push_str("<scheduler_reply>\n");
        let _ = writeln!(
            out,
            "<scheduler_version>{SCHEDULER_VERSION}</scheduler_version>"
        );
        if self.dont_use_dcf {
            out.push_str("<dont_use_dcf/>\n");
        }
        let _ = writeln!(out, "<master_url>{}</master_url>", escape(master_url));
        let mut delay = self.request_delay;
        if delay > 0.0 || min_sendwork_interval > 0.0 {
            let needed = (1.01 * min_sendwork_interval).max(min_sendwork_interval + 1.0);
            if min_sendwork_interval > 0.0 && delay < needed {
                delay = needed;
            }
            let _ = writeln!(out, "<request_delay>{delay:.6}</request_delay>");
        }
        for m in &self.messages {
            let _ = writeln!(
                out,
                "<message priority=\"{}\">{}</message>",
                m.priority.as_str(),
                escape(&m.text)
            );
        }
        let _ = writeln!(out, "<project_name>{}</project_name>", escape(project_name));
        if self.project_is_down {
            out.push_str("<project_is_down/>\n");
        }
        if self.project_is_down || self.nucleus_only {
            out.push_str("</scheduler_reply>\n");
            return out;
        }
        if let Some(d) = self.next_rpc_delay {
            let _ = writeln!(out, "<next_rpc_delay>{d:.6}</next_rpc_delay>");
        }
        if let Some(a) = &self.account {
            self.render_account(&mut out, a);
        }
        for name in &self.result_acks {
            let _ = write!(
                out,
                "<result_ack>\n    <name>{}</name>\n</result_ack>\n",
                escape(name)
            );
        }
        for name in &self.result_aborts {
            let _ = write!(
                out,
                "<result_abort>\n    <name>{}</name>\n</result_abort>\n",
                escape(name)
            );
        }
        for name in &self.result_aborts_if_not_started {
            let _ = write!(
                out,
                "<result_abort_if_not_started>\n    <name>{}</name>\n</result_abort_if_not_started>\n",
                escape(name)
            );
        }
        for (_, xml) in self.apps.iter().chain(&self.app_versions) {
            out.push_str(xml);
        }
        for (_, xml) in &self.workunits {
            out.push_str(xml);
            out.push('\n');
        }
        for xml in &self.results {
            out.push_str(xml);
        }
        out.push_str(&self.no_apps);
        out.push_str(&self.code_sign);
        out.push_str("</scheduler_reply>\n");
        out
    }

    fn render_account(&self, out: &mut String, a: &AccountInfo) {
        let _ = write!(
            out,
            "<userid>{}</userid>\n\
             <user_name>{}</user_name>\n\
             <user_total_credit>{:.6}</user_total_credit>\n\
             <user_expavg_credit>{:.6}</user_expavg_credit>\n\
             <user_create_time>{}</user_create_time>\n",
            a.userid,
            escape(&a.user_name),
            a.user_total_credit,
            a.user_expavg_credit,
            a.user_create_time
        );
        if !a.email_hash.is_empty() {
            let _ = writeln!(out, "<email_hash>{}</email_hash>", a.email_hash);
        }
        if !a.cross_project_id.is_empty() {
            let _ = write!(
                out,
                "<cross_project_id>{}</cross_project_id>\n<external_cpid>{}</external_cpid>\n",
                escape(&a.cross_project_id),
                a.external_cpid
            );
        }
        if let Some(prefs) = &a.global_prefs {
            out.push_str(prefs.trim_end());
            out.push('\n');
        }
        if a.project_prefs.trim().is_empty() {
            out.push_str("<project_preferences>\n</project_preferences>\n");
        } else {
            out.push_str(a.project_prefs.trim_end());
            out.push('\n');
        }
        if let Some(id) = self.new_hostid {
            let _ = writeln!(out, "<hostid>{id}</hostid>");
        }
        let _ = write!(
            out,
            "<host_total_credit>{:.6}</host_total_credit>\n\
             <host_expavg_credit>{:.6}</host_expavg_credit>\n\
             <host_venue>{}</host_venue>\n\
             <host_create_time>{}</host_create_time>\n",
            a.host_total_credit,
            a.host_expavg_credit,
            escape(&a.host_venue),
            a.host_create_time
        );
        match &a.team {
            Some((id, name)) => {
                let _ = write!(
                    out,
                    "<teamid>{id}</teamid>\n<team_name>{}</team_name>\n",
                    escape(name)
                );
            }
            None => out.push_str("<team_name></team_name>\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_well_formed_and_carry_only_message_and_delay() {
        let r = SchedReply::refusal(
            "Invalid or missing account key.  To fix, remove and add this project.",
            Priority::Notice,
            DELAY_MISSING_KEY,
        );
        let text = r.render("Test & Project", "http://h/p/", 0.0);
        assert_eq!(
            text,
            "<scheduler_reply>\n<scheduler_version>720</scheduler_version>\n\
             <master_url>http://h/p/</master_url>\n<request_delay>3600.000000</request_delay>\n\
             <message priority=\"notice\">Invalid or missing account key.  To fix, remove and add this project.</message>\n\
             <project_name>Test &amp; Project</project_name>\n</scheduler_reply>\n"
        );
    }

    #[test]
    fn project_down_says_so() {
        let text = SchedReply::project_down("down for maintenance", 3600.0).render("P", "u", 0.0);
        assert!(text.contains("<project_is_down/>\n</scheduler_reply>\n"));
        assert!(text.contains("<message priority=\"low\">down for maintenance</message>"));
    }

    #[test]
    fn delays_follow_boinc() {
        let mut r = SchedReply::default();
        r.set_delay(10.0);
        r.set_delay(5.0);
        assert_eq!(r.request_delay(), 10.0);
        r.set_delay(1e9);
        assert_eq!(r.request_delay(), DELAY_MAX);
        // min_sendwork_interval 6 → at least 7 s, even with no delay of our own.
        let text = SchedReply::default().render("P", "u", 6.0);
        assert!(text.contains("<request_delay>7.000000</request_delay>"));
        let text = SchedReply::default().render("P", "u", 0.0);
        assert!(!text.contains("request_delay"));
    }

    #[test]
    fn blocks_are_deduplicated_by_id() {
        let mut r = SchedReply::default();
        r.add_app(1, || "<app>a</app>\n".into());
        r.add_app(1, || panic!("not rendered twice"));
        r.add_workunit(7, || "<workunit>w</workunit>".into());
        r.add_workunit(7, || unreachable!());
        r.add_result("<result>1</result>\n".into());
        r.add_result("<result>2</result>\n".into());
        r.account = Some(AccountInfo::default());
        let text = r.render("P", "u", 0.0);
        assert_eq!(text.matches("<app>").count(), 1);
        assert_eq!(text.matches("<workunit>").count(), 1);
        assert_eq!(r.job_count(), 2);
        assert!(text.contains("<project_preferences>\n</project_preferences>\n"));
        assert!(text.contains("<team_name></team_name>\n"));
    }
}
