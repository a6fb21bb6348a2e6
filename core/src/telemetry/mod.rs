//! Logging set-up, once per process, for every rboinc binary.
//!
//! Logs go to stderr: `bin/start` (ours and BOINC's) appends each daemon's
//! stderr to `log_<host>/<name>.log`, and containers collect stderr.
//!
//! - Format: human-readable text by default; one JSON object per line with
//!   `--log-format json` or `RBOINC_LOG_FORMAT=json` (for log shippers).
//! - Level: the C++ daemons' `-d N`, in BOINC's numbering: 1 critical
//!   (`error`), 2 warnings, 3 normal (`info`, the default), 4 debug (which,
//!   like BOINC's `-d 4`, includes every SQL statement: sqlx logs them at
//!   debug level).
//! - `RUST_LOG`, if set, overrides the level with a full filter
//!   (`RUST_LOG=info,sqlx=warn`).
//!
//! A JSON line carries every field at the top level, the spans' too ([`flat_json`]), so
//! `jq 'select(.wu_id == 42)'` finds a workunit in any daemon's log.

pub mod flat_json;

use std::io::IsTerminal;
use std::str::FromStr;

use tracing::Dispatch;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::util::SubscriberInitExt;

/// Environment variable choosing the log format (`text` or `json`).
pub const LOG_FORMAT_ENV: &str = "RBOINC_LOG_FORMAT";

/// BOINC's default debug level (`MSG_NORMAL`).
pub const DEFAULT_DEBUG_LEVEL: u8 = 3;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, event and span fields at the top level.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?} (expected text or json)"
            )),
        }
    }
}

impl LogFormat {
    /// The format named by `RBOINC_LOG_FORMAT`, text if unset or invalid
    /// (for tools without a `--log-format` flag).
    pub fn from_env() -> LogFormat {
        std::env::var(LOG_FORMAT_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }
}

/// Maps a BOINC debug level (`-d N`) to a `tracing` level.
pub fn level_for_debug_level(debug_level: u8) -> LevelFilter {
    match debug_level {
        0 | 1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    }
}

/// The filter in force: `RUST_LOG` if set and valid, else the debug level.
fn filter(debug_level: u8) -> EnvFilter {
    let fallback = || EnvFilter::default().add_directive(level_for_debug_level(debug_level).into());
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec).unwrap_or_else(|e| {
            eprintln!("ignoring invalid RUST_LOG: {e}");
            fallback()
        }),
        _ => fallback(),
    }
}

/// Installs the global subscriber. Returns false (and changes nothing) if
/// one is already installed, so calling it twice is harmless.
pub fn init(format: LogFormat, debug_level: u8) -> bool {
    let ansi = format == LogFormat::Text && std::io::stderr().is_terminal();
    dispatch(format, filter(debug_level), ansi, std::io::stderr)
        .try_init()
        .is_ok()
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture lines with it).
fn dispatch<W>(format: LogFormat, filter: EnvFilter, ansi: bool, writer: W) -> Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Dispatch::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Dispatch::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(flat_json::FlatJson)
                .finish(),
        ),
    }
}

/// For tests: the production subscriber of `format` at BOINC debug level
/// `debug_level`, writing into memory. Install it with
/// `tracing::dispatcher::set_default(&captured.dispatch)` (this thread) and read
/// the lines with [`Captured::lines`].
#[cfg(feature = "test-support")]
pub fn capture(format: LogFormat, debug_level: u8) -> Captured {
    let buffer = capture::Buffer::default();
    let filter = EnvFilter::default().add_directive(level_for_debug_level(debug_level).into());
    Captured {
        dispatch: dispatch(format, filter, false, buffer.clone()),
        buffer,
    }
}

/// Log lines captured by [`capture`].
#[cfg(feature = "test-support")]
#[derive(Clone, Debug)]
pub struct Captured {
    pub dispatch: Dispatch,
    buffer: capture::Buffer,
}

#[cfg(feature = "test-support")]
impl Captured {
    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.buffer.text().lines().map(str::to_string).collect()
    }
}

#[cfg(feature = "test-support")]
mod capture {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    /// Bytes written by the subscriber, shared with the test.
    #[derive(Clone, Default, Debug)]
    pub struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }
}

/// For tests: logs only when `TEST_LOG` is set (then at debug level, or per
/// `RUST_LOG`), through the test harness's captured output.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(4))
        .with_test_writer()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_levels_map_like_boinc() {
        assert_eq!(level_for_debug_level(1), LevelFilter::ERROR);
        assert_eq!(level_for_debug_level(2), LevelFilter::WARN);
        assert_eq!(level_for_debug_level(3), LevelFilter::INFO);
        assert_eq!(level_for_debug_level(4), LevelFilter::DEBUG);
    }

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(" JSON ".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
