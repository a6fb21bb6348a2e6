//! Homogeneous redundancy: the class of a host, so that all replicas of a workunit run on
//! hosts whose floating-point results agree bit for bit.
//!
//! An app with `homogeneous_redundancy` 1 ("fine") or 2 ("coarse") — or every app, with the
//! project's `<homogeneous_redundancy>` — commits each workunit to the class of the host its
//! first replica goes to (`workunit.hr_class`, set by the claim), and sends later replicas only
//! to hosts of that class. A class is an OS code plus a CPU code, BOINC's `hr.cpp` tables: the
//! codes are stored in the database, so they must be BOINC's numbers.

/// The HR type of an app: its own setting, else the project's (`app_hr_type`).
pub fn app_hr_type(app_hr: i32, project_hr: i32) -> i32 {
    if app_hr != 0 { app_hr } else { project_hr }
}

const NOOS: i32 = 128;
const LINUX: i32 = 256;
const WINDOWS: i32 = 384;
const DARWIN: i32 = 512;
const FREEBSD: i32 = 640;
const ANDROID: i32 = 768;

const NOCPU: i32 = 1;
const INTEL: i32 = 2;
const AMD: i32 = 3;
const MACINTOSH: i32 = 4;
const ARM: i32 = 22;

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

fn os_code(os_name: &str) -> i32 {
    for (name, code) in [
        ("Linux", LINUX),
        ("Windows", WINDOWS),
        ("Darwin", DARWIN),
        ("FreeBSD", FREEBSD),
        ("Android", ANDROID),
    ] {
        if contains_ci(os_name, name) {
            return code;
        }
    }
    NOOS
}

/// Coarse CPU classes: Intel and AMD are one class (both x86).
fn cpu_coarse(p_vendor: &str, p_model: &str) -> i32 {
    if contains_ci(p_vendor, "Intel") || contains_ci(p_vendor, "AMD") {
        INTEL
    } else if contains_ci(p_vendor, "Macintosh") {
        MACINTOSH
    } else if contains_ci(p_vendor, "ARM") || p_model.contains("ARM") {
        ARM
    } else {
        NOCPU
    }
}

/// Fine CPU classes: by vendor, then by model name.
fn cpu_fine(p_vendor: &str, p_model: &str) -> i32 {
    let m = |s: &str| contains_ci(p_model, s);
    if contains_ci(p_vendor, "Intel") {
        if m("Xeon") {
            11
        } else if m("Celeron") {
            if m(" M ") {
                18
            } else if m(" D ") {
                17
            } else if m("III") {
                15
            } else {
                12
            }
        } else if m("Core") {
            21
        } else if m("Pentium") {
            if m("III") {
                15
            } else if m("II") {
                14
            } else if m(" 4 ") {
                16
            } else if m(" D ") {
                17
            } else if m(" M ") {
                18
            } else {
                13
            }
        } else if m("x86") {
            const FAMILY_MODEL: [(&str, i32); 13] = [
                ("Family 6 Model 6", 12),
                ("Family 6 Model 9", 18),
                ("Family 6 Model 10", 11),
                ("Family 5 Model 1", 13),
                ("Family 5 Model 2", 13),
                ("Family 6 Model 1", 13),
                ("Family 15 Model 1", 16),
                ("Family 15 Model 2", 16),
                ("Family 6 Model 7", 15),
                ("Family 6 Model 8", 15),
                ("Family 6 Model 11", 15),
                ("Family 6 Model 3", 14),
                ("Family 6 Model 5", 14),
            ];
            FAMILY_MODEL
                .iter()
                .find(|(s, _)| m(s))
                .map_or(INTEL, |(_, c)| *c)
        } else {
            INTEL
        }
    } else if contains_ci(p_vendor, "AMD") {
        if m("Duron") {
            6
        } else if m("Opteron") {
            8
        } else if m("Sempron") {
            7
        } else if m("Turion") {
            20
        } else if m("Athlon") {
            if m("XP") {
                10
            } else if m("MP") {
                19
            } else if m("64") {
                9
            } else {
                5
            }
        } else {
            AMD
        }
    } else if contains_ci(p_vendor, "Macintosh") {
        MACINTOSH
    } else if contains_ci(p_vendor, "ARM") {
        ARM
    } else {
        NOCPU
    }
}

/// What HR looks at of a host.
#[derive(Debug, Clone, Copy)]
pub struct HostKind<'a> {
    pub os_name: &'a str,
    pub p_vendor: &'a str,
    pub p_model: &'a str,
}

impl HostKind<'_> {
    /// The host's class for HR type `hr_type` (0 for none).
    pub fn class(&self, hr_type: i32) -> i32 {
        let os = os_code(self.os_name);
        match hr_type {
            1 => os + cpu_fine(self.p_vendor, self.p_model),
            2 => os + cpu_coarse(self.p_vendor, self.p_model),
            _ => 0,
        }
    }

    /// Whether the host's class is unknown for `hr_type` (it then gets no HR work): fine needs
    /// a known OS and CPU; coarse knows only Windows, Linux, and Darwin on Intel or PowerPC.
    pub fn is_unknown(&self, hr_type: i32) -> bool {
        let os = os_code(self.os_name);
        match hr_type {
            1 => os == NOOS || cpu_fine(self.p_vendor, self.p_model) == NOCPU,
            2 => match os {
                WINDOWS | LINUX => false,
                DARWIN => !matches!(cpu_coarse(self.p_vendor, self.p_model), INTEL | MACINTOSH),
                _ => true,
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host<'a>(os: &'a str, vendor: &'a str, model: &'a str) -> HostKind<'a> {
        HostKind {
            os_name: os,
            p_vendor: vendor,
            p_model: model,
        }
    }

    #[test]
    fn classes_are_boincs_numbers() {
        // The fixture host and an Intel Core host (digest §7.2).
        let epyc = host(
            "Linux Debian",
            "AuthenticAMD",
            "AMD EPYC 7B13 [Family 25 Model 1 Stepping 0]",
        );
        assert_eq!(epyc.class(1), 259);
        assert_eq!(epyc.class(2), 258);
        let core = host(
            "Linux Ubuntu",
            "GenuineIntel",
            "Intel(R) Core(TM) i5-9400F CPU @ 2.90GHz",
        );
        assert_eq!(core.class(1), 277);
        assert_eq!(core.class(2), 258, "coarse HR puts AMD and Intel together");
        let win = host("Microsoft Windows 11", "GenuineIntel", "Intel(R) Xeon(R)");
        assert_eq!(win.class(1), 395);
        assert_eq!(epyc.class(0), 0);
        assert_eq!(app_hr_type(0, 2), 2);
        assert_eq!(app_hr_type(1, 0), 1);
    }

    #[test]
    fn unknown_hosts_get_no_hr_work() {
        let odd = host("Haiku", "GenuineIntel", "Core");
        assert!(odd.is_unknown(1) && odd.is_unknown(2));
        let risc = host("Linux", "SiFive", "U74");
        assert!(risc.is_unknown(1), "no known fine CPU class");
        assert!(!risc.is_unknown(2), "coarse knows every Linux host");
        let m1 = host("Darwin", "Apple", "Apple M1");
        assert!(m1.is_unknown(2));
        let bsd = host("FreeBSD", "GenuineIntel", "Xeon");
        assert!(!bsd.is_unknown(1) && bsd.is_unknown(2));
    }
}
