//! Scalar `<config>` settings by name, with BOINC's value rules.
//!
//! [`super::Config`] gives typed fields for the settings rboinc uses today.
//! A project's `config.xml` holds many more (PHP-only flags, debug switches,
//! options a later part will need), so every scalar child of `<config>` is
//! also kept here and can be read by name without editing `Config`. The
//! value rules are BOINC's:
//! - text is trimmed (stock `make_project` writes whitespace-only values);
//! - a boolean is `<flag/>` (true) or an integer, non-zero meaning true;
//! - an empty numeric element counts as 0, as `XML_PARSER::parse_int` does;
//! - when an element appears twice the later one wins (BOINC's parser simply
//!   assigns again), except for the repeatable ones read with [`Options::all`].
//!
//! Elements whose name contains `passwd` or `password` are not kept here:
//! secrets live only in [`super::Secret`] fields.

use std::path::{Path, PathBuf};

use super::document::Element;
use super::error::{ConfigError, Position};

/// One scalar element of `<config>`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionEntry {
    pub name: String,
    /// Trimmed text, entities resolved.
    pub value: String,
    pub at: Position,
    /// Written as `<name/>`.
    pub self_closing: bool,
}

/// Every scalar child of `<config>`, in file order.
#[derive(Debug, Clone, Default)]
pub struct Options {
    path: PathBuf,
    entries: Vec<OptionEntry>,
}

/// Whether an element name holds a secret that must not be kept in [`Options`].
pub(crate) fn is_secret_name(name: &str) -> bool {
    name.contains("passwd") || name.contains("password")
}

impl Options {
    pub(crate) fn from_config_element(path: &Path, config: &Element) -> Self {
        let entries = config
            .children
            .iter()
            .filter(|e| e.children.is_empty() && !is_secret_name(&e.name))
            .map(|e| OptionEntry {
                name: e.name.clone(),
                value: e.value().to_string(),
                at: e.at,
                self_closing: e.self_closing,
            })
            .collect();
        Options {
            path: path.to_path_buf(),
            entries,
        }
    }

    /// The file these options came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The element (last occurrence wins), if present.
    pub fn entry(&self, name: &str) -> Option<&OptionEntry> {
        self.entries.iter().rev().find(|e| e.name == name)
    }

    /// The trimmed text of `<name>`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entry(name).map(|e| e.value.as_str())
    }

    /// Whether `<name>` appears at all.
    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// Every value of a repeatable element (`ban_os`, `ban_cpu`, …), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.name == name)
            .map(|e| e.value.as_str())
    }

    /// Names of all scalar elements present, in file order (with repeats).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// `<name>` as a BOINC boolean; `None` if absent.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.entry(name)
            .map(|e| parse_bool(&self.path, e))
            .transpose()
    }

    /// `<name>` as a signed integer (decimal or `0x` hex); `None` if absent.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ConfigError> {
        self.entry(name)
            .map(|e| parse_int(&self.path, e, "an integer"))
            .transpose()
    }

    /// `<name>` as a floating-point number; `None` if absent.
    pub fn float(&self, name: &str) -> Result<Option<f64>, ConfigError> {
        self.entry(name)
            .map(|e| parse_float(&self.path, e))
            .transpose()
    }

    /// `<name>` converted to `T` (u32, i32, u64, …) with range checking.
    pub(crate) fn typed<T: TryFrom<i64>>(
        &self,
        name: &str,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(e) = self.entry(name) else {
            return Ok(None);
        };
        let n = parse_int(&self.path, e, expected)?;
        T::try_from(n)
            .map(Some)
            .map_err(|_| invalid(&self.path, e, expected))
    }
}

fn invalid(path: &Path, e: &OptionEntry, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        path: path.to_path_buf(),
        at: e.at,
        element: e.name.clone(),
        value: e.value.clone(),
        expected,
    }
}

