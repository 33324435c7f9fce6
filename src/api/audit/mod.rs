//! Reading the audit trail: the events themselves (auditors), one client's access log
//! (auditors, and privacy officers with a purpose of use), and a streamed export. Reading the
//! trail is itself recorded like any other request.
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{PageRequest, Params, optional_field_id, path_id, utc};
use crate::audit::Disclosure;
use crate::audit::chain::AuditEvent;
use crate::authz::{Action, Permit, Resource};
use crate::db::Database;
use crate::db::audit::{AuditFilter, list};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_events)
        .service(export_events)
        .service(client_access_log);
}

/// One audited request.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub occurred_at: DateTime<Utc>,
    /// Also returned to the caller as `X-Request-Id`.
    #[schema(required = false)]
    pub request_id: String,
    #[schema(required = false, format = Uuid)]
    pub actor_user_id: Option<String>,
    #[schema(required = false, format = Uuid)]
    pub actor_organisation_id: Option<String>,
    #[schema(required = false)]
    pub actor_roles: Vec<String>,
    /// `user` or `anonymous`.
    #[schema(required = false)]
    pub actor_kind: String,
    #[schema(required = false)]
    pub method: String,
    /// The route template, such as `/api/v1/clients/{id}`.
    #[schema(required = false)]
    pub route: String,
    #[schema(required = false)]
    pub path: String,
    #[schema(required = false)]
    pub status: i32,
    /// `allowed`, `denied` or `error`.
    #[schema(required = false)]
    pub outcome: String,
    /// The problem code of a refusal.
    #[schema(required = false)]
    pub reason: Option<String>,
    #[schema(required = false)]
    pub resource_type: Option<String>,
    #[schema(required = false)]
    pub resource_id: Option<String>,
    /// Every client whose data the response disclosed.
    #[schema(required = false)]
    pub client_ids: Vec<String>,
    /// The fields disclosed.
    #[schema(required = false)]
    pub fields: Vec<String>,
    #[schema(required = false)]
    pub purpose_of_use: Option<String>,
    #[schema(required = false)]
    pub attempted_username: Option<String>,
    #[schema(required = false)]
    pub ip: Option<String>,
    #[schema(required = false)]
    pub user_agent: Option<String>,
    #[schema(required = false)]
    pub duration_ms: i64,
    /// The client a refused or failed request aimed at (by its path: the client, or the
    /// client of the case or note), whose data it did not disclose.
    #[schema(required = false, format = Uuid)]
    pub attempted_client_id: Option<String>,
    /// Anonymous requests from the same address refused (429) since its previous such row,
    /// counted here instead of recorded one by one.
    #[schema(required = false)]
    pub also_refused: Option<i64>,
    /// The trace id of the caller's W3C `traceparent`, when it sent a valid one.
    #[schema(required = false)]
    pub trace_id: Option<String>,
    /// The caller's own `X-Request-Id`, when it sent a UUID (the service's own id for the
    /// request is `request_id`).
    #[schema(required = false, format = Uuid)]
    pub caller_request_id: Option<String>,
    /// The fields a write changed (its values are in the record's change history).
    #[schema(required = false)]
    pub changed_fields: Vec<String>,
    /// The hash chain the event belongs to (one per service instance).
    #[schema(required = false, format = Uuid)]
    pub chain_id: String,
    #[schema(required = false)]
    pub sequence: i64,
}

impl TryFrom<AuditEvent> for AuditEventRecord {
    type Error = anyhow::Error;

    fn try_from(event: AuditEvent) -> anyhow::Result<Self> {
        Ok(Self {
            id: event.id,
            occurred_at: utc(event.occurred_at),
            request_id: event.request_id,
            actor_user_id: event.actor_user_id,
            actor_organisation_id: event.actor_organisation_id,
            actor_roles: serde_json::from_str(&event.actor_roles)?,
            actor_kind: event.actor_kind,
            method: event.method,
            route: event.route,
            path: event.path,
            status: event.status,
            outcome: event.outcome,
            reason: event.reason,
            resource_type: event.resource_type,
            resource_id: event.resource_id,
            client_ids: serde_json::from_str(&event.client_ids)?,
            fields: serde_json::from_str(&event.fields)?,
            purpose_of_use: event.purpose_of_use,
            attempted_username: event.attempted_username,
            ip: event.ip,
            user_agent: event.user_agent,
            duration_ms: event.duration_ms,
            attempted_client_id: event.attempted_client_id,
            also_refused: event.also_refused,
            trace_id: event.trace_id,
            caller_request_id: event.caller_request_id,
            changed_fields: event
                .changed_fields
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?
                .unwrap_or_default(),
            chain_id: event.chain_id,
            sequence: event.sequence,
        })
    }
}

