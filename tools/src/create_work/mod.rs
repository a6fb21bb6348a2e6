//! `create_work`: workunits from an input template, a result template and input files.
//!
//! Two phases, so that a mistake never leaves a half-made job behind:
//! 1. [`WorkCreator::prepare`] checks everything that can be wrong — the app, both templates,
//!    every input file (staged into the download hierarchy, with MD5 and size) and the job
//!    parameters — and renders the workunit's `xml_doc`. It writes no row.
//! 2. [`insert`] writes prepared workunits with multi-row `INSERT`s (about 1 MB each, as
//!    BOINC's bulk mode does), in the caller's transaction.
//!
//! [`bulk`] runs both for `--stdin`, overlapping them in one transaction. Input files looked up
//! by name are remembered for the rest of a batch (the dataset of 10,000 jobs is read once).
//! [`cli`] is the `create_work` command line.
//!
//! Input names are names in the download directory, as in BOINC. A name containing `/` is
//! taken as the path of a local file and staged under its base name (what BOINC's
//! `stage_file` does), which is also why a path such as `download/job.json` can never produce
//! a `.../download/download/...` URL. `--remote_file URL NBYTES MD5` inputs are not staged.
//! Results are not created here: the transitioner does that, as in BOINC.

pub mod bulk;
pub mod cli;
mod insert;
mod job;
pub mod line;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rboinc_core::config::Config;
use rboinc_core::crypt::PrivateKey;
use rboinc_core::db::{self, AppId, app};
use rboinc_core::template::input::{
    FileSource, InputTemplate, RenderError, ResolvedFile, TemplateError,
};
use rboinc_core::template::output::{self, OutputSettings};

pub use insert::{insert, rows_per_statement};
pub use job::{JobDesc, JobOverrides};

use crate::stage::{StageError, StagedFile, Stager};

/// One input file argument.
#[derive(Debug, Clone, PartialEq)]
pub enum InputArg {
    /// A name in the download directory (hierarchy or top level).
    Name(String),
    /// A local file, staged under its base name.
    Path(PathBuf),
    /// `--remote_file URL NBYTES MD5`.
    Remote {
        url: String,
        nbytes: f64,
        md5: String,
    },
    /// A file the caller has just staged (its MD5 known), e.g. with [`Stager::stage_many`].
    Staged(StagedFile),
}

impl InputArg {
    /// How `create_work` reads a positional argument: a name, or a path if it has a `/`.
    pub fn from_arg(arg: &str) -> InputArg {
        if arg.contains('/') {
            InputArg::Path(PathBuf::from(arg))
        } else {
            InputArg::Name(arg.to_string())
        }
    }
}

/// Everything about one job.
#[derive(Debug, Clone)]
pub struct WorkSpec {
    pub name: String,
    /// Input template path (absolute, or relative to the project root).
    pub wu_template: PathBuf,
    /// Result template path as stored in the row (relative to the project root).
    pub result_template: String,
    pub inputs: Vec<InputArg>,
    /// `Some` = BOINC's `create_work` program behaviour (always a `<command_line>`, maybe
    /// empty); `None` = a work generator's (no element unless the template has one).
    pub command_line: Option<String>,
    /// Parameters from the command line (before the template is applied).
    pub desc: JobDesc,
    /// Applied after the template.
    pub overrides: JobOverrides,
    /// Extra XML for the `<workunit>` element (e.g. `<sub_appname>`).
    pub additional_xml: String,
}

/// A checked job, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedWorkunit {
    pub name: String,
    pub appid: AppId,
    pub xml_doc: String,
    pub result_template: String,
    pub desc: JobDesc,
    /// The staged inputs (name, path, URL, MD5), for callers that report them.
    pub inputs: Vec<String>,
}