/// Parses an integer the way C's `strtol(s, _, 0)` reads the forms found in
/// config files: optional sign, then decimal or `0x` hexadecimal. (A leading
/// `0` is decimal here, not octal: no config value is written in octal, and
/// reading `010` as 8 would only surprise.)
pub fn parse_c_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            i64::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<i64>().ok()?
        }
        None => return None,
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_bool(path: &Path, e: &OptionEntry) -> Result<bool, ConfigError> {
    if e.self_closing {
        return Ok(true);
    }
    if e.value.is_empty() {
        return Ok(false);
    }
    parse_c_int(&e.value)
        .map(|n| n != 0)
        .ok_or_else(|| invalid(path, e, "a boolean (0 or 1, or <flag/>)"))
}

fn parse_int(path: &Path, e: &OptionEntry, expected: &'static str) -> Result<i64, ConfigError> {
    if e.value.is_empty() {
        return Ok(0);
    }
    parse_c_int(&e.value).ok_or_else(|| invalid(path, e, expected))
}

fn parse_float(path: &Path, e: &OptionEntry) -> Result<f64, ConfigError> {
    if e.value.is_empty() {
        return Ok(0.0);
    }
    e.value
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| invalid(path, e, "a number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document;

    fn options(config_body: &str) -> Options {
        let text = format!("<config>{config_body}</config>");
        let root = document::parse(Path::new("c.xml"), &text).unwrap();
        Options::from_config_element(Path::new("c.xml"), &root)
    }

    #[test]
    fn c_integers() {
        assert_eq!(parse_c_int("42"), Some(42));
        assert_eq!(parse_c_int("-7"), Some(-7));
        assert_eq!(parse_c_int("+7"), Some(7));
        assert_eq!(parse_c_int("0x1111e001"), Some(0x1111_e001));
        assert_eq!(parse_c_int("010"), Some(10));
        for bad in ["", "-", "0x", "1.5", "12abc", " 1", "0xg"] {
            assert_eq!(parse_c_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn booleans_follow_boinc() {
        let o = options("<a/><b>1</b><c>0</c><d></d><e> 5 </e><f>yes</f>");
        assert_eq!(o.bool("a").unwrap(), Some(true));
        assert_eq!(o.bool("b").unwrap(), Some(true));
        assert_eq!(o.bool("c").unwrap(), Some(false));
        assert_eq!(o.bool("d").unwrap(), Some(false));
        assert_eq!(o.bool("e").unwrap(), Some(true));
        assert_eq!(o.bool("missing").unwrap(), None);
        assert_eq!(
            o.bool("f").unwrap_err().to_string(),
            "c.xml:1:46: <f>: \"yes\" is not a boolean (0 or 1, or <flag/>)"
        );
    }

    #[test]
    fn numbers_and_repeats() {
        let o = options("<n>3</n><n>4</n><x>2.5</x><e></e><ban_os>a</ban_os><ban_os>b</ban_os>");
        assert_eq!(o.int("n").unwrap(), Some(4), "the later element wins");
        assert_eq!(o.float("x").unwrap(), Some(2.5));
        assert_eq!(o.int("e").unwrap(), Some(0));
        assert_eq!(o.all("ban_os").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(o.typed::<u8>("n", "a small number").unwrap(), Some(4));
    }

    #[test]
    fn out_of_range_is_an_error() {
        let o = options("<n>-1</n><big>99999999999</big><inf>inf</inf>");
        assert_eq!(
            o.typed::<u32>("n", "a non-negative integer")
                .unwrap_err()
                .to_string(),
            "c.xml:1:9: <n>: \"-1\" is not a non-negative integer"
        );
        assert!(o.typed::<i32>("big", "an integer").is_err());
        assert!(o.float("inf").is_err());
    }

    #[test]
    fn secrets_and_nested_elements_are_not_kept() {
        let o = options(
            "<db_passwd>s3cret</db_passwd><replica_db_passwd>x</replica_db_passwd><nested><a>1</a></nested><k>v</k>",
        );
        assert_eq!(o.names().collect::<Vec<_>>(), ["k"]);
        assert!(!format!("{o:?}").contains("s3cret"));
    }
}
