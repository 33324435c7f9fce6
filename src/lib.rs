pub mod authz;
pub mod db;
pub mod domain;
pub mod error;
