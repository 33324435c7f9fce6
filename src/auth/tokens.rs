//! Short-lived access tokens: HS256 JWTs naming the user and the session. The session is
//! checked on every request, so ending it ends its tokens at once.
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

const ISSUER: &str = "casebridge";
const AUDIENCE: &str = "casebridge-api";
const MIN_SECRET_BYTES: usize = 32;
/// Tolerated clock difference between the issuing and the verifying instance.
const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_seconds: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: u64) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "the token-signing secret must be at least {MIN_SECRET_BYTES} bytes"
        );
        // The algorithm is pinned: a token claiming any other (`none`, RS256, ...) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Expiry is compared with the service's clock in `verify`, not the library's, so
        // that tests can move time forward; the signature, issuer and audience stay here.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_seconds,
        })
    }

    pub fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        now: chrono::NaiveDateTime,
    ) -> anyhow::Result<String> {
        let now = now.and_utc().timestamp();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user_id.into(),
            sid: session_id.into(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds as i64,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    pub fn verify(&self, token: &str, now: chrono::NaiveDateTime) -> Option<Claims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .ok()?;
        let now = now.and_utc().timestamp();
        (claims.nbf - LEEWAY_SECONDS <= now && now < claims.exp + LEEWAY_SECONDS).then_some(claims)
    }
}

/// The signing secret: the configured one, else the one generated on first start and kept in
/// `<data_dir>/jwt-secret` (mode 0600). A new install never runs with a default key.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return URL_SAFE_NO_PAD
            .decode(text.trim())
            .with_context(|| format!("{} is not a key this service wrote", path.display()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut secret = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(URL_SAFE_NO_PAD.encode(&secret).as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new token-signing key");
    Ok(secret)
}
