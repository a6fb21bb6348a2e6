//! One scheduler RPC past the request checks: the named steps, in BOINC's order (the C++
//! `process_request`), on one database connection.
//!
//! 1. [`auth`]: who is asking — the account, and the host record found, re-found or created; a
//!    bad key or a blacklisted host ends the RPC with a refusal;
//! 2. [`account_info`]: the account part of the reply (the cross-project id is recorded);
//! 3. [`versions`]: the builds the host can run; none for its platforms ends the RPC;
//! 4. [`host`]: the host record takes the client's new description;
//! 5. [`report`]: reported results are written and acknowledged;
//! 6. [`resend`]: if the client asks for work, its lost results are sent again;
//! 7. [`send`]: new work, unless lost results were resent or the last request was too recent;
//! 8. [`abort`]: with `send_result_abort`, the tasks the client holds that the server no longer
//!    wants (read after the transaction: it writes nothing);
//! 9. [`next_rpc`]: when the client should come back.
//!
//! Steps 4–7 write in one transaction whenever more than the host row is written: one commit
//! (one log flush, the dominant cost of a write on a durable MySQL) per RPC, and a reply that
//! is only sent if all of it — reports, claims, the host's new state — is in the database. The
//! host row comes first: the validator locks hosts before results, so taking it before any
//! result row (reports, claims) keeps the two from waiting for each other in a cycle. An RPC
//! that writes only the host row does so in one statement.
//!
//! [`auth`]: super::auth
//! [`account_info`]: super::account_info
//! [`versions`]: super::versions
//! [`host`]: super::host
//! [`report`]: super::report
//! [`resend`]: super::resend
//! [`send`]: super::send
//! [`abort`]: super::abort
//! [`next_rpc`]: super::next_rpc

use std::collections::HashSet;
use std::sync::Mutex;

use rand::SeedableRng;
use rand::rngs::StdRng;

use rboinc_core::crypt::CodeSignReply;
use rboinc_core::db::AppId;
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;
use tracing::Span;

use super::auth::{self, Account, AuthError};
use super::catalog::Catalog;
use super::coprocs::ProcType;
use super::hr::HostKind;
use super::project_prefs::{AppSelection, ProjectPrefs};
use super::quota::HostQuotas;
use super::reliability::{Record, Trust, turnaround_multiplier};
use super::reply::{DELAY_MISSING_KEY, DELAY_UNSUPPORTED, Priority, SchedReply};
use super::request::{self, SchedRequest};
use super::rpc_log::RpcLog;
use super::send::{self, HostView, SendContext, WorkPlan};
use super::shared::SchedState;
use super::versions::{Chooser, Versions};
use super::{abort, account_info, host, next_rpc, report, resend};
use crate::metrics::RpcKind;
use crate::plan_class::host::HostFacts;

/// The client version from which replies say `<dont_use_dcf/>` (7.0.28).
const DONT_USE_DCF_FROM: u32 = 70028;

/// One RPC being answered.
#[derive(Debug, Clone, Copy)]
pub struct Rpc<'a> {
    pub state: &'a SchedState,
    pub req: &'a SchedRequest,
    pub client_addr: &'a str,
    pub now: i64,
    /// The request's span: it gets the host and user ids once they are known.
    pub span: &'a Span,
}

/// Why the steps ended early.
#[derive(Debug)]
enum Stop {
    /// The client is refused, with this reply.
    Refused(Box<SchedReply>),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Db(e)
    }
}

/// Runs the steps of the module docs. Database errors end the RPC (the caller answers
/// "project down"); everything else is a message in the reply.
pub async fn process(
    rpc: &Rpc<'_>,
    log: &mut RpcLog,
) -> Result<(SchedReply, RpcKind), sqlx::Error> {
    // One connection for the whole RPC: a request never waits for a second one (a busy pool
    // would deadlock). Kept for the next RPC only if this one got through.
    let mut conn = rpc.state.conns.acquire().await?;
    let done = match steps(rpc, &mut conn, log).await {
        Ok(done) => done,
        Err(Stop::Refused(reply)) => (*reply, RpcKind::Refused),
        Err(Stop::Db(e)) => return Err(e),
    };
    conn.finished();
    Ok(done)
}

