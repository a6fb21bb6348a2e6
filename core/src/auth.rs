//! Account secrets as BOINC makes and checks them.
//!
//! Three different hashes meet here, and mixing them up locks volunteers out:
//!
//! * the **client password hash** `md5(password + lowercase(email))`, which the
//!   BOINC client computes itself and sends to `lookup_account.php` /
//!   `create_account.php` — the server never sees the password;
//! * the **stored hash** in `user.passwd_hash`: BOINC's web code keeps
//!   PHP's `password_hash(client_hash, PASSWORD_DEFAULT)` (bcrypt, `$2y$`),
//!   and still accepts rows from older versions that hold the client hash
//!   itself. We write bcrypt in PHP's format so the stock web pages keep working
//!   on a database we share with them;
//! * the **authenticator** (account key): 32 random lowercase hex digits, sent
//!   by the client in every scheduler request.
//!
//! The scheduler also needs two MD5s of the email address: the `<email_hash>`
//! of its reply and the per-account host CPID it stores in `host.host_cpid`.

use md5::{Digest, Md5};
use rand::RngCore;

/// PHP's `PASSWORD_DEFAULT` cost, so hashes look like the stock web code's.
const BCRYPT_COST: u32 = 10;

/// A stored password hash could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(#[from] bcrypt::BcryptError);

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// 32 lowercase hex digits from 16 bytes of the OS's CSPRNG, like BOINC's
/// `random_string()`.
fn random_hex32() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new account key (`user.authenticator`).
pub fn new_authenticator() -> String {
    random_hex32()
}

/// A new `user.cross_project_id`; clients replace it with their own later.
pub fn new_cross_project_id() -> String {
    random_hex32()
}

/// What a BOINC client sends as `passwd_hash`: `md5(password + lowercase(email))`
/// in lowercase hex. The client lowercases with C's `tolower`, i.e. ASCII only.
pub fn client_passwd_hash(password: &str, email_addr: &str) -> String {
    md5_hex(&[
        password.as_bytes(),
        email_addr.to_ascii_lowercase().as_bytes(),
    ])
}

/// The value to store in `user.passwd_hash` for a client password hash:
/// bcrypt in PHP's `$2y$` spelling, as BOINC's `make_user()` stores it.
/// Deliberately slow (tens of milliseconds): call it off the async executor.
pub fn stored_passwd_hash(client_hash: &str) -> Result<String, HashError> {
    let parts = bcrypt::hash_with_result(client_hash, BCRYPT_COST)?;
    Ok(parts.format_for_version(bcrypt::Version::TwoY))
}

/// Whether `given` (a client password hash from `lookup_account`) opens the
/// account, by BOINC's rules: it matches the stored bcrypt hash; or the row
/// is from an old version and stores the client hash itself; or it is
/// `md5(authenticator + email_addr)`, which BOINC accepts in place of the
/// password. Like the other checks, slow when the stored hash is bcrypt.
pub fn passwd_hash_matches(user: &AccountSecrets<'_>, given: &str) -> bool {
    let stored = user.passwd_hash;
    let by_password = if is_bcrypt(stored) {
        bcrypt::verify(given, stored).unwrap_or(false)
    } else {
        !stored.is_empty() && constant_time_eq(stored.as_bytes(), given.as_bytes())
    };
    by_password
        || user.authenticator.is_some_and(|auth| {
            constant_time_eq(
                md5_hex(&[auth.as_bytes(), user.email_addr.as_bytes()]).as_bytes(),
                given.as_bytes(),
            )
        })
}

/// The parts of a `user` row that [`passwd_hash_matches`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct AccountSecrets<'a> {
    pub email_addr: &'a str,
    pub authenticator: Option<&'a str>,
    /// `user.passwd_hash` as stored (bcrypt or a legacy client hash).
    pub passwd_hash: &'a str,
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2y$", "$2b$", "$2a$", "$2x$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The scheduler reply's `<email_hash>`: md5 of the address as stored.
pub fn email_hash(email_addr: &str) -> String {
    md5_hex(&[email_addr.as_bytes()])
}

