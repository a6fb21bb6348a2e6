//! The project's public URLs, and the request paths this server answers on.
//!
//! Clients only ever see URLs that `config.xml` states (`master_url`, `download_url`,
//! `upload_url`) or that the master page advertises (the scheduler URL), so the server takes its
//! routes from the paths of those URLs: a project keeps its URLs when it swaps the C++ CGI
//! programs for this server, and attached clients notice nothing.
//!
//! The scheduler URL is not in a stock `config.xml`; stock `make_project` puts the CGI programs
//! next to the master URL, at `<master_url>../<short>_cgi/cgi` (master `http://h/proj/` gives
//! `http://h/proj_cgi/cgi`), and so does this module unless `<scheduler_url>` names another one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rboinc_core::config::Config;
use url::Url;

/// The `config.xml` element that overrides the derived scheduler URL.
pub const SCHEDULER_URL_OPTION: &str = "scheduler_url";

/// The substring a BOINC client uses to tell an upload URL from a download URL.
pub const UPLOAD_HANDLER_NAME: &str = "file_upload_handler";

/// A URL setting that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("config.xml has no <{0}>; the scheduler needs it")]
    Missing(&'static str),
    #[error("<{element}> {value:?} is not a usable URL: {reason}")]
    Invalid {
        element: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "cannot derive the scheduler URL from master_url {0:?}: its path has no last segment \
         (BOINC derives <short>_cgi/cgi from it); set <scheduler_url> in config.xml"
    )]
    NoShortName(String),
    #[error("<{first}> and <{second}> resolve to the same path {path:?}")]
    Clash {
        first: &'static str,
        second: &'static str,
        path: String,
    },
    #[error(
        "master_url {0:?} uses https with no explicit port; this server speaks plain HTTP \
         behind a TLS proxy, so give --listen"
    )]
    NoDefaultListen(String),
}

/// The URLs clients use, and the paths of each that the router matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectUrls {
    /// Exactly as `config.xml` writes it; echoed in every scheduler reply (clients compare it).
    pub master_url: String,
    /// Path of the master page, always ending in `/` (`/proj/`).
    pub master_path: String,
    pub scheduler_url: String,
    pub scheduler_path: String,
    pub upload_url: String,
    pub upload_path: String,
    /// Base of download URLs, without a trailing slash.
    pub download_url: String,
    /// Path prefix of the download tree, without a trailing slash (`/proj/download`).
    pub download_path: String,
    /// Port of the master URL (explicit, or the scheme's default).
    master_port: Option<u16>,
    master_host_is_loopback: bool,
}

fn parse(element: &'static str, value: &str) -> Result<Url, UrlError> {
    let invalid = |reason: String| UrlError::Invalid {
        element,
        value: value.to_string(),
        reason,
    };
    let url = Url::parse(value).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    if url.host_str().is_none() {
        return Err(invalid("it has no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment".into()));
    }
    // Braces and `*` are route syntax for the router; no BOINC URL uses them.
    if url.path().contains(['{', '}', '*']) {
        return Err(invalid("its path must not contain '{', '}' or '*'".into()));
    }
    Ok(url)
}

/// `<master_url>../<short>_cgi/cgi`, the stock location of the scheduler.
pub fn derive_scheduler_url(master: &Url) -> Result<Url, UrlError> {
    let path = master.path().trim_end_matches('/');
    let (parent, short) = path.rsplit_once('/').unwrap_or(("", path));
    if short.is_empty() {
        return Err(UrlError::NoShortName(master.to_string()));
    }
    let mut url = master.clone();
    url.set_path(&format!("{parent}/{short}_cgi/cgi"));
    Ok(url)
}

impl ProjectUrls {
    /// Reads and checks the URL settings. `download_url` defaults to `<master_url>download`
    /// and `upload_url` to the directory of the scheduler URL plus `file_upload_handler`, which
    /// is what stock `make_project` writes.
    pub fn from_config(config: &Config) -> Result<Self, UrlError> {
        let master_text = config
            .master_url
            .as_deref()
            .ok_or(UrlError::Missing("master_url"))?;
        let master = parse("master_url", master_text)?;
        let scheduler = match config
            .option(SCHEDULER_URL_OPTION)
            .filter(|s| !s.is_empty())
        {
            Some(text) => parse("scheduler_url", text)?,
            None => derive_scheduler_url(&master)?,
        };
        let upload = match config.upload_url.as_deref() {
            Some(text) => parse("upload_url", text)?,
            None => scheduler
                .join(UPLOAD_HANDLER_NAME)
                .map_err(|e| UrlError::Invalid {
                    element: "upload_url",
                    value: scheduler.to_string(),
                    reason: e.to_string(),
                })?,
        };
        if !upload.as_str().contains(UPLOAD_HANDLER_NAME) {
            return Err(UrlError::Invalid {
                element: "upload_url",
                value: upload.to_string(),
                reason: format!(
                    "clients treat a URL as an upload URL only if it contains \
                     {UPLOAD_HANDLER_NAME:?}"
                ),
            });
        }
        let download = match config.download_url.as_deref() {
            Some(text) => parse("download_url", text)?,
            None => master.join("download").map_err(|e| UrlError::Invalid {
                element: "download_url",
                value: master.to_string(),
                reason: e.to_string(),
            })?,
        };

        let mut master_path = master.path().to_string();
        if !master_path.ends_with('/') {
            master_path.push('/');
        }
        let download_path = download.path().trim_end_matches('/').to_string();
        let urls = ProjectUrls {
            master_url: master_text.to_string(),
            master_path,
            scheduler_url: scheduler.to_string(),
            scheduler_path: scheduler.path().to_string(),
            upload_url: upload.to_string(),
            upload_path: upload.path().to_string(),
            download_url: download.as_str().trim_end_matches('/').to_string(),
            download_path,
            master_port: master.port_or_known_default(),
            master_host_is_loopback: is_loopback_host(&master),
        };
        urls.check_distinct()?;
        Ok(urls)
    }

