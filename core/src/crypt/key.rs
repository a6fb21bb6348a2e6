//! RSA keys in BOINC's key file format (`keys/upload_private`, `keys/code_sign_public`, ...).
//!
//! A key file is the bit count in decimal on the first line, then the bytes of a fixed-size C
//! struct in BOINC's hex text (lowercase hex, 64 characters a line, then a line holding `.`; the
//! same text as [`Signature::to_text`](super::Signature::to_text)), every number big-endian and
//! left-padded to its field. The fields are sized for at most 1024-bit keys, which is why BOINC
//! keys are 1024 bits; a stock client cannot hold a larger code-signing key.
//!
//! | key | layout (bytes) | total |
//! |---|---|---|
//! | public | n (128), e (128) | 256 |
//! | private | n (128), e (128), d (128), p (64), q (64), d mod (p−1) (64), d mod (q−1) (64), q⁻¹ mod p (64) | 704 |

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rsa::rand_core::CryptoRngCore;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use super::CryptError;
use super::hex_text::{self, HexTextError};
use super::native::{NativePrivate, NativePublic};

/// Size of the key BOINC's tools generate, and the largest its key files can hold.
pub const KEY_BITS: usize = 1024;
/// The smallest key [`PrivateKey::generate_with_rng`] makes (small keys are for fast tests only).
pub const MIN_KEY_BITS: usize = 512;
/// Public exponent of generated keys (OpenSSL's default, as `crypt_prog -genkey` uses).
pub const PUBLIC_EXPONENT: u32 = 65537;

const MODULUS_LEN: usize = 128;
const PRIME_LEN: usize = 64;
const PUBLIC_LEN: usize = 2 * MODULUS_LEN;
const PRIVATE_LEN: usize = 3 * MODULUS_LEN + 5 * PRIME_LEN;

/// What is wrong with the text of a key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key text is empty")]
    Empty,
    #[error("the key file is not text (bad byte at offset {offset})")]
    NotText { offset: usize },
    #[error("line 1 ends in CR: the file has CRLF line endings; BOINC needs plain LF")]
    CrLfBits,
    #[error("line 1 must be the key size in decimal digits, found {0:?}")]
    BadBits(String),
    #[error("key size {0} bits is outside 1..={KEY_BITS}")]
    BitsOutOfRange(u32),
    #[error(transparent)]
    Hex(#[from] HexTextError),
    #[error("a {kind} key holds {expected} bytes, this one has {found}")]
    WrongLength {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("line 1 says {header} bits but the modulus has {modulus} bits")]
    BitsMismatch { header: u32, modulus: usize },
    #[error("the key's numbers are not a valid RSA key: {0}")]
    Invalid(String),
    #[error("the stored {field} does not match the one computed from d, p and q")]
    CrtMismatch { field: &'static str },
    #[error(
        "a {bits}-bit key does not fit BOINC's key format (at most {KEY_BITS} bits, two primes)"
    )]
    Unsupported { bits: usize },
}

/// An RSA public key as BOINC stores and sends it.
#[derive(Clone)]
pub struct PublicKey {
    rsa: RsaPublicKey,
    native: NativePublic,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.rsa == other.rsa
    }
}

impl Eq for PublicKey {}

/// An RSA private key as BOINC stores it. Its `Debug` shows only the size and the start of the
/// public modulus, never a secret; the `rsa` crate zeroes the numbers on drop.
#[derive(Clone)]
pub struct PrivateKey {
    rsa: RsaPrivateKey,
    native: NativePrivate,
}

impl PublicKey {
    /// Wraps an `rsa` public key; fails for keys BOINC's format cannot hold (over 1024 bits).
    pub fn from_rsa(rsa: RsaPublicKey) -> Result<Self, KeyFormatError> {
        check_size(rsa.n().bits(), rsa.e().bits())?;
        PublicKey::with_native(rsa)
    }

