//! `series local NAME`: the series' jobs run on this machine (see [`crate::local`]), with the
//! published app binary, a given one, or the app library in this process.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rboinc_core::db;
use rboinc_tools::output;
use rboinc_tools::project::Project;

use super::find;
use crate::local::{self, Runner};
use crate::store::{self, SeriesRow};
use crate::{SeriesParams, report};

#[derive(Debug, Args, Clone)]
pub struct LocalOpts {
    /// The app executable to run [default: the project's newest published version].
    #[arg(long = "app-binary")]
    app_binary: Option<PathBuf>,
    /// Run through the app library in this process instead of a binary.
    #[arg(long = "in-process")]
    in_process: bool,
}

/// `series local`.
pub async fn command(
    project: &Project,
    pool: &db::Pool,
    name: &str,
    l: &LocalOpts,
) -> anyhow::Result<()> {
    let s = find(pool, name).await?;
    run(project, pool, &s, l).await
}

/// Runs every round of `s` here, into the series' report directory.
pub async fn run(
    project: &Project,
    pool: &db::Pool,
    s: &SeriesRow,
    l: &LocalOpts,
) -> anyhow::Result<()> {
    let runner = if l.in_process {
        Runner::InProcess
    } else {
        match &l.app_binary {
            Some(b) => Runner::Binary(b.clone()),
            None => Runner::Binary(
                local::published_binary(
                    pool,
                    &project.config.download_dir,
                    rboinc_tools::make_project::APP,
                )
                .await?,
            ),
        }
    };
    let stager = rboinc_tools::stage::Stager::from_config(&project.config)?;
    let dataset = stager.path_of(&s.dataset_file)?;
    let rounds: Vec<(i32, u64, SeriesParams)> = store::rounds(pool, s.id)
        .await?
        .iter()
        .map(|r| Ok((r.round, r.seed, r.params_of(s)?)))
        .collect::<Result<_, serde_json::Error>>()
        .context("series parameters")?;
    let dir = report::report_dir(project, s);
    if let Some(c) = crate::generations::chain(pool, s.id).await? {
        let seed = rounds.first().map_or(0, |r| r.1);
        // A chained series has one configuration: every round carries the series' parameters.
        let params: SeriesParams = serde_json::from_str(&s.params).context("series parameters")?;
        let (g, k) = (c.generations as u32, c.shards as u32);
        tokio::task::spawn_blocking(move || {
            crate::generations::local::run(&runner, &dataset, &params, seed, g, k, &dir, |r| {
                output::eprintln(format_args!(
                    "local round {} of the chain ({g} generations × {k}) done: {}",
                    r.round,
                    r.metrics.display()
                ));
            })
        })
        .await
        .expect("local runs do not panic")?;
        return Ok(());
    }
    let n = rounds.len();
    tokio::task::spawn_blocking(move || {
        local::run_each(&runner, &dataset, &rounds, &dir, |r| {
            output::eprintln(format_args!(
                "local run {}/{n} (seed {}) done: {}",
                r.round,
                r.seed,
                r.metrics.display()
            ));
        })
    })
    .await
    .expect("local runs do not panic")?;
    Ok(())
}
