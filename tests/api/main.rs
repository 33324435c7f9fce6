//! The one integration-test binary: real HTTP against a real database per test.
mod access;
mod alerts;
mod audit;
mod auth;
mod authz_matrix;
mod bad_input;
mod breaches;
mod cli;
mod hardening;
mod helpers;
mod openapi;
mod oversight;
mod policy;
mod privacy;
mod retention;
mod smoke;
mod writes;
