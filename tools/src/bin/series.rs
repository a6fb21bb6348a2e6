//! `series`: submit, follow, reproduce and report a series of training rounds (see
//! `rboinc_tools::series`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use rboinc_core::db;
use rboinc_tools::project::{Project, unix_now};
use rboinc_tools::series::local::{self, Runner};
use rboinc_tools::series::store::{self, SeriesRow};
use rboinc_tools::series::{
    self, SeriesError, SeriesParams, SubmitOptions, cancel, health, progress, report,
};

/// A series of MNIST training rounds on the project's volunteers.
#[derive(Debug, Parser)]
#[command(name = "series", version)]
struct Cli {
    /// Project directory [default: found from BOINC_PROJECT_DIR, . or ..].
    #[arg(long = "project-dir", global = true)]
    project_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Queue a series and create its first workunits.
    Submit(SubmitArgs),
    /// Show where each round is (all series if no name).
    Status { name: Option<String> },
    /// Follow a series until every round is finished.
    Wait(WaitArgs),
    /// submit + wait + local + report: the whole experiment in one command.
    Run {
        #[command(flatten)]
        submit: SubmitArgs,
        #[command(flatten)]
        wait: WaitOpts,
        #[command(flatten)]
        local: LocalOpts,
    },
    /// Run the series' jobs on this machine with the published app binary.
    Local {
        name: String,
        #[command(flatten)]
        local: LocalOpts,
    },
    /// Write reports/<series>/ (summary.md, acc_loss_curves.png, final_val_acc.png).
    Report { name: String },
    /// Stop a series: queued rounds are dropped, created workunits cancelled.
    Cancel { name: String },
}

#[derive(Debug, Args)]
struct SubmitArgs {
    /// Series name [default: series_<time>].
    #[arg(long)]
    name: Option<String>,
    /// The app the rounds run (it must take the mnist trainer's job files).
    #[arg(long, default_value = rboinc_tools::make_project::APP)]
    app: String,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    #[arg(long = "sample-count", default_value_t = 8000)]
    sample_count: u64,
    #[arg(long = "train-epochs", default_value_t = 10)]
    train_epochs: u64,
    #[arg(long = "batch-size", default_value_t = 256)]
    batch_size: u64,
    #[arg(long = "learning-rate", default_value_t = 0.05)]
    learning_rate: f64,
    /// Validation rows at most [default: all available].
    #[arg(long = "val-count")]
    val_count: Option<u64>,
    /// Gaussian pixel noise added to training images.
    #[arg(long = "noise-std", default_value_t = 0.0)]
    noise_std: f64,
    /// Also upload the trained weights (weights.npy).
    #[arg(long = "export-weights")]
    export_weights: bool,
    /// Seeds, comma-separated (one per round) [default: drawn from --base-seed].
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Seed of the seed sequence [default: random].
    #[arg(long = "base-seed")]
    base_seed: Option<u64>,
    /// Dataset: IDX directory, .npz or bundle [default: the shipped MNIST-10k].
    #[arg(long)]
    dataset: Option<PathBuf>,
    #[arg(long = "min-quorum", default_value_t = 2)]
    min_quorum: i32,
    #[arg(long = "target-nresults", default_value_t = 2)]
    target_nresults: i32,
    /// Seconds a host has for a job before it goes to another.
    #[arg(long = "delay-bound", default_value_t = 3600)]
    delay_bound: i32,
    #[arg(long, default_value_t = 0)]
    priority: i32,
    /// Email of the submitting account [default: the project's first account].
    #[arg(long)]
    submitter: Option<String>,
    #[arg(long, default_value_t = series::generator::DEFAULT_CUSHION)]
    cushion: usize,
}

#[derive(Debug, Args)]
struct WaitArgs {
    name: String,
    #[command(flatten)]
    opts: WaitOpts,
}

#[derive(Debug, Args, Clone)]
struct WaitOpts {
    /// Seconds between progress updates.
    #[arg(long = "poll", default_value_t = 2.0)]
    poll: f64,
    /// Give up after this many seconds [default: never].
    #[arg(long)]
    timeout: Option<f64>,
}

