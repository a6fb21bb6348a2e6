//! A `<cmd>` line turned into a program and its arguments.
//!
//! `bin/start` splits the command shell-style (quotes and backslashes, no expansion) and runs
//! it directly, not through a shell, unless the entry says `<use_shell>`. A line that only a
//! shell could run (`a | b`, `> file`) is refused instead of being run with `|` as an argument.
//! Programs are looked up in `PATH`, which `start` gives the project's `bin/` first, so
//! `transitioner -d 3` runs `<project>/bin/transitioner`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a command line cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("empty command")]
    Empty,
    #[error("unterminated {0} quote")]
    UnterminatedQuote(char),
    #[error("ends with a lone backslash")]
    TrailingBackslash,
    #[error(
        "`{0}` is shell syntax; set <use_shell>1</use_shell> on this entry to run it through /bin/sh"
    )]
    ShellSyntax(String),
    #[error("program `{program}` not found in {searched}")]
    NotFound { program: String, searched: String },
}

/// One word and whether any of it was quoted or escaped (quoted words are never shell syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    quoted: bool,
}

/// Splits `cmd` into words as a POSIX shell would, without any expansion.
fn split(cmd: &str) -> Result<Vec<Word>, CommandError> {
    let mut words = Vec::new();
    let mut cur: Option<Word> = None;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = cur.get_or_insert(Word {
                    text: String::new(),
                    quoted: true,
                });
                w.quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.text.push(c),
                        None => return Err(CommandError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert(Word {
                    text: String::new(),
                    quoted: true,
                });
                w.quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash escapes only these.
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.text.push(e),
                            Some('\n') => {}
                            Some(other) => {
                                w.text.push('\\');
                                w.text.push(other);
                            }
                            None => return Err(CommandError::UnterminatedQuote('"')),
                        },
                        Some(c) => w.text.push(c),
                        None => return Err(CommandError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => {
                let w = cur.get_or_insert(Word {
                    text: String::new(),
                    quoted: true,
                });
                w.quoted = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(e) => w.text.push(e),
                    None => return Err(CommandError::TrailingBackslash),
                }
            }
            c => cur
                .get_or_insert(Word {
                    text: String::new(),
                    quoted: false,
                })
                .text
                .push(c),
        }
    }
    if let Some(w) = cur {
        words.push(w);
    }
    Ok(words)
}

/// Whether an unquoted word would mean something to a shell: a pipe, a redirection, a command
/// separator or a background `&`.
fn is_shell_syntax(word: &str) -> bool {
    const OPERATORS: [&str; 5] = ["|", "&", ";", "<", ">"];
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    OPERATORS.iter().any(|op| word.starts_with(op))
        || (rest.len() < word.len() && (rest.starts_with('>') || rest.starts_with('<')))
        || word.ends_with(';')
        || word.ends_with('&')
}

/// Splits a `<cmd>` line into its program and arguments (no shell).
pub fn words(cmd: &str) -> Result<Vec<String>, CommandError> {
    let words = split(cmd)?;
    if words.is_empty() {
        return Err(CommandError::Empty);
    }
    if let Some(w) = words.iter().find(|w| !w.quoted && is_shell_syntax(&w.text)) {
        return Err(CommandError::ShellSyntax(w.text.clone()));
    }
    Ok(words.into_iter().map(|w| w.text).collect())
}

/// `PATH` for daemons: the project's `bin/` first, then the caller's `PATH`.
pub fn daemon_path(bin_dir: &Path, inherited: Option<OsString>) -> OsString {
    let mut dirs = vec![bin_dir.to_path_buf()];
    if let Some(p) = inherited {
        dirs.extend(std::env::split_paths(&p).filter(|d| d != bin_dir));
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| bin_dir.as_os_str().to_owned())
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `program` as `execvp` would in `path` (a name with a `/` is taken as it is, relative
/// to `cwd`). Resolving it before starting gives a clear error instead of a daemon that dies
/// at once with "No such file or directory" in its log.
pub fn resolve(program: &str, path: &OsString, cwd: &Path) -> Result<PathBuf, CommandError> {
    if program.contains('/') {
        let p = cwd.join(program);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(CommandError::NotFound {
                program: program.to_string(),
                searched: cwd.display().to_string(),
            })
        };
    }
    for dir in std::env::split_paths(path) {
        let p = dir.join(program);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    let first = std::env::split_paths(path).next().unwrap_or_default();
    Err(CommandError::NotFound {
        program: program.to_string(),
        searched: format!("{} or the rest of PATH", first.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(cmd: &str) -> Vec<String> {
        words(cmd).unwrap()
    }

    #[test]
    fn splits_like_a_shell_without_expanding() {
        assert_eq!(ok("feeder -d 3"), ["feeder", "-d", "3"]);
        assert_eq!(ok("  a\tb  "), ["a", "b"]);
        assert_eq!(
            ok(r#"script_assimilator --script "copy files 'x'" --app mnist"#),
            [
                "script_assimilator",
                "--script",
                "copy files 'x'",
                "--app",
                "mnist"
            ]
        );
        assert_eq!(ok(r"a 'b c' d\ e"), ["a", "b c", "d e"]);
        assert_eq!(ok(r#"a "q\"x\$y\n""#), ["a", "q\"x$y\\n"]);
        assert_eq!(ok("a '' b"), ["a", "", "b"]);
        assert_eq!(ok("echo $HOME"), ["echo", "$HOME"], "no expansion");
    }

    #[test]
    fn refuses_what_only_a_shell_can_run() {
        for cmd in [
            "a | b",
            "a > out",
            "a >> out",
            "a 2> err",
            "a 2>&1",
            "a &> both",
            "a < in",
            "a ; b",
            "a && b",
            "a &",
            "a >out",
            "a; b",
        ] {
            assert!(
                matches!(words(cmd), Err(CommandError::ShellSyntax(_))),
                "{cmd}"
            );
        }
        // Quoted, these are plain arguments.
        assert_eq!(ok("grep 'a|b' \">\""), ["grep", "a|b", ">"]);
        assert_eq!(ok("x --mod 2 1"), ["x", "--mod", "2", "1"]);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(words("   "), Err(CommandError::Empty));
        assert_eq!(words("a 'b"), Err(CommandError::UnterminatedQuote('\'')));
        assert_eq!(words("a \"b"), Err(CommandError::UnterminatedQuote('"')));
        assert_eq!(words("a \\"), Err(CommandError::TrailingBackslash));
    }

    #[test]
    fn bin_first_in_path_and_resolution() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let prog = bin.join("mydaemon");
        std::fs::write(&prog, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("notexec"), "x").unwrap();

        let path = daemon_path(&bin, Some("/usr/bin:/bin".into()));
        let first = std::env::split_paths(&path).next().unwrap();
        assert_eq!(first, bin);
        assert_eq!(resolve("mydaemon", &path, dir.path()).unwrap(), prog);
        assert!(matches!(
            resolve("notexec", &path, dir.path()),
            Err(CommandError::NotFound { .. })
        ));
        assert!(
            resolve("sh", &path, dir.path()).is_ok(),
            "falls back to PATH"
        );
        assert_eq!(
            resolve("bin/mydaemon", &path, dir.path()).unwrap(),
            dir.path().join("bin/mydaemon")
        );
    }
}
