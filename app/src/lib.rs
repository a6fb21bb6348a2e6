//! `mnist_app`: the deterministic MNIST trainer that BOINC volunteers run, and its tools.
//!
//! The app trains softmax regression (784 → 10) with minibatch SGD and writes `metrics.json`;
//! the same job gives the same bytes (outside `metrics.json`'s `host` object) on every x86_64
//! machine, with or without AVX2/FMA, which is what lets a BOINC validator compare replicas
//! bit for bit. It runs under a stock BOINC client without the C BOINC library, and standalone
//! for reference runs, through the same code.
//!
//! Reading order:
//! - [`job`]: `job.json`, validated with field-named errors.
//! - [`dataset`]: IDX directories, `.npz` and the single-file [`dataset::bundle`] BOINC uses.
//! - [`rng`], [`split`], [`model`], [`trainer`]: the seeded generator, the train/validation rows,
//!   the fixed-order arithmetic and the epoch loop.
//! - [`evaluate`]: exported weights scored on a dataset (`mnist evaluate`), alone or as an
//!   ensemble.
//! - [`checkpoint`]: exact resumable state; [`generation`]: the state one generation of a
//!   chained series hands to the next.
//! - [`metrics`] (with the metrics.json schema), [`npy`], [`host`]: the outputs.
//! - [`boinc`]: the app runtime (link files, `init_data.xml`, shared memory, markers).
//! - [`run`]: one job from inputs to outputs; [`slot`]: the BOINC entry point; [`cli`]: the
//!   command line.
//!
//! Logical file names (fixed for the whole project): inputs [`run::JOB`] (`job.json`) and
//! [`run::DATASET`] (`dataset`) and [`run::START_STATE`] (`start_state.bin`, only with
//! `start_from_state`), outputs [`run::METRICS`] (`metrics.json`), [`run::WEIGHTS`]
//! (`weights.npy`, only with `export_weights`) and [`run::STATE`] (`state.bin`, only with
//! `export_state`).
//!
//! The served executable is a static binary: `app/build-static.sh` builds it (see there).

pub mod boinc;
pub mod checkpoint;
pub mod cli;
pub mod dataset;
pub mod evaluate;
pub mod generation;
pub mod host;
pub mod job;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod rng;
pub mod run;
pub mod slot;
pub mod split;
pub mod trainer;

/// The app's version, reported in metrics.json and tied into checkpoints.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
