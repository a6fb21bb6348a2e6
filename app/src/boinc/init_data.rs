//! `init_data.xml`, the description of the task that the client writes into the slot.
//!
//! Only the fields the app uses are read; everything else in the document (host info,
//! preferences, proxy settings) is skipped.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file's name in the slot directory.
pub const FILE_NAME: &str = "init_data.xml";

/// The fields of `<app_init_data>` the app uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct InitData {
    pub app_name: String,
    pub wu_name: String,
    pub result_name: String,
    pub hostid: i64,
    pub slot: i64,
    /// The client's process id; 0 if not given.
    pub client_pid: i64,
    /// CPU seconds the task used in earlier runs (up to its last checkpoint).
    pub wu_cpu_time: f64,
    /// The volunteer's minimum seconds between checkpoints.
    pub checkpoint_period: f64,
    pub fraction_done_start: f64,
    pub fraction_done_end: f64,
    pub project_dir: String,
}

impl Default for InitData {
    fn default() -> Self {
        InitData {
            app_name: String::new(),
            wu_name: String::new(),
            result_name: String::new(),
            hostid: 0,
            slot: 0,
            client_pid: 0,
            wu_cpu_time: 0.0,
            checkpoint_period: 60.0,
            fraction_done_start: 0.0,
            fraction_done_end: 1.0,
            project_dir: String::new(),
        }
    }
}

/// An `init_data.xml` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InitDataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {source}")]
    Xml {
        path: PathBuf,
        #[source]
        source: quick_xml::DeError,
    },
}

impl InitData {
    /// Parses the document text.
    pub fn parse(text: &str) -> Result<InitData, quick_xml::DeError> {
        quick_xml::de::from_str(text)
    }

    /// Reads `init_data.xml` from `slot`; `Ok(None)` if the file does not exist (not under a
    /// client).
    pub fn read(slot: &Path) -> Result<Option<InitData>, InitDataError> {
        let path = slot.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(InitDataError::Io { path, source }),
        };
        InitData::parse(&text)
            .map(Some)
            .map_err(|source| InitDataError::Xml { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_real_clients_file() {
        let text = include_str!("../../../fixtures/client-7.20.5/app/init_data.xml");
        let d = InitData::parse(text).unwrap();
        assert_eq!(d.app_name, "testapp");
        assert_eq!(d.wu_name, "wu_1");
        assert_eq!(d.result_name, "wu_1_0");
        assert_eq!(d.hostid, 1);
        assert_eq!(d.client_pid, 12321);
        assert_eq!(d.wu_cpu_time, 0.0);
        assert_eq!(d.checkpoint_period, 60.0);
        assert_eq!(d.fraction_done_start, 0.0);
        assert_eq!(d.fraction_done_end, 1.0);
        assert_eq!(
            d.project_dir,
            "/var/lib/boinc-client/projects/127.0.0.1_18090_proj"
        );
    }

    #[test]
    fn missing_fields_take_defaults_and_garbage_fails() {
        let d = InitData::parse("<app_init_data><wu_cpu_time>12.5</wu_cpu_time></app_init_data>")
            .unwrap();
        assert_eq!(d.wu_cpu_time, 12.5);
        assert_eq!(d.fraction_done_end, 1.0);
        assert!(
            InitData::parse("<app_init_data><wu_cpu_time>x</wu_cpu_time></app_init_data>").is_err()
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(InitData::read(dir.path()).unwrap(), None);
    }
}
