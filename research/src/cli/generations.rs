//! The chain options of `series submit`/`run` and `series resume` (see
//! [`crate::generations`]).

use clap::Args;
use rboinc_core::db;
use rboinc_tools::output;

use super::find;
use crate::generations::{self, ChainOptions};

/// `--generations G --epochs-per-generation E`: one model trained in G validated steps.
#[derive(Debug, Args, Clone, Default)]
pub struct ChainArgs {
    /// Train one model in this many generations, each continuing from the previous one's
    /// validated state (a chained series; --rounds is then ignored).
    #[arg(long)]
    generations: Option<u32>,
    /// Epochs each generation trains [default: --train-epochs].
    #[arg(long = "epochs-per-generation", requires = "generations")]
    epochs_per_generation: Option<u64>,
    /// Federated averaging: each generation is this many workunits, each training the
    /// generation's start model on its shard of the drawn rows; their models are averaged
    /// (weighted by shard size) into the next generation's start.
    #[arg(long, default_value_t = 1, requires = "generations")]
    shards: u32,
}

impl ChainArgs {
    /// The chain asked for, if any; without --epochs-per-generation, 0 (the caller fills in
    /// --train-epochs).
    pub fn options(&self) -> Option<ChainOptions> {
        self.generations.map(|g| ChainOptions {
            generations: g,
            epochs_per_generation: self.epochs_per_generation.unwrap_or(0),
            shards: self.shards,
        })
    }
}

/// `series resume NAME`.
pub async fn resume(pool: &db::Pool, name: &str) -> anyhow::Result<()> {
    let s = find(pool, name).await?;
    let r = generations::resume(pool, &s).await?;
    for (round, wu) in &r.requeued {
        output::eprintln(format_args!(
            "series {name}: round {round} queued again as {wu}; the work generator creates it"
        ));
    }
    output::eprintln(format_args!("series {name}: running again"));
    Ok(())
}
