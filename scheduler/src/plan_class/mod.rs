//! Plan classes: which builds of an app a host can run, and how it would run them.
//!
//! A version with a plan class (`app_version.plan_class`, the `__<plan_class>` suffix of its
//! directory) is only for hosts the plan class accepts; the check also says what a job of it
//! uses (CPUs, GPU instances, GPU RAM) and how fast it would go — the [`HostUsage`] the version
//! choice ranks by and the reply describes to the client.
//!
//! Where the definitions come from is BOINC's rule: the project's `plan_class_spec.xml` if it
//! has one ([`spec`], checked by [`check`]) — then only the classes it defines exist — or else
//! the classes BOINC's scheduler knows by name ([`builtin`]). A plan class the project does not
//! define is never sent. The file is read at start-up (a mistake in it stops the scheduler, with
//! file, line and column) and again when it changes, with the app version catalog (a mistake
//! then is logged and the previous definitions stay in force).
//!
//! [`host`] is what the checks may ask about the host; [`usage`] is their answer.

pub mod builtin;
pub mod check;
pub mod host;
pub mod spec;
pub mod usage;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rand::Rng;
use rboinc_core::config::ConfigError;

use host::{HostFacts, NoWorkNotes};
use spec::PlanClassSpec;
pub use usage::HostUsage;

/// The file name, in the project directory.
pub const SPEC_FILE: &str = "plan_class_spec.xml";

/// The project's plan classes.
#[derive(Debug, Clone, Default)]
pub enum PlanClasses {
    /// No `plan_class_spec.xml`: BOINC's named classes.
    #[default]
    BuiltIn,
    /// The classes of `plan_class_spec.xml`, in file order (the first of a name wins).
    Spec(Vec<PlanClassSpec>),
}

impl PlanClasses {
    /// Reads `plan_class_spec.xml` from `project_dir`; the built-in classes if there is none.
    pub fn load(project_dir: &Path) -> Result<PlanClasses, ConfigError> {
        let path = project_dir.join(SPEC_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(PlanClasses::Spec(spec::parse_specs(&path, &text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PlanClasses::BuiltIn),
            Err(source) => Err(ConfigError::Io { path, source }),
        }
    }

    fn spec(&self, name: &str) -> Option<&PlanClassSpec> {
        match self {
            PlanClasses::Spec(specs) => specs.iter().find(|s| s.name == name),
            PlanClasses::BuiltIn => None,
        }
    }

    /// Whether the project defines plan class `name` (versions of other classes are never
    /// sent).
    pub fn defines(&self, name: &str) -> bool {
        match self {
            PlanClasses::Spec(_) => self.spec(name).is_some(),
            PlanClasses::BuiltIn => builtin::is_known(name),
        }
    }

    /// The usage of a version of plan class `name` on the host, if the host can run it.
    pub fn check(
        &self,
        name: &str,
        h: &HostFacts<'_>,
        notes: &mut NoWorkNotes,
        rng: &mut impl Rng,
    ) -> Option<HostUsage> {
        match self {
            PlanClasses::Spec(_) => {
                let Some(s) = self.spec(name) else {
                    tracing::error!(plan_class = name, "unknown plan class; version not sent");
                    return None;
                };
                check::check(s, h, notes, rng)
            }
            PlanClasses::BuiltIn => builtin::check(name, h, notes),
        }
    }

    /// Whether a version of plan class `name` may not run workunit `wu_id` of batch `batch`
    /// (the spec's workunit and batch ranges).
    pub fn workunit_excluded(&self, name: &str, wu_id: i64, batch: i64) -> bool {
        self.spec(name)
            .is_some_and(|s| s.restricts_workunits() && s.workunit_excluded(wu_id, batch))
    }
}

/// The plan classes of a running scheduler: read at start-up, read again when the file
/// changes (see the module docs).
#[derive(Debug)]
pub struct PlanClassFile {
    path: PathBuf,
    project_dir: PathBuf,
    loaded: Mutex<(Option<SystemTime>, Arc<PlanClasses>)>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl PlanClassFile {
    /// Reads the project's plan classes; a mistake in the file is an error.
    pub fn open(project_dir: &Path) -> Result<PlanClassFile, ConfigError> {
        let path = project_dir.join(SPEC_FILE);
        let stamp = mtime(&path);
        let classes = PlanClasses::load(project_dir)?;
        Ok(PlanClassFile {
            path,
            project_dir: project_dir.to_path_buf(),
            loaded: Mutex::new((stamp, Arc::new(classes))),
        })
    }

    /// The definitions in force, read again first if the file changed (or appeared, or went).
    pub fn current(&self) -> Arc<PlanClasses> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = mtime(&self.path);
        if stamp != loaded.0 {
            loaded.0 = stamp;
            match PlanClasses::load(&self.project_dir) {
                Ok(classes) => {
                    tracing::info!(path = %self.path.display(), "plan classes read again");
                    loaded.1 = Arc::new(classes);
                }
                Err(e) => {
                    tracing::error!(error = %e, "plan class file not usable; the previous plan classes stay in force");
                }
            }
        }
        Arc::clone(&loaded.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_decides_which_classes_exist() {
        let dir = tempfile::tempdir().unwrap();
        let file = PlanClassFile::open(dir.path()).unwrap();
        let classes = file.current();
        assert!(classes.defines("mt") && classes.defines("cuda_fermi"));
        assert!(!classes.defines("mt8"), "not a built-in name");

        std::fs::write(
            dir.path().join(SPEC_FILE),
            "<plan_classes><plan_class><name>mt8</name><max_threads>8</max_threads></plan_class></plan_classes>",
        )
        .unwrap();
        let classes = file.current();
        assert!(classes.defines("mt8"));
        assert!(
            !classes.defines("mt"),
            "with a file, only its classes exist"
        );

        // A broken edit keeps what was in force.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join(SPEC_FILE), "<plan_classes><plan_class>").unwrap();
        let filetime = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(SPEC_FILE))
            .unwrap()
            .set_modified(filetime)
            .unwrap();
        assert!(file.current().defines("mt8"));
        let err = PlanClassFile::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("plan_class_spec.xml:1:"), "{err}");
    }
}
