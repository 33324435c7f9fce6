//! Every request to `/api/v1` leaves exactly one row in the audit trail, durable before the
//! response does.
//!
//! Handlers never build rows themselves: the responders in `api::disclosure` fill in a
//! [`Disclosure`] from exactly what they send. A write records its row inside the
//! transaction of its change ([`recorded_write`]); every other request is recorded by
//! [`record`] once the response is built, and if that row cannot be stored the response is
//! replaced by 503 `audit_unavailable`, so nothing is disclosed unrecorded.
pub mod alerts;
pub mod chain;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, ResponseError, web};
use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use tracing_actix_web::RequestId;

use self::alerts::AlertRules;
use self::chain::{AuditEvent, ChainHead};
use crate::api::context::AppState;
use crate::authz::{Caller, Resource};
use crate::db::schema::{audit_event_clients, audit_events};
use crate::db::{Database, DbConnection};
use crate::domain::PrincipalKind;
use crate::error::ApiError;

/// An audit row's columns, each bound as a value (an absent one as NULL rather than left
/// out), so that its insert has one SQL text however the row is filled in.
macro_rules! row_values {
    ($event:expr) => {{
        let e: &AuditEvent = $event;
        (
            audit_events::id.eq(&e.id),
            audit_events::chain_id.eq(&e.chain_id),
            audit_events::sequence.eq(e.sequence),
            audit_events::occurred_at.eq(e.occurred_at),
            audit_events::request_id.eq(&e.request_id),
            audit_events::actor_user_id.eq(e.actor_user_id.as_deref()),
            audit_events::actor_organisation_id.eq(e.actor_organisation_id.as_deref()),
            audit_events::actor_roles.eq(&e.actor_roles),
            audit_events::actor_kind.eq(&e.actor_kind),
            audit_events::method.eq(&e.method),
            audit_events::route.eq(&e.route),
            audit_events::path.eq(&e.path),
            audit_events::status.eq(e.status),
            audit_events::outcome.eq(&e.outcome),
            audit_events::reason.eq(e.reason.as_deref()),
            audit_events::resource_type.eq(e.resource_type.as_deref()),
            audit_events::resource_id.eq(e.resource_id.as_deref()),
            audit_events::client_ids.eq(&e.client_ids),
            audit_events::fields.eq(&e.fields),
            audit_events::purpose_of_use.eq(e.purpose_of_use.as_deref()),
            audit_events::attempted_username.eq(e.attempted_username.as_deref()),
            audit_events::ip.eq(e.ip.as_deref()),
            audit_events::user_agent.eq(e.user_agent.as_deref()),
            audit_events::duration_ms.eq(e.duration_ms),
            audit_events::previous_hash.eq(&e.previous_hash),
            audit_events::hash.eq(&e.hash),
        )
    }};
}

/// The row naming `client_id` as disclosed by `event`.
macro_rules! client_values {
    ($client_id:expr, $event:expr) => {{
        let e: &AuditEvent = $event;
        (
            audit_event_clients::client_id.eq($client_id),
            audit_event_clients::occurred_at.eq(e.occurred_at),
            audit_event_clients::event_id.eq(&e.id),
        )
    }};
}

/// The username a login tried (never the password) and, when it succeeded, whose account
/// it opened: the actor of a login request is not known before it.
#[derive(Debug, Clone)]
pub struct AttemptedLogin {
    pub username: String,
    pub user_id: Option<String>,
    pub kind: PrincipalKind,
}

/// The clients and fields one response disclosed.
#[derive(Debug, Default, Clone)]
pub struct Disclosure {
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    pub client_ids: BTreeSet<String>,
    pub fields: BTreeSet<String>,
    pub purpose_of_use: Option<String>,
    /// Why a refusal that is stored with a change (a failed login counted towards a lockout,
    /// a reused refresh token ending its session) was refused.
    pub reason: Option<&'static str>,
    /// The person a request without an access token turned out to act for, when only its
    /// change could tell: a refresh token names the user of its session.
    pub actor_user_id: Option<String>,
    /// Disclosed clients that are restricted: each such read raises an alert.
    pub restricted_client_ids: BTreeSet<String>,
    /// The request locked a username after failed logins (raises an alert).
    pub locked_out: bool,
    /// A change the auditor is told of at once (a password reset, access granted under
    /// dual control): raised as an alert with the audit row.
    pub alert: Option<ChangeAlert>,
}

/// An alert a change raises: its kind, and a reason naming who did what to whom (ids and
/// roles, never secrets).
#[derive(Debug, Clone)]
pub struct ChangeAlert {
    pub kind: &'static str,
    pub reason: String,
}

