//! Database connection settings as BOINC derives them from `config.xml`.

use std::path::Path;

use super::error::{ConfigError, Position};
use super::secret::Secret;

/// Where and how to connect to the project database.
///
/// BOINC's rules, applied here so every binary agrees:
/// - `db_host` may be `host:port` (or `[v6addr]:port`);
/// - an empty `db_host` means the local server, written `localhost`;
/// - a `db_host` equal to this machine's host name also becomes `localhost`.
///
/// A bare `localhost` is the local server's Unix socket, as for the MySQL C
/// client the C++ daemons use; see [`crate::db::pool`] for the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    pub name: String,
    pub host: String,
    /// `None`: the driver's default port (3306).
    pub port: Option<u16>,
    pub user: String,
    pub password: Secret,
}

impl DbSettings {
    /// Builds the settings from the raw `db_*` values.
    /// `local_hostname` is this machine's full host name (`gethostname()`).
    pub(crate) fn from_raw(
        path: &Path,
        at: Position,
        name: String,
        raw_host: &str,
        user: String,
        password: Secret,
        local_hostname: &str,
    ) -> Result<Self, ConfigError> {
        let (host, port) = split_host_port(raw_host).ok_or_else(|| ConfigError::InvalidValue {
            path: path.to_path_buf(),
            at,
            element: "db_host".into(),
            value: raw_host.to_string(),
            expected: "a host name, optionally followed by :port",
        })?;
        let host = if host.is_empty() || host == local_hostname {
            "localhost".to_string()
        } else {
            host.to_string()
        };
        Ok(DbSettings {
            name,
            host,
            port,
            user,
            password,
        })
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`. `None` if the port is
/// not a number in 1..=65535 or the brackets are unbalanced.
fn split_host_port(raw: &str) -> Option<(&str, Option<u16>)> {
    let parse_port = |p: &str| p.parse::<u16>().ok().filter(|&n| n > 0);
    if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(parse_port(after.strip_prefix(':')?)?))),
        };
    }
    match raw.split_once(':') {
        None => Some((raw, None)),
        // A bare IPv6 address has several colons and no port.
        Some((_, rest)) if rest.contains(':') => Some((raw, None)),
        Some((host, port)) => Some((host, Some(parse_port(port)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(raw_host: &str) -> Result<DbSettings, ConfigError> {
        DbSettings::from_raw(
            Path::new("config.xml"),
            Position { line: 3, column: 5 },
            "proj".into(),
            raw_host,
            "boincadm".into(),
            Secret::new("pw"),
            "server1.example.org",
        )
    }

    #[test]
    fn host_rules() {
        let s = settings("").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("localhost", None));
        let s = settings("server1.example.org").unwrap();
        assert_eq!(s.host, "localhost");
        let s = settings("server1.example.org:3307").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("localhost", Some(3307)));
        let s = settings("db.example.org:3307").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("db.example.org", Some(3307)));
        let s = settings("127.0.0.1").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", None));
        let s = settings("[::1]:3306").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", Some(3306)));
        let s = settings("fe80::1").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("fe80::1", None));
    }

    #[test]
    fn bad_ports_are_reported() {
        for raw in ["db:", "db:x", "db:0", "db:70000", "[::1", "[::1]x"] {
            let e = settings(raw).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "config.xml:3:5: <db_host>: {raw:?} is not a host name, optionally followed by :port"
                )
            );
        }
    }
}
