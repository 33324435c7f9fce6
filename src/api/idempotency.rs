//! `Idempotency-Key` on POSTs (IETF httpapi draft "The Idempotency-Key HTTP Header Field").
//! A caller that does not know whether its POST was carried out (a timeout, a lost
//! connection) sends it again with the same key; the service answers with the first
//! response and does not apply the change twice.
//!
//! - Keys are the caller's own: per principal, kept `CASEBRIDGE_IDEMPOTENCY_KEY_HOURS`.
//! - The same key with another request (method, path and query, body) is answered 422
//!   `idempotency_key_reused`; while the first attempt is running, 409
//!   `idempotency_key_in_use`.
//! - The change itself marks the key applied in its own transaction
//!   (`audit::recorded_write`), and only while its attempt still holds the key: an attempt
//!   that applied nothing leaves the key free for a retry, and two attempts never both apply.
//! - The response of an applied change is then kept, sealed. A replay is recorded in the
//!   audit trail like any response, with what it discloses.
//! - Requests without an identified caller (logins, token requests) are not kept: their
//!   responses are credentials, and a retry of them changes no client's file.
use std::collections::BTreeSet;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, ETAG, HeaderValue, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::context::AppState;
use crate::api::request::unread_body;
use crate::audit::{self, Disclosure};
use crate::auth::sessions::Identity;
use crate::authz::Resource;
use crate::db::idempotency::{self, KeptResponse, Lookup, Reservation};
use crate::error::ApiError;
use crate::sealing::SealedColumn;

pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Marks a response given again from a kept one.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
const MAX_KEY_LENGTH: usize = 255;
/// The response headers a replay gives again.
const KEPT_HEADERS: [actix_web::http::header::HeaderName; 3] = [CONTENT_TYPE, LOCATION, ETAG];
/// How often expired keys are forgotten, and how many at most per writer job.
const FORGET_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
const FORGET_AT_MOST: i64 = 1000;

/// The layer (inside the audit layer and the body-read deadline) that looks a POST's key up
/// before its handler runs, and keeps or frees the key after.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let caller = match req.extensions().get::<Identity>() {
        Some(Identity::Caller(caller)) => Some(caller.user_id.clone()),
        _ => None,
    };
    let key = req.headers().get(IDEMPOTENCY_KEY_HEADER).cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(key), Some(principal_id), Some(state)) = (key, caller, state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match hold(req, &state, &key, principal_id).await {
        Held::Answered(response) => Ok(response),
        Held::Reserved(req, reservation) => {
            let response = next.call(req).await?.map_into_boxed_body();
            Ok(settle(&state, reservation, response).await)
        }
    }
}

enum Held {
    /// The request holds the key; its handler runs.
    Reserved(ServiceRequest, Reservation),
    /// A kept response, or a problem.
    Answered(ServiceResponse<BoxBody>),
}

/// Reads the body, and takes the key for this attempt unless it already answers.
async fn hold(
    mut req: ServiceRequest,
    state: &AppState,
    key: &HeaderValue,
    principal_id: String,
) -> Held {
    let key_hash = match key_hash(key) {
        Ok(hash) => hash,
        Err(problem) => return Held::Answered(req.error_response(problem)),
    };
    let body = match read_body(&mut req, state.config.body_limit).await {
        Ok(body) => body,
        Err(problem) => return Held::Answered(req.error_response(problem)),
    };
    let request_hash = request_hash(&req, &body);
    req.set_payload(Payload::from(body));
    let now = state.clock.now();
    let expires_at = now + state.config.limits.idempotency_key_lifetime();
    let token = uuid::Uuid::new_v4().to_string();
    let lookup = state
        .db
        .write(move |conn, _| {
            Ok(idempotency::reserve(
                conn,
                &principal_id,
                &key_hash,
                &request_hash,
                &token,
                now,
                expires_at,
            )?)
        })
        .await;
    match lookup {
        Ok(Lookup::Reserved(reservation)) => {
            req.extensions_mut().insert(reservation.clone());
            Held::Reserved(req, reservation)
        }
        Ok(Lookup::Answered { id, response }) => Held::Answered(replay(req, state, &id, response)),
        Ok(Lookup::OtherRequest) => Held::Answered(req.error_response(key_reused())),
        Ok(Lookup::Applied) => {
            Held::Answered(req.error_response(ApiError::idempotency_key_in_use()))
        }
        Err(problem) => Held::Answered(req.error_response(problem)),
    }
}