    fn with_native(rsa: RsaPublicKey) -> Result<Self, KeyFormatError> {
        let native = NativePublic::new(&rsa).map_err(|e| KeyFormatError::Invalid(e.to_string()))?;
        Ok(PublicKey { rsa, native })
    }

    /// Parses key file text (see the module docs). The last line `.` may or may not end in a
    /// newline, so the whitespace-stripped form a scheduler sends parses too.
    pub fn from_text(text: &str) -> Result<Self, KeyFormatError> {
        let (bits, data) = parse_key_text(text, PUBLIC_LEN, "public")?;
        let (n, rest) = data.split_at(MODULUS_LEN);
        let n = BigUint::from_bytes_be(n);
        let e = BigUint::from_bytes_be(rest);
        check_bits(bits, &n)?;
        let rsa = RsaPublicKey::new(n, e).map_err(|e| KeyFormatError::Invalid(e.to_string()))?;
        PublicKey::with_native(rsa)
    }

    /// The key file text, byte-identical to what BOINC's printer writes.
    pub fn to_text(&self) -> String {
        let mut data = Vec::with_capacity(PUBLIC_LEN);
        push_padded(&mut data, self.rsa.n(), MODULUS_LEN);
        push_padded(&mut data, self.rsa.e(), MODULUS_LEN);
        format!("{}\n{}", self.bits(), hex_text::encode(&data))
    }

