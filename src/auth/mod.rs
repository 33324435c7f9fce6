//! Authentication: passwords, access tokens and sessions.
pub mod password;
pub mod sessions;
pub mod tokens;
