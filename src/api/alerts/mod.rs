//! `/alerts`: what the audit trail raised as it happened (denial bursts, restricted-client
//! reads, lockouts), for oversight staff to acknowledge.
use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, path_id, utc};
use crate::authz::{Action, Resource};
use crate::db::alerts::{self as queries, AlertRow};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config.service(list_alerts).service(acknowledge_alert);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRecord {
    #[schema(format = Uuid)]
    pub id: String,
    /// `denial_burst`, `restricted_client_read`, `lockout`, `password_reset`,
    /// `access_granted`, `secret_rotated` or `incident_reported`.
    #[schema(required = false)]
    pub kind: String,
    #[schema(required = false, format = Uuid)]
    pub actor_user_id: Option<String>,
    /// The user id, or for an unidentified caller the username tried or the address.
    #[schema(required = false)]
    pub subject: String,
    #[schema(required = false)]
    pub reason: String,
    /// The audit event that raised it.
    #[schema(required = false, format = Uuid)]
    pub event_id: String,
    #[schema(required = false)]
    pub raised_at: DateTime<Utc>,
    #[schema(required = false)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[schema(required = false, format = Uuid)]
    pub acknowledged_by: Option<String>,
    #[schema(required = false)]
    pub acknowledgement_note: Option<String>,
    /// Webhook delivery: `none` (no webhook), `pending`, `delivered` or `failed`.
    #[schema(required = false)]
    pub delivery: String,
    #[schema(required = false)]
    pub delivery_attempts: i32,
    #[schema(required = false)]
    pub version: i32,
}

impl From<AlertRow> for AlertRecord {
    fn from(row: AlertRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            actor_user_id: row.actor_user_id,
            subject: row.subject,
            reason: row.reason,
            event_id: row.event_id,
            raised_at: utc(row.raised_at),
            acknowledged_at: row.acknowledged_at.map(utc),
            acknowledged_by: row.acknowledged_by,
            acknowledgement_note: row.acknowledgement_note,
            delivery: row.delivery,
            delivery_attempts: row.delivery_attempts,
            version: row.version,
        }
    }
}

impl Disclose for AlertRecord {
    fn id(&self) -> &str {
        &self.id
    }
    /// An alert names clients but holds none of their data.
    fn client_id(&self) -> Option<&str> {
        None
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertListParams {
    /// `false`: only those nobody has acknowledged yet.
    pub acknowledged: Option<bool>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// What was found and done.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

/// List alerts
///
/// Oldest first.
#[utoipa::path(tag = "alerts", params(AlertListParams), responses(
    (status = 200, body = Page<AlertRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/alerts")]
async fn list_alerts(ctx: Ctx, params: Params<AlertListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Alert, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let (acknowledged, request) = (params.acknowledged, page.clone());
    let mut rows = ctx
        .db()
        .read(move |conn| {
            Ok(queries::list(
                conn,
                acknowledged,
                request.after.as_deref(),
                request.fetch(),
            )?)
        })
        .await?;
    let next_cursor = page.finish(&mut rows, |row| &row.id);
    let records: Vec<AlertRecord> = rows.into_iter().map(AlertRecord::from).collect();
    disclosure::page(&permit, &records, next_cursor)
}

/// Acknowledge an alert
///
/// Once: a second acknowledgement is 409 `alert_acknowledged`.
#[utoipa::path(tag = "alerts", params(("id" = String, Path, format = Uuid)), request_body = Acknowledgement, responses(
    (status = 200, body = AlertRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/alerts/{id}/acknowledge")]
async fn acknowledge_alert(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Alert, Action::Acknowledge)?;
    let reader = ctx.permit(Resource::Alert, Action::Read)?;
    let id = path_id(&id)?;
    let acknowledgement: Acknowledgement = body.parse(&permit)?;
    let (now, actor) = (ctx.now(), ctx.caller.user_id.clone());
    ctx.write(move |conn| {
        queries::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        if !queries::acknowledge(conn, &id, &actor, &acknowledgement.note, now)? {
            return Err(ApiError::Conflict {
                code: "alert_acknowledged",
                detail: "The alert has already been acknowledged.".into(),
            });
        }
        let row = queries::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        disclosure::one(&reader, &AlertRecord::from(row))
    })
    .await
}
