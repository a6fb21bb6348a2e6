//! `script_assimilator --script "NAME TOKEN…"`: which program to run and with which arguments.
//!
//! The value names a program in the project's `bin/` directory, then the argument words that
//! describe what the program is given for a workunit with a canonical result:
//!
//! | word | arguments added |
//! |---|---|
//! | `files` | the upload path of each output file of the canonical result, in template order |
//! | `files2` | for each output file: its path, then its logical (open) name |
//! | `wu_id`, `wu_name` | the workunit's id, name |
//! | `result_id` | the canonical result's id |
//! | `runtime` | the canonical result's elapsed time, six decimals (`123.456000`) |
//! | `batch_id` | the workunit's batch |
//!
//! With no words the list is `wu_id files`. A workunit without a canonical result always gets
//! `--error <error_mask> <wu_name> <wu_id> <batch>` instead.
//!
//! BOINC's current C++ daemon splits the value so that every word keeps a trailing space and
//! none of them matches, so explicit words yield *no* arguments (a regression; the daemon
//! oracle's scenario 24 records it). This module does what BOINC documents: words are
//! separated by whitespace and matched exactly. Unknown words add nothing, as in BOINC, and
//! are reported once at start-up.
//!
//! The program is started directly with an argument vector, not through `/bin/sh -c` as the
//! C++ daemon does, so file names can never be read as shell syntax; for every name a BOINC
//! server produces the program sees the same arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::queue::ReadyWorkunit;
use rboinc_core::job_files::OutputFile;

/// One argument word of `--script`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Files,
    Files2,
    WuId,
    WuName,
    ResultId,
    Runtime,
    BatchId,
}

impl Token {
    fn parse(word: &str) -> Option<Token> {
        Some(match word {
            "files" => Token::Files,
            "files2" => Token::Files2,
            "wu_id" => Token::WuId,
            "wu_name" => Token::WuName,
            "result_id" => Token::ResultId,
            "runtime" => Token::Runtime,
            "batch_id" => Token::BatchId,
            _ => return None,
        })
    }
}

/// A parsed `--script` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    /// The program as written (a name in the project's `bin/`, or an absolute path).
    pub program: String,
    pub tokens: Vec<Token>,
    /// Words that are not tokens (they add nothing).
    pub ignored: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScriptSpecError {
    #[error("--script is empty: give the program name and optional argument words")]
    Empty,
}

impl ScriptSpec {
    /// Parses `"NAME [WORD…]"`.
    pub fn parse(value: &str) -> Result<ScriptSpec, ScriptSpecError> {
        let mut words = value.split_whitespace();
        let program = words.next().ok_or(ScriptSpecError::Empty)?.to_string();
        let mut tokens = Vec::new();
        let mut ignored = Vec::new();
        let mut any = false;
        for word in words {
            any = true;
            match Token::parse(word) {
                Some(t) => tokens.push(t),
                None => ignored.push(word.to_string()),
            }
        }
        if !any {
            tokens = vec![Token::WuId, Token::Files];
        }
        Ok(ScriptSpec {
            program,
            tokens,
            ignored,
        })
    }

    /// The program's path: an absolute path as given, otherwise `<project>/bin/<program>`
    /// (BOINC runs `../bin/<program>` from `<project>/tmp_<host>`, the same file).
    pub fn program_path(&self, project_root: &Path) -> PathBuf {
        let p = Path::new(&self.program);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            project_root.join("bin").join(p)
        }
    }

    /// The arguments for a workunit with a canonical result.
    pub fn success_args(
        &self,
        wu: &ReadyWorkunit,
        result_id: i64,
        runtime: f64,
        files: &[OutputFile],
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        for token in &self.tokens {
            match token {
                Token::Files => {
                    for f in files {
                        args.push(f.path.clone().into_os_string());
                    }
                }
                Token::Files2 => {
                    for f in files {
                        args.push(f.path.clone().into_os_string());
                        args.push(f.open_name.clone().into());
                    }
                }
                Token::WuId => args.push(wu.id.to_string().into()),
                Token::WuName => args.push(wu.name.clone().into()),
                Token::ResultId => args.push(result_id.to_string().into()),
                Token::Runtime => args.push(format!("{runtime:.6}").into()),
                Token::BatchId => args.push(wu.batch.to_string().into()),
            }
        }
        args
    }
}

