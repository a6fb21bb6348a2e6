//! rboinc-research: the researcher's MNIST workflow on top of the BOINC project tools.
//!
//! A series is the researcher's unit of work — N rounds of the same training job with different
//! seeds, submitted together, followed live, reproduced locally and reported. It is a BOINC
//! `batch` row plus rboinc's `rb_series` and `rb_series_round` rows ([`store`]).
//! [`submit`](mod@submit) queues the rounds and creates the first workunits, with the dataset
//! staged as one bundle ([`dataset`]); the `work_generator` daemon creates the rest a cushion
//! at a time ([`generator`]), both staging job files a chunk ahead of the inserts
//! ([`job_files`]); [`progress`] says where each round is; [`local`] runs the same jobs here;
//! [`report`] writes the summary and plots; [`export`] gathers the validated models;
//! [`cancel`] stops a series; [`health`] says what keeps a series from moving, [`replicas`]
//! which rounds no host that asks may take; [`sweep`] makes one series of a grid of
//! parameters; [`generations`] makes a series one model trained in validated steps (chained
//! and federated series). [`params`] holds a round's training parameters (the mnist app's job
//! file) and [`error`] the one error type.
//!
//! The generic BOINC parts — workunit creation, staging, opening a project — come from
//! `rboinc-tools`; the training job format and the in-process trainer from `mnist-app`.
//!
//! The binaries are thin: `series` parses its command line with [`cli::Cli`] and runs
//! [`cli::run()`] (one module per subcommand); `work_generator` runs [`generator::top_up`] in
//! the daemon loop of `rboinc-core` ([`generator::daemon`]).

pub mod cancel;
pub mod cli;
pub mod dataset;
pub mod error;
pub mod export;
pub mod generations;
pub mod generator;
pub mod health;
pub mod job_files;
pub mod local;
pub mod params;
pub mod progress;
pub mod replicas;
pub mod report;
pub mod store;
pub mod submit;
pub mod sweep;

pub use error::SeriesError;
pub use params::SeriesParams;
pub use submit::{SubmitOptions, Submitted, submit};