/// What BOINC stores in `host.host_cpid` for the CPID a client reports:
/// `md5(client_cpid + email_addr)`, so the same machine has a different id
/// in each account. Also the key for finding a returning host by CPID.
pub fn host_cpid_for_account(client_cpid: &str, email_addr: &str) -> String {
    md5_hex(&[client_cpid.as_bytes(), email_addr.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pair from the spec (PROTOCOL.md §11), also what the real client
    /// sent in fixture 02 for `boinccmd --lookup_account URL test@example.com secret`.
    #[test]
    fn client_hash_matches_the_real_client() {
        let request =
            include_str!("../../fixtures/client-7.20.5/02_lookup_account.request.http.txt");
        let sent = request
            .split("passwd_hash=")
            .nth(1)
            .unwrap()
            .split([' ', '&'])
            .next()
            .unwrap();
        assert_eq!(sent, "976a616d638a392c81931a4ba58fc0e4");
        assert_eq!(client_passwd_hash("secret", "test@example.com"), sent);
        // The client lowercases the address first.
        assert_eq!(client_passwd_hash("secret", "Test@Example.COM"), sent);
    }

    #[test]
    fn authenticators_are_32_lowercase_hex_and_differ() {
        let a = new_authenticator();
        let b = new_authenticator();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(new_cross_project_id().len(), 32);
    }

    #[test]
    fn stored_hash_is_php_style_bcrypt_and_verifies() {
        let client = client_passwd_hash("secret", "test@example.com");
        let stored = stored_passwd_hash(&client).unwrap();
        assert!(stored.starts_with("$2y$10$"), "{stored}");
        assert_eq!(stored.len(), 60);
        let user = AccountSecrets {
            email_addr: "test@example.com",
            authenticator: None,
            passwd_hash: &stored,
        };
        assert!(passwd_hash_matches(&user, &client));
        assert!(!passwd_hash_matches(
            &user,
            &client_passwd_hash("Secret", "test@example.com")
        ));
    }

    /// A hash made by PHP's `password_hash` (the example in PHP's manual for
    /// `password_verify`), to show we read what the stock web code writes.
    #[test]
    fn php_bcrypt_hash_verifies() {
        let stored = "$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq";
        let user = AccountSecrets {
            email_addr: "x@example.com",
            authenticator: None,
            passwd_hash: stored,
        };
        assert!(passwd_hash_matches(&user, "rasmuslerdorf"));
        assert!(!passwd_hash_matches(&user, "rasmuslerdorF"));
    }

    #[test]
    fn legacy_rows_and_authenticator_hash_are_accepted() {
        let client = client_passwd_hash("pw", "a@example.com");
        let legacy = AccountSecrets {
            email_addr: "a@example.com",
            authenticator: Some("k1"),
            passwd_hash: &client,
        };
        assert!(passwd_hash_matches(&legacy, &client));
        assert!(!passwd_hash_matches(
            &legacy,
            &client_passwd_hash("pw2", "a@example.com")
        ));
        let by_key = "536d3ffe0a09ff3158608193abec10c9"; // md5("k1a@example.com")
        assert!(passwd_hash_matches(&legacy, by_key));
        // An empty stored hash never matches an empty or random guess.
        let empty = AccountSecrets {
            email_addr: "a@example.com",
            authenticator: None,
            passwd_hash: "",
        };
        assert!(!passwd_hash_matches(&empty, ""));
    }

    #[test]
    fn email_hashes() {
        // md5("test@example.com"), computed independently with `md5sum`.
        assert_eq!(
            email_hash("test@example.com"),
            "55502f40dc8b7c769880b10874abc9d0"
        );
        assert_eq!(
            host_cpid_for_account("0123456789abcdef0123456789abcdef", "test@example.com"),
            "6e9929f76c42c4de7548fb928c352ccd"
        );
    }
}
