//! `/incident-reports`: anyone who uses the system (department staff of every role, CSP staff,
//! API clients) reports an incident: suspected misuse, compromised credentials, a data breach,
//! a lost device. The report raises an alert at once, in its own transaction; a report that
//! one's own credentials are compromised also ends every session of the reporter. A reporter
//! reads their own reports and where each stands; the privacy officer reads every report,
//! moves it on (`received` -> `assessing` -> `closed`) and may open a breach from it
//! (`incident_report_ids` on `POST /breaches`, which sets `breach_opened`).
use std::collections::BTreeSet;

use actix_web::{HttpRequest, get, patch, post, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{
    Body, FieldChecks, PageRequest, Params, expected_version, new_id, parse_json, path_id, utc,
    uuids_of, write_body,
};
use crate::audit::ChangeAlert;
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::clients as client_queries;
use crate::db::directory;
use crate::db::incident_reports::{self as queries, IncidentReportRow};
use crate::domain::{IncidentKind, IncidentStatus, StoredAsText, Timestamp};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_incident_reports)
        .service(report_incident)
        .service(get_incident_report)
        .service(progress_incident_report);
}

/// Why the sessions of a reporter whose credentials are compromised ended.
const SESSIONS_ENDED_REASON: &str = "credentials_reported_compromised";

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentReportRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub kind: IncidentKind,
    #[schema(required = false)]
    pub description: String,
    /// When the incident happened, if the reporter knows.
    #[schema(required = false)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// The users or API clients the incident involves.
    #[schema(required = false)]
    pub involved_user_ids: Vec<String>,
    /// The clients the incident involves (each within the reporter's reach when reported).
    #[schema(required = false)]
    pub client_ids: Vec<String>,
    /// The report ended every session of its reporter (their own credentials compromised):
    /// they log in again.
    #[schema(required = false)]
    pub sessions_ended: bool,
    /// The user or API client who reported it.
    #[schema(required = false, format = Uuid)]
    pub reported_by: String,
    #[schema(required = false, format = Uuid)]
    pub reporter_organisation_id: String,
    #[schema(required = false)]
    pub reported_at: DateTime<Utc>,
    #[schema(required = false)]
    pub status: IncidentStatus,
    /// The breach opened from the report.
    #[schema(required = false, format = Uuid)]
    pub breach_id: Option<String>,
    #[schema(required = false)]
    pub updated_at: DateTime<Utc>,
    #[schema(required = false)]
    pub version: i32,
}

impl IncidentReportRecord {
    fn of(row: IncidentReportRow) -> ApiResult<Self> {
        Ok(Self {
            kind: IncidentKind::from_stored(&row.kind)?,
            status: IncidentStatus::from_stored(&row.status)?,
            involved_user_ids: parse_json(&row.involved_user_ids)?,
            client_ids: parse_json(&row.client_ids)?,
            occurred_at: row.occurred_at.map(utc),
            reported_at: utc(row.reported_at),
            updated_at: utc(row.updated_at),
            id: row.id,
            description: row.description,
            sessions_ended: row.sessions_ended,
            reported_by: row.reported_by,
            reporter_organisation_id: row.reporter_organisation_id,
            breach_id: row.breach_id,
            version: row.version,
        })
    }
}

impl Disclose for IncidentReportRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

/// The clients `records` name, for the audit row: a report that shows its clients is a
/// disclosure about each of them.
fn named_clients(permit: &Permit, records: &[IncidentReportRecord]) -> Vec<String> {
    if !permit.can_read("client_ids") {
        return Vec::new();
    }
    records
        .iter()
        .flat_map(|record| record.client_ids.iter().cloned())
        .collect()
}

