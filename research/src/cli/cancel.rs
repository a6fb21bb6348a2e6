//! `series cancel NAME`: stops a series (see [`crate::cancel`]) and says what it dropped.

use rboinc_core::db;
use rboinc_tools::output;

use super::find;

/// `series cancel`.
pub async fn command(pool: &db::Pool, name: &str) -> anyhow::Result<()> {
    let s = find(pool, name).await?;
    let c = crate::cancel::cancel(pool, &s).await?;
    output::println(format_args!(
        "cancelled {}: {} queued rounds dropped, {} workunits cancelled",
        s.name, c.rounds_dropped, c.workunits_cancelled
    ))?;
    Ok(())
}