async fn steps(
    rpc: &Rpc<'_>,
    conn: &mut MySqlConnection,
    log: &mut RpcLog,
) -> Result<(SchedReply, RpcKind), Stop> {
    let Rpc {
        state, req, now, ..
    } = *rpc;
    let sched = &state.settings.sched;
    let catalog = state.caches.catalog.get(conn).await?;

    let mut account = authenticate(rpc, conn).await?;
    log.host_id = Some(account.host.id.get());
    log.user_id = Some(account.user.id.get());
    log.new_host = account.host_created;
    let mut reply = SchedReply::default();
    reply.dont_use_dcf = req.core_client_version() >= DONT_USE_DCF_FROM;
    reply.account = Some(account_info::describe(conn, req, &account).await?);
    if account.announce_hostid {
        reply.new_hostid = Some(account.host.id.get());
    }
    for note in &account.notes {
        reply.message(Priority::Low, note.clone());
    }

    let Some(versions) = Versions::for_request(req, &catalog) else {
        reply.message(
            Priority::Notice,
            format!(
                "This project doesn't support computers of type {}",
                req.platform_name
            ),
        );
        reply.set_delay(DELAY_UNSUPPORTED);
        return Err(Stop::Refused(Box::new(reply)));
    };
    reply.no_apps = no_apps(req, &catalog);
    let requesting = req.requesting_work() && !sched.dont_send_jobs;
    let wants_work = requesting && code_sign_key(state, req, &mut reply);

    let rpc_seqno = if account.announce_hostid {
        0
    } else {
        req.rpc_seqno
    };
    let external_ip = request::clip_bytes(rpc.client_addr, 254);
    let email = &account.user.email_addr;
    let (mut sent, mut resent) = (0, 0);
    let mut quotas = HostQuotas::start(
        account.host.id,
        &account.host.app_version_stats,
        sched.daily_result_quota,
        i64::from(account.host.rpc_time),
        now,
    );
    quotas.gpu_multiplier = state.settings.gpu_multiplier;
    if req.results.is_empty() && !wants_work {
        // Nothing but the host's new state: one statement.
        host::update(
            &mut *conn,
            account.host.id,
            req,
            email,
            rpc_seqno,
            now,
            external_ip,
        )
        .await?;
        if quotas.changed() {
            // A new day (or a first quota): rare enough for a statement of its own.
            quotas.write(&mut *conn).await?;
        }
    } else {
        let mut tx = conn.begin().await?;
        host::update(
            &mut *tx,
            account.host.id,
            req,
            email,
            rpc_seqno,
            now,
            external_ip,
        )
        .await?;
        let reported = report::handle(
            &mut tx,
            &catalog,
            req,
            &mut account,
            sched,
            &mut quotas,
            now,
        )
        .await?;
        reply.result_acks = reported.acks;
        log.reported = reported.written_results;
        if wants_work {
            (sent, resent, quotas) = send_jobs(
                rpc,
                &mut tx,
                &catalog,
                &account,
                HostWork {
                    versions,
                    resend_lost: reported.resend_lost,
                    quotas,
                },
                &mut reply,
            )
            .await?;
        }
        quotas.write(&mut tx).await?;
        tx.commit().await?;
        state.metrics.results_reported(reported.written as u64);
        state
            .metrics
            .results_reported_errors(reported.errors as u64);
    }
    if sched.send_result_abort
        && let Some(held) = &req.other_results
    {
        let prefetched = account.prefetched.held_rows.take();
        abort::send_aborts(conn, account.host.id, held, prefetched, &mut reply).await?;
    }
    state.metrics.results_sent((sent + resent) as u64);
    state.metrics.results_resent(resent as u64);

    reply.next_rpc_delay = next_rpc::delay(&state.settings, &state.caches.activity, conn).await;
    let kind = if requesting {
        RpcKind::Work
    } else if !req.results.is_empty() {
        RpcKind::Report
    } else {
        RpcKind::NoWork
    };
    tracing::debug!(
        jobs = reply.job_count(),
        acks = reply.result_acks.len(),
        "scheduler reply"
    );
    Ok((reply, kind))
}

