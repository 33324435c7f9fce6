//! TOTP (RFC 6238) with what authenticator apps expect: SHA-1, 6 digits, 30-second steps, and
//! one step of clock skew either way. The caller stores the step a code matched, so that a
//! code is accepted once.
use anyhow::Context;
use chrono::NaiveDateTime;
use totp_rs::{Builder, Secret, Totp};

const ISSUER: &str = "casebridge";

pub struct Enrolment {
    /// Base32, as typed into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
}

fn totp(secret: Secret, account_name: &str) -> anyhow::Result<Totp> {
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account_name)
        .build()
        .map_err(|e| anyhow::anyhow!("building a TOTP: {e}"))
}

/// A new random secret for `account_name`.
pub fn enrol(account_name: &str) -> anyhow::Result<Enrolment> {
    let totp = totp(Secret::generate(), account_name)?;
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        otpauth_uri: totp.to_url().context("writing the otpauth URI")?,
    })
}

/// The time step at which `code` is valid for `secret` at `now`, if it is.
pub fn matching_step(secret: &str, code: &str, now: NaiveDateTime) -> Option<i64> {
    let secret = Secret::try_from_base32(secret).ok()?;
    let totp = totp(secret, "").ok()?;
    let now = u64::try_from(now.and_utc().timestamp()).ok()?;
    totp.check(code.trim(), now)
        .and_then(|step| i64::try_from(step).ok())
}

/// The code an authenticator app shows at `now` (for tests and the demo).
pub fn code_at(secret: &str, now: NaiveDateTime) -> anyhow::Result<String> {
    let secret = Secret::try_from_base32(secret).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = u64::try_from(now.and_utc().timestamp())?;
    Ok(totp(secret, "")?.generate(now).to_string())
}
