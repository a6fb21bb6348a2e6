//! `xadd`: the platforms and apps `project.xml` lists, put into the database — BOINC's
//! `bin/xadd`.
//!
//! A project made by BOINC's `make_project` has empty `platform` and `app` tables: the
//! administrator lists apps in `project.xml` and runs `bin/xadd`, which adds every listed
//! platform and app that is missing and updates the user-friendly name (and an app's
//! `<min_version>`) of those that exist. This is that step, as a library ([`apply`], used by
//! `update_versions` for the names a new version needs and by `make_project`) and as the
//! `xadd` command ([`cli`]). Rows are never deleted: an app dropped from `project.xml` keeps
//! its row, as with BOINC's.
//!
//! [`project_xml`] reads the file.

pub mod cli;
pub mod project_xml;

use rboinc_core::db::{self, AppId, PlatformId, app, platform};

pub use project_xml::{Listed, ListedApp, ProjectXml, ProjectXmlError};

/// What [`apply`] did to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added,
    /// Which column was brought in line with `project.xml`.
    Updated(&'static str),
    Unchanged,
}

/// One listed platform or app and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `platform` or `app`.
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, name) = (self.kind, &self.name);
        match &self.change {
            Change::Added => write!(f, "added {kind} {name}"),
            Change::Updated(what) => write!(f, "updated {what} of {kind} {name}"),
            Change::Unchanged => write!(f, "{kind} {name} already in the database"),
        }
    }
}

/// Adds `listed` if no platform has its name, else updates its user-friendly name.
pub async fn add_platform(
    ex: &mut sqlx::MySqlConnection,
    listed: &Listed,
    now: i32,
) -> Result<(PlatformId, Change), sqlx::Error> {
    if let Some(row) = platform::by_name(&mut *ex, &listed.name).await? {
        if row.user_friendly_name != listed.user_friendly_name {
            platform::set_user_friendly_name(&mut *ex, row.id, &listed.user_friendly_name).await?;
            return Ok((row.id, Change::Updated("user_friendly_name")));
        }
        return Ok((row.id, Change::Unchanged));
    }
    let id = platform::insert(
        &mut *ex,
        &platform::NewPlatform {
            create_time: now,
            name: &listed.name,
            user_friendly_name: &listed.user_friendly_name,
        },
    )
    .await?;
    Ok((id, Change::Added))
}

/// Adds `listed` if no app has its name, else updates its user-friendly name or
/// `min_version` (one of them per run, as BOINC's `xadd`).
pub async fn add_app(
    ex: &mut sqlx::MySqlConnection,
    listed: &ListedApp,
    now: i32,
) -> Result<(AppId, Change), sqlx::Error> {
    if let Some(row) = app::by_name(&mut *ex, &listed.name).await? {
        if row.user_friendly_name != listed.user_friendly_name {
            app::set_user_friendly_name(&mut *ex, row.id, &listed.user_friendly_name).await?;
            return Ok((row.id, Change::Updated("user_friendly_name")));
        }
        if row.min_version != listed.min_version {
            app::set_min_version(&mut *ex, row.id, listed.min_version).await?;
            return Ok((row.id, Change::Updated("min_version")));
        }
        return Ok((row.id, Change::Unchanged));
    }
    let id = app::insert(
        &mut *ex,
        &app::NewApp {
            create_time: now,
            name: &listed.name,
            user_friendly_name: &listed.user_friendly_name,
        },
    )
    .await?;
    if listed.min_version != 0 {
        app::set_min_version(&mut *ex, id, listed.min_version).await?;
    }
    Ok((id, Change::Added))
}

/// Every platform, then every app of `doc`, in one transaction.
pub async fn apply(
    pool: &db::Pool,
    doc: &ProjectXml,
    now: i32,
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut out = Vec::new();
    for p in &doc.platforms {
        let (_, change) = add_platform(&mut tx, p, now).await?;
        out.push(Outcome {
            kind: "platform",
            name: p.name.clone(),
            change,
        });
    }
    for a in &doc.apps {
        let (_, change) = add_app(&mut tx, a, now).await?;
        out.push(Outcome {
            kind: "app",
            name: a.name.clone(),
            change,
        });
    }
    tx.commit().await?;
    Ok(out)
}
