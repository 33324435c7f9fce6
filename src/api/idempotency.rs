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
//!   An attempt holds the key for at most [`ATTEMPT_LEASE`]: a retry before then is 409, one
//!   after takes over a key whose attempt died with its process.
//! - The handler and the keeping of its response run to the end even when the caller hangs
//!   up: the caller that timed out is the one that retries.
//! - The response of an applied change is then kept, sealed. It is given again only while
//!   the caller may still see it: the same roles, clearance and organisation, and every
//!   client it names still within their reach; otherwise 409 `idempotent_response_withheld`
//!   (read the resource instead). A replay is recorded in the audit trail like any response,
//!   with what it discloses.
//! - The key and the request are kept as keyed hashes (HMAC with the service's disposal key,
//!   under a label of their own), so a copy of the database does not let anyone test guesses
//!   at what a body held.
//! - Requests without an identified caller (logins, token requests) are not kept: their
//!   responses are credentials, and a retry of them changes no client's file.
use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, ETAG, HeaderValue, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::api::context::AppState;
use crate::api::request::unread_body;
use crate::audit::{self, Disclosure};
use crate::auth::sessions::Identity;
use crate::authz::{Action, Caller, Permit, Resource, scope};
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
/// How long an attempt holds its key before a retry may take it over: longer than any
/// request runs once its body is read (the database waits and statement timeouts are
/// seconds), so a live attempt is never taken over, and a key whose attempt died with its
/// process is free again after it.
pub const ATTEMPT_LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// The layer (inside the audit layer and the body-read deadline) that looks a POST's key up
/// before its handler runs, and keeps or frees the key after.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let caller = match req.extensions().get::<Identity>() {
        Some(Identity::Caller(caller)) => Some(caller.clone()),
        _ => None,
    };
    let key = req.headers().get(IDEMPOTENCY_KEY_HEADER).cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(key), Some(caller), Some(state)) = (key, caller, state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match hold(req, &state, &key, &caller).await {
        Held::Answered(response) => Ok(response),
        Held::Reserved(req, reservation) => {
            // Its own task: a caller that hangs up drops this future, not the change and the
            // keeping of its response, which its retry will ask for.
            let attempt = actix_web::rt::spawn(async move {
                match next.call(req).await {
                    Ok(response) => {
                        Ok(
                            settle(&state, reservation, response.map_into_boxed_body(), &caller)
                                .await,
                        )
                    }
                    Err(error) => {
                        release(&state, reservation).await;
                        Err(error)
                    }
                }
            });
            match attempt.await {
                Ok(answered) => answered,
                Err(_) => Err(ApiError::internal(anyhow::anyhow!(
                    "an idempotent attempt panicked"
                ))
                .into()),
            }
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
    caller: &Arc<Caller>,
) -> Held {
    let principal_id = caller.user_id.clone();
    let key_hash = match key_hash(&state.disposal_key, key) {
        Ok(hash) => hash,
        Err(problem) => return Held::Answered(req.error_response(problem)),
    };
    let body = match read_body(&mut req, state.config.body_limit).await {
        Ok(body) => body,
        Err(problem) => return Held::Answered(req.error_response(problem)),
    };
    let request_hash = request_hash(&state.disposal_key, &req, &body);
    req.set_payload(Payload::from(body));
    let now = state.clock.now();
    let expires_at = now + state.config.limits.idempotency_key_lifetime();
    let token = uuid::Uuid::new_v4().to_string();
    let lookup = state
        .db
        .write(move |conn, _| {
            let attempt = idempotency::Attempt {
                principal_id: &principal_id,
                key_hash: &key_hash,
                request_hash: &request_hash,
                token: &token,
                now,
                expires_at,
                lease: ATTEMPT_LEASE,
            };
            Ok(idempotency::reserve(conn, &attempt)?)
        })
        .await;
    match lookup {
        Ok(Lookup::Reserved(reservation)) => {
            req.extensions_mut().insert(reservation.clone());
            Held::Reserved(req, reservation)
        }
        Ok(Lookup::Answered { id, response }) => {
            Held::Answered(replay(req, state, caller, &id, response).await)
        }
        Ok(Lookup::OtherRequest) => Held::Answered(req.error_response(key_reused())),
        Ok(Lookup::Applied | Lookup::InProgress) => {
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

/// A keyed hash of `parts` under `label`, each part length-prefixed so that no two lists of
/// parts hash alike.
fn keyed_hash(secret: &[u8], label: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    for part in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The key's hash: a key is 1 to 255 visible ASCII characters (a UUID, say).
fn key_hash(secret: &[u8], key: &HeaderValue) -> Result<String, ApiError> {
    let text = key.to_str().unwrap_or_default().trim_matches('"');
    let printable = text.bytes().all(|byte| byte.is_ascii_graphic());
    if text.is_empty() || text.len() > MAX_KEY_LENGTH || !printable {
        return Err(ApiError::invalid(
            IDEMPOTENCY_KEY_HEADER,
            format!("must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"),
        ));
    }
    Ok(keyed_hash(secret, "idempotency key", &[text.as_bytes()]))
}

/// What makes a retry the same request: its method, path and query, and body.
fn request_hash(secret: &[u8], req: &ServiceRequest, body: &[u8]) -> String {
    let uri = req.uri().to_string();
    keyed_hash(
        secret,
        "idempotent request",
        &[req.method().as_str().as_bytes(), uri.as_bytes(), body],
    )
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
    caller: &Caller,
) -> ServiceResponse<BoxBody> {
    if !audit::committed_change(response.request()) {
        release(state, reservation).await;
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
    let disclosure = KeptDisclosure {
        seen_by: SeenBy::of(caller),
        ..request
            .extensions()
            .get::<Disclosure>()
            .map(KeptDisclosure::from)
            .unwrap_or_default()
    };
    let kept = keep(state, reservation, status, headers, &body, disclosure).await;
    if let Err(error) = kept {
        tracing::warn!(
            code = error.code(),
            "the response of an applied change could not be kept for retries"
        );
    }
    ServiceResponse::new(request, head.set_body(BoxBody::new(body)))
}

/// Frees the key of an attempt that applied nothing, so that a retry is carried out at once.
async fn release(state: &AppState, reservation: Reservation) {
    let released = state
        .db
        .write(move |conn, _| Ok(idempotency::release(conn, &reservation)?))
        .await;
    if let Err(error) = released {
        // A retry takes the key over once the attempt's lease is over: nothing was applied.
        tracing::warn!(
            code = error.code(),
            "an unused idempotency key could not be freed"
        );
    }
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
    let clients: Vec<String> = disclosure.client_ids.iter().cloned().collect();
    state
        .db
        .write(move |conn, _| {
            Ok(idempotency::answer(
                conn,
                &reservation,
                &response,
                &clients,
            )?)
        })
        .await
}

/// The kept response, given again while the caller may still see it; its audit row records
/// what it discloses again.
async fn replay(
    req: ServiceRequest,
    state: &AppState,
    caller: &Arc<Caller>,
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
    match may_still_see(state, &req, caller, &disclosure).await {
        Ok(true) => {}
        Ok(false) => return req.error_response(response_withheld()),
        Err(problem) => return req.error_response(problem),
    }
    req.extensions_mut().insert(disclosure.into_disclosure());
    let mut response = HttpResponse::build(status);
    for header in headers {
        response.insert_header(header);
    }
    response.insert_header((REPLAYED_HEADER, "true"));
    req.into_response(response.body(body))
}

fn response_withheld() -> ApiError {
    ApiError::conflict(
        "idempotent_response_withheld",
        "This request was carried out, but its response is not given again: what you may see \
         has changed since. Read the resource instead.",
    )
}

/// Whether `caller` may still see a kept response: their roles, clearance and organisation
/// are those it was given under, and every client it names is still within their reach (a
/// restricted one with a purpose of use stated now). A client disposed of since is not.
async fn may_still_see(
    state: &AppState,
    req: &ServiceRequest,
    caller: &Arc<Caller>,
    disclosure: &KeptDisclosure,
) -> Result<bool, ApiError> {
    if disclosure.seen_by != SeenBy::of(caller) {
        return Ok(false);
    }
    if disclosure.client_ids.is_empty() {
        return Ok(true);
    }
    let purpose = crate::api::context::purpose_of_use(req.request())?;
    let policy = state.policy.current();
    let Ok(permit) = Permit::decide(
        &policy,
        caller.clone(),
        Resource::Client,
        Action::Read,
        purpose,
        state.clock.today(),
    ) else {
        return Ok(false);
    };
    let clients: Vec<String> = disclosure.client_ids.iter().cloned().collect();
    state
        .db
        .read(move |conn| {
            for id in &clients {
                let reached = crate::db::clients::find(conn, scope::clients(&permit), id)?;
                let Some(client) = reached else {
                    return Ok(false);
                };
                if permit.check_restricted(client.row.restricted).is_err() {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await
}

/// Who a response was given to, as far as what they may see goes.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SeenBy {
    roles: BTreeSet<String>,
    clearance: i32,
    organisation_id: String,
}

impl SeenBy {
    fn of(caller: &Caller) -> Self {
        Self {
            roles: caller.roles.iter().cloned().collect(),
            clearance: caller.clearance.rank(),
            organisation_id: caller.organisation_id.clone(),
        }
    }
}

/// What a kept response discloses (recorded again with each replay), and to whom.
#[derive(Debug, Default, Serialize, Deserialize)]
struct KeptDisclosure {
    #[serde(default)]
    seen_by: SeenBy,
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
            seen_by: SeenBy::default(),
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

/// Forgets expired keys every minute, for as long as the server runs.
pub fn forget_expired_keys(state: web::Data<AppState>) {
    crate::api::housekeeping::repeat(
        state,
        FORGET_EVERY,
        "forgetting expired idempotency keys",
        |conn, now| {
            let forgotten = idempotency::forget_expired(conn, now, FORGET_AT_MOST)?;
            Ok(forgotten as i64 == FORGET_AT_MOST)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_to_255_visible_ascii_characters() {
        let hash = |text: &str| key_hash(b"secret", &HeaderValue::from_str(text).unwrap());
        assert!(hash("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(hash(&"k".repeat(255)).is_ok());
        assert!(hash(&"k".repeat(256)).is_err());
        assert!(hash("").is_err());
        assert!(hash("two words").is_err());
    }

    #[test]
    fn a_quoted_key_is_the_same_key() {
        let hash = |text: &str| key_hash(b"secret", &HeaderValue::from_str(text).unwrap()).unwrap();
        assert_eq!(hash("\"abc\""), hash("abc"));
        assert_ne!(hash("abc"), hash("abd"));
    }

    #[test]
    fn a_keys_hash_depends_on_the_services_secret() {
        let key = HeaderValue::from_static("8e03978e-40d5-43e8-bc93-6894a57f9324");
        assert_ne!(
            key_hash(b"one secret", &key).unwrap(),
            key_hash(b"another secret", &key).unwrap()
        );
    }
}