impl Disclosure {
    /// Nothing disclosed, for a refusal stored with a change: `reason` is the refusal's code.
    pub fn refusal(reason: &'static str) -> Self {
        Self {
            reason: Some(reason),
            ..Self::default()
        }
    }

    /// The same, for a request that acted for `user_id` without an access token.
    pub fn acting_for(self, user_id: &str) -> Self {
        Self {
            actor_user_id: Some(user_id.to_owned()),
            ..self
        }
    }
}

/// Where a request came from (ip, user agent), as its audit row records it; kept with the
/// sessions it opens.
pub fn origin(req: &HttpRequest) -> (Option<String>, Option<String>) {
    req.extensions()
        .get::<RequestContext>()
        .map(|context| (context.ip.clone(), context.user_agent.clone()))
        .unwrap_or_default()
}

/// What is known of a request when it arrives.
#[derive(Debug, Clone)]
pub struct RequestContext {
    request_id: String,
    method: String,
    path: String,
    ip: Option<String>,
    user_agent: Option<String>,
    started: Instant,
    occurred_at: NaiveDateTime,
}

/// Marks a request whose row was committed with its change.
#[derive(Debug, Clone, Copy)]
struct RecordedInTransaction;

impl RequestContext {
    fn of(req: &ServiceRequest) -> Self {
        Self {
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            method: req.method().to_string(),
            path: req.path().to_owned(),
            ip: req
                .connection_info()
                .realip_remote_addr()
                .map(str::to_owned),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|agent| agent.to_str().ok())
                .map(|agent| agent.chars().take(500).collect()),
            started: Instant::now(),
            // Microseconds: what both databases keep, so the hash survives the round trip.
            occurred_at: Utc::now().naive_utc().trunc_subsecs(6),
        }
    }
}

fn outcome(status: u16) -> &'static str {
    match status {
        500.. => "error",
        400.. => "denied",
        _ => "allowed",
    }
}

fn json_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    serde_json::Value::from(items.into_iter().cloned().collect::<Vec<_>>()).to_string()
}

/// What a request's row holds before its outcome is known; taken from the request, which
/// cannot cross to the writer thread.
struct RowTemplate {
    context: RequestContext,
    alerts: AlertRules,
    route: String,
    caller: Option<Arc<Caller>>,
    login: Option<AttemptedLogin>,
    requested: Option<(&'static str, String)>,
}

impl RowTemplate {
    fn of(req: &HttpRequest, caller: Option<Arc<Caller>>) -> Self {
        let extensions = req.extensions();
        let context = extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_else(|| RequestContext {
                request_id: String::new(),
                method: req.method().to_string(),
                path: req.path().to_owned(),
                ip: None,
                user_agent: None,
                started: Instant::now(),
                occurred_at: Utc::now().naive_utc().trunc_subsecs(6),
            });
        let route = req.match_pattern();
        let alerts = req
            .app_data::<web::Data<AppState>>()
            .map(|state| AlertRules::of(&state.config.oversight))
            .unwrap_or(AlertRules {
                denial_burst: u32::MAX,
                delivered: false,
            });
        Self {
            context,
            alerts,
            requested: route
                .as_deref()
                .and_then(|route| requested_resource(req, route)),
            route: route.unwrap_or_else(|| "(unmatched)".to_owned()),
            caller,
            login: extensions.get::<AttemptedLogin>().cloned(),
        }
    }

    fn complete(self, status: u16, reason: Option<&str>, disclosure: &Disclosure) -> AuditEvent {
        let (context, caller, login) = (self.context, self.caller.as_deref(), self.login.as_ref());
        let (resource_type, resource_id) = match disclosure.resource_type {
            Some(disclosed) => (Some(disclosed), disclosure.resource_id.clone()),
            None => self.requested.unzip(),
        };
        AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            chain_id: String::new(),
            sequence: 0,
            occurred_at: context.occurred_at,
            request_id: context.request_id,
            actor_user_id: caller
                .map(|c| c.user_id.clone())
                .or_else(|| login.and_then(|login| login.user_id.clone()))
                .or_else(|| disclosure.actor_user_id.clone()),
            actor_organisation_id: caller.map(|c| c.organisation_id.clone()),
            actor_roles: json_list(caller.map(|c| c.roles.iter()).into_iter().flatten()),
            actor_kind: actor_kind(caller, login, disclosure).to_owned(),
            method: context.method,
            route: self.route,
            path: context.path,
            status: i32::from(status),
            outcome: outcome(status).to_owned(),
            reason: reason.or(disclosure.reason).map(str::to_owned),
            resource_type: resource_type.map(str::to_owned),
            resource_id,
            client_ids: json_list(&disclosure.client_ids),
            fields: json_list(&disclosure.fields),
            purpose_of_use: disclosure.purpose_of_use.clone(),
            attempted_username: login.map(|login| login.username.clone()),
            ip: context.ip,
            user_agent: context.user_agent,
            duration_ms: context.started.elapsed().as_millis() as i64,
            previous_hash: String::new(),
            hash: String::new(),
        }
    }
}

