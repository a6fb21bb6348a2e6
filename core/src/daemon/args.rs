//! The command-line flags every daemon shares, in BOINC's spellings.
//!
//! A stock `config.xml` starts daemons with lines such as
//! `transitioner -d 3`, `sample_bitwise_validator --d 3 -app mnist` or
//! `file_deleter --debug_level 3 --one_pass`: the C++ parser treats one and
//! two leading dashes alike and writes long names with underscores. clap
//! wants `--long` for long names, so [`normalize_args`] rewrites
//! single-dash long flags (`-app` → `--app`) before clap sees them; every
//! daemon's own `Cli` flattens [`CommonDaemonArgs`] and gets both spellings,
//! for its own flags too (`-max_granted_credit` works if the daemon declares
//! `--max_granted_credit`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use super::modulo::{ModError, ModSlice};
use crate::telemetry::LogFormat;

/// Flags shared by every daemon. Flatten into a daemon's `Cli`:
///
/// ```
/// use clap::Parser;
/// use rboinc_core::daemon::CommonDaemonArgs;
///
/// /// Checks results against each other.
/// #[derive(Debug, Parser)]
/// #[command(name = "validator", version)]
/// struct Cli {
///     #[command(flatten)]
///     common: CommonDaemonArgs,
///     /// Grant at most this much credit per result.
///     #[arg(long = "max_granted_credit")]
///     max_granted_credit: Option<f64>,
/// }
///
/// let cli: Cli = rboinc_core::daemon::try_parse_args_from(
///     ["validator", "-d", "3", "-app", "mnist", "-max_granted_credit", "100"],
/// ).unwrap();
/// assert_eq!(cli.common.app.as_deref(), Some("mnist"));
/// assert_eq!(cli.max_granted_credit, Some(100.0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct CommonDaemonArgs {
    /// Log level in BOINC's numbering: 1 critical, 2 +warnings, 3 +normal
    /// (default), 4 +debug and every SQL statement. RUST_LOG overrides it.
    #[arg(
        short = 'd',
        long = "debug_level",
        alias = "d",
        alias = "debug-level",
        value_name = "N"
    )]
    pub debug_level: Option<u8>,

    /// Handle only this application (app-specific daemons).
    #[arg(long = "app", value_name = "NAME")]
    pub app: Option<String>,

    /// Handle one batch of what is due (one query's worth, as the C++ daemons do), then exit.
    #[arg(long = "one_pass", alias = "one-pass")]
    pub one_pass: bool,

    /// Handle everything due, batch after batch, then exit (rboinc's; the C++ daemons have no
    /// such flag).
    #[arg(long = "drain")]
    pub drain: bool,

    /// Seconds to sleep after a pass that found nothing to do.
    #[arg(long = "sleep_interval", alias = "sleep-interval", value_name = "SECS")]
    pub sleep_interval: Option<u64>,

    /// Handle only rows with id % N = I, so N instances can share the work.
    #[arg(long = "mod", num_args = 2, value_names = ["N", "I"])]
    pub modulo: Option<Vec<u32>>,

    /// Log line format.
    #[arg(
        long = "log-format",
        alias = "log_format",
        env = "RBOINC_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// The project directory [default: $BOINC_PROJECT_DIR, else the current
    /// directory or its parent, whichever holds config.xml].
    #[arg(long = "project-dir", alias = "project_dir", value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
}

impl CommonDaemonArgs {
    /// The `--mod N I` slice, or [`ModSlice::ALL`] without `--mod`.
    pub fn mod_slice(&self) -> Result<ModSlice, ModError> {
        match self.modulo.as_deref() {
            Some(&[n, i]) => ModSlice::new(n, i),
            _ => Ok(ModSlice::ALL),
        }
    }

    /// The debug level in force (BOINC's default is 3).
    pub fn debug_level(&self) -> u8 {
        self.debug_level
            .unwrap_or(crate::telemetry::DEFAULT_DEBUG_LEVEL)
    }
}

/// Rewrites BOINC-style arguments into ones clap understands.
///
/// - `-name` with a name of two or more letters becomes `--name`
///   (also `-name=value`);
/// - `-v` becomes `--version` (BOINC's version flag; clap's is `-V`);
/// - single-letter flags (`-d`, `-h`), negative numbers, `-` and everything
///   after `--` are left alone.
///
/// The first argument (the program name) is never changed. Because the
/// rewrite cannot tell flags from values, a value that itself looks like a
/// single-dash long flag (`--app -x`) would be rewritten too; no BOINC
/// daemon takes such values.
pub fn normalize_args<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut out = Vec::new();
    let mut rest_verbatim = false;
    for (index, arg) in args.into_iter().enumerate() {
        let arg: OsString = arg.into();
        if index == 0 || rest_verbatim {
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest_verbatim = true;
            out.push(arg);
            continue;
        }
        if text == "-v" {
            out.push("--version".into());
            continue;
        }
        let single_dash_long = text
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .is_some_and(|rest| {
                let name = rest.split('=').next().unwrap_or(rest);
                name.len() >= 2 && name.starts_with(|c: char| c.is_ascii_alphabetic())
            });
        if single_dash_long {
            out.push(format!("-{text}").into());
        } else {
            out.push(arg);
        }
    }
    out
}

