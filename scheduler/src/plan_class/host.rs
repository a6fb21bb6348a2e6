//! What a plan class may ask about the requesting host: the request itself, the user and their
//! project preferences, and the figures work sending derives once per RPC (usable CPUs and RAM,
//! the CPU speed capped to the project's believable range). Also BOINC's readings of OS
//! version strings.

use std::collections::BTreeSet;

use crate::sched::project_prefs::ProjectPrefs;
use crate::sched::request::SchedRequest;

/// The host, as plan classes see it.
#[derive(Debug, Clone, Copy)]
pub struct HostFacts<'a> {
    pub req: &'a SchedRequest,
    pub user_id: i64,
    pub prefs: &'a ProjectPrefs,
    /// CPUs work may use (BOINC's `effective_ncpus`).
    pub effective_ncpus: i64,
    /// Bytes of RAM jobs may use (BOINC's `usable_ram`).
    pub usable_ram: f64,
    /// The CPU's speed, capped (BOINC's `capped_host_fpops`).
    pub capped_fpops: f64,
}

impl HostFacts<'_> {
    pub fn client_version(&self) -> i64 {
        i64::from(self.req.core_client_version())
    }

    /// The CPU has hardware virtualization (`vmx`/`svm`) and it is not disabled.
    pub fn vm_accel(&self) -> bool {
        let f = &self.req.host.p_features;
        (f.contains("vmx") || f.contains("svm")) && !self.req.host.p_vm_extensions_disabled
    }
}

/// Messages for the user, shown if nothing is sent (BOINC's `add_no_work_message`): each once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoWorkNotes(pub BTreeSet<String>);

impl NoWorkNotes {
    pub fn add(&mut self, message: &str) {
        if !self.0.contains(message) {
            self.0.insert(message.to_string());
        }
    }
}

/// Leading `a.b.c` as unsigned integers, as `sscanf("%u.%u.%u")` reads them.
fn scan_dotted(s: &str, n: usize) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(n);
    let mut rest = s.trim_start();
    for i in 0..n {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let t = rest.trim_start();
        let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        out.push(t[..end].parse().ok()?);
        rest = &t[end..];
    }
    Some(out)
}

/// BOINC's `os_version_num`: a number to compare OS versions by, 0 if unknown. Darwin and
/// Android `a.b.c` → 10000a+100b+c; Windows `(a.b.c.d)` → 1e8a+1e6b+100c+d; Linux the first
/// `a.b.c` after `[` (the kernel) or at the start.
pub fn os_version_num(os_name: &str, os_version: &str) -> f64 {
    let abc = |s: &str| {
        scan_dotted(s, 3).map(|v| 10000.0 * v[0] as f64 + 100.0 * v[1] as f64 + v[2] as f64)
    };
    let v = if os_name.contains("Darwin") || os_name.contains("Android") {
        abc(os_version)
    } else if os_name.contains("Windows") {
        os_version.rfind('(').and_then(|at| {
            let v = scan_dotted(&os_version[at + 1..], 4)?;
            os_version[at + 1..]
                .contains(')')
                .then(|| 1e8 * v[0] as f64 + 1e6 * v[1] as f64 + 100.0 * v[2] as f64 + v[3] as f64)
        })
    } else if os_name.contains("Linux") {
        let from = os_version.find('[').map_or(0, |i| i + 1);
        abc(&os_version[from..])
    } else {
        None
    };
    v.unwrap_or(0.0)
}

/// `|libc a.b` in the OS version → 100a+b, else 0.
pub fn libc_version(os_version: &str) -> i64 {
    let Some(at) = os_version.find("|libc ") else {
        return 0;
    };
    scan_dotted(&os_version[at + 6..], 2).map_or(0, |v| (v[0] * 100 + v[1]) as i64)
}

/// `(Android a.b.c)` → 10000a+100b+c (missing parts 0), else 0.
pub fn android_version_num(os_version: &str) -> i64 {
    let Some(at) = os_version.find("(Android ") else {
        return 0;
    };
    let s = &os_version[at + 9..];
    for n in [3, 2, 1] {
        if let Some(v) = scan_dotted(s, n) {
            let v: Vec<i64> = v.into_iter().map(|x| x as i64).collect();
            return v[0] * 10000
                + v.get(1).copied().unwrap_or(0) * 100
                + v.get(2).copied().unwrap_or(0);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_versions_read_as_boinc_reads_them() {
        let debian = "Debian GNU/Linux 12 (bookworm) [6.1.0-18-amd64|libc 2.36]";
        assert_eq!(os_version_num("Linux Debian", debian), 60100.0);
        assert_eq!(libc_version(debian), 236);
        assert_eq!(os_version_num("Linux", "4.9.0-8-amd64"), 40900.0);
        assert_eq!(os_version_num("Darwin", "21.6.0"), 210600.0);
        assert_eq!(
            os_version_num("Microsoft Windows 10", "Core x64 Edition, (10.00.19045.00)"),
            1e9 + 19045.0 * 100.0
        );
        assert_eq!(os_version_num("Haiku", "1.2.3"), 0.0);
        assert_eq!(os_version_num("Linux", "[unknown]"), 0.0);
        assert_eq!(android_version_num("3.4.0 (Android 4.3.1)"), 40301);
        assert_eq!(android_version_num("(Android 9)"), 90000);
        assert_eq!(libc_version("no libc"), 0);
    }
}
