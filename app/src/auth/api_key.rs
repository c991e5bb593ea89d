//! API key secrets: 32 random bytes, hex-encoded behind a recognisable prefix (`il_`), so leaked keys can be
//! found by secret scanners. Only a SHA-256 of the secret is stored: unlike passwords, keys have full entropy,
//! so a fast hash is safe and keeps the per-request check cheap.

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const SECRET_PREFIX: &str = "il_";
/// Characters of the secret kept in clear to recognise a key in the list.
const DISPLAY_PREFIX_CHARS: usize = 11;

pub struct GeneratedKey {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate() -> GeneratedKey {
    let secret = random_secret(SECRET_PREFIX);
    GeneratedKey { prefix: secret[..DISPLAY_PREFIX_CHARS].to_string(), hash: hash_secret(&secret), secret }
}

/// 32 random bytes from the operating system, hex-encoded behind `prefix`: for API keys and share-link tokens.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_stored_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), SECRET_PREFIX.len() + 64);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_secret(&a.secret));
        assert!(!a.hash.contains(&a.secret[3..]));
    }

    #[test]
    fn hashing_is_sha256_hex() {
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
