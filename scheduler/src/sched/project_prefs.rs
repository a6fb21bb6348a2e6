//! The user's project preferences, as work sending reads them: beta work, processor types
//! not to use, CPU and job limits, and any element a plan class names.
//!
//! `user.project_prefs` may hold per-venue sections (`<venue name="home">…</venue>`); the
//! host's venue picks one, else the text outside every venue counts (BOINC's
//! `extract_venue`). Values are read the way BOINC's `PROJECT_PREFS::parse` reads them:
//! `<x/>` or a non-zero integer is true.

use rboinc_core::xml;

use super::coprocs::ProcType;

/// What work sending takes from the user's project preferences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectPrefs {
    /// The venue's preferences text, for plan classes' `project_prefs_tag` and
    /// `gpu_utilization_tag`.
    pub text: String,
    /// `<allow_beta_work>`: beta app versions and beta apps may be sent.
    pub allow_beta_work: bool,
    /// `<no_cpu>`, `<no_cuda>`, `<no_ati>`, `<no_intel_gpu>`, `<no_apple_gpu>` (and the old
    /// `<no_gpus>`), by processor type.
    pub dont_use: [bool; 5],
    /// `<max_cpus>`: at most this many CPUs count (0: no limit).
    pub max_cpus: i64,
    /// `<max_jobs>`: at most this many jobs in progress (0: no limit).
    pub max_jobs: i64,
}

impl ProjectPrefs {
    /// Reads `project_prefs` for a host in venue `venue`.
    pub fn parse(project_prefs: &str, venue: &str) -> ProjectPrefs {
        let text = extract_venue(project_prefs, venue);
        let mut p = ProjectPrefs {
            allow_beta_work: flag(&text, "allow_beta_work").unwrap_or(false),
            max_cpus: int(&text, "max_cpus").unwrap_or(0),
            max_jobs: int(&text, "max_jobs").unwrap_or(0),
            ..Default::default()
        };
        if flag(&text, "no_gpus") == Some(true) {
            for d in &mut p.dont_use[1..] {
                *d = true;
            }
        }
        for (tag, pt) in [
            ("no_cpu", ProcType::Cpu),
            ("no_cuda", ProcType::Nvidia),
            ("no_ati", ProcType::Amd),
            ("no_intel_gpu", ProcType::Intel),
            ("no_apple_gpu", ProcType::Apple),
        ] {
            if let Some(v) = flag(&text, tag) {
                p.dont_use[pt.index()] = v;
            }
        }
        p.text = text;
        p
    }

    /// The text of `<tag>` in the venue's preferences, if present.
    pub fn value(&self, tag: &str) -> Option<String> {
        xml::text(&self.text, tag)
    }
}

/// BOINC's `extract_venue`: the named venue's section, or everything outside all venues.
pub fn extract_venue(prefs: &str, venue: &str) -> String {
    let open = format!("<venue name=\"{venue}\">");
    if let Some(at) = prefs.find(&open) {
        let rest = &prefs[at + open.len()..];
        let end = rest.find("</venue").unwrap_or(rest.len());
        return rest[..end].to_string();
    }
    let mut out = String::with_capacity(prefs.len());
    let mut rest = prefs;
    loop {
        let Some(at) = rest.find("<venue") else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find("</venue>") else {
            break;
        };
        rest = &rest[at + end + "</venue>".len()..];
    }
    out
}

/// `<tag/>` → true, `<tag>N</tag>` → N ≠ 0; `None` if absent or not a number.
fn flag(text: &str, tag: &str) -> Option<bool> {
    if text.contains(&format!("<{tag}/>")) || text.contains(&format!("<{tag} />")) {
        return Some(true);
    }
    int(text, tag).map(|n| n != 0)
}

fn int(text: &str, tag: &str) -> Option<i64> {
    let v = xml::text(text, tag)?;
    let v = v.trim();
    v.parse::<i64>()
        .ok()
        .or_else(|| v.parse::<f64>().ok().map(|x| x as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_venue_wins_else_the_text_outside_venues() {
        let prefs = "<project_preferences><allow_beta_work>1</allow_beta_work><no_cuda/>\
                     <venue name=\"work\"><no_cpu>1</no_cpu><max_cpus>2</max_cpus></venue>\
                     </project_preferences>";
        let home = ProjectPrefs::parse(prefs, "");
        assert!(home.allow_beta_work);
        assert!(home.dont_use[ProcType::Nvidia.index()]);
        assert!(!home.dont_use[ProcType::Cpu.index()]);
        assert_eq!(home.max_cpus, 0, "the venue's setting is not the default's");
        let work = ProjectPrefs::parse(prefs, "work");
        assert!(!work.allow_beta_work);
        assert!(work.dont_use[ProcType::Cpu.index()]);
        assert_eq!(work.max_cpus, 2);
    }

    #[test]
    fn no_gpus_covers_every_gpu_type_and_zero_is_false() {
        let p = ProjectPrefs::parse("<no_gpus>1</no_gpus><no_ati>0</no_ati>", "");
        assert_eq!(p.dont_use, [false, true, false, true, true]);
        let p = ProjectPrefs::parse("<allow_beta_work>0</allow_beta_work>", "");
        assert!(!p.allow_beta_work);
        assert_eq!(
            ProjectPrefs::parse("<x>1</x>", "").value("x").as_deref(),
            Some("1")
        );
    }
}
