//! Who may see the ops page: HTTP basic auth against the project's htpasswd file.
//!
//! There is no default password and no way to leave the page open: without a usable password
//! file the ops routes answer 503 with a message saying how to create one. The file is read on
//! every request (it is a few lines), so adding a user or changing a password takes effect at
//! once, with no restart.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), so:
//! - verification runs in `spawn_blocking`, at most [`BCRYPT_SLOTS`] at a time, so a flood of
//!   wrong guesses cannot take the scheduler's cores from the clients;
//! - a name not in the file is checked against another entry's hash anyway, so the answer
//!   takes as long as for a real user and does not tell which names exist;
//! - a verified login is remembered for [`CACHE_TTL`] (a browser sends the header with every
//!   request; a Prometheus scraper every few seconds). The cache holds salted SHA-256 digests
//!   of user, password and stored hash, never a password, and a changed hash misses it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::htpasswd::Htpasswd;

/// bcrypt verifications running at once, at most.
pub const BCRYPT_SLOTS: usize = 2;
/// How long a verified login is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// Remembered logins, at most.
const CACHE_CAPACITY: usize = 64;

/// Why the gate did not let a request through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, unreadable ones, or wrong ones: ask again.
    Denied,
    /// The page cannot be protected (no usable password file); the text says why.
    Unavailable(String),
}

/// User and password from an `Authorization: Basic …` header.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl BasicCredentials {
    /// Parses the header value; `None` for any other scheme or a malformed value.
    pub fn from_header(value: &HeaderValue) -> Option<BasicCredentials> {
        let text = value.to_str().ok()?.trim();
        let (scheme, token) = text.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let decoded = String::from_utf8(bytes).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some(BasicCredentials {
            user: user.to_string(),
            password: password.to_string(),
        })
    }
}

/// The basic-auth gate in front of the ops routes.
#[derive(Debug)]
pub struct Gate {
    path: PathBuf,
    /// How the file is named in answers (relative to the project when possible).
    shown_path: String,
    realm: String,
    salt: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], Instant>>,
    slots: Arc<Semaphore>,
}

impl Gate {
    /// A gate checking against the htpasswd file at `path`; `project_root` only shortens the
    /// path in messages. `realm` is shown by browsers in the login prompt.
    pub fn new(path: PathBuf, project_root: &Path, realm: &str) -> Gate {
        let shown_path = path
            .strip_prefix(project_root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        // A realm is a quoted string; keep it printable and quote-free.
        let realm: String = realm
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        Gate {
            path,
            shown_path,
            realm,
            salt,
            cache: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(BCRYPT_SLOTS)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decides on a request's `Authorization` header: the user name, or why not.
    pub async fn check(&self, authorization: Option<&HeaderValue>) -> Result<String, Refusal> {
        let file = self.load().await.map_err(Refusal::Unavailable)?;
        let Some(creds) = authorization.and_then(BasicCredentials::from_header) else {
            return Err(Refusal::Denied);
        };
        let (known, hash) = match file.hash_of(&creds.user) {
            Some(h) => (true, h.to_string()),
            // `load` refused files without entries, so there is always one to check against.
            None => (false, file.any_hash().unwrap_or_default().to_string()),
        };
        let key = self.cache_key(&creds, &hash);
        if known && self.remembered(&key) {
            return Ok(creds.user);
        }
        let matches = self.verify(creds.password.clone(), hash).await;
        if known && matches {
            self.remember(key);
            Ok(creds.user)
        } else {
            tracing::warn!(user = %creds.user, "ops login refused: wrong user name or password");
            Err(Refusal::Denied)
        }
    }

    /// Reads the password file, or says why the page is unavailable.
    async fn load(&self) -> Result<Htpasswd, String> {
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::error!(path = %self.path.display(), "ops page disabled: no password file");
                return Err(format!(
                    "The ops page is disabled: its password file {} does not exist. \
                     make_project creates it; to make one by hand run \
                     `htpasswd -B -c {} admin` in the project directory.",
                    self.shown_path, self.shown_path
                ));
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "ops page disabled: cannot read the password file");
                return Err(format!(
                    "The ops page is disabled: its password file {} cannot be read \
                     (see the scheduler log).",
                    self.shown_path
                ));
            }
        };
        let file = Htpasswd::parse(&text);
        for s in &file.skipped {
            tracing::warn!(path = %self.path.display(), line = s.line, reason = s.reason, "htpasswd line ignored");
        }
        if file.is_empty() {
            tracing::error!(path = %self.path.display(), "ops page disabled: no bcrypt entry in the password file");
            return Err(format!(
                "The ops page is disabled: its password file {} has no usable entry \
                 (only bcrypt entries are accepted: `htpasswd -B {} admin`).",
                self.shown_path, self.shown_path
            ));
        }
        Ok(file)
    }

