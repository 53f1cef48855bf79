//! Password hashing: argon2id with the crate's defaults (19 MiB, 2 passes, OWASP's
//! recommendation), stored in the PHC string form so the parameters travel with the
//! hash and can be raised later without breaking old hashes.
//!
//! Hashing is slow on purpose; callers run it on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::Error;

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Whether `password` matches `stored` (false for a malformed stored hash, which is
/// logged: it can only come from a bug or a hand edit).
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!("a stored password hash does not parse: {error}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_password() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horsf", &stored));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn the_same_password_hashes_differently() {
        assert_ne!(hash("pw123456").unwrap(), hash("pw123456").unwrap());
    }
}
