//! Every request to `/api/v1` leaves exactly one row in the audit trail, durable before the
//! response does.
//!
//! Handlers never build rows themselves: the responders in `api::disclosure` fill in a
//! [`Disclosure`] from exactly what they send. A write records its row inside the
//! transaction of its change ([`recorded_write`]); every other request is recorded by
//! [`record`] once the response is built, and if that row cannot be stored the response is
//! replaced by 503 `audit_unavailable`, so nothing is disclosed unrecorded.
pub mod address;
pub mod alerts;
pub mod anchor;
pub mod bound;
pub mod chain;
pub mod correlation;
pub mod limit;

use std::collections::BTreeSet;
use std::net::IpAddr;
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
use self::bound::{cut, cut_owned};
use self::chain::{AuditEvent, ChainHead};
use self::limit::{Admission, REFUSAL_ROW_INTERVAL, Source};
use crate::api::context::AppState;
use crate::auth::sessions::{self, Identity};
use crate::auth::tokens::bearer_token;
use crate::authz::{Caller, Resource};
use crate::config::TrustedProxies;
use crate::db::idempotency::Reservation;
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
            audit_events::attempted_client_id.eq(e.attempted_client_id.as_deref()),
            audit_events::also_refused.eq(e.also_refused),
            audit_events::trace_id.eq(e.trace_id.as_deref()),
            audit_events::caller_request_id.eq(e.caller_request_id.as_deref()),
            audit_events::changed_fields.eq(e.changed_fields.as_deref()),
            audit_events::previous_hash.eq(&e.previous_hash),
            audit_events::hash.eq(&e.hash),
        )
    }};
}

/// The row naming `client_id` in `event`'s access log: as disclosed by it, or (`disclosed`
/// false) as the client it aimed at without disclosing anything.
macro_rules! client_values {
    ($client_id:expr, $event:expr, $disclosed:expr) => {{
        let e: &AuditEvent = $event;
        client_values!(@at $client_id, &e.id, e.occurred_at, $disclosed)
    }};
    (@at $client_id:expr, $event_id:expr, $occurred_at:expr, $disclosed:expr) => {
        (
            audit_event_clients::client_id.eq($client_id),
            audit_event_clients::occurred_at.eq($occurred_at),
            audit_event_clients::event_id.eq($event_id),
            audit_event_clients::disclosed.eq($disclosed),
        )
    };
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
    /// The fields the request changed (a write of a client, case or allocation).
    pub changed_fields: BTreeSet<String>,
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
    /// The client's address (`address::client_address`), as a valid IP address only.
    address: Option<IpAddr>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// The caller's own ids for the request (`correlation`), when well formed.
    trace_id: Option<String>,
    caller_request_id: Option<String>,
    started: Instant,
    occurred_at: NaiveDateTime,
}

/// Marks a request whose row was committed with its change.
#[derive(Debug, Clone, Copy)]
struct RecordedInTransaction;

/// Whether `req` committed a change (its audit row was stored with it).
pub fn committed_change(req: &HttpRequest) -> bool {
    req.extensions().contains::<RecordedInTransaction>()
}

/// When a row is stored as happening: now, by the system clock (the trail records when things
/// happened, so the test clock that moves access decisions forward does not apply to it).
fn occurred_now() -> NaiveDateTime {
    // Microseconds: what both databases keep, so the hash survives the round trip.
    Utc::now().naive_utc().trunc_subsecs(6)
}

