//! API keys kept in the store: how they are made and hashed, how the poll
//! endpoint resolves them ([`KeyResolver`], with a short cache), and the
//! operator's commands to create, list and revoke them ([`admin`], [`cli`]).
//!
//! A stored key is `rk_` followed by 43 URL-safe base64 characters (256
//! random bits). Only its SHA-256 (lowercase hex) is stored; the key itself
//! is printed once, when it is created. The first 12 hex digits of the hash
//! are the key's *id*, which `list` shows and `revoke` takes.

pub mod admin;
mod cache;
pub mod cli;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

pub use self::cache::{KeyResolver, ResolvedKey, MAX_CACHED_KEYS};

pub const KEY_PREFIX: &str = "rk_";
const KEY_RANDOM_BYTES: usize = 32;
/// `rk_` + 43 base64 characters (32 bytes, unpadded).
const KEY_LENGTH: usize = KEY_PREFIX.len() + 43;
/// Hex digits of the hash that identify a key in `list` and `revoke`.
pub const KEY_ID_LENGTH: usize = 12;

/// A new random key. Fails only if the operating system has no randomness.
pub fn generate() -> Result<SecretString, getrandom::Error> {
    let mut bytes = [0u8; KEY_RANDOM_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(SecretString::from(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// SHA-256 of a presented key.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The stored form of a key: lowercase hex SHA-256.
pub fn hash_hex(key: &str) -> String {
    hex::encode(digest(key))
}

/// The short id of a stored key, from its hash.
pub fn key_id(key_hash: &str) -> &str {
    key_hash.get(..KEY_ID_LENGTH).unwrap_or(key_hash)
}

/// Whether `presented` has the shape of a key this module makes; anything
/// else is refused without asking the store.
pub fn looks_like_stored_key(presented: &str) -> bool {
    presented.len() == KEY_LENGTH
        && presented.starts_with(KEY_PREFIX)
        && presented[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn generated_keys_have_the_stored_shape_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(
            looks_like_stored_key(a.expose_secret()),
            "{}",
            a.expose_secret()
        );
        assert_ne!(a.expose_secret(), b.expose_secret());
        let raw = URL_SAFE_NO_PAD
            .decode(&a.expose_secret()[KEY_PREFIX.len()..])
            .unwrap();
        assert_eq!(raw.len() * 8, 256);
    }

    #[test]
    fn hashes_are_sha256_hex_and_ids_their_start() {
        // printf '%s' abc | sha256sum
        let hash = hash_hex("abc");
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(key_id(&hash), "ba7816bf8f01");
    }

    #[test]
    fn only_the_stored_shape_is_looked_up() {
        for other in [
            "",
            "acme-key-0123456789abcdef",
            "rk_short",
            "rk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "rk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
        ] {
            assert!(!looks_like_stored_key(other), "{other}");
        }
    }
}