    /// Reads and parses a key file.
    pub fn read_file(path: &Path) -> Result<Self, CryptError> {
        let text = read_key_text(path)?;
        Self::from_text(&text).map_err(|source| CryptError::KeyFile {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the key file with mode 0644. Refuses to replace an existing file: losing a
    /// project's key cuts off every client that trusts it.
    pub fn write_file(&self, path: &Path) -> Result<(), CryptError> {
        write_new_file(path, self.to_text().as_bytes(), 0o644)
    }

    /// Size of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.rsa.n().bits()
    }

    /// Length of a signature made with the matching private key, in bytes.
    pub fn signature_len(&self) -> usize {
        self.rsa.size()
    }

    /// The `rsa` crate's key, for interoperating (e.g. PEM export).
    pub fn rsa(&self) -> &RsaPublicKey {
        &self.rsa
    }

    pub(super) fn native(&self) -> &NativePublic {
        &self.native
    }
}

impl PrivateKey {
    /// A fresh 1024-bit key with e = 65537, like `crypt_prog -genkey 1024`. CPU-heavy (around a
    /// second): run it in `spawn_blocking` from async code.
    pub fn generate() -> Result<Self, CryptError> {
        Self::generate_with_rng(&mut rand::rngs::OsRng, KEY_BITS)
    }

    /// A fresh key of `bits` bits (512..=1024) from the given random source.
    pub fn generate_with_rng<R: CryptoRngCore + ?Sized>(
        rng: &mut R,
        bits: usize,
    ) -> Result<Self, CryptError> {
        if !(MIN_KEY_BITS..=KEY_BITS).contains(&bits) {
            return Err(KeyFormatError::Unsupported { bits }.into());
        }
        let exp = BigUint::from(PUBLIC_EXPONENT);
        let rsa = RsaPrivateKey::new_with_exp(rng, bits, &exp).map_err(CryptError::Rsa)?;
        Ok(PrivateKey::from_rsa(rsa)?)
    }

    /// Wraps an `rsa` private key; fails for keys BOINC's format cannot hold.
    pub fn from_rsa(rsa: RsaPrivateKey) -> Result<Self, KeyFormatError> {
        check_size(rsa.n().bits(), rsa.e().bits())?;
        let primes_fit = rsa.primes().len() == 2
            && rsa.primes().iter().all(|p| p.bits() <= PRIME_LEN * 8)
            && rsa.d().bits() <= MODULUS_LEN * 8;
        if !primes_fit {
            return Err(KeyFormatError::Unsupported {
                bits: rsa.n().bits(),
            });
        }
        PrivateKey::with_native(rsa)
    }

    fn with_native(rsa: RsaPrivateKey) -> Result<Self, KeyFormatError> {
        let (dp, dq, qinv) = crt_values(&rsa);
        let native = NativePrivate::new(&rsa, (&dp, &dq, &qinv))
            .map_err(|e| KeyFormatError::Invalid(e.to_string()))?;
        Ok(PrivateKey { rsa, native })
    }

    /// Parses private key file text. Besides the layout, checks that the numbers form a valid
    /// key and that the stored CRT values agree with d, p and q.
    pub fn from_text(text: &str) -> Result<Self, KeyFormatError> {
        let (bits, data) = parse_key_text(text, PRIVATE_LEN, "private")?;
        let data = Zeroizing::new(data);
        let mut fields = data[..]
            .chunks(MODULUS_LEN)
            .take(3)
            .chain(data[3 * MODULUS_LEN..].chunks(PRIME_LEN))
            .map(BigUint::from_bytes_be);
        let mut next = || fields.next().unwrap_or_default();
        let (n, e, d, p, q) = (next(), next(), next(), next(), next());
        let (dp, dq, qinv) = (next(), next(), next());
        check_bits(bits, &n)?;
        let rsa = RsaPrivateKey::from_components(n, e, d, vec![p, q])
            .map_err(|e| KeyFormatError::Invalid(e.to_string()))?;
        let (want_dp, want_dq, want_qinv) = crt_values(&rsa);
        for (field, stored, computed) in [
            ("d mod (p-1)", dp, want_dp),
            ("d mod (q-1)", dq, want_dq),
            ("q^-1 mod p", qinv, want_qinv),
        ] {
            if stored != computed {
                return Err(KeyFormatError::CrtMismatch { field });
            }
        }
        PrivateKey::with_native(rsa)
    }

    /// The private key file text, byte-identical to BOINC's printer. Zeroed when dropped.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut data = Zeroizing::new(Vec::with_capacity(PRIVATE_LEN));
        let (dp, dq, qinv) = crt_values(&self.rsa);
        let primes = self.rsa.primes();
        push_padded(&mut data, self.rsa.n(), MODULUS_LEN);
        push_padded(&mut data, self.rsa.e(), MODULUS_LEN);
        push_padded(&mut data, self.rsa.d(), MODULUS_LEN);
        for x in [&primes[0], &primes[1], &dp, &dq, &qinv] {
            push_padded(&mut data, x, PRIME_LEN);
        }
        Zeroizing::new(format!(
            "{}\n{}",
            self.rsa.n().bits(),
            hex_text::encode(&data)
        ))
    }

    /// Reads and parses a private key file.
    pub fn read_file(path: &Path) -> Result<Self, CryptError> {
        let text = Zeroizing::new(read_key_text(path)?);
        Self::from_text(&text).map_err(|source| CryptError::KeyFile {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the key file with mode 0600 (BOINC leaves it to the umask; a private key should not
    /// be world-readable). Refuses to replace an existing file.
    pub fn write_file(&self, path: &Path) -> Result<(), CryptError> {
        write_new_file(path, self.to_text().as_bytes(), 0o600)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::with_native(self.rsa.to_public_key())
            .expect("libcrypto takes the public half of a key it took whole")
    }

    /// Size of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.rsa.n().bits()
    }

    /// The `rsa` crate's key, for interoperating (e.g. PEM export).
    pub fn rsa(&self) -> &RsaPrivateKey {
        &self.rsa
    }

    pub(super) fn native(&self) -> &NativePrivate {
        &self.native
    }
}

/// d mod (p−1), d mod (q−1) and q⁻¹ mod p of a two-prime key, the RSAREF/OpenSSL CRT values.
fn crt_values(rsa: &RsaPrivateKey) -> (BigUint, BigUint, BigUint) {
    let one = BigUint::from(1u8);
    let [p, q] = [&rsa.primes()[0], &rsa.primes()[1]];
    let d = rsa.d();
    let qinv = rsa.crt_coefficient().unwrap_or_default();
    (d % (p - &one), d % (q - &one), qinv)
}

/// Generates a key pair and writes both files, like `crypt_prog -genkey 1024 PRIVATE PUBLIC`.
/// Neither file may exist yet; if the second write fails the first file is removed again.
pub fn generate_key_files(
    private_path: &Path,
    public_path: &Path,
) -> Result<PrivateKey, CryptError> {
    let key = PrivateKey::generate()?;
    key.write_file(private_path)?;
    if let Err(e) = key.public_key().write_file(public_path) {
        let _ = fs::remove_file(private_path);
        return Err(e);
    }
    Ok(key)
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.bits())
            .field("modulus", &modulus_prefix(self.rsa.n()))
            .finish()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &self.bits())
            .field("modulus", &modulus_prefix(self.rsa.n()))
            .finish_non_exhaustive()
    }
}

fn modulus_prefix(n: &BigUint) -> String {
    let hex = n.to_str_radix(16);
    format!("{}…", &hex[..hex.len().min(12)])
}

fn check_size(n_bits: usize, e_bits: usize) -> Result<(), KeyFormatError> {
    if n_bits > KEY_BITS || e_bits > MODULUS_LEN * 8 {
        return Err(KeyFormatError::Unsupported { bits: n_bits });
    }
    Ok(())
}

fn check_bits(header: u32, n: &BigUint) -> Result<(), KeyFormatError> {
    let modulus = n.bits();
    if usize::try_from(header).ok() != Some(modulus) {
        return Err(KeyFormatError::BitsMismatch { header, modulus });
    }
    Ok(())
}

/// Splits off the bit-count line and decodes the hex data, which must be `len` bytes.
fn parse_key_text(
    text: &str,
    len: usize,
    kind: &'static str,
) -> Result<(u32, Vec<u8>), KeyFormatError> {
    if text.is_empty() {
        return Err(KeyFormatError::Empty);
    }
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if first.ends_with('\r') {
        return Err(KeyFormatError::CrLfBits);
    }
    let digits_ok =
        !first.is_empty() && first.len() <= 5 && first.bytes().all(|b| b.is_ascii_digit());
    let bits: u32 = match first.parse() {
        Ok(b) if digits_ok => b,
        _ => return Err(KeyFormatError::BadBits(first.chars().take(40).collect())),
    };
    if bits == 0 || bits as usize > KEY_BITS {
        return Err(KeyFormatError::BitsOutOfRange(bits));
    }
    let data = hex_text::decode_lines(rest, 2)?;
    if data.len() != len {
        return Err(KeyFormatError::WrongLength {
            kind,
            expected: len,
            found: data.len(),
        });
    }
    Ok((bits, data))
}

fn push_padded(out: &mut Vec<u8>, x: &BigUint, width: usize) {
    let bytes = x.to_bytes_be();
    // Callers checked the sizes; a zero value encodes as one 0 byte.
    let bytes = if bytes.len() > width {
        &bytes[bytes.len() - width..]
    } else {
        &bytes[..]
    };
    out.resize(out.len() + width - bytes.len(), 0);
    out.extend_from_slice(bytes);
}

fn read_key_text(path: &Path) -> Result<String, CryptError> {
    let bytes = fs::read(path).map_err(|source| CryptError::Read {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| CryptError::KeyFile {
        path: path.to_owned(),
        source: KeyFormatError::NotText {
            offset: e.utf8_error().valid_up_to(),
        },
    })
}

/// Creates `path` (which must not exist) with `mode` and writes `bytes`; removes it on failure.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CryptError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                CryptError::Exists {
                    path: path.to_owned(),
                }
            } else {
                CryptError::Write {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
    if let Err(source) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(CryptError::Write {
            path: path.to_owned(),
            source,
        });
    }
    Ok(())
}
