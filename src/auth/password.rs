//! Passwords are hashed with argon2id (the crate's defaults: 19 MiB, 2 iterations, 1 lane,
//! OWASP's recommended minimum), salted per user.
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

pub const MIN_LENGTH: usize = 12;

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Compares a password with a stored hash. With no stored hash (unknown user, no password
/// set) it still spends the time of one verification, so that timing does not reveal which
/// usernames exist.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("not a real password").expect("argon2 works"));
    let (hash, real) = match stored {
        Some(hash) => (hash, true),
        None => (DUMMY.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && real
}

/// Why a new password is refused, or None when it is acceptable: shorter than
/// [`MIN_LENGTH`], the username, or guessable in fewer than 10^10 guesses by zxcvbn's
/// estimate (score below 3), which knows common passwords, names, keyboard patterns, dates
/// and the username itself.
pub fn weakness(password: &str, username: &str) -> Option<String> {
    if password.chars().count() < MIN_LENGTH {
        return Some(format!("must be at least {MIN_LENGTH} characters long"));
    }
    if password.eq_ignore_ascii_case(username) {
        return Some("must not be the username".into());
    }
    let estimate = zxcvbn::zxcvbn(password, &[username]);
    if estimate.score() < zxcvbn::Score::Three {
        let hint = estimate
            .feedback()
            .and_then(|feedback| feedback.warning())
            .map(|warning| format!(" ({warning})"))
            .unwrap_or_default();
        return Some(format!(
            "is too easy to guess{hint}; use a longer phrase of unrelated words"
        ));
    }
    None
}
