//! New results: names, random numbers and `xml_doc_in` from the job's result template (stored
//! by `rboinc_core::db::result::insert_many`).
//!
//! Names are BOINC's (`<wu name>_<n>`, n counting on from the highest existing suffix) and so is
//! the row content (`transitioner.md` §4.7). The template is read once per batch and per file, not
//! once per result as BOINC does. Upload signatures (one RSA signature per output file, about a
//! millisecond each) are the only CPU-heavy step; they are spread over all cores, off the async
//! runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rboinc_core::crypt::PrivateKey;
use rboinc_core::db::result::NewResult;
use rboinc_core::db::{AppId, BatchId, WorkunitId};
use rboinc_core::state::ServerState;
use rboinc_core::template::output::{
    OutputSettings, OutputTemplateError, output_base_name, process_output_template,
};

use super::load::DueWorkunit;
use super::plan::NewReplicas;

/// A result row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReplicaRow {
    pub workunitid: WorkunitId,
    pub name: String,
    pub server_state: ServerState,
    pub xml_doc_in: String,
    pub priority: i32,
    pub batch: BatchId,
    pub appid: AppId,
    pub size_class: i32,
    pub random: i32,
}

/// Why a job's results could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("cannot read result template {path}: {message}")]
    Template { path: PathBuf, message: String },
    #[error("result template {path}")]
    Process {
        path: PathBuf,
        #[source]
        source: OutputTemplateError,
    },
}

/// What every new result needs from the project.
#[derive(Debug, Clone)]
pub struct ReplicaFactory {
    project_dir: PathBuf,
    upload_url: Option<String>,
    signing_key: Option<Arc<PrivateKey>>,
}

/// A random non-negative 31-bit number, like the C library's `lrand48()`.
fn random31() -> i32 {
    (rand::random::<u32>() >> 1) as i32
}

impl ReplicaFactory {
    /// `signing_key` is the upload private key, or `None` with
    /// `<dont_generate_upload_certificates>`.
    pub fn new(
        project_dir: PathBuf,
        upload_url: Option<String>,
        signing_key: Option<PrivateKey>,
    ) -> Self {
        ReplicaFactory {
            project_dir,
            upload_url,
            signing_key: signing_key.map(Arc::new),
        }
    }

    /// Builds the rows for each `(job, what to create)`; a job whose template cannot be read or
    /// processed gets an error instead (and no rows). Blocking (file reads, RSA): run it with
    /// `spawn_blocking`.
    pub fn build(
        &self,
        jobs: &[(DueWorkunit, NewReplicas)],
    ) -> Vec<(WorkunitId, Result<Vec<NewReplicaRow>, CreateError>)> {
        let mut templates: HashMap<&str, Result<Arc<str>, String>> = HashMap::new();
        for (wu, _) in jobs {
            templates
                .entry(wu.result_template_file.as_str())
                .or_insert_with(|| {
                    std::fs::read_to_string(self.template_path(&wu.result_template_file))
                        .map(Arc::from)
                        .map_err(|e| e.to_string())
                });
        }
        // Signing is the slow part: give each core a share of the jobs.
        let threads = if self.signing_key.is_some() {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        };
        let chunk = jobs.len().div_ceil(threads).max(1);
        if threads == 1 || jobs.len() <= 1 {
            return jobs
                .iter()
                .map(|job| self.build_one(job, &templates))
                .collect();
        }
        let batch_span = tracing::Span::current();
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| {
                    let templates = &templates;
                    let span = batch_span.clone();
                    scope.spawn(move || {
                        span.in_scope(|| {
                            part.iter()
                                .map(|job| self.build_one(job, templates))
                                .collect::<Vec<_>>()
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("result building does not panic"))
                .collect()
        })
    }

    fn template_path(&self, file: &str) -> PathBuf {
        self.project_dir.join(Path::new(file))
    }

    fn build_one(
        &self,
        (wu, new): &(DueWorkunit, NewReplicas),
        templates: &HashMap<&str, Result<Arc<str>, String>>,
    ) -> (WorkunitId, Result<Vec<NewReplicaRow>, CreateError>) {
        let _span = tracing::info_span!("create_results", wu_id = %wu.id).entered();
        let path = self.template_path(&wu.result_template_file);
        let template = match &templates[wu.result_template_file.as_str()] {
            Ok(t) => t,
            Err(message) => {
                return (
                    wu.id,
                    Err(CreateError::Template {
                        path,
                        message: message.clone(),
                    }),
                );
            }
        };
        let settings = OutputSettings {
            upload_url: self.upload_url.as_deref(),
            signing_key: self.signing_key.as_deref(),
        };
        let mut rows = Vec::with_capacity(new.count as usize);
        for j in 0..i64::from(new.count) {
            let name = format!("{}_{}", wu.name, new.first_suffix + j);
            let base = output_base_name(&name, random31() as u32);
            let xml_doc_in = match process_output_template(template, &base, settings) {
                Ok(doc) => doc,
                Err(source) => return (wu.id, Err(CreateError::Process { path, source })),
            };
            rows.push(NewReplicaRow {
                workunitid: wu.id,
                name,
                server_state: new.server_state,
                xml_doc_in,
                priority: new.priority,
                batch: wu.batch,
                appid: wu.appid,
                size_class: wu.size_class,
                random: random31(),
            });
        }
        (wu.id, Ok(rows))
    }
}

impl NewReplicaRow {
    /// The row as `rboinc_core::db::result::insert_many` takes it, created at `now`.
    pub fn as_new_result(&self, now: i32) -> NewResult<'_> {
        NewResult {
            create_time: now,
            workunitid: self.workunitid,
            server_state: self.server_state,
            name: &self.name,
            xml_doc_in: &self.xml_doc_in,
            batch: self.batch,
            appid: self.appid,
            priority: self.priority,
            random: self.random,
            size_class: self.size_class,
        }
    }
}
