//! What each request disclosed, and the hook that records every request.
//!
//! Handlers never write this themselves: the responders in `api::disclosure` fill in a
//! [`Disclosure`] from exactly what they send, and [`record`] reads it, with the caller and
//! the outcome, after the response is built. Today the record is a structured log line on
//! the `casebridge::audit` target; the durable audit trail replaces the body of [`record`].
pub mod chain;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing_actix_web::RequestId;

use crate::authz::Caller;

/// The username a login tried (never the password) and, when it succeeded, whose account
/// it opened: the actor of a login request is not known before it.
#[derive(Debug, Clone)]
pub struct AttemptedLogin {
    pub username: String,
    pub user_id: Option<String>,
}

/// The clients and fields one response disclosed.
#[derive(Debug, Default, Clone)]
pub struct Disclosure {
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    pub client_ids: BTreeSet<String>,
    pub fields: BTreeSet<String>,
    pub purpose_of_use: Option<String>,
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    let request = response.request();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| request.path().to_owned());
    let status = response.status();
    let caller = request.extensions().get::<Arc<Caller>>().cloned();
    let disclosure = request
        .extensions()
        .get::<Disclosure>()
        .cloned()
        .unwrap_or_default();
    let login = request.extensions().get::<AttemptedLogin>().cloned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string());
    let outcome = match status.as_u16() {
        500.. => "error",
        400.. => "denied",
        _ => "allowed",
    };
    tracing::info!(
        target: "casebridge::audit",
        actor_user_id = caller
            .as_ref()
            .map(|c| c.user_id.as_str())
            .or(login.as_ref().and_then(|login| login.user_id.as_deref())),
        request_id,
        attempted_username = login.as_ref().map(|login| login.username.as_str()),
        actor_organisation_id = caller.as_ref().map(|c| c.organisation_id.as_str()),
        method,
        route,
        // The path names the record targeted, denied requests too; the query string is left
        // out because it can hold client names.
        path = request.path(),
        status = status.as_u16(),
        outcome,
        resource_type = disclosure.resource_type,
        resource_id = disclosure.resource_id,
        client_ids = ?disclosure.client_ids,
        fields = ?disclosure.fields,
        purpose_of_use = disclosure.purpose_of_use,
        duration_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    let mut response = response;
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    Ok(response)
}
