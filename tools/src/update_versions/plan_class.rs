//! Checking a version's plan class before it is registered: the scheduler sends a version only
//! if the project defines its plan class (in `plan_class_spec.xml`, or, without that file, as
//! one of the classes BOINC's scheduler knows by name), and takes what a job of it uses (CPUs,
//! a GPU) from that definition. A `version.xml` may state the same as an `app_info.xml`
//! (`<avg_ncpus>`, `<coproc><type>…</type><count>…</count></coproc>`); those statements are
//! checked against the definition here, so a mistake is caught when publishing rather than
//! seen by volunteers. They are not written into the version's XML: the scheduler describes
//! the usage it computed for each host, as BOINC's does.

use std::path::Path;

use rboinc_core::config::ConfigError;
use rboinc_core::config::document;

/// What a plan class's definition says about the resources its versions use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassUsage {
    /// The coprocessor type in `<coproc><type>` terms (`NVIDIA`, `ATI`, `intel_gpu`,
    /// `apple_gpu`), if it is a GPU class of one of those.
    pub gpu: Option<&'static str>,
    /// It may use more than one CPU.
    pub multithread: bool,
    /// A fixed CPU count (`<avg_ncpus>` of the spec), if any.
    pub avg_ncpus: Option<f64>,
    /// A fixed GPU count (`<ngpus>` > 0 of the spec), if any.
    pub ngpus: Option<f64>,
}

/// The project's plan class definitions.
#[derive(Debug, Clone)]
pub enum ProjectClasses {
    /// No `plan_class_spec.xml`: BOINC's named classes.
    BuiltIn,
    /// The file's classes: (name, usage).
    Spec(Vec<(String, ClassUsage)>),
}

/// The names BOINC's scheduler recognizes without a `plan_class_spec.xml` (its `app_plan`
/// dispatch; the scheduler's `plan_class::builtin` answers to the same names).
pub fn builtin_plan_class_known(name: &str) -> bool {
    name == "mt"
        || name.contains("opencl_cpu_intel")
        || name.starts_with("opencl")
        || name.starts_with("ati")
        || name.contains("cuda")
        || name == "nci"
        || name == "sse3"
        || name.contains("vbox")
        || name.contains("wsl")
}

fn gpu_of_type(gpu_type: &str) -> Option<&'static str> {
    match gpu_type {
        "nvidia" => Some("NVIDIA"),
        "amd" | "ati" => Some("ATI"),
        t if t.starts_with("intel") => Some("intel_gpu"),
        t if t.starts_with("apple_gpu") => Some("apple_gpu"),
        _ => None,
    }
}

impl ProjectClasses {
    /// Reads `<project>/plan_class_spec.xml`, if there is one.
    pub fn load(project_dir: &Path) -> Result<ProjectClasses, ConfigError> {
        let path = project_dir.join("plan_class_spec.xml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProjectClasses::BuiltIn);
            }
            Err(source) => return Err(ConfigError::Io { path, source }),
        };
        let root = document::parse(&path, &text)?;
        let mut classes = Vec::new();
        for pc in root.children_named("plan_class") {
            let value = |n: &str| pc.child(n).map(|e| e.value().to_string());
            let number = |n: &str| value(n).and_then(|v| v.parse::<f64>().ok());
            let Some(name) = value("name") else { continue };
            let usage = ClassUsage {
                gpu: value("gpu_type").as_deref().and_then(gpu_of_type),
                multithread: number("max_threads").is_some_and(|n| n > 1.0)
                    || number("avg_ncpus").is_some_and(|n| n > 1.0),
                avg_ncpus: number("avg_ncpus").filter(|n| *n != 0.0),
                ngpus: number("ngpus").filter(|n| *n > 0.0),
            };
            classes.push((name, usage));
        }
        Ok(ProjectClasses::Spec(classes))
    }

    /// What `name` uses; `None` if the project does not define it.
    pub fn usage(&self, name: &str) -> Option<ClassUsage> {
        match self {
            ProjectClasses::Spec(list) => {
                list.iter().find(|(n, _)| n == name).map(|(_, u)| u.clone())
            }
            ProjectClasses::BuiltIn if builtin_plan_class_known(name) => {
                let gpu = if name.starts_with("opencl") && !name.contains("opencl_cpu") {
                    if name.contains("nvidia") {
                        Some("NVIDIA")
                    } else if name.contains("amd") {
                        Some("ATI")
                    } else if name.contains("intel_gpu") {
                        Some("intel_gpu")
                    } else if name.contains("apple_gpu") {
                        Some("apple_gpu")
                    } else {
                        None
                    }
                } else if name.starts_with("ati") {
                    Some("ATI")
                } else if name.contains("cuda") {
                    Some("NVIDIA")
                } else {
                    None
                };
                Some(ClassUsage {
                    gpu,
                    multithread: name == "mt"
                        || name.contains("opencl_cpu_intel")
                        || (name.contains("vbox") && name.contains("mt")),
                    avg_ncpus: None,
                    ngpus: gpu.map(|_| 1.0),
                })
            }
            ProjectClasses::BuiltIn => None,
        }
    }
}

