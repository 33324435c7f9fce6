//! Regression tests for the weaknesses an independent attack found (issue 16): one file per
//! control, each test failing on the code before its fix. See docs/security.md.
mod authorise_first;
mod csv;
mod dual_control;
mod duplicates;
mod encryption;
mod headers;
mod lockout;
mod log_values;
mod names;
mod usernames;
