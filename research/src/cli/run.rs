//! `series run`: the whole experiment in one command — submit, wait, the local reference runs
//! and the report; the report directory is the one line on standard output.

use std::time::Instant;

use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::{LocalOpts, SubmitArgs, WaitOpts, local, report, submit, wait};

/// `series run`.
pub async fn command(
    project: &Project,
    pool: &db::Pool,
    a: SubmitArgs,
    w: &WaitOpts,
    l: &LocalOpts,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (sub, hints) = submit::submit(project, pool, a).await?;
    let s = sub.series;
    output::eprintln(format_args!(
        "submitted {} ({} rounds, {} workunits created now)",
        s.name, s.rounds, sub.created
    ));
    wait::wait(project, pool, &s, w, hints).await?;
    output::eprintln(format_args!(
        "distributed part finished in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    local::run(project, pool, &s, l).await?;
    report::write(project, pool, &s).await
}