/// What a `version.xml` states about usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declared {
    pub avg_ncpus: Option<f64>,
    pub coproc: Option<(String, f64)>,
}

/// Checks a version's plan class and its `version.xml` statements; the message if wrong.
pub fn check(
    classes: &ProjectClasses,
    plan_class: &str,
    declared: &Declared,
) -> Result<(), String> {
    if plan_class.is_empty() {
        if let Some((t, _)) = &declared.coproc {
            return Err(format!(
                "version.xml declares a <coproc> ({t}) but the version has no plan class; \
                 put it in a <platform>__<plan_class> directory whose class uses that GPU"
            ));
        }
        if declared.avg_ncpus.is_some_and(|n| n != 1.0) {
            return Err(
                "version.xml declares <avg_ncpus> other than 1 but the version has no plan class \
                 (a version without one runs on one CPU); use a multithread plan class"
                    .into(),
            );
        }
        return Ok(());
    }
    let Some(usage) = classes.usage(plan_class) else {
        let where_ = match classes {
            ProjectClasses::Spec(_) => "plan_class_spec.xml does not define it",
            ProjectClasses::BuiltIn => {
                "the project has no plan_class_spec.xml and it is not a plan class BOINC's \
                 scheduler knows by name"
            }
        };
        return Err(format!(
            "plan class {plan_class:?}: {where_}; the scheduler would never send this version"
        ));
    };
    if let Some((t, n)) = &declared.coproc {
        let t = if t == "CUDA" { "NVIDIA" } else { t.as_str() };
        if usage.gpu != Some(t) {
            return Err(format!(
                "version.xml declares a <coproc> of type {t}, but plan class {plan_class:?} {}",
                match usage.gpu {
                    Some(g) => format!("uses {g}"),
                    None => "uses no GPU of a type BOINC names".into(),
                }
            ));
        }
        if let Some(ngpus) = usage.ngpus
            && ngpus != *n
        {
            return Err(format!(
                "version.xml declares <count>{n}</count>, but plan class {plan_class:?} uses {ngpus} GPU(s)"
            ));
        }
    }
    if let Some(n) = declared.avg_ncpus {
        if let Some(fixed) = usage.avg_ncpus
            && fixed != n
        {
            return Err(format!(
                "version.xml declares <avg_ncpus>{n}</avg_ncpus>, but plan class {plan_class:?} sets {fixed}"
            ));
        }
        if n > 1.0 && usage.avg_ncpus.is_none() && !usage.multithread {
            return Err(format!(
                "version.xml declares <avg_ncpus>{n}</avg_ncpus>, but plan class {plan_class:?} runs on one CPU"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(avg: Option<f64>, coproc: Option<(&str, f64)>) -> Declared {
        Declared {
            avg_ncpus: avg,
            coproc: coproc.map(|(t, n)| (t.to_string(), n)),
        }
    }

    #[test]
    fn declarations_must_match_the_plan_class() {
        let b = ProjectClasses::BuiltIn;
        assert!(check(&b, "", &declared(None, None)).is_ok());
        assert!(check(&b, "mt", &declared(Some(4.0), None)).is_ok());
        assert!(check(&b, "cuda_fermi", &declared(None, Some(("NVIDIA", 1.0)))).is_ok());
        assert!(check(&b, "ati14", &declared(None, Some(("ATI", 1.0)))).is_ok());
        let e = check(&b, "mt8", &declared(None, None)).unwrap_err();
        assert!(e.contains("never send"), "{e}");
        let e = check(&b, "cuda_fermi", &declared(None, Some(("ATI", 1.0)))).unwrap_err();
        assert!(e.contains("uses NVIDIA"), "{e}");
        let e = check(&b, "", &declared(Some(4.0), None)).unwrap_err();
        assert!(e.contains("no plan class"), "{e}");
        let e = check(&b, "sse3", &declared(Some(4.0), None)).unwrap_err();
        assert!(e.contains("one CPU"), "{e}");
        let spec = ProjectClasses::Spec(vec![(
            "gpu_x".into(),
            ClassUsage {
                gpu: Some("NVIDIA"),
                ngpus: Some(0.5),
                ..Default::default()
            },
        )]);
        assert!(check(&spec, "gpu_x", &declared(None, Some(("CUDA", 0.5)))).is_ok());
        assert!(check(&spec, "gpu_x", &declared(None, Some(("NVIDIA", 1.0)))).is_err());
        assert!(
            check(&spec, "mt", &declared(None, None)).is_err(),
            "not in the file"
        );
    }
}
