//! `series export NAME --out DIR`: the validated models of a series (see [`crate::export`]);
//! prints the folder.

use std::path::Path;

use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::find;

/// `series export`.
pub async fn command(
    project: &Project,
    pool: &db::Pool,
    name: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let s = find(pool, name).await?;
    let e = crate::export::export(project, pool, &s, out).await?;
    for (round, why) in &e.skipped {
        output::eprintln(format_args!("round {round}: skipped, {why}"));
    }
    if e.written.is_empty() {
        anyhow::bail!(
            "no round of {name} has validated weights to export (submit with --export-weights, and wait until rounds are assimilated)"
        );
    }
    output::eprintln(format_args!(
        "exported {} of {} rounds' models (round_<n>.npy, round_<n>.json model card, round_<n>_job.json)",
        e.written.len(),
        e.written.len() + e.skipped.len()
    ));
    output::println(out.display())?;
    Ok(())
}