/// The resource a request's path names, by its last parameter (`/clients/{id}/cases`: that
/// client; `/cases/{id}/allocations/{allocation_id}`: that allocation). A row whose response
/// disclosed no resource records this one, so a refusal still says what was asked for.
fn requested_resource(req: &HttpRequest, route: &str) -> Option<(&'static str, String)> {
    let segments: Vec<&str> = route.split('/').collect();
    segments.windows(2).rev().find_map(|pair| {
        let parameter = pair[1].strip_prefix('{')?.strip_suffix('}')?;
        let resource = Resource::by_collection(pair[0])?;
        let id = req.match_info().get(parameter)?;
        Some((resource.name(), id.to_owned()))
    })
}

/// `user` for a person, `api_client` for a CSP system (also while it asks for a token), and
/// `anonymous` for a request nobody could be identified for.
fn actor_kind(
    caller: Option<&Caller>,
    login: Option<&AttemptedLogin>,
    disclosure: &Disclosure,
) -> &'static str {
    let kind = match (caller, login) {
        (Some(caller), _) => caller.kind,
        (None, Some(login))
            if login.user_id.is_some() || login.kind == PrincipalKind::ApiClient =>
        {
            login.kind
        }
        // Only people hold refresh tokens.
        (None, None) if disclosure.actor_user_id.is_some() => PrincipalKind::Person,
        _ => return "anonymous",
    };
    match kind {
        PrincipalKind::Person => "user",
        PrincipalKind::ApiClient => "api_client",
    }
}

/// Seals `event` onto the chain and stores it with one row per client it names.
/// Stores `event` and raises the alerts it calls for.
fn store(
    conn: &mut DbConnection,
    head: &mut ChainHead,
    event: AuditEvent,
    disclosure: &Disclosure,
    rules: AlertRules,
) -> QueryResult<()> {
    let event = append(conn, head, event, disclosure)?;
    alerts::raise(conn, &event, disclosure, rules)
}

fn append(
    conn: &mut DbConnection,
    head: &mut ChainHead,
    mut event: AuditEvent,
    disclosure: &Disclosure,
) -> QueryResult<AuditEvent> {
    head.seal(&mut event);
    let e = &event;
    // A change's row: one row, so a statement with a fixed type, which the concrete
    // connection prepares once.
    crate::on_backend!(conn, |conn| {
        diesel::insert_into(audit_events::table)
            .values(row_values!(e))
            .execute(conn)?;
        for client_id in &disclosure.client_ids {
            diesel::insert_into(audit_event_clients::table)
                .values(client_values!(client_id, e))
                .execute(conn)?;
        }
        QueryResult::Ok(())
    })?;
    Ok(event)
}

/// An audit row that records no change and raises no alert (most reads): the writer stores
/// the batch's rows of this kind together, in one statement per table.
pub struct PendingRow {
    event: AuditEvent,
    client_ids: BTreeSet<String>,
}

/// Rows one insert stores at most, within the 32,766 values SQLite binds to a statement
/// (PostgreSQL: 65,535): 26 per audit row, 3 per row naming a client.
const EVENTS_PER_INSERT: usize = 1_000;
const CLIENT_ROWS_PER_INSERT: usize = 10_000;

/// Seals `rows` onto the chain in order and stores them.
pub fn append_all(
    conn: &mut DbConnection,
    head: &mut ChainHead,
    mut rows: Vec<PendingRow>,
) -> QueryResult<()> {
    for row in &mut rows {
        head.seal(&mut row.event);
    }
    let events: Vec<_> = rows.iter().map(|row| row_values!(&row.event)).collect();
    let clients: Vec<_> = rows
        .iter()
        .flat_map(|row| {
            row.client_ids
                .iter()
                .map(|client_id| client_values!(client_id, &row.event))
        })
        .collect();
    crate::on_backend!(conn, |conn| {
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(conn)?;
        }
        for chunk in clients.chunks(CLIENT_ROWS_PER_INSERT) {
            diesel::insert_into(audit_event_clients::table)
                .values(chunk)
                .execute(conn)?;
        }
        QueryResult::Ok(())
    })
}

/// Who runs an operator command (`casebridge retention run --authorised-by USER`).
pub struct CommandActor {
    pub user_id: String,
    pub organisation_id: String,
    /// As stored: a JSON list.
    pub roles: String,
}

