//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes).

use std::fmt;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use zeroize::Zeroizing;

/// A password as typed. Never printed, wiped on drop.
pub struct PlaintextPassword(Zeroizing<String>);

impl PlaintextPassword {
    pub const MIN_LEN: usize = 12;

    /// Accepts passwords of 12 to 256 characters.
    pub fn new(text: String) -> Result<Self, switchboard_core::InvalidValue> {
        let text = Zeroizing::new(text);
        let n = text.chars().count();
        if !(Self::MIN_LEN..=256).contains(&n) {
            return Err(switchboard_core::InvalidValue::new(
                "a password of 12 to 256 characters",
            ));
        }
        Ok(Self(text))
    }

    /// For verifying a sign-in, where the length rule must not leak which
    /// accounts have short legacy passwords.
    pub fn unchecked(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl fmt::Debug for PlaintextPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlaintextPassword(***)")
    }
}

/// An argon2id PHC string.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

impl PasswordHash {
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hashes on a blocking thread: argon2 takes tens of milliseconds by design.
    pub async fn of(password: &PlaintextPassword) -> Self {
        let text = password.0.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let hash = Argon2::default()
                .hash_password(text.as_bytes(), &salt)
                .expect("argon2 with default parameters");
            PasswordHash(hash.to_string())
        })
        .await
        .expect("hashing task does not panic")
    }

    pub async fn verify(&self, password: &PlaintextPassword) -> bool {
        let stored = self.0.clone();
        let text = password.0.clone();
        tokio::task::spawn_blocking(move || {
            argon2::password_hash::PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(text.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .expect("verification task does not panic")
    }

    /// A hash of nothing anyone knows, verified against when the account does
    /// not exist so that unknown users take as long as wrong passwords.
    pub fn decoy() -> &'static PasswordHash {
        static DECOY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
        DECOY.get_or_init(|| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            PasswordHash(
                Argon2::default()
                    .hash_password(b"decoy password never used", &salt)
                    .expect("argon2")
                    .to_string(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let pw = PlaintextPassword::new("correct horse battery".into()).unwrap();
        let hash = PasswordHash::of(&pw).await;
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hash.verify(&pw).await);
        assert!(
            !hash
                .verify(&PlaintextPassword::unchecked("wrong horse battery".into()))
                .await
        );
    }

    #[test]
    fn length_rules() {
        assert!(PlaintextPassword::new("short".into()).is_err());
        assert!(PlaintextPassword::new("x".repeat(257)).is_err());
        assert!(!format!(
            "{:?}",
            PlaintextPassword::new("a very secret phrase".into()).unwrap()
        )
        .contains("secret"));
    }
}
