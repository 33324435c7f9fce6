//! The HTTP API under `/api/v1`. Each resource folder holds its handlers and types; the
//! pipeline they all go through is [`context`] (authenticate, decide) and [`disclosure`]
//! (mask, record what left).
pub mod access_requests;
pub mod access_reviews;
pub mod alerts;
pub mod api_clients;
pub mod attestations;
pub mod audit;
pub mod auth;
pub mod breaches;
pub mod cases;
pub mod changes;
pub mod client_requests;
pub mod clients;
pub mod complaints;
pub mod consents;
pub mod context;
pub mod contract;
pub mod correction_requests;
pub mod disclosure;
pub mod health;
pub mod history;
pub mod housekeeping;
pub mod idempotency;
pub mod incident_reports;
pub mod input;
pub mod legal_holds;
pub mod me;
pub mod notes;
pub mod notices;
pub mod oauth;
pub mod organisations;
pub mod policy_documents;
pub mod profiles;
pub mod reports;
pub mod request;
pub mod retention;
pub mod users;
pub mod wrap_ups;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every `/api/v1` route.
pub fn routes(config: &mut ServiceConfig) {
    auth::routes(config);
    audit::routes(config);
    me::routes(config);
    clients::routes(config);
    cases::routes(config);
    notes::routes(config);
    changes::routes(config);
    history::routes(config);
    profiles::routes(config);
    users::routes(config);
    organisations::routes(config);
    api_clients::routes(config);
    oauth::routes(config);
    access_reviews::routes(config);
    reports::routes(config);
    breaches::routes(config);
    alerts::routes(config);
    notices::routes(config);
    policy_documents::routes(config);
    consents::routes(config);
    complaints::routes(config);
    incident_reports::routes(config);
    legal_holds::routes(config);
    retention::routes(config);
    access_requests::routes(config);
    correction_requests::routes(config);
    attestations::routes(config);
    wrap_ups::routes(config);
}