/// The arguments for a workunit without a canonical result.
pub fn error_args(wu: &ReadyWorkunit) -> Vec<OsString> {
    vec![
        "--error".into(),
        wu.error_mask.bits().to_string().into(),
        wu.name.clone().into(),
        wu.id.to_string().into(),
        wu.batch.to_string().into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::db::{BatchId, ResultId, WorkunitId};
    use rboinc_core::hier::Hierarchy;
    use rboinc_core::state::ErrorMask;

    fn wu() -> ReadyWorkunit {
        ReadyWorkunit {
            id: WorkunitId(1),
            name: "a24".into(),
            batch: BatchId(4),
            error_mask: ErrorMask(0),
            canonical_resultid: ResultId(1),
            canonical: None,
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    const UPLOAD: &str = "/p/upload";

    fn files() -> Vec<OutputFile> {
        let doc =
            "<file_ref><file_name>a24_0_r100001_0</file_name><open_name>out</open_name></file_ref>";
        rboinc_core::job_files::output_files(doc, &Hierarchy::new(UPLOAD, 1024)).unwrap()
    }

    #[test]
    fn explicit_tokens_give_the_documented_arguments() {
        // The oracle's scenario 24, intended_script_args.txt.
        let spec =
            ScriptSpec::parse("argv.sh wu_name wu_id result_id runtime batch_id files2").unwrap();
        assert_eq!(spec.program, "argv.sh");
        let args = spec.success_args(&wu(), 1, 123.456, &files());
        assert_eq!(
            strings(args),
            [
                "a24",
                "1",
                "1",
                "123.456000",
                "4",
                "/p/upload/d/a24_0_r100001_0",
                "out"
            ]
        );
    }

    #[test]
    fn the_default_words_are_wu_id_files() {
        let spec = ScriptSpec::parse("argv.sh").unwrap();
        assert_eq!(spec.tokens, [Token::WuId, Token::Files]);
        let args = spec.success_args(&wu(), 1, 0.0, &files());
        assert_eq!(strings(args), ["1", "/p/upload/d/a24_0_r100001_0"]);
    }

    #[test]
    fn extra_spaces_and_unknown_words() {
        let spec = ScriptSpec::parse("  x.py   wu_name  bogus files ").unwrap();
        assert_eq!(spec.program, "x.py");
        assert_eq!(spec.tokens, [Token::WuName, Token::Files]);
        assert_eq!(spec.ignored, ["bogus"]);
        // Only unknown words: no arguments at all (not the default list).
        let spec = ScriptSpec::parse("x.py bogus").unwrap();
        assert!(spec.tokens.is_empty());
        assert_eq!(ScriptSpec::parse("  "), Err(ScriptSpecError::Empty));
    }

    #[test]
    fn error_form() {
        let mut w = wu();
        w.error_mask = ErrorMask(2);
        w.name = "a25".into();
        assert_eq!(strings(error_args(&w)), ["--error", "2", "a25", "1", "4"]);
    }

    #[test]
    fn program_path() {
        let spec = ScriptSpec::parse("assim.sh").unwrap();
        assert_eq!(
            spec.program_path(Path::new("/p")),
            Path::new("/p/bin/assim.sh")
        );
        let spec = ScriptSpec::parse("/usr/local/bin/assim").unwrap();
        assert_eq!(
            spec.program_path(Path::new("/p")),
            Path::new("/usr/local/bin/assim")
        );
    }

    #[test]
    fn runtime_is_printed_like_printf_f() {
        let spec = ScriptSpec::parse("x runtime").unwrap();
        for (t, want) in [
            (0.0, "0.000000"),
            (1e-7, "0.000000"),
            (2.5e6, "2500000.000000"),
        ] {
            let args = spec.success_args(&wu(), 1, t, &[]);
            assert_eq!(strings(args), [want]);
        }
    }
}