/// Step 1: the account and host record, or the refusal that ends the RPC. Records the ids in
/// the request's span.
async fn authenticate(rpc: &Rpc<'_>, conn: &mut MySqlConnection) -> Result<Account, Stop> {
    // With `send_result_abort`, the rows of the tasks the client holds come with its host
    // record (see [`abort`]).
    let sched = &rpc.state.settings.sched;
    let held = match &rpc.req.other_results {
        Some(held) if sched.send_result_abort => held.as_slice(),
        _ => &[],
    };
    // With `resend_lost_results`, a count that says whether any job in progress is lost comes
    // with it too (see [`resend`]).
    let listed: Option<Vec<&str>> = match &rpc.req.other_results {
        Some(other) if sched.resend_lost_results => Some(
            other
                .iter()
                .map(|o| o.name.as_str())
                .chain(rpc.req.results.iter().map(|r| r.name.as_str()))
                .collect(),
        ),
        _ => None,
    };
    // And the stored rows of the reported results.
    let prefetch = auth::Prefetch {
        held,
        listed: listed.as_deref(),
        reported: report::handled(rpc.req, sched),
    };
    let account = match auth::authenticate(conn, rpc.req, prefetch, rpc.now).await {
        Ok(a) => a,
        Err(AuthError::BadKey { had_host }) => {
            tracing::warn!(host_id = rpc.req.hostid, "bad authenticator");
            let priority = if had_host {
                Priority::Notice
            } else {
                Priority::Low
            };
            return Err(Stop::Refused(Box::new(SchedReply::refusal(
                auth::BAD_KEY_MESSAGE,
                priority,
                DELAY_MISSING_KEY,
            ))));
        }
        Err(AuthError::Db(e)) => return Err(Stop::Db(e)),
    };
    rpc.span.record("host_id", account.host.id.get());
    rpc.span.record("user_id", account.user.id.get());
    if account.host_created {
        rpc.state.metrics.host_created();
    }
    if account.host.max_results_day == -1 {
        return Err(Stop::Refused(Box::new(SchedReply::refusal(
            "Not accepting requests from this host",
            Priority::Low,
            86_400.0,
        ))));
    }
    Ok(account)
}

/// Puts the project's code-signing key in the reply if the client lacks it. False if the
/// client holds a key the project does not know: it would refuse the signatures of any work.
fn code_sign_key(state: &SchedState, req: &SchedRequest, reply: &mut SchedReply) -> bool {
    match state
        .code_sign
        .reply_for(&req.code_sign_key, req.core_client_major_version)
    {
        CodeSignReply::UpToDate => true,
        send @ CodeSignReply::Send { .. } => {
            reply.code_sign = send.to_xml();
            true
        }
        CodeSignReply::UnknownKey => {
            reply.message(
                Priority::Notice,
                "The project has changed its security key.  Please remove and add this project.",
            );
            false
        }
    }
}

/// What sending work starts from, besides the request: the builds the host can run, whether
/// a report asked for lost results to be resent, the host's daily quotas.
struct HostWork<'a> {
    versions: Versions<'a>,
    resend_lost: bool,
    quotas: HostQuotas,
}