    fn check_distinct(&self) -> Result<(), UrlError> {
        let exact = [
            ("master_url", self.master_path.as_str()),
            ("scheduler_url", self.scheduler_path.as_str()),
            ("upload_url", self.upload_path.as_str()),
        ];
        for (i, (first, a)) in exact.iter().enumerate() {
            for (second, b) in &exact[i + 1..] {
                if a == b {
                    return Err(UrlError::Clash {
                        first,
                        second,
                        path: a.to_string(),
                    });
                }
            }
            // Nothing but downloads may live under the download prefix.
            if a.starts_with(&format!("{}/", self.download_path)) || *a == self.download_path {
                return Err(UrlError::Clash {
                    first,
                    second: "download_url",
                    path: a.to_string(),
                });
            }
        }
        if self.download_path.is_empty() {
            return Err(UrlError::Invalid {
                element: "download_url",
                value: self.download_url.clone(),
                reason: "downloads need their own path, not the server root".into(),
            });
        }
        Ok(())
    }

    /// Where to listen when `--listen` is not given: the master URL's port, on the loopback
    /// address if the master URL names a loopback host, else on every address.
    pub fn default_listen_addr(&self) -> Result<SocketAddr, UrlError> {
        let port = match self.master_port {
            Some(443) | None if self.master_url.starts_with("https:") => {
                return Err(UrlError::NoDefaultListen(self.master_url.clone()));
            }
            Some(port) => port,
            None => 80,
        };
        let ip = if self.master_host_is_loopback {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Ok(SocketAddr::new(ip, port))
    }

    /// The master URL's path without its trailing slash (`/proj`), also answered.
    pub fn master_path_without_slash(&self) -> Option<&str> {
        let trimmed = self.master_path.trim_end_matches('/');
        (!trimmed.is_empty()).then_some(trimmed)
    }

    /// `<master path><script>` for the account web RPCs (`/proj/lookup_account.php`).
    pub fn web_rpc_path(&self, script: &str) -> String {
        format!("{}{script}", self.master_path)
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!("<boinc><config><db_name>x</db_name>{extra}</config></boinc>");
        Config::from_str_at(&text, Path::new("/p/config.xml"), Path::new("/p"), "h").unwrap()
    }

    #[test]
    fn stock_layout_is_derived_from_the_master_url() {
        let urls = ProjectUrls::from_config(&config(
            "<master_url>http://127.0.0.1:18080/proj/</master_url>",
        ))
        .unwrap();
        assert_eq!(urls.scheduler_url, "http://127.0.0.1:18080/proj_cgi/cgi");
        assert_eq!(urls.scheduler_path, "/proj_cgi/cgi");
        assert_eq!(
            urls.upload_url,
            "http://127.0.0.1:18080/proj_cgi/file_upload_handler"
        );
        assert_eq!(urls.download_url, "http://127.0.0.1:18080/proj/download");
        assert_eq!(urls.download_path, "/proj/download");
        assert_eq!(urls.master_path, "/proj/");
        assert_eq!(urls.master_path_without_slash(), Some("/proj"));
        assert_eq!(
            urls.default_listen_addr().unwrap(),
            "127.0.0.1:18080".parse().unwrap()
        );
    }

    #[test]
    fn explicit_urls_win() {
        let urls = ProjectUrls::from_config(&config(
            "<master_url>http://boinc.example.org/a/b/</master_url>\
             <scheduler_url>http://boinc.example.org/sched/rpc</scheduler_url>\
             <upload_url>http://up.example.org/x/file_upload_handler</upload_url>\
             <download_url>http://dl.example.org/files/</download_url>",
        ))
        .unwrap();
        assert_eq!(urls.scheduler_path, "/sched/rpc");
        assert_eq!(urls.upload_path, "/x/file_upload_handler");
        assert_eq!(urls.download_url, "http://dl.example.org/files");
        assert_eq!(urls.download_path, "/files");
        assert_eq!(
            urls.default_listen_addr().unwrap(),
            "0.0.0.0:80".parse().unwrap()
        );
        let nested = derive_scheduler_url(&Url::parse("http://h/a/b/").unwrap()).unwrap();
        assert_eq!(nested.as_str(), "http://h/a/b_cgi/cgi");
    }

    #[test]
    fn unusable_settings_are_refused_with_a_reason() {
        let err = |extra: &str| {
            ProjectUrls::from_config(&config(extra))
                .unwrap_err()
                .to_string()
        };
        assert!(err("").contains("no <master_url>"));
        assert!(err("<master_url>http://h/</master_url>").contains("set <scheduler_url>"));
        assert!(
            err("<master_url>http://h/p/</master_url><upload_url>http://h/up</upload_url>")
                .contains("file_upload_handler")
        );
        assert!(err("<master_url>ftp://h/p/</master_url>").contains("http or https"));
        assert!(
            err("<master_url>http://h/p/</master_url><download_url>http://h/p/</download_url>")
                .contains("<download_url>")
        );
        let https = ProjectUrls::from_config(&config("<master_url>https://h/p/</master_url>"))
            .unwrap()
            .default_listen_addr()
            .unwrap_err();
        assert!(https.to_string().contains("--listen"));
    }
}