    /// bcrypt in a blocking thread, at most [`BCRYPT_SLOTS`] at once.
    async fn verify(&self, password: String, hash: String) -> bool {
        let Ok(_permit) = Arc::clone(&self.slots).acquire_owned().await else {
            return false;
        };
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| bcrypt::verify(password, &hash).unwrap_or(false))
        })
        .await
        .unwrap_or(false)
    }

    fn cache_key(&self, creds: &BasicCredentials, hash: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        for part in [
            creds.user.as_bytes(),
            creds.password.as_bytes(),
            hash.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // The keys are salted digests nobody outside knows, so the map's ordinary comparison
        // leaks nothing useful through timing.
        cache.get(key).is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    fn remember(&self, key: [u8; 32]) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, at| at.elapsed() < CACHE_TTL);
        if cache.len() >= CACHE_CAPACITY
            && let Some(oldest) = cache.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k)
        {
            cache.remove(&oldest);
        }
        cache.insert(key, Instant::now());
    }

    /// The answer for a request the gate did not let through.
    pub fn refusal(&self, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Denied => {
                let challenge = format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm);
                let mut res = (
                    StatusCode::UNAUTHORIZED,
                    "Authentication required: log in with a user of the project's ops password file.\n",
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                res
            }
            Refusal::Unavailable(why) => {
                (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(user_pass);
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    #[test]
    fn basic_headers_parse() {
        let c = BasicCredentials::from_header(&basic("admin:pa:ss wörd")).unwrap();
        assert_eq!(c.user, "admin");
        assert_eq!(c.password, "pa:ss wörd");
        assert!(!format!("{c:?}").contains("wörd"));
        let lower = HeaderValue::from_str(&format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("a:b")
        ))
        .unwrap();
        assert_eq!(BasicCredentials::from_header(&lower).unwrap().user, "a");
        for bad in ["Bearer abc", "Basic", "Basic !!!", "Basic YWRtaW4="] {
            assert!(
                BasicCredentials::from_header(&HeaderValue::from_static(bad)).is_none(),
                "{bad}"
            );
        }
    }

    fn gate_with(dir: &Path, line: Option<&str>) -> Gate {
        let path = dir.join("keys/ops.htpasswd");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if let Some(line) = line {
            std::fs::write(&path, line).unwrap();
        }
        Gate::new(path, dir, "Test \"ops\"")
    }

    fn entry(user: &str, password: &str) -> String {
        let hash = bcrypt::hash_with_result(password, 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        format!("{user}:{hash}\n")
    }

    #[tokio::test]
    async fn verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let gate = gate_with(dir.path(), Some(&entry("admin", "right")));
        assert_eq!(
            gate.check(Some(&basic("admin:right"))).await,
            Ok("admin".into())
        );
        // Served from the cache the second time, and still right.
        assert_eq!(
            gate.check(Some(&basic("admin:right"))).await,
            Ok("admin".into())
        );
        assert_eq!(
            gate.check(Some(&basic("admin:wrong"))).await,
            Err(Refusal::Denied)
        );
        assert_eq!(
            gate.check(Some(&basic("root:right"))).await,
            Err(Refusal::Denied)
        );
        assert_eq!(gate.check(None).await, Err(Refusal::Denied));

        // A new password takes effect at once; the old one is not remembered.
        std::fs::write(gate.path(), entry("admin", "newer")).unwrap();
        assert_eq!(
            gate.check(Some(&basic("admin:right"))).await,
            Err(Refusal::Denied)
        );
        assert_eq!(
            gate.check(Some(&basic("admin:newer"))).await,
            Ok("admin".into())
        );

        let res = gate.refusal(Refusal::Denied);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"Test ops\", charset=\"UTF-8\""
        );
    }

    #[tokio::test]
    async fn no_usable_file_means_unavailable_never_open() {
        let dir = tempfile::tempdir().unwrap();
        let gate = gate_with(dir.path(), None);
        match gate.check(Some(&basic("admin:x"))).await {
            Err(Refusal::Unavailable(why)) => {
                assert!(why.contains("keys/ops.htpasswd does not exist"), "{why}");
                assert!(!why.contains(&dir.path().display().to_string()), "{why}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(gate.path(), "admin:$apr1$x$abcdefghijklmnopqrstuv\n").unwrap();
        assert!(
            matches!(gate.check(None).await, Err(Refusal::Unavailable(w)) if w.contains("no usable entry"))
        );
        std::fs::write(gate.path(), "").unwrap();
        assert!(matches!(
            gate.check(None).await,
            Err(Refusal::Unavailable(_))
        ));
    }
}
