//! API-client secrets: 256 random bits, shown once, stored as a SHA-256 digest. A secret that
//! long cannot be guessed, so a slow hash (as for passwords) would add nothing but latency.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn generate() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    URL_SAFE_NO_PAD.encode(secret)
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `presented` is the secret whose digest is `stored`. Digests are compared, so the
/// comparison's timing says nothing about the secret.
pub fn matches(presented: &str, stored: &str) -> bool {
    digest(presented) == stored
}
