//! Apache-compatible htpasswd files, bcrypt entries only.
//!
//! `make_project` writes `keys/ops.htpasswd` with one `admin:$2y$…` line, and an operator may
//! add users with Apache's own `htpasswd -B`. Only bcrypt (`$2y$`, `$2b$`, `$2a$`) is accepted:
//! the other schemes Apache knows (`$apr1$` MD5, `{SHA}`, `crypt`) are fast to brute-force, so
//! a line using one is skipped and reported, never honoured.

/// One line that could not be used, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    pub reason: &'static str,
}

/// The usable entries of a file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Htpasswd {
    entries: Vec<(String, String)>,
    pub skipped: Vec<Skipped>,
}

/// Whether `hash` looks like a bcrypt hash a verifier can take: `$2y$NN$` + 53 characters.
fn is_bcrypt(hash: &str) -> bool {
    let b = hash.as_bytes();
    hash.len() == 60
        && (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$"))
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
        && hash[7..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
}

impl Htpasswd {
    /// Parses the file's text. Blank lines and `#` comments are ignored; a user listed twice
    /// keeps its first entry, as Apache does.
    pub fn parse(text: &str) -> Htpasswd {
        let mut out = Htpasswd::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let skip = |reason| Skipped {
                line: i + 1,
                reason,
            };
            let Some((user, hash)) = line.split_once(':') else {
                out.skipped.push(skip("no ':' between user and hash"));
                continue;
            };
            if user.is_empty() {
                out.skipped.push(skip("empty user name"));
            } else if !is_bcrypt(hash) {
                out.skipped.push(skip(
                    "not a bcrypt hash (create entries with `htpasswd -B`)",
                ));
            } else if out.hash_of(user).is_some() {
                out.skipped
                    .push(skip("user listed again; the first entry counts"));
            } else {
                out.entries.push((user.to_string(), hash.to_string()));
            }
        }
        out
    }

    /// The bcrypt hash of `user`, if listed.
    pub fn hash_of(&self, user: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, h)| h.as_str())
    }

    /// Any usable hash (checked against for unknown users, so they cost the same time).
    pub fn any_hash(&self) -> Option<&str> {
        self.entries.first().map(|(_, h)| h.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(u, _)| u.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$05$uFtWq6q1m7vGQ2w8H0u6XO8l0eJrH0y0b4m0lSx3yJvNf3yYd1h5K";

    #[test]
    fn bcrypt_lines_are_kept_and_others_skipped() {
        let text = format!(
            "# ops users\n\nadmin:{HASH}\nold:$apr1$abc$defghijklmnopqrstuvwx\nsha:{{SHA}}abc=\n\
             nocolon\n:{HASH}\nadmin:{}\nbob:{}\n",
            HASH.replace("$2y$", "$2b$"),
            HASH.replace("$2y$", "$2a$")
        );
        let h = Htpasswd::parse(&text);
        assert_eq!(h.hash_of("admin"), Some(HASH));
        assert!(h.hash_of("bob").unwrap().starts_with("$2a$05$"));
        assert_eq!(h.hash_of("old"), None);
        assert_eq!(h.hash_of("sha"), None);
        assert_eq!(h.users().collect::<Vec<_>>(), ["admin", "bob"]);
        let lines: Vec<usize> = h.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8]);
        assert_eq!(h.any_hash(), Some(HASH));
    }

    #[test]
    fn truncated_or_odd_hashes_are_refused() {
        for bad in [
            &HASH[..59],
            &format!("{HASH}x"),
            &HASH.replace("$05$", "$x5$"),
            &HASH.replace('u', "!"),
            "",
        ] {
            assert!(Htpasswd::parse(&format!("u:{bad}\n")).is_empty(), "{bad}");
        }
        assert!(Htpasswd::parse("").is_empty());
    }

    #[test]
    fn real_bcrypt_output_is_accepted_and_verifies() {
        let hash = bcrypt::hash_with_result("s3cret", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let h = Htpasswd::parse(&format!("admin:{hash}\r\n"));
        let stored = h.hash_of("admin").unwrap();
        assert!(bcrypt::verify("s3cret", stored).unwrap());
        assert!(!bcrypt::verify("s3cret ", stored).unwrap());
    }
}
