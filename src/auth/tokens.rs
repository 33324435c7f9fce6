//! Short-lived access tokens: HS256 JWTs naming the user and the session. The session is
//! checked on every request, so ending it ends its tokens at once.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let header = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
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
