//! A client's `<scheduler_request>`, read into the fields a server acts on.
//!
//! The layout is the 7.20.5 client's (PROTOCOL.md §3; `fixtures/client-7.20.5/05_…`,
//! `11_…`). Unknown elements are skipped, as BOINC's scheduler skips them. Text that ends up in
//! the database is cut to the column's size here (BOINC's C++ cuts it to its buffer sizes), so a
//! long host name can never fail the host update in a strict-mode MySQL. A byte that is not
//! UTF-8 does not fail the request either ([`super::request_bytes`]).

use super::coprocs::Coprocs;
use super::coprocs::opencl::OpenclProps;
use super::coprocs::parse::parse_coprocs;
use super::elements::{Children, Element, Unclosed};
use super::request_bytes::text_of;

/// `VARCHAR(254)` columns of `host`.
const HOST_TEXT_MAX: usize = 254;
/// `result.name` is `VARCHAR(191)`; longer names cannot exist in the database.
const NAME_MAX: usize = 191;
/// `BLOB` columns (`stderr_out`, `xml_doc_out`).
pub const BLOB_MAX: usize = 65_535;

/// Why a request was not understood. The text goes back to the client in a `<message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("no start tag")]
    NoStartTag,
    #[error("no end tag")]
    NoEndTag,
    #[error(transparent)]
    Unclosed(#[from] Unclosed),
}

/// What the client says about its computer (`<host_info>`, `<time_stats>`, `<net_stats>`,
/// `<disk_usage>` and a few top-level fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostInfo {
    pub timezone: i32,
    pub domain_name: String,
    pub ip_addr: String,
    /// The client's own CPID (md5 of MAC address and data directory), not yet hashed with the
    /// account's email address.
    pub host_cpid: String,
    pub p_ncpus: i32,
    pub p_vendor: String,
    pub p_model: String,
    /// CPU features, space-separated (lower case on Linux).
    pub p_features: String,
    pub p_fpops: f64,
    pub p_iops: f64,
    pub p_membw: f64,
    pub os_name: String,
    pub os_version: String,
    pub product_name: String,
    pub m_nbytes: f64,
    pub m_cache: f64,
    pub m_swap: f64,
    pub d_total: f64,
    pub d_free: f64,
    pub on_frac: f64,
    pub connected_frac: f64,
    pub active_frac: f64,
    pub gpu_active_frac: f64,
    pub n_bwup: f64,
    pub n_bwdown: f64,
    pub d_boinc_used_total: f64,
    pub d_boinc_used_project: f64,
    pub duration_correction_factor: f64,
    /// Empty if VirtualBox is not installed.
    pub virtualbox_version: String,
    pub p_vm_extensions_disabled: bool,
    /// Empty if Docker is not present (7.x clients never report it).
    pub docker_version: String,
    pub docker_type: i32,
    /// OpenCL CPU platforms: (platform vendor, properties).
    pub opencl_cpu_props: Vec<(String, OpenclProps)>,
}

/// A finished task the client reports (`<result>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportedResult {
    pub name: String,
    /// The client's `<state>` (5 = files uploaded).
    pub client_state: i32,
    pub cpu_time: f64,
    pub elapsed_time: f64,
    pub exit_status: i32,
    pub app_version_num: i32,
    pub peak_working_set_size: f64,
    pub peak_swap_size: f64,
    pub peak_disk_usage: f64,
    /// The `<stderr_out>` contents, verbatim (it carries a CDATA section).
    pub stderr_out: String,
    /// The `<file_info>` elements, verbatim, concatenated (BOINC's `xml_doc_out`).
    pub xml_doc_out: String,
}

/// An app version the client holds (`<app_versions>`); with the anonymous platform these come
/// from its `app_info.xml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientAppVersion {
    pub app_name: String,
    pub version_num: i32,
    pub platform: String,
    pub plan_class: String,
    /// CPUs one task uses (1 if not given).
    pub avg_ncpus: f64,
    /// The client's speed estimate for this version, if it gave one.
    pub flops: Option<f64>,
    /// The `<coproc><type>` the version uses, if any, and how many instances of it
    /// (`<count>`).
    pub coproc: Option<(String, f64)>,
}