/// Parses the process's arguments into a daemon's `Cli`, accepting BOINC's
/// spellings; on error prints clap's message and exits (status 2), on
/// `--help`/`--version` prints and exits 0.
pub fn parse_args<C: Parser>() -> C {
    C::parse_from(normalize_args(std::env::args_os()))
}

/// [`parse_args`] on given arguments (the first is the program name).
pub fn try_parse_args_from<C, I, T>(args: I) -> Result<C, clap::Error>
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    C::try_parse_from(normalize_args(args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    #[derive(Debug, Parser)]
    #[command(name = "demo", version)]
    struct Cli {
        #[command(flatten)]
        common: CommonDaemonArgs,
        /// A daemon-specific flag, declared the BOINC way.
        #[arg(long = "credit_from_wu")]
        credit_from_wu: bool,
    }

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        try_parse_args_from(line.split_whitespace())
    }

    fn common(line: &str) -> CommonDaemonArgs {
        parse(line).unwrap_or_else(|e| panic!("{line}: {e}")).common
    }

    #[test]
    fn normalisation_rules() {
        let n = |line: &str| -> Vec<String> {
            normalize_args(line.split_whitespace())
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect()
        };
        assert_eq!(n("x -app a"), ["x", "--app", "a"]);
        assert_eq!(n("x -app=a"), ["x", "--app=a"]);
        assert_eq!(n("x -d 3 -h"), ["x", "-d", "3", "-h"]);
        assert_eq!(n("x --d 3"), ["x", "--d", "3"]);
        assert_eq!(n("x -v"), ["x", "--version"]);
        assert_eq!(n("x -version"), ["x", "--version"]);
        assert_eq!(n("x --mod 2 -1"), ["x", "--mod", "2", "-1"]);
        assert_eq!(n("x -- -app"), ["x", "--", "-app"]);
        assert_eq!(n("-prog -app"), ["-prog", "--app"]);
        assert_eq!(n("x -"), ["x", "-"]);
    }

    #[test]
    fn debug_level_spellings() {
        for line in [
            "demo -d 3",
            "demo --d 3",
            "demo -debug_level 3",
            "demo --debug_level 3",
            "demo --debug-level 3",
            "demo --debug_level=3",
        ] {
            assert_eq!(common(line).debug_level, Some(3), "{line}");
        }
        assert_eq!(common("demo").debug_level(), 3, "BOINC's default");
        assert_eq!(common("demo -d 4").debug_level(), 4);
    }

    #[test]
    fn app_one_pass_sleep_interval_spellings() {
        for line in [
            "demo -app mnist -one_pass -sleep_interval 5",
            "demo --app mnist --one_pass --sleep_interval 5",
            "demo --app=mnist --one-pass --sleep-interval=5",
        ] {
            let c = common(line);
            assert_eq!(c.app.as_deref(), Some("mnist"), "{line}");
            assert!(c.one_pass, "{line}");
            assert_eq!(c.sleep_interval, Some(5), "{line}");
        }
    }

    #[test]
    fn the_lines_stock_make_project_writes() {
        // Daemon <cmd> lines of the stock --test_app project (trailing
        // space included), with our binaries' names.
        for (line, app) in [
            ("transitioner -d 3 ", None),
            ("file_deleter -d 3 ", None),
            (
                "sample_bitwise_validator -d 3 --app example_app",
                Some("example_app"),
            ),
            (
                "sample_work_generator -d 3 --app example_app",
                Some("example_app"),
            ),
        ] {
            let c = common(line);
            assert_eq!(c.debug_level, Some(3));
            assert_eq!(c.app.as_deref(), app);
        }
    }

    #[test]
    fn mod_takes_two_numbers() {
        assert_eq!(
            common("demo --mod 2 0").mod_slice().unwrap(),
            ModSlice::new(2, 0).unwrap()
        );
        assert_eq!(
            common("demo -mod 3 2").mod_slice().unwrap(),
            ModSlice::new(3, 2).unwrap()
        );
        assert_eq!(common("demo").mod_slice().unwrap(), ModSlice::ALL);
        assert_eq!(
            common("demo --mod 2 5")
                .mod_slice()
                .unwrap_err()
                .to_string(),
            "--mod 2 5: I must be less than N (0..=1)"
        );
        let e = parse("demo --mod 2").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongNumberOfValues);
        let e = parse("demo --mod 2 x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn daemon_specific_flags_get_both_spellings() {
        assert!(parse("demo -credit_from_wu").unwrap().credit_from_wu);
        assert!(parse("demo --credit_from_wu").unwrap().credit_from_wu);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse("demo -h").unwrap_err().kind(), ErrorKind::DisplayHelp);
        assert_eq!(
            parse("demo --help").unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
        assert_eq!(
            parse("demo -help").unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
        assert_eq!(
            parse("demo -v").unwrap_err().kind(),
            ErrorKind::DisplayVersion
        );
        assert_eq!(
            parse("demo --version").unwrap_err().kind(),
            ErrorKind::DisplayVersion
        );
    }

    #[test]
    fn unknown_flags_are_rejected() {
        let e = parse("demo -bogus 1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownArgument);
        assert!(e.to_string().contains("--bogus"), "{e}");
    }

    #[test]
    fn log_format_and_project_dir() {
        let c = common("demo --log-format json --project-dir /p");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.project_dir, Some(PathBuf::from("/p")));
        let c = common("demo -log_format text -project_dir /q");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.project_dir, Some(PathBuf::from("/q")));
    }
}