fn key_reused() -> ApiError {
    ApiError::Unprocessable {
        code: "idempotency_key_reused",
        detail: "This Idempotency-Key was sent with another request (method, path or body). \
                 Use a new key for each new request."
            .into(),
    }
}

/// The key's hash: a key is 1 to 255 visible ASCII characters (a UUID, say).
fn key_hash(key: &HeaderValue) -> Result<String, ApiError> {
    let text = key.to_str().unwrap_or_default().trim_matches('"');
    let printable = text.bytes().all(|byte| byte.is_ascii_graphic());
    if text.is_empty() || text.len() > MAX_KEY_LENGTH || !printable {
        return Err(ApiError::invalid(
            IDEMPOTENCY_KEY_HEADER,
            format!("must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"),
        ));
    }
    Ok(hex::encode(Sha256::digest(text.as_bytes())))
}

/// What makes a retry the same request: its method, path and query, and body.
fn request_hash(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.uri().to_string().as_bytes(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.update(body);
    hex::encode(hash.finalize())
}

/// The whole body, within the body limit (and the body-read deadline of the layer outside).
async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| unread_body(&error))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// After the handler: keeps the response of an applied change; frees the key otherwise. A
/// failure to keep it leaves the key applied without a response (a retry is answered 409, and
/// never applies the change again).
async fn settle(
    state: &AppState,
    reservation: Reservation,
    response: ServiceResponse<BoxBody>,
) -> ServiceResponse<BoxBody> {
    if !audit::committed_change(response.request()) {
        let released = state
            .db
            .write(move |conn, _| Ok(idempotency::release(conn, &reservation)?))
            .await;
        if let Err(error) = released {
            // A retry takes the key over: nothing was applied under it.
            tracing::warn!(
                code = error.code(),
                "an unused idempotency key could not be freed"
            );
        }
        return response;
    }
    let (request, response) = response.into_parts();
    let status = response.status();
    let headers: Vec<(String, String)> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let (head, body) = response.into_parts();
    let body = match actix_web::body::to_bytes(body).await {
        Ok(body) => body,
        Err(_) => {
            tracing::error!("the body of an applied change's response could not be read");
            let failed = head.set_body(BoxBody::new(()));
            return ServiceResponse::new(request, failed.map_into_boxed_body());
        }
    };
    let disclosure = request
        .extensions()
        .get::<Disclosure>()
        .map(KeptDisclosure::from)
        .unwrap_or_default();
    let kept = keep(state, reservation, status, headers, &body, disclosure).await;
    if let Err(error) = kept {
        tracing::warn!(
            code = error.code(),
            "the response of an applied change could not be kept for retries"
        );
    }
    ServiceResponse::new(request, head.set_body(BoxBody::new(body)))
}

async fn keep(
    state: &AppState,
    reservation: Reservation,
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: &[u8],
    disclosure: KeptDisclosure,
) -> Result<(), ApiError> {
    let body = std::str::from_utf8(body).map_err(ApiError::internal)?;
    let response = KeptResponse {
        status: i32::from(status.as_u16()),
        headers: serde_json::to_string(&headers).map_err(ApiError::internal)?,
        body: state
            .keyring
            .seal(SealedColumn::IdempotentResponse, &reservation.id, body)?,
        disclosure: serde_json::to_string(&disclosure).map_err(ApiError::internal)?,
    };
    state
        .db
        .write(move |conn, _| Ok(idempotency::answer(conn, &reservation, &response)?))
        .await
}