/// The disk limits of the client's working preferences (0 = not set).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiskPrefs {
    pub max_used_gb: f64,
    pub max_used_pct: f64,
    pub min_free_gb: f64,
}

/// A task the client still holds and is not reporting (`<other_result>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtherResult {
    pub name: String,
    /// The plan class of the version it runs with (the processor type it occupies).
    pub plan_class: String,
    /// Index of its version in the request's `<app_versions>` (-1: not given).
    pub app_version: i32,
}

/// A parsed `<scheduler_request>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedRequest {
    pub authenticator: String,
    pub cross_project_id: String,
    /// 0 on first contact.
    pub hostid: i64,
    pub rpc_seqno: i32,
    pub core_client_major_version: u32,
    pub core_client_minor_version: u32,
    pub core_client_release: u32,
    pub platform_name: String,
    pub alt_platforms: Vec<String>,
    pub work_req_seconds: f64,
    pub cpu_req_secs: f64,
    pub cpu_req_instances: f64,
    /// Seconds until the queued CPU jobs drain (`<estimated_delay>` at the top level).
    pub cpu_estimated_delay: f64,
    /// The client understands plan classes (all 7.x clients).
    pub client_cap_plan_class: bool,
    pub client_brand: String,
    /// The GPUs and other coprocessors, each with its own work request.
    pub coprocs: Coprocs,
    /// `ram_max_used_busy_pct`/`ram_max_used_idle_pct` of the working preferences, as fractions.
    pub ram_max_used_busy_frac: f64,
    pub ram_max_used_idle_frac: f64,
    /// The client's configuration forbids Docker or WSL jobs.
    pub dont_use_docker: bool,
    pub dont_use_wsl: bool,
    pub dont_send_work: bool,
    /// -1 when absent, as in BOINC.
    pub allow_multiple_clients: i32,
    /// The code-signing key the client holds (empty until it has one).
    pub code_sign_key: String,
    /// `max_ncpus_pct` of the working preferences (0 = not limited).
    pub max_ncpus_pct: f64,
    /// The disk limits of the working preferences.
    pub disk_prefs: DiskPrefs,
    /// The client's master copy of the global preferences (`<global_preferences>`), whole.
    pub global_prefs_xml: Option<String>,
    /// `<mod_time>` of the working preferences (0: absent).
    pub working_prefs_mod_time: f64,
    /// The email hash of the account the master copy came from.
    pub global_prefs_source_email_hash: String,
    pub host: HostInfo,
    pub results: Vec<ReportedResult>,
    pub client_app_versions: Vec<ClientAppVersion>,
    /// `Some` when the request carries `<other_results>` (even empty): only then can lost
    /// results be told apart.
    pub other_results: Option<Vec<OtherResult>>,
    /// The client reported the same result name twice; the duplicates were dropped.
    pub duplicate_reports: usize,
}

/// `s` cut to at most `max` characters (column sizes count characters in utf8mb4).
fn clip_chars(s: std::borrow::Cow<'_, str>, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.into_owned(),
    }
}

/// `s` cut to at most `max` bytes at a character boundary (BLOB columns count bytes).
pub fn clip_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn host_text(e: &Element<'_>) -> String {
    clip_chars(e.text(), HOST_TEXT_MAX)
}

