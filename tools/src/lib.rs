//! rboinc-tools: the commands an administrator uses around the daemons.
//!
//! Every command is a thin `src/bin/<name>.rs` over a library module, so tests and other tools
//! (the end-to-end tests, the demo, the researcher's `rboinc-research`) call the same code
//! directly:
//! - [`make_project`]: a new project directory and database ([`make_project::create`]).
//! - [`update_versions`]: registers app versions from `apps/` ([`update_versions::run`]).
//! - [`xadd`]: the platforms and apps of `project.xml` into the database (BOINC's `bin/xadd`).
//! - [`create_work`]: workunits from templates and staged input files ([`create_work::WorkCreator`]).
//! - [`stage`]: putting input files into the download hierarchy.
//! - [`project`]: opening an existing project (directory, `config.xml`, database).
//! - [`daemons_ctl`]: `start`, `stop`, `status` — BOINC's `bin/start` for `<daemons>` and `<tasks>`.
//! - [`output`]: printing that ends quietly when the reader of a pipe goes away.

pub mod create_work;
pub mod daemons_ctl;
pub mod make_project;
pub mod output;
pub mod project;
pub mod stage;
pub mod update_versions;
pub mod xadd;
