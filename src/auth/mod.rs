//! Authentication: passwords, TOTP, API-client secrets, access tokens and sessions.
pub mod client_secret;
pub mod keys;
pub mod login;
pub mod password;
pub mod sessions;
pub mod tokens;
pub mod totp;
pub mod training;
