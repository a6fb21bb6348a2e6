//! The warnings `submit`, `status` and `wait` print when something keeps a series from moving
//! (what to say is [`crate::health`]'s job).

use rboinc_core::db;
use rboinc_tools::project::Project;

use crate::health;
use crate::store::SeriesRow;

/// Says what keeps a series from moving; returns what it said.
pub async fn warn(project: &Project, pool: &db::Pool, s: &SeriesRow) -> Vec<String> {
    let hints = health::hints(project, pool, s.appid).await;
    print(&hints);
    hints
}

/// Prints warnings to standard error.
pub fn print(hints: &[String]) {
    for h in hints {
        eprintln!("series: warning: {h}");
    }
}