impl SchedRequest {
    /// Parses a request body. Only a missing root element or an unclosed element is an error;
    /// anything else the client sends is read as BOINC reads it (a stray non-UTF-8 byte too:
    /// [`text_of`]).
    pub fn parse(body: &[u8]) -> Result<SchedRequest, RequestError> {
        let text = text_of(body);
        let text = text.as_ref();
        const OPEN: &str = "<scheduler_request>";
        const CLOSE: &str = "</scheduler_request>";
        let start = text.find(OPEN).ok_or(RequestError::NoStartTag)? + OPEN.len();
        let end = text.rfind(CLOSE).ok_or(RequestError::NoEndTag)?;
        if end < start {
            return Err(RequestError::NoEndTag);
        }
        let mut req = SchedRequest {
            allow_multiple_clients: -1,
            ..Default::default()
        };
        for child in Children::new(&text[start..end]) {
            let e = child?;
            match e.name {
                "authenticator" => {
                    // BOINC strips quotes a user may have pasted around the key.
                    req.authenticator = clip_chars(e.text(), 256).replace(['"', '\''], "");
                }
                "cross_project_id" => req.cross_project_id = clip_chars(e.text(), HOST_TEXT_MAX),
                "hostid" => req.hostid = e.i64().max(0),
                "rpc_seqno" => req.rpc_seqno = e.i32(),
                "core_client_major_version" => req.core_client_major_version = e.i64() as u32,
                "core_client_minor_version" => req.core_client_minor_version = e.i64() as u32,
                "core_client_release" => req.core_client_release = e.i64() as u32,
                "platform_name" => req.platform_name = clip_chars(e.text(), 256),
                "alt_platform" => {
                    for c in e.children() {
                        let c = c?;
                        if c.name == "name" {
                            req.alt_platforms.push(clip_chars(c.text(), 256));
                        }
                    }
                }
                "work_req_seconds" => req.work_req_seconds = e.f64(),
                "cpu_req_secs" => req.cpu_req_secs = e.f64(),
                "cpu_req_instances" => req.cpu_req_instances = e.f64(),
                "estimated_delay" => req.cpu_estimated_delay = e.f64(),
                "client_cap_plan_class" => req.client_cap_plan_class = e.flag(),
                "client_brand" => req.client_brand = clip_chars(e.text(), 256),
                "coprocs" => req.coprocs = parse_coprocs(&e)?,
                "dont_use_docker" => req.dont_use_docker = e.flag(),
                "dont_use_wsl" => req.dont_use_wsl = e.flag(),
                "dont_send_work" => req.dont_send_work = e.flag(),
                "allow_multiple_clients" => req.allow_multiple_clients = e.i32(),
                "code_sign_key" => req.code_sign_key = e.content.trim().to_string(),
                "duration_correction_factor" => req.host.duration_correction_factor = e.f64(),
                "working_global_preferences" => req.parse_prefs(&e)?,
                "global_preferences" => {
                    req.global_prefs_xml = Some(format!(
                        "<global_preferences>\n{}\n</global_preferences>\n",
                        e.content.trim()
                    ));
                }
                "global_prefs_source_email_hash" => {
                    req.global_prefs_source_email_hash = clip_chars(e.text(), 64)
                }
                "host_info" => req.parse_host_info(&e)?,
                "time_stats" => req.parse_time_stats(&e)?,
                "net_stats" => req.parse_net_stats(&e)?,
                "disk_usage" => req.parse_disk_usage(&e)?,
                "result" => {
                    let r = parse_result(&e)?;
                    // A name reported twice would be processed twice; BOINC drops repeats.
                    if r.name.is_empty() {
                        continue;
                    }
                    if req.results.iter().any(|x| x.name == r.name) {
                        req.duplicate_reports += 1;
                    } else {
                        req.results.push(r);
                    }
                }
                "app_versions" => {
                    for c in e.children() {
                        let c = c?;
                        if c.name == "app_version" {
                            req.client_app_versions.push(parse_client_app_version(&c)?);
                        }
                    }
                }
                "other_results" => {
                    let mut list = Vec::new();
                    for c in e.children() {
                        let c = c?;
                        if c.name == "other_result" {
                            let mut o = OtherResult {
                                app_version: -1,
                                ..Default::default()
                            };
                            for f in c.children() {
                                let f = f?;
                                match f.name {
                                    "name" => o.name = clip_chars(f.text(), NAME_MAX),
                                    "plan_class" => o.plan_class = clip_chars(f.text(), 256),
                                    "app_version" => o.app_version = f.i32(),
                                    _ => {}
                                }
                            }
                            list.push(o);
                        }
                    }
                    req.other_results = Some(list);
                }
                _ => {}
            }
        }
        Ok(req)
    }

