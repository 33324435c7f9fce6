//! Regression tests for the weaknesses an independent attack found (issue 16): one file per
//! control, each test failing on the code before its fix. See docs/security.md.
mod attempts;
mod audit_bloat;
mod authorise_first;
mod client_address;
mod csv;
mod dual_control;
mod duplicates;
mod encryption;
mod headers;
mod keys;
mod lockout;
mod log_values;
mod names;
mod preflight;
mod usernames;