/// Why a job cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateWorkError {
    #[error("unknown app {app:?}; the project's apps are: {known} (add it to the database first)")]
    UnknownApp { app: String, known: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{}: {source}", template.display())]
    Render {
        template: PathBuf,
        #[source]
        source: RenderError,
    },
    #[error(
        "{} input file(s) given, but {} needs {} (one per <file_info> without <physical_name>)",
        given, template.display(), needed
    )]
    InputCount {
        template: PathBuf,
        given: usize,
        needed: usize,
    },
    #[error("{}:{line}: input file {index}: {source}", template.display())]
    Input {
        template: PathBuf,
        line: u32,
        index: usize,
        #[source]
        source: StageError,
    },
    #[error("result template {}: {message}", path.display())]
    ResultTemplate { path: PathBuf, message: String },
    #[error("workunit {name:?}: {message}")]
    Job { name: String, message: String },
    #[error("workunit name {name:?}: {source}")]
    Name {
        name: String,
        #[source]
        source: StageError,
    },
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error("a workunit named {0:?} already exists")]
    Duplicate(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Creates workunits for one app of one project; caches templates across jobs, and the input
/// files it looked up within a batch (see [`WorkCreator::new_batch`]).
#[derive(Debug)]
pub struct WorkCreator {
    config: Arc<Config>,
    app: app::AppRow,
    stager: Stager,
    templates: HashMap<PathBuf, Arc<InputTemplate>>,
    checked_result_templates: HashMap<String, ()>,
    upload_key: Option<Arc<PrivateKey>>,
    /// Input names found in the download directory during this batch. Staged files are
    /// immutable, so within a batch a name always means the same bytes; a shared input (the
    /// dataset) is then looked up once instead of once per job.
    located: HashMap<String, StagedFile>,
    /// Whether this batch copied files into the hierarchy (then [`WorkCreator::sync_staged`]
    /// must run before the commit).
    staged_new: bool,
}

impl WorkCreator {
    /// Looks up the app; an unknown app is an error that lists the known ones.
    pub async fn new(
        pool: &db::Pool,
        config: Arc<Config>,
        appname: &str,
    ) -> Result<WorkCreator, CreateWorkError> {
        let Some(app) = app::by_name(pool, appname).await? else {
            let known: Vec<String> = app::all(pool).await?.into_iter().map(|a| a.name).collect();
            return Err(CreateWorkError::UnknownApp {
                app: appname.to_string(),
                known: if known.is_empty() {
                    "(none)".into()
                } else {
                    known.join(", ")
                },
            });
        };
        let stager = Stager::from_config(&config)?;
        Ok(WorkCreator {
            config,
            app,
            stager,
            templates: HashMap::new(),
            checked_result_templates: HashMap::new(),
            upload_key: None,
            located: HashMap::new(),
            staged_new: false,
        })
    }

    /// Starts a new batch: input files are looked up afresh (a long-running generator calls
    /// this once per pass, since files can be deleted between passes).
    pub fn new_batch(&mut self) {
        self.located.clear();
    }

    /// Makes the files this batch staged durable before the caller commits (see
    /// [`Stager::sync`]); does nothing if it staged none.
    pub fn sync_staged(&mut self) -> Result<(), CreateWorkError> {
        if self.staged_new {
            self.stager.sync()?;
            self.staged_new = false;
        }
        Ok(())
    }

    /// A named input, looked up once per batch.
    fn locate(&mut self, name: &str) -> Result<StagedFile, StageError> {
        if let Some(f) = self.located.get(name) {
            return Ok(f.clone());
        }
        let (f, copied) = self.stager.locate_or_copy(name)?;
        self.staged_new |= copied;
        self.located.insert(name.to_string(), f.clone());
        Ok(f)
    }

    /// A constant (`<physical_name>`) input, looked up once per batch.
    fn constant(&mut self, name: &str) -> Result<StagedFile, StageError> {
        let key = format!("\0constant:{name}");
        if let Some(f) = self.located.get(&key) {
            return Ok(f.clone());
        }
        let f = self.stager.constant(name)?;
        self.located.insert(key, f.clone());
        Ok(f)
    }

    pub fn app(&self) -> &app::AppRow {
        &self.app
    }

    pub fn stager(&self) -> &Stager {
        &self.stager
    }

    fn project_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.config.project_dir.join(p)
        }
    }

    /// The parsed input template at `path` (cached).
    pub fn input_template(&mut self, path: &Path) -> Result<Arc<InputTemplate>, CreateWorkError> {
        let full = self.project_path(path);
        if let Some(t) = self.templates.get(&full) {
            return Ok(t.clone());
        }
        let t = Arc::new(InputTemplate::load(&full)?);
        self.templates.insert(full, t.clone());
        Ok(t)
    }

    /// Checks a result template once: it exists, its macros expand, and (with upload signing
    /// on) every output file can be signed.
    fn check_result_template(&mut self, rel: &str) -> Result<(), CreateWorkError> {
        if self.checked_result_templates.contains_key(rel) {
            return Ok(());
        }
        let path = self.project_path(Path::new(rel));
        let err = |message: String| CreateWorkError::ResultTemplate {
            path: path.clone(),
            message,
        };
        if rel.len() > 63 {
            return Err(err(format!(
                "the path {rel:?} is longer than the 63 characters BOINC stores"
            )));
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read it: {e}")))?;
        if !text.contains("<output_template>") || !text.contains("<result>") {
            return Err(err("it has no <output_template> with a <result>".into()));
        }
        let signing = self
            .config
            .options()
            .bool("dont_generate_upload_certificates")
            .ok()
            .flatten()
            != Some(true);
        if signing && self.upload_key.is_none() {
            let key_path = self.config.key_dir.join("upload_private");
            let key = PrivateKey::read_file(&key_path).map_err(|e| {
                err(format!(
                    "upload signing is on but the upload key cannot be read: {e}"
                ))
            })?;
            self.upload_key = Some(Arc::new(key));
        }
        let settings = OutputSettings {
            upload_url: self.config.upload_url.as_deref(),
            signing_key: if signing {
                self.upload_key.as_deref()
            } else {
                None
            },
        };
        output::process_output_template(&text, &output::output_base_name("check_0", 1), settings)
            .map_err(|e| err(e.to_string()))?;
        self.checked_result_templates.insert(rel.to_string(), ());
        Ok(())
    }

    /// Phase 1 (see the module docs): checks and renders one job; stages its local inputs.
    pub fn prepare(&mut self, spec: &WorkSpec) -> Result<PreparedWorkunit, CreateWorkError> {
        crate::stage::check_input_name(&spec.name).map_err(|source| CreateWorkError::Name {
            name: spec.name.clone(),
            source,
        })?;
        let template = self.input_template(&spec.wu_template)?;
        let tpath = template.path.clone();
        self.check_result_template(&spec.result_template)?;
        let needed = template.inputs_needed();
        if spec.inputs.len() != needed {
            return Err(CreateWorkError::InputCount {
                template: tpath,
                given: spec.inputs.len(),
                needed,
            });
        }
        let mut args = spec.inputs.iter().enumerate();
        let mut files = Vec::with_capacity(template.file_infos.len());
        for info in &template.file_infos {
            let input_err = |index: usize, source: StageError| CreateWorkError::Input {
                template: tpath.clone(),
                line: info.at.line,
                index,
                source,
            };
            let resolved = match &info.source {
                FileSource::Constant { physical_name } => {
                    let f = self.constant(physical_name).map_err(|e| input_err(0, e))?;
                    self.staged(info.gzip, f).map_err(|e| input_err(0, e))?
                }
                FileSource::Local => {
                    let (i, arg) = args.next().expect("count checked");
                    match arg {
                        InputArg::Remote { url, nbytes, md5 } => ResolvedFile::RemoteArg {
                            url: url.clone(),
                            md5: md5.clone(),
                            nbytes: *nbytes,
                        },
                        InputArg::Name(name) => {
                            let f = self.locate(name).map_err(|e| input_err(i, e))?;
                            self.staged(info.gzip, f).map_err(|e| input_err(i, e))?
                        }
                        InputArg::Staged(f) => self
                            .staged(info.gzip, f.clone())
                            .map_err(|e| input_err(i, e))?,
                        InputArg::Path(path) => {
                            let name = path
                                .file_name()
                                .and_then(|n| n.to_str())
                                .ok_or_else(|| {
                                    input_err(
                                        i,
                                        StageError::BadName {
                                            name: path.display().to_string(),
                                            problem: "it has no file name".into(),
                                        },
                                    )
                                })?
                                .to_string();
                            let f = self
                                .stager
                                .stage_copy(path, &name)
                                .map_err(|e| input_err(i, e))?;
                            self.staged_new = true;
                            self.staged(info.gzip, f).map_err(|e| input_err(i, e))?
                        }
                    }
                }
                FileSource::Remote { .. } => {
                    let (i, arg) = args.next().expect("count checked");
                    let InputArg::Name(name) = arg else {
                        return Err(input_err(
                            i,
                            StageError::BadName {
                                name: format!("{arg:?}"),
                                problem: "this <file_info> describes a remote file; give a plain file name".into(),
                            },
                        ));
                    };
                    crate::stage::check_input_name(name).map_err(|e| input_err(i, e))?;
                    ResolvedFile::TemplateRemote { name: name.clone() }
                }
            };
            files.push(resolved);
        }
        let mut desc = spec.desc.clone();
        desc.apply_template(&template.params);
        desc.apply_overrides(&spec.overrides);
        desc.raise_limits();
        desc.check().map_err(|message| CreateWorkError::Job {
            name: spec.name.clone(),
            message,
        })?;
        let xml_doc = template
            .render(&files, spec.command_line.as_deref(), &spec.additional_xml)
            .map_err(|source| CreateWorkError::Render {
                template: tpath.clone(),
                source,
            })?;
        Ok(PreparedWorkunit {
            name: spec.name.clone(),
            appid: self.app.id,
            xml_doc,
            result_template: spec.result_template.clone(),
            desc,
            inputs: files.iter().map(ResolvedFile::name).collect(),
        })
    }

    fn staged(&self, gzip: bool, f: StagedFile) -> Result<ResolvedFile, StageError> {
        let gzipped_nbytes = if gzip {
            Some(self.stager.gzipped_nbytes(&f)?)
        } else {
            None
        };
        Ok(ResolvedFile::Staged {
            name: f.name,
            url: f.url,
            md5: f.md5.md5.to_string(),
            nbytes: f.md5.nbytes,
            gzipped_nbytes,
        })
    }
}