impl Disclose for AuditEventRecord {
    fn id(&self) -> &str {
        &self.id
    }
    /// An event names clients but holds none of their data.
    fn client_id(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    Denied,
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditEventParams {
    #[param(format = Uuid)]
    pub actor_user_id: Option<String>,
    #[param(format = Uuid)]
    pub actor_organisation_id: Option<String>,
    /// Events that disclosed this client, and refused or failed requests that aimed at it
    /// (`attempted_client_id`).
    #[param(format = Uuid)]
    pub client_id: Option<String>,
    #[param(inline)]
    pub outcome: Option<Outcome>,
    /// A route template, such as `/api/v1/clients/{id}`.
    pub route: Option<String>,
    /// From this time, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Up to this time, exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessLogParams {
    /// From this time, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Up to this time, exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// From this time, inclusive.
    pub from: DateTime<Utc>,
    /// Up to this time, exclusive.
    pub to: DateTime<Utc>,
}

async fn page_of(
    db: &Database,
    permit: &Permit,
    filter: AuditFilter,
    page: PageRequest,
) -> ApiResult<Disclosed> {
    let request = page.clone();
    let mut rows = db
        .read(move |conn| {
            Ok(list(
                conn,
                &filter,
                request.after.as_deref(),
                request.fetch(),
            )?)
        })
        .await?;
    let next_cursor = page.finish(&mut rows, |row| &row.id);
    let records = rows
        .into_iter()
        .map(AuditEventRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    disclosure::page(permit, &records, next_cursor)
}

/// List audit events
///
/// Newest first. Filters combine.
#[utoipa::path(tag = "audit", params(AuditEventParams), responses(
    (status = 200, body = Page<AuditEventRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/audit/events")]
async fn list_events(ctx: Ctx, params: Params<AuditEventParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AuditEvent, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let filter = AuditFilter {
        actor_user_id: optional_field_id("actor_user_id", params.actor_user_id.as_deref())?,
        actor_organisation_id: optional_field_id(
            "actor_organisation_id",
            params.actor_organisation_id.as_deref(),
        )?,
        client_id: optional_field_id("client_id", params.client_id.as_deref())?,
        disclosed_only: false,
        outcome: params.outcome.map(|outcome| outcome.as_str().to_owned()),
        route: params.route,
        from: params.from.map(|from| from.naive_utc()),
        to: params.to.map(|to| to.naive_utc()),
    };
    for (field, used) in [
        ("actor_user_id", filter.actor_user_id.is_some()),
        (
            "actor_organisation_id",
            filter.actor_organisation_id.is_some(),
        ),
        ("client_ids", filter.client_id.is_some()),
        ("outcome", filter.outcome.is_some()),
        ("route", filter.route.is_some()),
        ("occurred_at", filter.from.is_some() || filter.to.is_some()),
    ] {
        if used {
            permit.check_filterable(field)?;
        }
    }
    page_of(ctx.db(), &permit, filter, page).await
}

/// A client's access log
///
/// Who accessed this client's data, when, from which organisation, which fields and with
/// what stated purpose; and who tried and was refused (`attempted_client_id`, nothing
/// disclosed). Newest first.
#[utoipa::path(tag = "audit", params(("id" = String, Path, format = Uuid), ("X-Purpose-Of-Use" = Option<String>, Header, description = "Required for privacy officers"), AccessLogParams), responses(
    (status = 200, body = Page<AuditEventRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/clients/{id}/access-log")]
async fn client_access_log(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<AccessLogParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AuditEvent, Action::ReadClientHistory)?;
    let client_id = path_id(&id)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let filter = AuditFilter {
        client_id: Some(client_id.clone()),
        from: params.from.map(|from| from.naive_utc()),
        to: params.to.map(|to| to.naive_utc()),
        ..AuditFilter::default()
    };
    Ok(page_of(ctx.db(), &permit, filter, page)
        .await?
        .about_clients([client_id]))
}

/// Export audit events
///
/// Newline-delimited JSON, one event per line, newest first, streamed page by page.
#[utoipa::path(tag = "audit", params(ExportParams), responses(
    (status = 200, body = AuditEventRecord, content_type = "application/x-ndjson", description = "One event per line"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/audit/events/export")]
async fn export_events(
    ctx: Ctx,
    req: HttpRequest,
    params: Params<ExportParams>,
) -> ApiResult<HttpResponse> {
    const PAGE: i64 = 1000;
    let permit = ctx.permit(Resource::AuditEvent, Action::Export)?;
    let params = params.parse(&permit)?;
    if params.to <= params.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let filter = AuditFilter {
        from: Some(params.from.naive_utc()),
        to: Some(params.to.naive_utc()),
        ..AuditFilter::default()
    };
    req.extensions_mut().insert(Disclosure {
        resource_type: Some(Resource::AuditEvent.name()),
        fields: permit
            .readable()
            .iter()
            .map(|field| field.to_string())
            .collect(),
        ..Disclosure::default()
    });
    let db = ctx.db().clone();
    // One page in memory at a time: the cursor is the last event sent.
    let pages = futures_util::stream::try_unfold(Some(None::<String>), move |cursor| {
        let (db, filter, permit) = (db.clone(), filter.clone(), permit.clone());
        async move {
            let Some(after) = cursor else {
                return Ok::<_, actix_web::Error>(None);
            };
            let rows = db
                .read(move |conn| Ok(list(conn, &filter, after.as_deref(), PAGE)?))
                .await?;
            let next = (rows.len() as i64 == PAGE)
                .then(|| rows.last().map(|row| row.id.clone()))
                .flatten();
            let mut lines = Vec::new();
            for row in rows {
                let record = AuditEventRecord::try_from(row).map_err(ApiError::internal)?;
                serde_json::to_writer(&mut lines, &disclosure::masked(&permit, &record)?)
                    .map_err(ApiError::internal)?;
                lines.push(b'\n');
            }
            Ok(Some((Bytes::from(lines), next.map(Some))))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(pages))
}
