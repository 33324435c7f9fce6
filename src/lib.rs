pub mod authz;
pub mod db;
pub mod domain;
pub mod error;
pub mod auth;
pub mod config;
pub mod api;
pub mod audit;
