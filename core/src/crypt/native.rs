//! The RSA private and public operations, done by the system's libcrypto (OpenSSL).
//!
//! Keys are parsed, generated, checked and printed with the pure-Rust `rsa` crate (see
//! [`key`](super::key)), but the per-signature arithmetic runs here: BOINC's own `crypt.cpp` does
//! its RSA through OpenSSL too, and OpenSSL's assembly is about eight times faster than `rsa` 0.9
//! for BOINC's 1024-bit keys (`cargo bench -p rboinc-core --bench crypt`). That matters because
//! the transitioner signs one upload certificate per output file of every result it creates, and
//! the upload handler checks one per upload.
//!
//! Both operations are BOINC's raw PKCS#1 v1.5 type-1 padding over the data as given (no
//! DigestInfo): `RSA_private_encrypt` / `RSA_public_decrypt` with `RSA_PKCS1_PADDING`. The padding
//! is deterministic, so the signatures are the same bytes the `rsa` crate made before; the
//! stock-fixture tests in `core/tests/crypt_stock.rs` hold that. OpenSSL blinds the private
//! operation itself.

use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::pkey::{Private, Public};
use openssl::rsa::{Padding, Rsa};
use rsa::BigUint;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

/// libcrypto's copy of a private key; the key's numbers are cleared when it is freed.
#[derive(Clone)]
pub(crate) struct NativePrivate(Rsa<Private>);

/// libcrypto's copy of a public key.
#[derive(Clone)]
pub(crate) struct NativePublic(Rsa<Public>);

/// The public operation did not give back the padded data: a wrong key, or forged bytes.
#[derive(Debug)]
pub(crate) struct Mismatch;

fn secret_number(x: &BigUint) -> Result<BigNum, ErrorStack> {
    let bytes = Zeroizing::new(x.to_bytes_be());
    BigNum::from_slice(&bytes)
}

impl NativePrivate {
    /// Copies a checked two-prime key (`crt` = d mod (p−1), d mod (q−1), q⁻¹ mod p).
    pub(crate) fn new(
        key: &RsaPrivateKey,
        crt: (&BigUint, &BigUint, &BigUint),
    ) -> Result<Self, ErrorStack> {
        let [p, q] = [&key.primes()[0], &key.primes()[1]];
        let rsa = Rsa::from_private_components(
            BigNum::from_slice(&key.n().to_bytes_be())?,
            BigNum::from_slice(&key.e().to_bytes_be())?,
            secret_number(key.d())?,
            secret_number(p)?,
            secret_number(q)?,
            secret_number(crt.0)?,
            secret_number(crt.1)?,
            secret_number(crt.2)?,
        )?;
        Ok(NativePrivate(rsa))
    }

    /// Signs `data` (BOINC passes the 32 ASCII bytes of an MD5 hex string): the result is as
    /// long as the modulus.
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        let mut out = vec![0u8; self.0.size() as usize];
        let len = self.0.private_encrypt(data, &mut out, Padding::PKCS1)?;
        out.truncate(len);
        Ok(out)
    }
}

impl NativePublic {
    pub(crate) fn new(key: &RsaPublicKey) -> Result<Self, ErrorStack> {
        let rsa = Rsa::from_public_components(
            BigNum::from_slice(&key.n().to_bytes_be())?,
            BigNum::from_slice(&key.e().to_bytes_be())?,
        )?;
        Ok(NativePublic(rsa))
    }

    /// Checks that `signature` unpads to exactly `data`. The caller has checked its length.
    pub(crate) fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), Mismatch> {
        let mut out = Zeroizing::new(vec![0u8; self.0.size() as usize]);
        let len = self
            .0
            .public_decrypt(signature, &mut out, Padding::PKCS1)
            .map_err(|_| Mismatch)?;
        if &out[..len] == data {
            Ok(())
        } else {
            Err(Mismatch)
        }
    }
}
