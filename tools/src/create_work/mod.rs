//! `create_work`: workunits from an input template, a result template and input files.
//!
//! Two phases, so that a mistake never leaves a half-made job behind:
//! 1. [`WorkCreator::prepare`] checks everything that can be wrong — the app, both templates,
//!    every input file (staged into the download hierarchy, with MD5 and size) and the job
//!    parameters — and renders the workunit's `xml_doc`. It writes no row.
//! 2. [`insert`] writes prepared workunits with multi-row `INSERT`s (about 1 MB each, as
//!    BOINC's bulk mode does), in the caller's transaction.
//!
//! Input names are names in the download directory, as in BOINC. A name containing `/` is
//! taken as the path of a local file and staged under its base name (what BOINC's
//! `stage_file` does), which is also why a path such as `download/job.json` can never produce
//! a `.../download/download/...` URL. `--remote_file URL NBYTES MD5` inputs are not staged.
//! Results are not created here: the transitioner does that, as in BOINC.

mod job;
pub mod line;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rboinc_core::config::Config;
use rboinc_core::crypt::PrivateKey;
use rboinc_core::db::{self, AppId, BatchId, WorkunitId, app};
use rboinc_core::state::TransitionerFlags;
use rboinc_core::template::input::{
    FileSource, InputTemplate, RenderError, ResolvedFile, TemplateError,
};
use rboinc_core::template::output::{self, OutputSettings};
use sqlx::MySqlConnection;

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

/// Creates workunits for one app of one project; caches templates across jobs.
#[derive(Debug)]
pub struct WorkCreator {
    config: Arc<Config>,
    app: app::AppRow,
    stager: Stager,
    templates: HashMap<PathBuf, Arc<InputTemplate>>,
    checked_result_templates: HashMap<String, ()>,
    upload_key: Option<Arc<PrivateKey>>,
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
        })
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
                    let f = self
                        .stager
                        .constant(physical_name)
                        .map_err(|e| input_err(0, e))?;
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
                            let f = self.stager.locate(name).map_err(|e| input_err(i, e))?;
                            self.staged(info.gzip, f).map_err(|e| input_err(i, e))?
                        }
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

/// Bytes of SQL per multi-row INSERT before it is sent (BOINC's bulk mode uses about 1 MB).
const INSERT_BYTES: usize = 1 << 20;
/// Rows per INSERT at most (MySQL allows 65,535 placeholders; 25 per row).
const INSERT_ROWS: usize = 2000;

/// Phase 2: inserts prepared workunits (`transition_time` = `now`, so the transitioner makes
/// their results at once). Returns their ids in order. Runs in the caller's connection or
/// transaction; a duplicate name is reported as [`CreateWorkError::Duplicate`].
pub async fn insert(
    conn: &mut MySqlConnection,
    wus: &[PreparedWorkunit],
    now: i32,
) -> Result<Vec<WorkunitId>, CreateWorkError> {
    let mut ids = Vec::with_capacity(wus.len());
    let mut start = 0;
    while start < wus.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < wus.len() && end - start < INSERT_ROWS && (bytes < INSERT_BYTES || end == start)
        {
            bytes += wus[end].xml_doc.len() + 200;
            end += 1;
        }
        let chunk = &wus[start..end];
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO workunit (create_time, appid, name, xml_doc, batch, rsc_fpops_est, rsc_fpops_bound, \
             rsc_memory_bound, rsc_disk_bound, need_validate, canonical_resultid, canonical_credit, \
             transition_time, delay_bound, error_mask, file_delete_state, assimilate_state, hr_class, opaque, \
             min_quorum, target_nresults, max_error_results, max_total_results, max_success_results, \
             result_template_file, priority, rsc_bandwidth_bound, fileset_id, app_version_id, \
             transitioner_flags, size_class, keywords, app_version_num) ",
        );
        qb.push_values(chunk, |mut b, wu| {
            let d = &wu.desc;
            b.push_bind(now)
                .push_bind(wu.appid)
                .push_bind(&wu.name)
                .push_bind(&wu.xml_doc)
                .push_bind(BatchId(d.batch))
                .push_bind(d.rsc_fpops_est)
                .push_bind(d.rsc_fpops_bound)
                .push_bind(d.rsc_memory_bound)
                .push_bind(d.rsc_disk_bound)
                .push("0, 0")
                .push_bind(d.canonical_credit)
                .push_bind(now)
                .push_bind(d.delay_bound)
                .push("0, 0, 0, 0")
                .push_bind(d.opaque)
                .push_bind(d.min_quorum)
                .push_bind(d.target_nresults)
                .push_bind(d.max_error_results)
                .push_bind(d.max_total_results)
                .push_bind(d.max_success_results)
                .push_bind(&wu.result_template)
                .push_bind(d.priority)
                .push_bind(d.rsc_bandwidth_bound)
                .push("0, 0")
                .push_bind(TransitionerFlags::Normal)
                .push_bind(d.size_class)
                .push_bind(&d.keywords)
                .push_bind(d.app_version_num);
        });
        let done = match qb.build().execute(&mut *conn).await {
            Ok(done) => done,
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                let names: Vec<&str> = chunk.iter().map(|w| w.name.as_str()).collect();
                let taken: Vec<String> =
                    sqlx::QueryBuilder::new("SELECT name FROM workunit WHERE name IN ")
                        .push_tuples(names.iter(), |mut b, n| {
                            b.push_bind(*n);
                        })
                        .build_query_scalar()
                        .fetch_all(&mut *conn)
                        .await?;
                return Err(CreateWorkError::Duplicate(
                    taken.into_iter().next().unwrap_or_else(|| names.join(",")),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if done.rows_affected() != chunk.len() as u64 {
            return Err(CreateWorkError::Sql(sqlx::Error::Protocol(format!(
                "inserted {} of {} workunits",
                done.rows_affected(),
                chunk.len()
            ))));
        }
        // Ids by name: a multi-row INSERT's ids need not be consecutive (auto-increment lock
        // mode 2), so they are read back rather than computed.
        let rows: Vec<(WorkunitId, String)> =
            sqlx::QueryBuilder::new("SELECT id, name FROM workunit WHERE name IN ")
                .push_tuples(chunk.iter(), |mut b, w| {
                    b.push_bind(&w.name);
                })
                .build_query_as()
                .fetch_all(&mut *conn)
                .await?;
        let by_name: HashMap<String, WorkunitId> =
            rows.into_iter().map(|(id, n)| (n, id)).collect();
        for w in chunk {
            ids.push(by_name.get(&w.name).copied().unwrap_or_default());
        }
        start = end;
    }
    Ok(ids)
}
