//! `series report NAME`: writes `reports/<series>/` and prints its directory.

use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::find;
use crate::report::{self, Report};
use crate::store::SeriesRow;

/// `series report`.
pub async fn command(project: &Project, pool: &db::Pool, name: &str) -> anyhow::Result<()> {
    let s = find(pool, name).await?;
    write(project, pool, &s).await
}

/// Writes the report, says how many rounds matched the local run, prints the directory.
pub async fn write(project: &Project, pool: &db::Pool, s: &SeriesRow) -> anyhow::Result<()> {
    let r = report::write(project, pool, s).await?;
    summarize(&r);
    output::println(r.dir.display())?;
    Ok(())
}

fn summarize(r: &Report) {
    let (same, differ, missing) = r.identical_counts();
    output::eprintln(format_args!(
        "report: {} ({same} rounds bit-identical to the local run, {differ} different, {missing} not comparable)",
        r.summary.display()
    ));
}