fn one(permit: &Permit, record: IncidentReportRecord) -> ApiResult<Disclosed> {
    let clients = named_clients(permit, std::slice::from_ref(&record));
    Ok(disclosure::one(permit, &record)?.about_clients(clients))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentReport {
    pub kind: IncidentKind,
    /// What happened, as far as the reporter knows.
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub description: String,
    /// When it happened, if known; not in the future.
    pub occurred_at: Option<Timestamp>,
    /// Users or API clients involved: existing ones the reporter may name (the `create`
    /// scope: its own organisation's, or any). For `credentials_compromised`, none (or the
    /// reporter) means the reporter's own credentials, and ends the reporter's sessions.
    #[serde(default)]
    #[validate(length(max = 20))]
    #[schema(max_items = 20)]
    pub involved_user_ids: Vec<String>,
    /// Clients involved: clients the reporter can reach.
    #[serde(default)]
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub client_ids: Vec<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentReportProgress {
    /// The next status: `assessing` or `closed` (`breach_opened` comes from opening a breach).
    pub status: IncidentStatus,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentReportListParams {
    #[param(inline)]
    pub status: Option<IncidentStatus>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// Whether the report is still open: `closed` and `breach_opened` are final.
fn is_open(status: IncidentStatus) -> bool {
    matches!(status, IncidentStatus::Received | IncidentStatus::Assessing)
}

fn report_closed(status: IncidentStatus) -> ApiError {
    ApiError::conflict(
        "incident_report_closed",
        format!(
            "The incident report is {}: it cannot change.",
            status.as_str()
        ),
    )
}

/// The open report `id` that `permit` reaches, for a change: 404 when out of reach, 409 when
/// closed.
pub fn find_open(
    conn: &mut DbConnection,
    permit: &Permit,
    id: &str,
) -> ApiResult<Option<IncidentReportRow>> {
    let Some(row) = queries::find(conn, scope::incident_reports(permit), id)? else {
        return Ok(None);
    };
    let status = IncidentStatus::from_stored(&row.status)?;
    if !is_open(status) {
        return Err(report_closed(status));
    }
    Ok(Some(row))
}

/// List incident reports
///
/// Oldest first: the caller's own reports, or (privacy officer) every report.
#[utoipa::path(tag = "incident-reports", params(IncidentReportListParams), responses(
    (status = 200, body = Page<IncidentReportRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/incident-reports")]
async fn list_incident_reports(
    ctx: Ctx,
    params: Params<IncidentReportListParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::IncidentReport, Action::Read)?;
    let params = params.parse(&permit)?;
    if params.status.is_some() {
        permit.check_filterable("status")?;
    }
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    ctx.db()
        .read(move |conn| {
            let mut rows = queries::list(
                conn,
                scope::incident_reports(&permit),
                params.status,
                page.after.as_deref(),
                page.fetch(),
            )?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let records = rows
                .into_iter()
                .map(IncidentReportRecord::of)
                .collect::<ApiResult<Vec<_>>>()?;
            let clients = named_clients(&permit, &records);
            Ok(disclosure::page(&permit, &records, next_cursor)?.about_clients(clients))
        })
        .await
}

/// Report an incident
///
/// Anyone signed in: suspected or confirmed misuse, credentials compromised, a data breach, a
/// lost device. Raises an `incident_reported` alert to the privacy officer (and the alert
/// webhook) with the report. `credentials_compromised` naming no other user than the reporter
/// ends every session of the reporter at once (`sessions_ended: true`): this token stops
/// working, and the reporter logs in again (after changing their password or, for an API
/// client, once a new secret is issued). A client or user the reporter may not name is 422,
/// exactly as one that does not exist; nothing is stored.
#[utoipa::path(tag = "incident-reports", request_body = NewIncidentReport, responses(
    (status = 201, body = IncidentReportRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/incident-reports")]
async fn report_incident(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::IncidentReport, Action::Create)?;
    let reader = ctx.permit(Resource::IncidentReport, Action::Read)?;
    let new: NewIncidentReport = write_body(&permit, body)?;
    // Only the clients the caller could read are theirs to name; without a client read (or,
    // for a role that needs one, without a purpose of use) none is.
    let client_reach = ctx.permit(Resource::Client, Action::Read).ok();
    let now = ctx.now();
    let mut checks = FieldChecks::default();
    checks.require(
        new.occurred_at.is_none_or(|at| at.get() <= now),
        "occurred_at",
        "must not be in the future",
    );
    let involved = uuids_of(&mut checks, "involved_user_ids", &new.involved_user_ids);
    let clients = uuids_of(&mut checks, "client_ids", &new.client_ids);
    let caller = ctx.caller.clone();
    // The reporter's own credentials: no one else named, or the reporter among those named.
    let own_credentials = new.kind == IncidentKind::CredentialsCompromised
        && (involved.is_empty() || involved.iter().any(|(_, id)| *id == caller.user_id));
    let involved_ids: BTreeSet<String> = involved.iter().map(|(_, id)| id.clone()).collect();
    let client_ids: BTreeSet<String> = clients.iter().map(|(_, id)| id.clone()).collect();
    let row = IncidentReportRow {
        id: new_id(),
        kind: new.kind.as_str().to_owned(),
        description: new.description,
        occurred_at: new.occurred_at.map(Timestamp::get),
        involved_user_ids: serde_json::to_string(&involved_ids).map_err(ApiError::internal)?,
        client_ids: serde_json::to_string(&client_ids).map_err(ApiError::internal)?,
        sessions_ended: own_credentials,
        reported_by: caller.user_id.clone(),
        reporter_organisation_id: caller.organisation_id.clone(),
        reported_at: now,
        status: IncidentStatus::Received.as_str().to_owned(),
        breach_id: None,
        updated_at: now,
        version: 1,
    };
    ctx.write(move |conn| {
        for (index, id) in &involved {
            let nameable = directory::find_principal(conn, scope::users(&permit), id)?.is_some();
            checks.require(
                nameable,
                format!("involved_user_ids[{index}]"),
                "is not a user or API client you may name",
            );
        }
        let ids: Vec<String> = client_ids.iter().cloned().collect();
        let reachable = match &client_reach {
            Some(reach) => client_queries::reachable_ids(conn, scope::clients(reach), &ids)?,
            None => Default::default(),
        };
        for (index, id) in &clients {
            checks.require(
                reachable.contains(id),
                format!("client_ids[{index}]"),
                "is not a client you can reach",
            );
        }
        checks.finish()?;
        if own_credentials {
            directory::end_sessions(conn, &caller.user_id, None, SESSIONS_ENDED_REASON, now)?;
        }
        queries::insert(conn, &row)?;
        let alert = reported(&row, caller.kind.as_str());
        let location = format!("/api/v1/incident-reports/{}", row.id);
        let record = IncidentReportRecord::of(row)?;
        let clients = named_clients(&reader, std::slice::from_ref(&record));
        Ok(disclosure::created(&reader, &record, location)?
            .about_clients(clients)
            .raising(alert))
    })
    .await
}

/// The alert a report raises: who reported what, never its description (which the webhook
/// would carry out of the service).
fn reported(row: &IncidentReportRow, principal_kind: &str) -> ChangeAlert {
    let sessions = if row.sessions_ended {
        " Every session of the reporter was ended."
    } else {
        ""
    };
    ChangeAlert {
        kind: "incident_reported",
        reason: format!(
            "{principal_kind} {} of organisation {} reported incident {} ({}).{sessions}",
            row.reported_by, row.reporter_organisation_id, row.id, row.kind
        ),
    }
}

/// Get an incident report
///
/// The caller's own, or (privacy officer) any; another's is 404.
#[utoipa::path(tag = "incident-reports", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = IncidentReportRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/incident-reports/{id}")]
async fn get_incident_report(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::IncidentReport, Action::Read)?;
    let id = path_id(&id)?;
    ctx.db()
        .read(move |conn| {
            let row = queries::find(conn, scope::incident_reports(&permit), &id)?
                .ok_or(ApiError::NotFound)?;
            one(&permit, IncidentReportRecord::of(row)?)
        })
        .await
}

/// Move an incident report on
///
/// Needs `If-Match`. `received` may go to `assessing` or `closed`, `assessing` to `closed`;
/// `closed` and `breach_opened` are final (409 `incident_report_closed`). `breach_opened` is
/// set by opening a breach from the report (`incident_report_ids` on `POST /breaches`).
#[utoipa::path(tag = "incident-reports", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = IncidentReportProgress, responses(
    (status = 200, body = IncidentReportRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/incident-reports/{id}")]
async fn progress_incident_report(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::IncidentReport, Action::Update)?;
    let reader = ctx.permit(Resource::IncidentReport, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let change: IncidentReportProgress = write_body(&permit, body)?;
    match change.status {
        IncidentStatus::Received => {
            return Err(ApiError::invalid(
                "status",
                "a report cannot go back to received",
            ));
        }
        IncidentStatus::BreachOpened => {
            return Err(ApiError::invalid(
                "status",
                "is set by opening a breach from the report (incident_report_ids on POST /breaches)",
            ));
        }
        IncidentStatus::Assessing | IncidentStatus::Closed => {}
    }
    let now: NaiveDateTime = ctx.now();
    ctx.write(move |conn| {
        let current = find_open(conn, &permit, &id)?.ok_or(ApiError::NotFound)?;
        if current.version != version {
            return Err(ApiError::PreconditionFailed);
        }
        if current.status == change.status.as_str() {
            return Err(ApiError::invalid(
                "status",
                "the report has this status already",
            ));
        }
        if !queries::set_status(conn, &id, version, change.status, now)? {
            return Err(ApiError::PreconditionFailed);
        }
        let row = queries::find(conn, scope::incident_reports(&reader), &id)?
            .ok_or(ApiError::NotFound)?;
        one(&reader, IncidentReportRecord::of(row)?)
    })
    .await
}
