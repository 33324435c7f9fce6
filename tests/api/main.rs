//! The one integration-test binary: real HTTP against a real database per test.
mod helpers;
mod smoke;
mod openapi;
mod writes;
mod bad_input;
mod auth;
mod authz_matrix;