/// Records an operator command that changes records outside any request, in the transaction
/// of its change, like a request's row: `CLI` as method, the command as route and its
/// arguments as path. Each command starts a chain of its own, as each service instance does.
pub fn record_command(
    conn: &mut DbConnection,
    actor: &CommandActor,
    command: &str,
    arguments: String,
    started: Instant,
    disclosure: &Disclosure,
) -> QueryResult<()> {
    let event = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        chain_id: String::new(),
        sequence: 0,
        occurred_at: Utc::now().naive_utc().trunc_subsecs(6),
        request_id: uuid::Uuid::now_v7().to_string(),
        actor_user_id: Some(actor.user_id.clone()),
        actor_organisation_id: Some(actor.organisation_id.clone()),
        actor_roles: actor.roles.clone(),
        actor_kind: "user".to_owned(),
        method: "CLI".to_owned(),
        route: command.to_owned(),
        path: arguments,
        status: 200,
        outcome: outcome(200).to_owned(),
        reason: None,
        resource_type: disclosure.resource_type.map(str::to_owned),
        resource_id: disclosure.resource_id.clone(),
        client_ids: json_list(&disclosure.client_ids),
        fields: json_list(&disclosure.fields),
        purpose_of_use: disclosure.purpose_of_use.clone(),
        attempted_username: None,
        ip: None,
        user_agent: None,
        duration_ms: started.elapsed().as_millis() as i64,
        previous_hash: String::new(),
        hash: String::new(),
    };
    append(conn, &mut ChainHead::start(), event, disclosure).map(drop)
}

/// Runs a change and stores its audit row in the same transaction: there is never a change
/// without its row, nor a row for a change that did not happen. `work` answers with its
/// result, the status the response will have, and what it discloses.
pub async fn recorded_write<T, F>(
    db: &Database,
    req: &HttpRequest,
    caller: Option<Arc<Caller>>,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<(T, u16, Disclosure), ApiError> + Send + 'static,
    T: Send + 'static,
{
    let template = RowTemplate::of(req, caller);
    let result = db
        .write(move |conn, head| {
            let (value, status, disclosure) = work(conn)?;
            let rules = template.alerts;
            let event = template.complete(status, None, &disclosure);
            store(conn, head, event, &disclosure, rules)?;
            Ok(value)
        })
        .await?;
    req.extensions_mut().insert(RecordedInTransaction);
    Ok(result)
}

fn with_request_id(mut response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let id = response
        .request()
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string());
    if let Some(id) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    response
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let context = RequestContext::of(&req);
    req.extensions_mut().insert(context);
    let response = next.call(req).await?.map_into_boxed_body();
    // Benchmark builds only (bench/load.sh): reads leave no row, to measure what the audit
    // trail costs. `serve` refuses to start such a build without CASEBRIDGE_BENCHMARK_ONLY=1.
    #[cfg(feature = "bench-unaudited")]
    if matches!(
        *response.request().method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ) {
        return Ok(with_request_id(response));
    }
    if response
        .request()
        .extensions()
        .contains::<RecordedInTransaction>()
    {
        return Ok(with_request_id(response));
    }
    let request = response.request().clone();
    let caller = request.extensions().get::<Arc<Caller>>().cloned();
    let mut disclosure = request
        .extensions()
        .get::<Disclosure>()
        .cloned()
        .unwrap_or_default();
    let error = response
        .response()
        .error()
        .and_then(|error| error.as_error::<ApiError>());
    // A problem can name clients too (a possible duplicate's candidates).
    disclosure.client_ids.extend(
        error
            .map(ApiError::named_clients)
            .unwrap_or_default()
            .iter()
            .cloned(),
    );
    if disclosure.purpose_of_use.is_none() {
        disclosure.purpose_of_use = error.and_then(ApiError::stated_purpose).map(str::to_owned);
    }
    let reason = error.map(ApiError::code);
    let template = RowTemplate::of(&request, caller);
    let rules = template.alerts;
    let row = template.complete(response.status().as_u16(), reason, &disclosure);
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::internal(anyhow::anyhow!("application state missing")).into());
    };
    let stored = if alerts::may_raise(&row, &disclosure) {
        state
            .db
            .write(move |conn, head| Ok(store(conn, head, row, &disclosure, rules)?))
            .await
    } else {
        let client_ids = disclosure.client_ids;
        state
            .db
            .record(PendingRow {
                event: row,
                client_ids,
            })
            .await
    };
    match stored {
        Ok(()) => Ok(with_request_id(response)),
        Err(error) => {
            tracing::error!(%error, "the audit row could not be stored; the response is withheld");
            let (request, _withheld) = response.into_parts();
            let refusal = crate::db::writer::unavailable().error_response();
            Ok(with_request_id(ServiceResponse::new(request, refusal)))
        }
    }
}
