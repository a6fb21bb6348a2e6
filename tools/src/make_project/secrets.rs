//! Fresh secrets for a new project: random passwords and the ops page's htpasswd file.
//!
//! There is no default password anywhere: every secret is drawn from the operating system's
//! random generator when the project is made and printed once.

use std::io::Write;
use std::path::Path;

use rand::Rng;
use rand::rngs::OsRng;

/// The ops page's user name.
pub const OPS_USER: &str = "admin";

/// bcrypt cost of the htpasswd entry (Apache's `htpasswd -B` default is 5; PHP's is 10).
const HTPASSWD_COST: u32 = 10;

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A random password of `len` characters from an unambiguous alphabet
/// (about 5.8 bits per character).
pub fn random_password(len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// One Apache-compatible htpasswd line: `user:$2y$10$…`.
pub fn htpasswd_line(user: &str, password: &str) -> Result<String, bcrypt::BcryptError> {
    let hash = bcrypt::hash_with_result(password, HTPASSWD_COST)?;
    Ok(format!(
        "{user}:{}\n",
        hash.format_for_version(bcrypt::Version::TwoY)
    ))
}

/// Writes `text` to a new file readable only by its owner; fails if the file exists.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_htpasswd_verifies() {
        let a = random_password(20);
        let b = random_password(20);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        let line = htpasswd_line("admin", &a).unwrap();
        let (user, hash) = line.trim_end().split_once(':').unwrap();
        assert_eq!(user, "admin");
        assert!(hash.starts_with("$2y$10$"), "{hash}");
        assert!(bcrypt::verify(&a, hash).unwrap());
        assert!(!bcrypt::verify(&b, hash).unwrap());
    }
}