/// The kept response, given again; its audit row records what it discloses again.
fn replay(
    req: ServiceRequest,
    state: &AppState,
    id: &str,
    kept: KeptResponse,
) -> ServiceResponse<BoxBody> {
    let given = (|| {
        let body = state
            .keyring
            .open(SealedColumn::IdempotentResponse, id, &kept.body)?;
        let headers: Vec<(String, String)> = serde_json::from_str(&kept.headers)?;
        let disclosure: KeptDisclosure = serde_json::from_str(&kept.disclosure)?;
        let status = StatusCode::from_u16(u16::try_from(kept.status)?)?;
        anyhow::Ok((status, headers, body, disclosure))
    })();
    let (status, headers, body, disclosure) = match given {
        Ok(given) => given,
        Err(error) => return req.error_response(ApiError::internal(error)),
    };
    req.extensions_mut().insert(disclosure.into_disclosure());
    let mut response = HttpResponse::build(status);
    for header in headers {
        response.insert_header(header);
    }
    response.insert_header((REPLAYED_HEADER, "true"));
    req.into_response(response.body(body))
}

/// What a kept response discloses: recorded again with each replay.
#[derive(Debug, Default, Serialize, Deserialize)]
struct KeptDisclosure {
    resource_type: Option<String>,
    resource_id: Option<String>,
    client_ids: BTreeSet<String>,
    restricted_client_ids: BTreeSet<String>,
    fields: BTreeSet<String>,
    purpose_of_use: Option<String>,
}

impl From<&Disclosure> for KeptDisclosure {
    fn from(disclosure: &Disclosure) -> Self {
        KeptDisclosure {
            resource_type: disclosure.resource_type.map(str::to_owned),
            resource_id: disclosure.resource_id.clone(),
            client_ids: disclosure.client_ids.clone(),
            restricted_client_ids: disclosure.restricted_client_ids.clone(),
            fields: disclosure.fields.clone(),
            purpose_of_use: disclosure.purpose_of_use.clone(),
        }
    }
}

impl KeptDisclosure {
    fn into_disclosure(self) -> Disclosure {
        Disclosure {
            resource_type: self
                .resource_type
                .as_deref()
                .and_then(Resource::by_name)
                .map(Resource::name),
            resource_id: self.resource_id,
            client_ids: self.client_ids,
            restricted_client_ids: self.restricted_client_ids,
            fields: self.fields,
            purpose_of_use: self.purpose_of_use,
            ..Disclosure::default()
        }
    }
}

/// Forgets expired keys every minute, for as long as the server runs: a bounded batch per
/// writer job, batch after batch until one is not full.
pub fn forget_expired_keys(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(FORGET_EVERY).await;
            let now = state.clock.now();
            loop {
                let forgotten = state
                    .db
                    .write(move |conn, _| {
                        Ok(idempotency::forget_expired(conn, now, FORGET_AT_MOST)?)
                    })
                    .await;
                match forgotten {
                    Ok(count) if count as i64 == FORGET_AT_MOST => {}
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(
                            code = error.code(),
                            "expired idempotency keys could not be forgotten"
                        );
                        break;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_to_255_visible_ascii_characters() {
        let hash = |text: &str| key_hash(&HeaderValue::from_str(text).unwrap());
        assert!(hash("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(hash(&"k".repeat(255)).is_ok());
        assert!(hash(&"k".repeat(256)).is_err());
        assert!(hash("").is_err());
        assert!(hash("two words").is_err());
    }

    #[test]
    fn a_quoted_key_is_the_same_key() {
        let hash = |text: &str| key_hash(&HeaderValue::from_str(text).unwrap()).unwrap();
        assert_eq!(hash("\"abc\""), hash("abc"));
        assert_ne!(hash("abc"), hash("abd"));
    }
}