impl RequestContext {
    fn of(req: &ServiceRequest, trusted: &TrustedProxies) -> Self {
        // A value that is not text is not an address either: it stops the walk like one.
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .map(|value| value.to_str().unwrap_or("?"))
            .collect();
        let address = address::client_address(
            req.peer_addr().map(|peer| peer.ip()),
            forwarded.into_iter(),
            trusted,
        );
        Self {
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            method: cut(req.method().as_str(), bound::METHOD).into_owned(),
            path: cut(req.path(), bound::PATH).into_owned(),
            address,
            ip: address.map(|address| address.to_string()),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|agent| agent.to_str().ok())
                .map(|agent| cut(agent, bound::USER_AGENT).into_owned()),
            trace_id: correlation::trace_id(req.headers()),
            caller_request_id: correlation::caller_request_id(req.headers()),
            started: Instant::now(),
            occurred_at: occurred_now(),
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
    aimed_at: Option<AimedAt>,
}

impl RowTemplate {
    fn of(req: &HttpRequest, caller: Option<Arc<Caller>>) -> Self {
        let extensions = req.extensions();
        let context = extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_else(|| RequestContext {
                request_id: String::new(),
                method: cut(req.method().as_str(), bound::METHOD).into_owned(),
                path: cut(req.path(), bound::PATH).into_owned(),
                address: None,
                ip: None,
                user_agent: None,
                trace_id: None,
                caller_request_id: None,
                started: Instant::now(),
                occurred_at: occurred_now(),
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
            aimed_at: route.as_deref().and_then(|route| aimed_at(req, route)),
            route: route.unwrap_or_else(|| "(unmatched)".to_owned()),
            caller,
            login: extensions.get::<AttemptedLogin>().cloned(),
        }
    }

    /// The row, and for a refused or failed request the client it aimed at (resolved where
    /// the row is stored: see [`store`]).
    fn complete(
        self,
        status: u16,
        reason: Option<&str>,
        disclosure: &Disclosure,
    ) -> (AuditEvent, Option<AimedAt>) {
        let (context, caller, login) = (self.context, self.caller.as_deref(), self.login.as_ref());
        let (resource_type, resource_id) = match disclosure.resource_type {
            Some(disclosed) => (Some(disclosed), disclosure.resource_id.clone()),
            None => self.requested.unzip(),
        };
        let event = AuditEvent {
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
            route: cut_owned(self.route, bound::ROUTE),
            path: context.path,
            status: i32::from(status),
            outcome: outcome(status).to_owned(),
            reason: reason
                .or(disclosure.reason)
                .map(|reason| cut(reason, bound::REASON).into_owned()),
            resource_type: resource_type.map(str::to_owned),
            resource_id: resource_id.map(|id| cut_owned(id, bound::RESOURCE_ID)),
            client_ids: json_list(&disclosure.client_ids),
            fields: json_list(&disclosure.fields),
            purpose_of_use: disclosure
                .purpose_of_use
                .as_deref()
                .map(|purpose| cut(purpose, bound::PURPOSE_OF_USE).into_owned()),
            attempted_username: login
                .map(|login| cut(&login.username, bound::ATTEMPTED_USERNAME).into_owned()),
            ip: context.ip,
            user_agent: context.user_agent,
            duration_ms: context.started.elapsed().as_millis() as i64,
            attempted_client_id: None,
            also_refused: None,
            trace_id: context.trace_id,
            caller_request_id: context.caller_request_id,
            changed_fields: (!disclosure.changed_fields.is_empty())
                .then(|| json_list(&disclosure.changed_fields)),
            previous_hash: String::new(),
            hash: String::new(),
        };
        let aimed_at = self.aimed_at.filter(|_| status >= 400);
        (event, aimed_at)
    }
}

/// The record a request's path aims at, when that record is a client's or belongs to one: the
/// first of `/clients/{id}`, `/cases/{id}` and `/notes/{id}` in its route, with a well-formed
/// id (in its canonical spelling). A refusal or failure of such a request names that client
/// as attempted (not disclosed), so the client's access log shows who tried.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AimedAt {
    Client(String),
    Case(String),
    Note(String),
}

fn aimed_at(req: &HttpRequest, route: &str) -> Option<AimedAt> {
    let segments: Vec<&str> = route.split('/').collect();
    segments.windows(2).find_map(|pair| {
        let parameter = pair[1].strip_prefix('{')?.strip_suffix('}')?;
        let make = match pair[0] {
            "clients" => AimedAt::Client,
            "cases" => AimedAt::Case,
            "notes" => AimedAt::Note,
            _ => return None,
        };
        let id = uuid::Uuid::parse_str(req.match_info().get(parameter)?).ok()?;
        Some(make(id.to_string()))
    })
}

/// The client a refused or failed request aimed at, unless its response disclosed that
/// client after all. A client id is taken as it was asked for, without looking it up: the
/// row is the same whether or not such a client exists, so neither the response nor the time
/// it takes tells the caller anything. A case or note is looked up for its client (a
/// nonexistent one names none); the caller's response is the same either way.
fn attempted_client(
    conn: &mut DbConnection,
    aimed_at: Option<&AimedAt>,
    disclosure: &Disclosure,
) -> QueryResult<Option<String>> {
    let client = match aimed_at {
        None => None,
        Some(AimedAt::Client(id)) => Some(id.clone()),
        Some(AimedAt::Case(id)) => crate::db::audit::client_of_case(conn, id)?,
        Some(AimedAt::Note(id)) => crate::db::audit::client_of_note(conn, id)?,
    };
    Ok(client.filter(|client| !disclosure.client_ids.contains(client)))
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

/// Stores `event` (naming the client a refused request `aimed_at`) and raises the alerts it
/// calls for.
fn store(
    conn: &mut DbConnection,
    head: &mut ChainHead,
    mut event: AuditEvent,
    aimed_at: Option<&AimedAt>,
    disclosure: &Disclosure,
    rules: AlertRules,
) -> QueryResult<()> {
    event.attempted_client_id = attempted_client(conn, aimed_at, disclosure)?;
    let event = append(conn, head, event, disclosure)?;
    alerts::raise(conn, &event, disclosure, rules)
}

/// Seals `event` onto the chain and stores it with one row per client it names: those it
/// disclosed, and the one it attempted.
fn append(
    conn: &mut DbConnection,
    head: &mut ChainHead,
    mut event: AuditEvent,
    disclosure: &Disclosure,
) -> QueryResult<AuditEvent> {
    head.seal(&mut event);
    let e = &event;
    // A change's row: one row, so a statement with a fixed type, which the concrete
    // connection prepares once. The clients it names go in batches: a privacy officer's
    // read of a breach's affected individuals names thousands, and one statement per row
    // held the writer for hundreds of milliseconds.
    let clients: Vec<_> = disclosure
        .client_ids
        .iter()
        .map(|client_id| client_values!(client_id, e, true))
        .collect();
    crate::on_backend!(conn, |conn| {
        diesel::insert_into(audit_events::table)
            .values(row_values!(e))
            .execute(conn)?;
        for chunk in clients.chunks(CLIENT_ROWS_PER_INSERT) {
            diesel::insert_into(audit_event_clients::table)
                .values(chunk)
                .execute(conn)?;
        }
        if let Some(client_id) = &e.attempted_client_id {
            diesel::insert_into(audit_event_clients::table)
                .values(client_values!(client_id, e, false))
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

impl PendingRow {
    /// A row whose event disclosed `client_ids`; [`append_all`] seals it onto the chain.
    /// `seed-synthetic` builds its generated trail from these, so that it is stored and
    /// chained exactly as the service's own reads are.
    pub fn new(event: AuditEvent, client_ids: BTreeSet<String>) -> Self {
        Self { event, client_ids }
    }

    /// Keeps the first `keep` clients in this row and returns the others, `keep` at a time,
    /// to be stored after it (see [`CLIENTS_PER_BATCH`]).
    pub fn split_clients(&mut self, keep: usize) -> Vec<ClientRows> {
        let Some(first_moved) = self.client_ids.iter().nth(keep).cloned() else {
            return Vec::new();
        };
        let moved: Vec<String> = self
            .client_ids
            .split_off(&first_moved)
            .into_iter()
            .collect();
        moved
            .chunks(keep.max(1))
            .map(|client_ids| ClientRows {
                event_id: self.event.id.clone(),
                occurred_at: self.event.occurred_at,
                client_ids: client_ids.to_vec(),
            })
            .collect()
    }
}

/// Clients whose rows one writer batch stores, at most, for a read's audit row. Each row lands
/// on its own page of the clients' access-log index, so the ten thousand clients of a
/// breach's affected individuals held the writer for over half a second in one batch.
pub const CLIENTS_PER_BATCH: usize = 200;

/// More of the clients an audit row disclosed, stored in a later batch than the row itself
/// (before the response is sent, as the row is).
pub struct ClientRows {
    event_id: String,
    occurred_at: chrono::NaiveDateTime,
    client_ids: Vec<String>,
}

impl ClientRows {
    pub fn store(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let values: Vec<_> = self
            .client_ids
            .iter()
            .map(|client_id| client_values!(@at client_id, &self.event_id, self.occurred_at, true))
            .collect();
        crate::on_backend!(conn, |conn| {
            diesel::insert_into(audit_event_clients::table)
                .values(&values)
                .execute(conn)
                .map(drop)
        })
    }
}

/// Rows one insert stores at most, within the 32,766 values SQLite binds to a statement
/// (PostgreSQL: 65,535): 28 per audit row, 4 per row naming a client.
const EVENTS_PER_INSERT: usize = 1_000;
const CLIENT_ROWS_PER_INSERT: usize = 8_000;

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
                .map(|client_id| client_values!(client_id, &row.event, true))
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

impl CommandActor {
    /// The active user named `username` (usernames are unique among active accounts only:
    /// see db::directory); None when there is none.
    pub fn active(conn: &mut DbConnection, username: &str) -> QueryResult<Option<Self>> {
        use crate::db::schema::users;
        use crate::domain::{StoredAsText, UserStatus};
        let found = users::table
            .filter(users::username.eq(username))
            .filter(users::status.eq(UserStatus::Active.as_str()))
            .select((users::id, users::organisation_id, users::roles))
            .first::<(String, String, String)>(conn)
            .optional()?;
        Ok(found.map(|(user_id, organisation_id, roles)| CommandActor {
            user_id,
            organisation_id,
            roles,
        }))
    }
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
        occurred_at: occurred_now(),
        request_id: uuid::Uuid::now_v7().to_string(),
        actor_user_id: Some(actor.user_id.clone()),
        actor_organisation_id: Some(actor.organisation_id.clone()),
        actor_roles: actor.roles.clone(),
        actor_kind: "user".to_owned(),
        method: "CLI".to_owned(),
        route: cut(command, bound::ROUTE).into_owned(),
        path: cut_owned(arguments, bound::PATH),
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
        attempted_client_id: None,
        also_refused: None,
        trace_id: None,
        caller_request_id: None,
        changed_fields: None,
        previous_hash: String::new(),
        hash: String::new(),
    };
    append(conn, &mut ChainHead::start(), event, disclosure).map(drop)
}

/// Runs a change and stores its audit row in the same transaction: there is never a change
/// without its row, nor a row for a change that did not happen. `work` answers with its
/// result, the status the response will have, and what it discloses. A request that holds an
/// Idempotency-Key (`api::idempotency`) marks it applied in the same transaction, and applies
/// nothing if another attempt has taken the key over.
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
    let reservation = req.extensions().get::<Reservation>().cloned();
    let result = db
        .write(move |conn, head| {
            if let Some(reservation) = &reservation
                && !crate::db::idempotency::apply(conn, reservation)?
            {
                return Err(ApiError::idempotency_key_in_use());
            }
            let (value, status, disclosure) = work(conn)?;
            let rules = template.alerts;
            let (event, aimed_at) = template.complete(status, None, &disclosure);
            store(conn, head, event, aimed_at.as_ref(), &disclosure, rules)?;
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

/// Whether `req` is a CORS preflight (which the CORS layer answers itself).
fn is_preflight(req: &ServiceRequest) -> bool {
    req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(actix_web::http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// A request over its address's anonymous allowance (see [`limit`]): answered 429 by
/// [`refuse_when_limited`], and recorded by [`record`] with a row of its own only when `row`
/// says so.
#[derive(Debug, Clone, Copy)]
struct OverAllowance {
    retry_after_seconds: u64,
    row: Option<u64>,
}

impl OverAllowance {
    fn refusal(self) -> ApiError {
        ApiError::RateLimited {
            retry_after_seconds: self.retry_after_seconds,
        }
    }
}

/// Records every request to `/api/v1` (the outermost layer of that scope, around CORS, so
/// preflights and CORS refusals are recorded too). First it works out where the request came
/// from ([`address`]) and who its access token names, so that a request without valid
/// credentials draws on its address's allowance ([`limit`]) before anything else runs.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::internal(anyhow::anyhow!("application state missing")).into());
    };
    let context = RequestContext::of(&req, &state.config.trusted_proxies);
    let address = context.address;
    req.extensions_mut().insert(context);
    let token = bearer_token(req.headers());
    // Identified here once; `Ctx` takes the answer. When the database cannot say, `Ctx` asks
    // again (and fails with 503): such a request is not held against its address's allowance,
    // or an outage would answer every caller 429 instead of 503.
    let identity = {
        let policy = state.policy.current();
        sessions::identify(&state.db, &state.tokens, &policy, token, state.clock.now()).await
    };
    let undecided = matches!(identity, Err(ApiError::Unavailable { .. }));
    let identity = identity.ok();
    let identified = identity.as_ref().and_then(Identity::caller).is_some();
    if let Some(identity) = identity {
        req.extensions_mut().insert(identity);
    }
    if !identified
        && !undecided
        && let Admission::Refused {
            retry_after_seconds,
            row,
        } = state.limiter.admit(address, Instant::now())
    {
        let over = OverAllowance {
            retry_after_seconds,
            row,
        };
        return record_refusal(req, next, &state, over).await;
    }
    let arrived = req.extensions().get::<RequestContext>().cloned();
    let response = match next.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(error) => return record_error(&state, arrived, error).await,
    };
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
    let (row, aimed_at) = template.complete(response.status().as_u16(), reason, &disclosure);
    let stored = if alerts::may_raise(&row, &disclosure) {
        state
            .db
            .write(move |conn, head| {
                Ok(store(
                    conn,
                    head,
                    row,
                    aimed_at.as_ref(),
                    &disclosure,
                    rules,
                )?)
            })
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
    withheld_unless_stored(response, stored)
}

/// A layer inside answered with an error instead of a response (actix turns handler and
/// extractor errors into responses, so this is a safety net): the request is recorded from
/// what was known when it arrived, and the error answers it.
async fn record_error(
    state: &AppState,
    arrived: Option<RequestContext>,
    error: actix_web::Error,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(context) = arrived else {
        return Err(error);
    };
    let template = RowTemplate {
        context,
        alerts: AlertRules::of(&state.config.oversight),
        route: "(unmatched)".to_owned(),
        caller: None,
        login: None,
        requested: None,
        aimed_at: None,
    };
    let rules = template.alerts;
    let status = error.as_response_error().status_code().as_u16();
    let disclosure = Disclosure::default();
    let (row, _) = template.complete(status, None, &disclosure);
    let stored = state
        .db
        .write(move |conn, head| Ok(store(conn, head, row, None, &disclosure, rules)?))
        .await;
    if let Err(stored) = stored {
        tracing::error!(error = %stored, "the audit row of a failed request could not be stored");
    }
    Err(error)
}

/// The response, once its row is stored; 503 `audit_unavailable` in its place otherwise. A 503
/// the request already had discloses nothing and says better why it failed: it stays.
fn withheld_unless_stored(
    response: ServiceResponse<BoxBody>,
    stored: Result<(), ApiError>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match stored {
        Ok(()) => Ok(with_request_id(response)),
        Err(error) if response.status() == actix_web::http::StatusCode::SERVICE_UNAVAILABLE => {
            tracing::error!(%error, "the audit row of a 503 could not be stored");
            Ok(with_request_id(response))
        }
        Err(error) => {
            tracing::error!(%error, "the audit row could not be stored; the response is withheld");
            let (request, _withheld) = response.into_parts();
            let refusal = crate::db::writer::unavailable().error_response();
            Ok(with_request_id(ServiceResponse::new(request, refusal)))
        }
    }
}

/// A request over its address's allowance: 429 without running anything behind the CORS
/// layer (a preflight is answered here; any other request passes through CORS, so that a
/// browser may read the answer). Its row is small (no user agent, nothing read from the body)
/// and stored only when it is the address's first refusal in [`REFUSAL_ROW_INTERVAL`],
/// counting the refusals before it that had none; any other refusal is only counted, leaves
/// no row of its own and so carries no `X-Request-Id`.
async fn record_refusal(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: &AppState,
    over: OverAllowance,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = if is_preflight(&req) {
        req.into_response(over.refusal().error_response())
    } else {
        req.extensions_mut().insert(over);
        next.call(req).await?.map_into_boxed_body()
    };
    let Some(also_refused) = over.row else {
        return Ok(response);
    };
    let request = response.request().clone();
    let mut template = RowTemplate::of(&request, None);
    template.context.user_agent = None;
    let rules = template.alerts;
    let disclosure = Disclosure::refusal(over.refusal().code());
    let (mut row, _) = template.complete(response.status().as_u16(), None, &disclosure);
    row.also_refused = Some(i64::try_from(also_refused).unwrap_or(i64::MAX));
    let stored = state
        .db
        .write(move |conn, head| Ok(store(conn, head, row, None, &disclosure, rules)?))
        .await;
    withheld_unless_stored(response, stored)
}

/// The layer just inside CORS: answers 429 for a request [`record`] found over its
/// allowance, so that CORS adds its headers to the refusal.
pub async fn refuse_when_limited(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let over = req.extensions().get::<OverAllowance>().copied();
    match over {
        Some(over) => Ok(req.into_response(over.refusal().error_response())),
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

/// Stores, every [`REFUSAL_ROW_INTERVAL`], one tally row for each address whose refused
/// requests were counted but not yet recorded (see [`limit`]): a row with no request of its
/// own (`method` and `path` `-`, route `(rate limited)`), the address, and the count in
/// `also_refused`. Runs for as long as the server's runtime does.
pub fn record_refusal_tallies(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(REFUSAL_ROW_INTERVAL).await;
            for (source, count) in state.limiter.take_tallies(Instant::now()) {
                let row = tally_row(source, count);
                let disclosure = Disclosure::refusal("rate_limited");
                let rules = AlertRules::of(&state.config.oversight);
                let stored = state
                    .db
                    .write(move |conn, head| Ok(store(conn, head, row, None, &disclosure, rules)?))
                    .await;
                if let Err(error) = stored {
                    tracing::error!(%error, "a tally of refused requests could not be stored");
                }
            }
        }
    });
}

fn tally_row(source: Source, count: u64) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        chain_id: String::new(),
        sequence: 0,
        occurred_at: occurred_now(),
        request_id: uuid::Uuid::now_v7().to_string(),
        actor_user_id: None,
        actor_organisation_id: None,
        actor_roles: json_list([]),
        actor_kind: "anonymous".to_owned(),
        method: "-".to_owned(),
        route: TALLY_ROUTE.to_owned(),
        path: "-".to_owned(),
        status: 429,
        outcome: outcome(429).to_owned(),
        reason: Some("rate_limited".to_owned()),
        resource_type: None,
        resource_id: None,
        client_ids: json_list([]),
        fields: json_list([]),
        purpose_of_use: None,
        attempted_username: None,
        ip: source.address().map(|address| address.to_string()),
        user_agent: None,
        duration_ms: 0,
        attempted_client_id: None,
        also_refused: Some(i64::try_from(count).unwrap_or(i64::MAX)),
        trace_id: None,
        caller_request_id: None,
        changed_fields: None,
        previous_hash: String::new(),
        hash: String::new(),
    }
}

/// The route of a tally row: refused requests counted, not one request.
pub const TALLY_ROUTE: &str = "(rate limited)";

#[cfg(test)]
mod tests {
    use super::*;

    fn read_naming(count: usize) -> PendingRow {
        let event = AuditEvent {
            id: "event".into(),
            chain_id: String::new(),
            sequence: 0,
            occurred_at: chrono::NaiveDateTime::default(),
            request_id: "request".into(),
            actor_user_id: None,
            actor_organisation_id: None,
            actor_roles: "[]".into(),
            actor_kind: "user".into(),
            method: "GET".into(),
            route: "/api/v1/clients".into(),
            path: "/api/v1/clients".into(),
            status: 200,
            outcome: "allowed".into(),
            reason: None,
            resource_type: None,
            resource_id: None,
            client_ids: "[]".into(),
            fields: "[]".into(),
            purpose_of_use: None,
            attempted_username: None,
            ip: None,
            user_agent: None,
            duration_ms: 0,
            attempted_client_id: None,
            also_refused: None,
            trace_id: None,
            caller_request_id: None,
            changed_fields: None,
            previous_hash: String::new(),
            hash: String::new(),
        };
        PendingRow::new(
            event,
            (0..count).map(|i| format!("client-{i:02}")).collect(),
        )
    }

    #[test]
    fn a_row_naming_many_clients_keeps_the_first_and_hands_on_the_rest_in_parts() {
        let mut row = read_naming(7);
        let all = row.client_ids.clone();
        let parts = row.split_clients(3);
        assert_eq!(row.client_ids, all.iter().take(3).cloned().collect());
        let sizes: Vec<usize> = parts.iter().map(|part| part.client_ids.len()).collect();
        assert_eq!(sizes, [3, 1]);
        assert!(parts.iter().all(|part| part.event_id == "event"));
        let handed_on: BTreeSet<String> = parts.into_iter().flat_map(|p| p.client_ids).collect();
        assert_eq!(handed_on, all.into_iter().skip(3).collect());
    }

    #[test]
    fn a_row_naming_no_more_clients_than_a_part_stays_whole() {
        let mut row = read_naming(3);
        assert!(row.split_clients(3).is_empty());
        assert_eq!(row.client_ids.len(), 3);
    }
}
