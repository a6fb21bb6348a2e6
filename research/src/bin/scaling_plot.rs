//! `scaling_plot --csv RUNS.csv --out DIR`: the clients-versus-time study's picture and text
//! (`DIR/scaling.png`, `DIR/scaling.md`) from the runs `scripts/scaling.sh` measured; the work
//! is `rboinc_research::report::scaling`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use rboinc_research::report::scaling;

/// Draw the clients-versus-time study from its CSV (clients,rounds,seconds).
#[derive(Parser)]
struct Args {
    #[arg(long)]
    csv: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.csv)
        .with_context(|| format!("reading {}", args.csv.display()))?;
    let runs = scaling::parse_csv(&text).with_context(|| args.csv.display().to_string())?;
    std::fs::create_dir_all(&args.out)?;
    scaling::draw(&args.out.join("scaling.png"), &runs)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::fs::write(args.out.join("scaling.md"), scaling::summary(&runs, cores))?;
    Ok(())
}