#[derive(Debug, Args, Clone)]
struct LocalOpts {
    /// The app executable to run [default: the project's newest published version].
    #[arg(long = "app-binary")]
    app_binary: Option<PathBuf>,
    /// Run through the app library in this process instead of a binary.
    #[arg(long = "in-process")]
    in_process: bool,
}

/// The MNIST-10k dataset shipped with the sources, when the sources are where they were built.
fn default_dataset() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../app/data/mnist-10k"
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("series: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn find(pool: &db::Pool, name: &str) -> anyhow::Result<SeriesRow> {
    Ok(store::series_by_name(pool, name)
        .await?
        .ok_or_else(|| SeriesError::Unknown(name.to_string()))?)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let project = Project::open(cli.project_dir.as_deref())?;
    let pool = project.connect().await?;
    match cli.command {
        Command::Submit(a) => {
            let (s, _) = submit(&project, &pool, a).await?;
            println!("{}", s.series.name);
        }
        Command::Status { name: Some(name) } => {
            let s = find(&pool, &name).await?;
            let rounds = progress::rounds(&pool, &s).await?;
            print!(
                "{}",
                progress::render(&s, &rounds, f64::from(unix_now() - s.create_time))
            );
            if s.state != store::SERIES_CANCELLED && !progress::Totals::of(&rounds).all_finished() {
                warn_hints(&project, &pool, &s).await;
            }
        }
        Command::Status { name: None } => {
            let mut unfinished = None;
            for s in store::all_series(&pool).await? {
                let t = progress::Totals::of(&progress::rounds(&pool, &s).await?);
                if s.state != store::SERIES_CANCELLED && !t.all_finished() {
                    unfinished.get_or_insert(s.clone());
                }
                println!(
                    "{}: {}/{} rounds done ({} failed){}",
                    s.name,
                    t.finished(),
                    t.rounds,
                    t.failed,
                    if s.state == store::SERIES_CANCELLED {
                        ", cancelled"
                    } else {
                        ""
                    }
                );
            }
            if let Some(s) = unfinished {
                warn_hints(&project, &pool, &s).await;
            }
        }
        Command::Wait(w) => {
            let s = find(&pool, &w.name).await?;
            wait(&project, &pool, &s, &w.opts, Vec::new()).await?;
        }
        Command::Run {
            submit: a,
            wait: w,
            local: l,
        } => {
            let started = Instant::now();
            let (sub, hints) = submit(&project, &pool, a).await?;
            let s = sub.series;
            eprintln!(
                "submitted {} ({} rounds, {} workunits created now)",
                s.name, s.rounds, sub.created
            );
            wait(&project, &pool, &s, &w, hints).await?;
            eprintln!(
                "distributed part finished in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            run_local(&project, &pool, &s, &l).await?;
            let r = report::write(&project, &pool, &s).await?;
            summarize(&r);
            println!("{}", r.dir.display());
        }
        Command::Local { name, local: l } => {
            let s = find(&pool, &name).await?;
            run_local(&project, &pool, &s, &l).await?;
        }
        Command::Report { name } => {
            let s = find(&pool, &name).await?;
            let r = report::write(&project, &pool, &s).await?;
            summarize(&r);
            println!("{}", r.dir.display());
        }
        Command::Cancel { name } => {
            let s = find(&pool, &name).await?;
            let c = cancel::cancel(&pool, &s).await?;
            println!(
                "cancelled {}: {} queued rounds dropped, {} workunits cancelled",
                s.name, c.rounds_dropped, c.workunits_cancelled
            );
        }
    }
    Ok(())
}

async fn submit(
    project: &Project,
    pool: &db::Pool,
    a: SubmitArgs,
) -> anyhow::Result<(series::Submitted, Vec<String>)> {
    let o = SubmitOptions {
        name: a.name,
        app: a.app,
        params: SeriesParams {
            sample_count: a.sample_count,
            train_epochs: a.train_epochs,
            batch_size: a.batch_size,
            learning_rate: a.learning_rate,
            val_count: a.val_count,
            noise_std: a.noise_std,
            export_weights: a.export_weights,
        },
        rounds: a.seeds.as_ref().map_or(a.rounds, Vec::len),
        seeds: a.seeds,
        base_seed: a.base_seed,
        dataset: a.dataset.unwrap_or_else(default_dataset),
        min_quorum: a.min_quorum,
        target_nresults: a.target_nresults,
        delay_bound: a.delay_bound,
        priority: a.priority,
        submitter: a.submitter,
        cushion: a.cushion,
    };
    let s = series::submit(project, pool, &o).await?;
    eprintln!(
        "series {}: {} rounds queued as batch {}, {} workunits created; dataset {} ({} training rows)",
        s.series.name,
        s.series.rounds,
        s.series.batch_id,
        s.created,
        s.series.dataset_file,
        s.dataset_train_rows
    );
    let hints = warn_hints(project, pool, &s.series).await;
    Ok((s, hints))
}

/// Says what keeps a series from moving (see `series::health`); returns what it said.
async fn warn_hints(project: &Project, pool: &db::Pool, s: &SeriesRow) -> Vec<String> {
    let hints = health::hints(project, pool, s.appid).await;
    print_hints(&hints);
    hints
}

fn print_hints(hints: &[String]) {
    for h in hints {
        eprintln!("series: warning: {h}");
    }
}

async fn wait(
    project: &Project,
    pool: &db::Pool,
    s: &SeriesRow,
    o: &WaitOpts,
    // What `submit` has just said (kept under the progress on a terminal).
    mut hints: Vec<String>,
) -> anyhow::Result<()> {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last = String::new();
    let (mut first, mut checked_late) = (true, false);
    loop {
        let rounds = progress::rounds(pool, s).await?;
        let totals = progress::Totals::of(&rounds);
        let elapsed = f64::from(unix_now() - s.create_time);
        let text = progress::render(s, &rounds, elapsed);
        if tty {
            // Redraw in place, the warnings under the progress.
            eprint!("\x1b[H\x1b[2J{text}");
            print_hints(&hints);
        } else {
            let head = text.lines().next().unwrap_or("").to_string();
            if head != last {
                eprintln!("{head}");
                last = head;
            }
        }
        if totals.all_finished() {
            return Ok(());
        }
        // Say what keeps the series from moving: at once, and (if all looked fine then) again
        // when nothing has finished after a short grace period.
        let late = start.elapsed() > Duration::from_secs(20) && totals.finished() == 0;
        if hints.is_empty() && (first || (late && !checked_late)) {
            hints = warn_hints(project, pool, s).await;
            checked_late |= late;
        }
        first = false;
        if o.timeout.is_some_and(|t| start.elapsed().as_secs_f64() > t) {
            anyhow::bail!(
                "gave up waiting after {} s ({} of {} rounds finished)",
                o.timeout.unwrap_or(0.0),
                totals.finished(),
                totals.rounds
            );
        }
        tokio::time::sleep(Duration::from_secs_f64(o.poll.max(0.1))).await;
    }
}

async fn run_local(
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
    let params: SeriesParams = serde_json::from_str(&s.params).context("series parameters")?;
    let rounds: Vec<(i32, u64)> = store::rounds(pool, s.id)
        .await?
        .iter()
        .map(|r| (r.round, r.seed))
        .collect();
    let dir = report::report_dir(project, s);
    let n = rounds.len();
    tokio::task::spawn_blocking(move || {
        local::run(&runner, &dataset, &params, &rounds, &dir, |r| {
            eprintln!(
                "local run {}/{n} (seed {}) done: {}",
                r.round,
                r.seed,
                r.metrics.display()
            );
        })
    })
    .await
    .expect("local runs do not panic")?;
    Ok(())
}

fn summarize(r: &report::Report) {
    let (same, differ, missing) = r.identical_counts();
    eprintln!(
        "report: {} ({same} rounds bit-identical to the local run, {differ} different, {missing} not comparable)",
        r.summary.display()
    );
}
