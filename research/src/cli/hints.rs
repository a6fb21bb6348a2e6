//! The warnings `submit`, `status` and `wait` print when something keeps a series from moving
//! (what to say is [`crate::health`]'s job).

use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use crate::store::SeriesRow;
use crate::{health, replicas};

/// Says what keeps a series from moving; returns what it said.
pub async fn warn(project: &Project, pool: &db::Pool, s: &SeriesRow) -> Vec<String> {
    let hints = health::hints(project, pool, s.appid).await;
    print(&hints);
    hints
}

/// The rounds of `s` no host that asks for work may take (see [`replicas`]), one warning each;
/// `status` prints them with [`print`], `wait` whenever they change.
pub async fn blocked(project: &Project, pool: &db::Pool, s: &SeriesRow) -> Vec<String> {
    replicas::hints(pool, &project.config.sched, s.id).await
}

/// Prints warnings to standard error.
pub fn print(hints: &[String]) {
    for h in hints {
        output::eprintln(format_args!("series: warning: {h}"));
    }
}
