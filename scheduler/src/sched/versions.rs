//! Choosing versions: which builds of the project's apps this host can run.
//!
//! Today's rule is BOINC's for plain CPU work. A host on a platform the project knows gets, for
//! each job, the highest non-deprecated version for its primary platform or one of its alternate
//! ones ([`Catalog::best_version`]); a client on the anonymous platform runs only the versions
//! it declared in its `app_info.xml` (CPU ones: no GPU work is sent). A host whose platforms the
//! project has no version for is told so and sent nothing.
//!
//! This is where plan classes will be chosen (GPU, multithread builds, each with its own speed
//! and CPU usage): [`Chosen`] is what the rest of work sending reads — the version id written in
//! the claim, the projected speed, and the reply's platform and plan class.

use std::sync::Arc;

use rboinc_core::db::{AppId, PlatformId};
use rboinc_core::state::AnonymousPlatform;

use super::catalog::{Catalog, VersionEntry};
use super::request::{ClientAppVersion, SchedRequest};

/// Speed assumed for a host that reports none (BOINC's default benchmark result).
const DEFAULT_FLOPS: f64 = 1e9;

/// How the host gets app versions.
#[derive(Debug, Clone)]
pub enum Versions<'a> {
    /// From the project, for these platforms (primary first).
    Project(Vec<PlatformId>),
    /// From the client's own `app_info.xml`.
    Anonymous(&'a [ClientAppVersion]),
}

/// The build a job will run with on this host.
#[derive(Debug, Clone)]
pub enum Chosen<'a> {
    Project(Arc<VersionEntry>),
    Client(&'a ClientAppVersion),
}

impl Chosen<'_> {
    /// `result.app_version_id`: the version's id, or BOINC's negative code for anonymous CPU
    /// versions.
    pub fn app_version_id(&self) -> i64 {
        match self {
            Chosen::Project(v) => v.id.get(),
            Chosen::Client(_) => AnonymousPlatform::Cpu as i64,
        }
    }

    /// Projected speed of the build on a host whose CPU does `p_fpops` (0: not measured).
    pub fn flops(&self, p_fpops: f64) -> f64 {
        let cpu = if p_fpops > 0.0 {
            p_fpops
        } else {
            DEFAULT_FLOPS
        };
        match self {
            Chosen::Project(_) => cpu,
            Chosen::Client(c) => c.flops.unwrap_or(cpu * c.avg_ncpus),
        }
    }

    /// The reply's `<platform>`, `<version_num>` and `<plan_class>` for a job run with it.
    pub fn identity(&self) -> (&str, i32, &str) {
        match self {
            Chosen::Project(v) => (v.platform.as_str(), v.version_num, v.plan_class.as_str()),
            Chosen::Client(c) => (c.platform.as_str(), c.version_num, c.plan_class.as_str()),
        }
    }
}

impl<'a> Versions<'a> {
    /// The versions a request may get: its declared ones on the anonymous platform, else the
    /// project's for its platforms; `None` if the project supports none of its platforms.
    pub fn for_request(req: &'a SchedRequest, catalog: &Catalog) -> Option<Versions<'a>> {
        if req.is_anonymous_platform() {
            return Some(Versions::Anonymous(&req.client_app_versions));
        }
        let platforms: Vec<_> = std::iter::once(&req.platform_name)
            .chain(&req.alt_platforms)
            .filter_map(|p| catalog.platform_id(p))
            .collect();
        if platforms.is_empty() {
            None
        } else {
            Some(Versions::Project(platforms))
        }
    }

    /// The build to use for a job of `app` (with the job's version pin), if the host has one.
    pub fn choose(&self, catalog: &Catalog, app: AppId, required_num: i32) -> Option<Chosen<'a>> {
        match self {
            Versions::Project(platforms) => catalog
                .best_version(app, platforms, required_num)
                .map(|v| Chosen::Project(Arc::clone(v))),
            Versions::Anonymous(list) => {
                let entry = catalog.app(app)?;
                if entry.row.deprecated != 0 {
                    return None;
                }
                let min_version = entry.row.min_version;
                list.iter()
                    .filter(|c| {
                        c.app_name == entry.row.name
                            && c.coproc.is_none()
                            && (required_num == 0 || c.version_num == required_num)
                            && c.version_num >= min_version
                    })
                    .max_by(|a, b| {
                        a.flops
                            .unwrap_or(0.0)
                            .total_cmp(&b.flops.unwrap_or(0.0))
                            .then(a.version_num.cmp(&b.version_num))
                    })
                    .map(Chosen::Client)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_rows(
            vec![(PlatformId(1), "x86_64-pc-linux-gnu".into(), "Linux".into())],
            vec![rboinc_core::db::app::AppRow {
                id: AppId(1),
                name: "mnist".into(),
                ..Default::default()
            }],
            vec![],
        )
    }

    #[test]
    fn anonymous_platform_uses_the_clients_declared_version() {
        let catalog = catalog();
        let declared = vec![
            ClientAppVersion {
                app_name: "mnist".into(),
                version_num: 103,
                platform: "x86_64-pc-linux-gnu".into(),
                avg_ncpus: 1.0,
                ..Default::default()
            },
            ClientAppVersion {
                app_name: "other".into(),
                version_num: 900,
                avg_ncpus: 1.0,
                ..Default::default()
            },
        ];
        let versions = Versions::Anonymous(&declared);
        let chosen = versions.choose(&catalog, AppId(1), 0).unwrap();
        assert_eq!(chosen.app_version_id(), -2);
        assert_eq!(chosen.flops(3e9), 3e9);
        assert_eq!(chosen.flops(0.0), DEFAULT_FLOPS);
        assert_eq!(chosen.identity(), ("x86_64-pc-linux-gnu", 103, ""));
        assert!(versions.choose(&catalog, AppId(1), 104).is_none());
    }

    #[test]
    fn a_request_gets_the_versions_of_its_known_platforms() {
        let catalog = catalog();
        let mut req = SchedRequest {
            platform_name: "windows_x86_64".into(),
            ..Default::default()
        };
        assert!(Versions::for_request(&req, &catalog).is_none());
        req.alt_platforms = vec!["x86_64-pc-linux-gnu".into()];
        assert!(matches!(
            Versions::for_request(&req, &catalog),
            Some(Versions::Project(p)) if p == [PlatformId(1)]
        ));
        req.platform_name = "anonymous".into();
        assert!(matches!(
            Versions::for_request(&req, &catalog),
            Some(Versions::Anonymous(_))
        ));
    }
}