/// Steps 6 and 7, in the RPC's transaction: lost results first; new work only if none was
/// resent (BOINC's rule) and the host's last request is not too recent. Returns how many jobs
/// were sent and resent.
async fn send_jobs(
    rpc: &Rpc<'_>,
    tx: &mut MySqlConnection,
    catalog: &Catalog,
    account: &Account,
    work: HostWork<'_>,
    reply: &mut SchedReply,
) -> Result<(usize, usize, HostQuotas), sqlx::Error> {
    let Rpc {
        state, req, now, ..
    } = *rpc;
    let HostWork {
        versions,
        resend_lost,
        quotas,
    } = work;
    let settings = &state.settings;
    let sched = &settings.sched;
    let prefs = ProjectPrefs::parse(&account.user.project_prefs, &account.host.venue);
    let have_apps = match &versions {
        Versions::Project(_) => catalog.have_apps,
        Versions::Anonymous(list) => {
            let mut have = [false; 5];
            for c in list.iter() {
                let pt = c
                    .coproc
                    .as_ref()
                    .and_then(|(t, _)| ProcType::from_coproc_type(t))
                    .unwrap_or(ProcType::Cpu);
                have[pt.index()] = true;
            }
            have
        }
    };
    let mut plan = WorkPlan::new(
        req,
        sched,
        settings.gpu_multiplier,
        prefs.max_cpus,
        have_apps,
    );
    plan.user_max_jobs = prefs.max_jobs.max(0) as usize;
    plan.disk_available = send::disk::max_allowable_disk(req, settings.default_disk_min_free_gb);
    let usable_ram = usable_ram(req);
    let facts = HostFacts {
        req,
        user_id: account.user.id.get(),
        prefs: &prefs,
        effective_ncpus: plan.effective_ncpus,
        usable_ram,
        capped_fpops: catalog.perf.cap(req.host.p_fpops),
    };
    // The host's statistics per version rank its versions (read with the host record).
    let havs = account.host.app_version_stats.clone();
    let mut rng = StdRng::from_rng(rand::thread_rng()).expect("the thread RNG seeds");
    let trust = Trust::decide(
        havs.iter().map(|row| {
            let (max_jobs, valid) = quotas
                .current(row.app_version_id)
                .unwrap_or((row.max_jobs_per_day, row.consecutive_valid));
            (row.app_version_id, Record::of(row, max_jobs, valid))
        }),
        sched,
        turnaround_multiplier(&req.host.os_name, &req.host.p_vendor),
        &mut rng,
    );
    let chooser = Chooser::new(
        versions,
        catalog,
        facts,
        &settings.select,
        havs,
        quotas,
        rng,
    );
    let (cpu_frac, gpu_frac) = available_fracs(req);
    let ctx = SendContext {
        jobs: &state.caches.jobs,
        catalog,
        sched,
        metrics: &state.metrics,
        host: HostView {
            id: account.host.id,
            userid: account.user.id,
            usable_ram,
            cpu_available_frac: cpu_frac,
            gpu_available_frac: gpu_frac,
        },
        kind: HostKind {
            os_name: &req.host.os_name,
            p_vendor: &req.host.p_vendor,
            p_model: &req.host.p_model,
        },
        prefs: &prefs,
        selection: Mutex::new(AppSelection::new(&prefs)),
        trust,
        client_version: req.core_client_version(),
        chooser: Mutex::new(chooser),
        now,
    };
    let mut in_reply = HashSet::new();
    if let Some(held) = &req.other_results
        && (resend_lost
            || (sched.resend_lost_results
                && !resend::nothing_lost(account.prefetched.unlisted_in_progress)))
    {
        let resent =
            resend::resend_lost(&ctx, &mut *tx, held, &mut plan, reply, &mut in_reply).await?;
        if resent > 0 {
            return Ok((0, resent, take_quotas(&ctx)));
        }
    }
    let since_last = now - i64::from(account.host.rpc_time);
    let interval = sched.min_sendwork_interval.as_secs() as i64;
    if interval > 0 && !account.host_created && since_last < interval {
        let wait = interval - since_last;
        reply.message(
            Priority::Low,
            format!("Not sending work. Last request too recent. Please wait {wait} seconds."),
        );
        reply.set_delay(1.01 * interval as f64);
        return Ok((0, 0, take_quotas(&ctx)));
    }
    let stats = send::send_work(&ctx, tx, &mut plan, reply, &mut in_reply).await?;
    if stats.sent == 0 {
        // BOINC's order: the selected apps without work, the other reasons, the selection.
        let selection = ctx.selection().clone();
        for appid in selection.without_work() {
            if let Some(app) = catalog.app(AppId(appid)) {
                reply.message(
                    Priority::Low,
                    format!("No tasks are available for {}", app.friendly_name()),
                );
            }
        }
        let notes = std::mem::take(&mut ctx.chooser().notes);
        for note in notes.0 {
            let priority = if note == send::candidates::HR_COMMITTED {
                Priority::Low
            } else {
                Priority::Notice
            };
            reply.message(priority, note);
        }
        if stats.hr_rejected {
            reply.message(
                Priority::Notice,
                "Your computer type is not supported by this project",
            );
        }
        if selection.refused {
            reply.message(
                Priority::Low,
                "No tasks are available for the applications you have selected.",
            );
        }
    }
    if stats.no_jobs_available {
        reply.message(Priority::Low, "Project has no tasks available");
    }
    let quotas = take_quotas(&ctx);
    if stats.sent == 0
        && let Some(n) = quotas.exhausted
    {
        // BOINC's delay for it is 0: the client's own backoff applies.
        reply.message(
            Priority::Low,
            format!("This computer has finished a daily quota of {n} tasks"),
        );
    }
    Ok((stats.sent, 0, quotas))
}

