//! What keeps a series from moving, said so that the researcher knows what to do.
//!
//! None of these stop a submission — queueing work before the project is started or before
//! the first host attaches is normal — so `series submit` prints them as warnings, and `status`
//! and `wait` repeat them while the series has not finished.

use rboinc_core::db::{self, AppId, app, app_version};

use rboinc_tools::daemons_ctl::Controller;
use rboinc_tools::project::Project;

/// Why work would not move now, each with what to do (empty when all looks fine).
pub async fn hints(project: &Project, pool: &db::Pool, appid: AppId) -> Vec<String> {
    let mut out = daemon_hints(project);
    let app = match app::by_id(pool, appid).await {
        Ok(Some(a)) => a.name,
        _ => format!("#{}", appid.0),
    };
    match app_version::for_app(pool, appid).await {
        Ok(v) if v.iter().all(|v| v.deprecated != 0) => out.push(format!(
            "no version of app {app:?} is published, so hosts get no work: run `bin/update_versions --add-app-binary PATH --app {app} --version 1.0` in the project directory"
        )),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the app versions"),
    }
    let hosts: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM host")
        .fetch_one(pool)
        .await;
    match hosts {
        Ok(0) => out.push(format!(
            "no hosts have contacted the scheduler yet: attach a client with `boinccmd --project_attach {} <account key>` (make_project printed the key)",
            project.config.master_url.as_deref().unwrap_or("<master URL>")
        )),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot count the hosts"),
    }
    out
}

/// The daemons of `config.xml` for this host that are not running, as `status` sees them.
fn daemon_hints(project: &Project) -> Vec<String> {
    let ctl = Controller::new(project.dir.clone(), (*project.config).clone());
    let wanted: Vec<_> = ctl.status().into_iter().filter(|d| !d.disabled).collect();
    if wanted.is_empty() {
        return vec![format!(
            "config.xml lists no daemons for host {:?}, so nothing creates, sends or checks work here: add the <daemon> lines (make_project writes them) or run the series on the project's host",
            project.dir.host()
        )];
    }
    if wanted.iter().all(|d| !d.running) {
        return vec![format!(
            "the project is not running: start it with `bin/start` in {} (none of its {} daemons has a live pid file in pid_{}/)",
            project.dir.root().display(),
            wanted.len(),
            project.dir.host()
        )];
    }
    wanted
        .iter()
        .filter(|d| !d.running)
        .map(|d| {
            format!(
                "daemon `{}` is not running: `bin/start` in {} restarts it; its log {} ends with: {}",
                d.cmd,
                project.dir.root().display(),
                d.log.display(),
                d.last_log_line.as_deref().unwrap_or("(nothing)")
            )
        })
        .collect()
}
