//! The one integration-test binary: real HTTP against a real database per test.
mod helpers;
mod smoke;
