//! Session tokens: 32 random bytes, given to the client once (base64url) and stored only
//! as their SHA-256, so that reading the sessions table opens no account. A token this
//! random needs no slow hash: guessing one is hopeless either way.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The longest Authorization value looked at; real tokens are 43 characters.
const MAX_TOKEN_LEN: usize = 256;

/// A new random token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the sessions table stores for `token` (lowercase hex SHA-256); None for a value
/// too long to be one of ours.
pub fn token_hash(token: &str) -> Option<String> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let digest = Sha256::digest(token.as_bytes());
    Some(digest.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).unwrap().len(), 64);
        assert_eq!(token_hash(""), None);
        assert_eq!(token_hash(&"x".repeat(300)), None);
    }
}
