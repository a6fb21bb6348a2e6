//! The user's project preferences, as work sending reads them: beta work, the apps chosen,
//! processor types not to use, CPU and job limits, and any element a plan class names.
//!
//! Apps are chosen as in BOINC's `PROJECT_PREFS::parse`: each `<app_id>N</app_id>` selects
//! app N; with none, every app is selected. `<allow_non_preferred_apps>` lets work of the
//! other apps go out when the selected ones have none (see [`AppSelection`]).
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
    /// The `<app_id>`s: the apps the user wants work of (empty: all).
    pub selected_apps: Vec<i64>,
    /// `<allow_non_preferred_apps>`: other apps' work is welcome when the selected apps have
    /// none.
    pub allow_non_preferred_apps: bool,
}

impl ProjectPrefs {
    /// Reads `project_prefs` for a host in venue `venue`.
    pub fn parse(project_prefs: &str, venue: &str) -> ProjectPrefs {
        let text = extract_venue(project_prefs, venue);
        let mut p = ProjectPrefs {
            allow_beta_work: flag(&text, "allow_beta_work").unwrap_or(false),
            max_cpus: int(&text, "max_cpus").unwrap_or(0),
            max_jobs: int(&text, "max_jobs").unwrap_or(0),
            selected_apps: xml::raw_elements(&text, "app_id")
                .into_iter()
                .filter_map(|v| v.trim().parse::<i64>().ok())
                .collect(),
            allow_non_preferred_apps: flag(&text, "allow_non_preferred_apps").unwrap_or(false),
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

/// One RPC's use of the user's app selection (BOINC's `app_not_selected` and the flags it
/// feeds): which selected apps had a job the host could run, and whether a job was refused
/// only because its app is not selected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSelection {
    /// Selected app ids, each with whether a job of it was looked at (BOINC's
    /// `work_available`).
    selected: Vec<(i64, bool)>,
    allow_others: bool,
    /// Jobs of apps not selected may go now (the second round of work sending).
    pub others_now: bool,
    /// A job was refused because its app is not selected (BOINC's
    /// `no_allowed_apps_available`).
    pub refused: bool,
}

impl AppSelection {
    pub fn new(prefs: &ProjectPrefs) -> AppSelection {
        AppSelection {
            selected: prefs.selected_apps.iter().map(|&id| (id, false)).collect(),
            allow_others: prefs.allow_non_preferred_apps,
            others_now: false,
            refused: false,
        }
    }

    /// Whether a job of `appid` may go now; notes that a selected app had one.
    pub fn allows(&mut self, appid: i64) -> bool {
        if self.selected.is_empty() {
            return true;
        }
        if let Some(s) = self.selected.iter_mut().find(|s| s.0 == appid) {
            s.1 = true;
            return true;
        }
        if self.others_now {
            return true;
        }
        if !self.allow_others {
            self.refused = true;
        }
        false
    }

    /// Whether the user selected `appid` (or no app at all).
    pub fn selects(&self, appid: i64) -> bool {
        self.selected.is_empty() || self.selected.iter().any(|s| s.0 == appid)
    }

    /// Whether a second round may send other apps' jobs.
    pub fn may_open(&self) -> bool {
        !self.selected.is_empty() && self.allow_others && !self.others_now
    }

    /// The selected apps none of whose jobs was looked at.
    pub fn without_work(&self) -> impl Iterator<Item = i64> + '_ {
        self.selected.iter().filter(|s| !s.1).map(|s| s.0)
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
    fn app_ids_select_apps_and_others_wait_for_a_second_round_if_allowed() {
        let p = ProjectPrefs::parse(
            "<project_preferences><app_id>3</app_id>\n<app_id> 5 </app_id>\
             <allow_non_preferred_apps>1</allow_non_preferred_apps></project_preferences>",
            "",
        );
        assert_eq!(p.selected_apps, [3, 5]);
        assert!(p.allow_non_preferred_apps);
        let mut s = AppSelection::new(&p);
        assert!(s.allows(3));
        assert!(!s.allows(4));
        assert!(!s.refused, "others are allowed later");
        assert_eq!(s.without_work().collect::<Vec<_>>(), [5]);
        assert!(s.may_open());
        s.others_now = true;
        assert!(s.allows(4));
        let strict = ProjectPrefs::parse("<app_id>3</app_id>", "");
        let mut s = AppSelection::new(&strict);
        assert!(!s.allows(4));
        assert!(s.refused);
        assert!(!s.may_open());
        let mut all = AppSelection::new(&ProjectPrefs::parse("", ""));
        assert!(all.allows(4) && !all.may_open());
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
