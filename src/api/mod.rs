//! The HTTP API under `/api/v1`. Each resource folder holds its handlers and types; the
//! pipeline they all go through is [`context`] (authenticate, decide) and [`disclosure`]
//! (mask, record what left).
pub mod clients;
pub mod context;
pub mod disclosure;
pub mod request;