    fn parse_prefs(&mut self, e: &Element<'_>) -> Result<(), Unclosed> {
        for c in e.children() {
            let c = c?;
            if c.name == "global_preferences" {
                for p in c.children() {
                    let p = p?;
                    match p.name {
                        "max_ncpus_pct" => self.max_ncpus_pct = p.f64(),
                        "mod_time" => self.working_prefs_mod_time = p.f64(),
                        "disk_max_used_gb" => self.disk_prefs.max_used_gb = p.f64(),
                        "disk_max_used_pct" => self.disk_prefs.max_used_pct = p.f64(),
                        "disk_min_free_gb" => self.disk_prefs.min_free_gb = p.f64(),
                        "ram_max_used_busy_pct" => self.ram_max_used_busy_frac = p.f64() / 100.0,
                        "ram_max_used_idle_pct" => self.ram_max_used_idle_frac = p.f64() / 100.0,
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    fn parse_host_info(&mut self, e: &Element<'_>) -> Result<(), Unclosed> {
        let h = &mut self.host;
        for c in e.children() {
            let c = c?;
            match c.name {
                "timezone" => h.timezone = c.i32(),
                "domain_name" => h.domain_name = host_text(&c),
                "ip_addr" => h.ip_addr = host_text(&c),
                "host_cpid" => h.host_cpid = host_text(&c),
                "p_ncpus" => h.p_ncpus = c.i32(),
                "p_vendor" => h.p_vendor = host_text(&c),
                "p_model" => h.p_model = host_text(&c),
                "p_features" => h.p_features = clip_chars(c.text(), 1024),
                "virtualbox_version" => h.virtualbox_version = clip_chars(c.text(), 256),
                "p_vm_extensions_disabled" => h.p_vm_extensions_disabled = c.flag(),
                "docker_version" => h.docker_version = clip_chars(c.text(), 256),
                "docker_type" => h.docker_type = c.i32(),
                "opencl_cpu_prop" => {
                    let mut vendor = String::new();
                    let mut props = OpenclProps::default();
                    for p in c.children() {
                        let p = p?;
                        match p.name {
                            "platform_vendor" => vendor = p.text().into_owned(),
                            "opencl_cpu_info" => props = OpenclProps::parse(&p)?,
                            _ => {}
                        }
                    }
                    if h.opencl_cpu_props.len() < 8 {
                        h.opencl_cpu_props.push((vendor, props));
                    }
                }
                "p_fpops" => h.p_fpops = c.f64(),
                "p_iops" => h.p_iops = c.f64(),
                "p_membw" => h.p_membw = c.f64(),
                "os_name" => h.os_name = host_text(&c),
                "os_version" => h.os_version = host_text(&c),
                "product_name" => h.product_name = host_text(&c),
                "m_nbytes" => h.m_nbytes = c.f64(),
                "m_cache" => h.m_cache = c.f64(),
                "m_swap" => h.m_swap = c.f64(),
                "d_total" => h.d_total = c.f64(),
                "d_free" => h.d_free = c.f64(),
                _ => {}
            }
        }
        Ok(())
    }

    fn parse_time_stats(&mut self, e: &Element<'_>) -> Result<(), Unclosed> {
        for c in e.children() {
            let c = c?;
            match c.name {
                "on_frac" => self.host.on_frac = c.f64(),
                "connected_frac" => self.host.connected_frac = c.f64(),
                "active_frac" => self.host.active_frac = c.f64(),
                "gpu_active_frac" => self.host.gpu_active_frac = c.f64(),
                _ => {}
            }
        }
        Ok(())
    }

    fn parse_net_stats(&mut self, e: &Element<'_>) -> Result<(), Unclosed> {
        for c in e.children() {
            let c = c?;
            match c.name {
                "bwup" => self.host.n_bwup = c.f64(),
                "bwdown" => self.host.n_bwdown = c.f64(),
                _ => {}
            }
        }
        Ok(())
    }

    fn parse_disk_usage(&mut self, e: &Element<'_>) -> Result<(), Unclosed> {
        for c in e.children() {
            let c = c?;
            match c.name {
                "d_boinc_used_total" => self.host.d_boinc_used_total = c.f64(),
                "d_boinc_used_project" => self.host.d_boinc_used_project = c.f64(),
                _ => {}
            }
        }
        Ok(())
    }

    /// `major*10000 + minor*100 + release`, BOINC's client version number.
    pub fn core_client_version(&self) -> u32 {
        self.core_client_major_version * 10_000
            + self.core_client_minor_version * 100
            + self.core_client_release
    }

    /// Whether the client wants work in this RPC (BOINC's `requesting_work()`): seconds of
    /// CPU work, or of a named GPU type it has.
    pub fn requesting_work(&self) -> bool {
        if self.dont_send_work {
            return false;
        }
        self.work_req_seconds > 0.0
            || self.cpu_req_secs > 0.0
            || self
                .coprocs
                .list
                .iter()
                .any(|c| c.proc_type().is_some() && c.count > 0 && c.req_secs != 0.0)
    }

    /// The anonymous platform: the client runs its own app versions from `app_info.xml`.
    pub fn is_anonymous_platform(&self) -> bool {
        self.platform_name == "anonymous"
    }
}

fn parse_result(e: &Element<'_>) -> Result<ReportedResult, Unclosed> {
    let mut r = ReportedResult::default();
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    for c in e.children() {
        let c = c?;
        match c.name {
            "name" => r.name = clip_chars(c.text(), NAME_MAX),
            "state" => r.client_state = c.i32(),
            "final_cpu_time" => r.cpu_time = finite(c.f64()),
            "final_elapsed_time" => r.elapsed_time = finite(c.f64()),
            "final_peak_working_set_size" => r.peak_working_set_size = finite(c.f64()),
            "final_peak_swap_size" => r.peak_swap_size = finite(c.f64()),
            "final_peak_disk_usage" => r.peak_disk_usage = finite(c.f64()),
            "exit_status" => r.exit_status = c.i32(),
            "app_version_num" => r.app_version_num = c.i32(),
            "stderr_out" => {
                r.stderr_out = clip_bytes(c.content.trim_start_matches('\n'), BLOB_MAX).into();
            }
            "file_info" => {
                let element = format!("<file_info>{}</file_info>\n", c.content);
                if r.xml_doc_out.len() + element.len() <= BLOB_MAX {
                    r.xml_doc_out.push_str(&element);
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

fn parse_client_app_version(e: &Element<'_>) -> Result<ClientAppVersion, Unclosed> {
    let mut v = ClientAppVersion {
        avg_ncpus: 1.0,
        ..Default::default()
    };
    for c in e.children() {
        let c = c?;
        match c.name {
            "app_name" => v.app_name = clip_chars(c.text(), 256),
            "version_num" => v.version_num = c.i32(),
            "platform" => v.platform = clip_chars(c.text(), 256),
            "plan_class" => v.plan_class = clip_chars(c.text(), 256),
            "avg_ncpus" => {
                let x = c.f64();
                if x > 0.0 {
                    v.avg_ncpus = x;
                }
            }
            "flops" => {
                let x = c.f64();
                if x > 0.0 {
                    v.flops = Some(x);
                }
            }
            "coproc" => {
                let (mut kind, mut count) = (String::new(), 0.0);
                for p in c.children() {
                    let p = p?;
                    match p.name {
                        "type" => kind = p.text().into_owned(),
                        "count" => count = p.f64().max(0.0),
                        _ => {}
                    }
                }
                if !kind.is_empty() {
                    v.coproc = Some((kind, count));
                }
            }
            _ => {}
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/client-7.20.5")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn first_request_of_the_real_client() {
        let r = SchedRequest::parse(&fixture("05_sched_attach_first_rpc.request.xml")).unwrap();
        assert_eq!(r.authenticator, "0123456789abcdef0123456789abcdef");
        assert_eq!(r.hostid, 0);
        assert_eq!(r.rpc_seqno, 0);
        assert_eq!(r.core_client_version(), 72005);
        assert_eq!(r.platform_name, "x86_64-pc-linux-gnu");
        assert_eq!(r.work_req_seconds, 1.0);
        assert!(r.requesting_work());
        assert_eq!(r.allow_multiple_clients, 1);
        assert!(r.code_sign_key.is_empty());
        assert_eq!(r.host.host_cpid, "0f137975014a2816cb09d0ceae1a584d");
        assert_eq!(r.host.p_ncpus, 2);
        assert_eq!(r.host.p_fpops, 1e9);
        assert_eq!(r.host.m_nbytes, 25_276_063_744.0);
        assert_eq!(r.host.os_name, "Linux Debian");
        assert_eq!(r.host.n_bwdown, 11_747_524.602392);
        assert_eq!(r.host.on_frac, 1.0);
        assert_eq!(r.host.d_boinc_used_total, 73_728.0);
        assert_eq!(r.other_results, Some(vec![]));
        assert!(r.results.is_empty());
    }

    #[test]
    fn report_of_the_real_client() {
        let r = SchedRequest::parse(&fixture("11_sched_report.request.xml")).unwrap();
        assert_eq!(r.hostid, 1);
        assert_eq!(r.rpc_seqno, 1);
        assert!(r.code_sign_key.starts_with("1024\ne25d40a5"));
        assert!(r.code_sign_key.ends_with("010001\n."));
        assert_eq!(r.results.len(), 1);
        let res = &r.results[0];
        assert_eq!(res.name, "wu_1_0");
        assert_eq!(res.client_state, 5);
        assert_eq!(res.exit_status, 0);
        assert_eq!(res.cpu_time, 0.044774);
        assert_eq!(res.elapsed_time, 5.020007);
        assert_eq!(res.app_version_num, 100);
        assert!(
            res.stderr_out
                .starts_with("<core_client_version>7.20.5</core_client_version>")
        );
        assert!(res.stderr_out.contains("testapp: exiting with 0"));
        assert!(
            res.xml_doc_out
                .starts_with("<file_info>\n    <name>wu_1_0_out</name>")
        );
        assert!(
            res.xml_doc_out
                .contains("<md5_cksum>57edc415bbc47861f76775179654a4ff</md5_cksum>")
        );
        assert_eq!(r.client_app_versions.len(), 1);
        assert_eq!(r.client_app_versions[0].app_name, "testapp");
        assert_eq!(r.client_app_versions[0].version_num, 100);
        assert_eq!(r.client_app_versions[0].flops, Some(1e9));
    }

    #[test]
    fn other_results_and_error_reports() {
        let r = SchedRequest::parse(&fixture("08_sched_workfetch_nowork.request.xml")).unwrap();
        assert_eq!(
            r.other_results.unwrap(),
            vec![OtherResult {
                name: "wu_1_0".into(),
                plan_class: String::new(),
                app_version: 0,
            }]
        );
        let r = SchedRequest::parse(&fixture("25_sched_request_report_compute_error_exit7.xml"))
            .unwrap();
        assert_eq!(r.results[0].exit_status, 7);
        assert_eq!(r.results[0].client_state, 3);
    }

    #[test]
    fn malformed_requests_say_what_is_wrong() {
        assert_eq!(
            SchedRequest::parse(b"hello").unwrap_err(),
            RequestError::NoStartTag
        );
        assert_eq!(
            SchedRequest::parse(b"<scheduler_request><hostid>1</hostid>").unwrap_err(),
            RequestError::NoEndTag
        );
        assert_eq!(
            SchedRequest::parse(
                b"<scheduler_request><host_info><p_ncpus>2</host_info></scheduler_request>"
            )
            .unwrap_err()
            .to_string(),
            "element <p_ncpus> is not closed"
        );
        assert_eq!(
            SchedRequest::parse(&[0xff, 0xfe]).unwrap_err(),
            RequestError::NoStartTag
        );
    }

    #[test]
    fn long_text_is_cut_to_column_sizes_and_duplicates_dropped() {
        let long = "x".repeat(400);
        let body = format!(
            "<scheduler_request><host_info><domain_name>{long}</domain_name></host_info>\
             <result><name>r1</name></result><result><name>r1</name></result>\
             <result><name>r2</name><stderr_out>{}</stderr_out></result></scheduler_request>",
            "é".repeat(40_000)
        );
        let r = SchedRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(r.host.domain_name.len(), 254);
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.duplicate_reports, 1);
        assert!(r.results[1].stderr_out.len() <= BLOB_MAX);
        assert!(r.results[1].stderr_out.len() > BLOB_MAX - 2);
    }
}