/// The quotas back from the version choice, with the jobs it counted.
fn take_quotas(ctx: &SendContext<'_>) -> HostQuotas {
    std::mem::take(&mut ctx.chooser().quotas)
}

/// The reply's `<no_rsc_apps>`: each of the client's resource types (the CPU, and the GPUs it
/// has) the project has no versions for — unless it has none for any of them, since a 7.0
/// client told that would never come back (BOINC's rule). Clients before 7.0.40 read the older
/// `<no_cpu_apps>`, `<no_cuda_apps>`, `<no_ati_apps>`.
fn no_apps(req: &SchedRequest, catalog: &Catalog) -> String {
    let have = catalog.have_apps;
    let client_has = |pt: ProcType| pt == ProcType::Cpu || req.coprocs.named(pt).is_some();
    if !ProcType::ALL
        .iter()
        .any(|&pt| client_has(pt) && have[pt.index()])
    {
        return String::new();
    }
    let mut out = String::new();
    if req.core_client_version() < 70_040 {
        out.push_str(&format!(
            "<no_cpu_apps>{}</no_cpu_apps>\n<no_cuda_apps>{}</no_cuda_apps>\n<no_ati_apps>{}</no_ati_apps>\n",
            i32::from(!have[0]),
            i32::from(!have[1]),
            i32::from(!have[2])
        ));
    }
    for pt in ProcType::ALL {
        if client_has(pt) && !have[pt.index()] {
            out.push_str(&format!("<no_rsc_apps>{}</no_rsc_apps>\n", pt.xml_name()));
        }
    }
    out
}

/// RAM jobs may use: the host's, times the larger of the busy and idle limits of the
/// preferences when both are set (BOINC's `get_mem_sizes`).
fn usable_ram(req: &SchedRequest) -> f64 {
    const DEFAULT_RAM: f64 = 64e6;
    let ram = if req.host.m_nbytes > 0.0 {
        req.host.m_nbytes
    } else {
        DEFAULT_RAM
    };
    let (busy, idle) = (req.ram_max_used_busy_frac, req.ram_max_used_idle_frac);
    if busy > 0.0 && idle > 0.0 {
        ram * busy.max(idle).min(1.0)
    } else {
        ram
    }
}

/// The share of time the host computes on CPUs and GPUs, 0.1..=1 (BOINC's
/// `get_available_fracs`).
fn available_fracs(req: &SchedRequest) -> (f64, f64) {
    let h = &req.host;
    let (cpu, gpu) = if req.core_client_version() <= 41_900 {
        (h.on_frac, h.on_frac)
    } else {
        (h.active_frac * h.on_frac, h.gpu_active_frac * h.on_frac)
    };
    (cpu.clamp(0.1, 1.0), gpu.clamp(0.1, 1.0))
}
