//! One line of `create_work --stdin`: the per-job options BOINC's bulk mode accepts.
//!
//! ```text
//! --wu_name job_7 --command_line "--seed 7" --priority 3 job_7.json dataset.bin
//! ```
//! Tokens are split on whitespace; double or single quotes group words (no escapes inside,
//! as in BOINC's `parse_command_line`). Options take one or two dashes.

/// What a stdin line says about its job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineArgs {
    pub wu_name: Option<String>,
    /// Appended (space-separated) to the global command line.
    pub command_line: Option<String>,
    pub wu_template: Option<String>,
    pub result_template: Option<String>,
    pub priority: Option<i32>,
    /// `--remote_file URL NBYTES MD5` entries, in order among the inputs.
    pub inputs: Vec<LineInput>,
}

/// An input file of a line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineInput {
    Name(String),
    Remote {
        url: String,
        nbytes: f64,
        md5: String,
    },
}

/// Splits a line into words (see the module docs).
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unclosed {q} quote"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Parses one line.
pub fn parse(line: &str) -> Result<LineArgs, String> {
    let words = tokenize(line)?;
    let mut args = LineArgs::default();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        let opt = w.strip_prefix("--").or_else(|| w.strip_prefix('-'));
        let mut value = |name: &str| it.next().ok_or_else(|| format!("--{name} needs a value"));
        match opt {
            Some("wu_name") => args.wu_name = Some(value("wu_name")?),
            Some("command_line") => args.command_line = Some(value("command_line")?),
            Some("wu_template") => args.wu_template = Some(value("wu_template")?),
            Some("result_template") => args.result_template = Some(value("result_template")?),
            Some("priority") => {
                let v = value("priority")?;
                args.priority = Some(
                    v.parse()
                        .map_err(|_| format!("--priority {v:?}: not an integer"))?,
                );
            }
            Some("remote_file") => {
                let url = value("remote_file")?;
                let n = value("remote_file")?;
                let md5 = value("remote_file")?;
                let nbytes = n
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or_else(|| format!("--remote_file {url}: {n:?} is not a size"))?;
                if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("--remote_file {url}: {md5:?} is not an MD5"));
                }
                args.inputs.push(LineInput::Remote { url, nbytes, md5 });
            }
            Some(other) if !other.is_empty() => {
                return Err(format!(
                    "unknown option {w:?} (a --stdin line takes --wu_name, --command_line, --wu_template, \
                     --result_template, --priority, --remote_file and input files)"
                ));
            }
            _ => args.inputs.push(LineInput::Name(w)),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            tokenize(r#"a "b c" 'd "e"' f"#).unwrap(),
            ["a", "b c", "d \"e\"", "f"]
        );
        assert_eq!(tokenize("  ").unwrap(), Vec::<String>::new());
        assert_eq!(tokenize("x \"\"").unwrap(), ["x", ""]);
        assert!(tokenize("\"open").is_err());
    }

    #[test]
    fn lines() {
        let a =
            parse(r#"--wu_name j7 -command_line "--seed 7" --priority 3 in.json ds.bin"#).unwrap();
        assert_eq!(a.wu_name.as_deref(), Some("j7"));
        assert_eq!(a.command_line.as_deref(), Some("--seed 7"));
        assert_eq!(a.priority, Some(3));
        assert_eq!(
            a.inputs,
            [
                LineInput::Name("in.json".into()),
                LineInput::Name("ds.bin".into())
            ]
        );
        let md5 = "0123456789abcdef0123456789abcdef";
        let a = parse(&format!("--remote_file http://x/f 10 {md5}")).unwrap();
        assert!(matches!(&a.inputs[0], LineInput::Remote { nbytes, .. } if *nbytes == 10.0));
        assert!(parse("--bogus 1").unwrap_err().contains("unknown option"));
        assert!(parse("--wu_name").unwrap_err().contains("needs a value"));
        assert!(parse("--remote_file u x y").is_err());
    }
}
