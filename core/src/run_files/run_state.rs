//! `run_state_<host>.xml`: whether the project is enabled on this host, and when each task last
//! ran.
//!
//! The same file and elements as BOINC's `bin/start`, so a project can switch between the two:
//! `<boinc><tasks><task><cmd>…</cmd><last_run>…</last_run></task>…</tasks><enabled>1</enabled></boinc>`.
//! `start` sets `enabled`, `stop` clears it, `start --cron` does nothing while it is clear.

use std::io;
use std::path::{Path, PathBuf};

use crate::xml;

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    pub enabled: bool,
    /// `(cmd, last_run)` with `last_run` in seconds since the epoch.
    pub tasks: Vec<(String, f64)>,
}

/// The file's path for `host` in the project `root`.
pub fn path(root: &Path, host: &str) -> PathBuf {
    root.join(format!("run_state_{host}.xml"))
}

impl RunState {
    /// Reads the file; a missing file is a project never started (disabled, no task run).
    pub fn load(path: &Path) -> io::Result<RunState> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RunState::default()),
            Err(e) => return Err(e),
        };
        Ok(Self::parse(&text))
    }

    fn parse(text: &str) -> RunState {
        let tasks_section = xml::raw_element(text, "tasks").unwrap_or("");
        // `enabled` sits after `</tasks>` in BOINC's file; look outside the task list.
        let outside = text.replacen(tasks_section, "", 1);
        let enabled = xml::text(&outside, "enabled")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .is_some_and(|v| v != 0.0);
        let tasks = xml::raw_elements(tasks_section, "task")
            .into_iter()
            .filter_map(|t| {
                let cmd = xml::text(t, "cmd")?;
                let last = xml::parse::<f64>(t, "last_run").unwrap_or(0.0);
                Some((cmd.trim().to_string(), last))
            })
            .collect();
        RunState { enabled, tasks }
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut s = String::from("<?xml version=\"1.0\" ?>\n<boinc>\n    <tasks>\n");
        for (cmd, last) in &self.tasks {
            s.push_str(&format!(
                "        <task>\n            <cmd>{}</cmd>\n            <last_run>{last:.2}</last_run>\n        </task>\n",
                xml::escape(cmd)
            ));
        }
        s.push_str(&format!(
            "    </tasks>\n    <enabled>{}</enabled>\n</boinc>\n",
            u8::from(self.enabled)
        ));
        let tmp = path.with_extension("xml.tmp");
        std::fs::write(&tmp, s)?;
        std::fs::rename(&tmp, path)
    }

    /// When the task `cmd` last ran (0 if never).
    pub fn last_run(&self, cmd: &str) -> f64 {
        self.tasks
            .iter()
            .find(|(c, _)| c == cmd.trim())
            .map_or(0.0, |(_, t)| *t)
    }

    pub fn set_last_run(&mut self, cmd: &str, at: f64) {
        match self.tasks.iter_mut().find(|(c, _)| c == cmd.trim()) {
            Some(entry) => entry.1 = at,
            None => self.tasks.push((cmd.trim().to_string(), at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "host1");
        assert_eq!(p.file_name().unwrap(), "run_state_host1.xml");
        assert_eq!(RunState::load(&p).unwrap(), RunState::default());

        let mut s = RunState {
            enabled: true,
            tasks: vec![],
        };
        s.set_last_run("db_purge -d 2 --one_pass", 1_700_000_000.5);
        s.set_last_run("a <b> & c", 12.0);
        s.set_last_run("db_purge -d 2 --one_pass", 1_700_000_100.25);
        s.save(&p).unwrap();
        let back = RunState::load(&p).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.last_run("db_purge -d 2 --one_pass"), 1_700_000_100.25);
        assert_eq!(back.last_run("a <b> & c"), 12.0);
        assert_eq!(back.last_run("never"), 0.0);
    }

    #[test]
    fn reads_boinc_s_layout() {
        // As BOINC's Python writes it: values on their own lines, `enabled` after the tasks.
        let text = "<?xml version=\"1.0\">\n<boinc>\n  <tasks>\n    <task>\n      <cmd>\n        get_load\n      \
                    </cmd>\n      <last_run>\n        1070392808.86\n      </last_run>\n    </task>\n  </tasks>\n  \
                    <enabled>\n    1\n  </enabled>\n</boinc>\n";
        let s = RunState::parse(text);
        assert!(s.enabled);
        assert_eq!(s.tasks, vec![("get_load".to_string(), 1070392808.86)]);
        assert!(!RunState::parse("<boinc><enabled>0</enabled></boinc>").enabled);
    }
}
