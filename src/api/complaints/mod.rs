//! `/complaints`: privacy complaints, with a response due date and a status workflow:
//! `received` -> `investigating` -> `resolved` (with its outcome), or `withdrawn` by the
//! complainant at any point before resolution.
use actix_web::{HttpRequest, get, patch, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{
    Body, DueListParams, PageRequest, Params, expected_version, new_id, optional_field_id, path_id,
    utc,
};
use crate::authz::{Action, Resource, scope};
use crate::db::clients as client_queries;
use crate::db::complaints::{self as queries, ComplaintFilter, ComplaintRow};
use crate::domain::{ComplaintChannel, ComplaintStatus, Date, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_complaints)
        .service(record_complaint)
        .service(get_complaint)
        .service(progress_complaint);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintRecord {
    #[schema(format = Uuid)]
    pub id: String,
    /// The client the complaint is about, if it is about one.
    #[schema(required = false, format = Uuid)]
    pub client_id: Option<String>,
    #[schema(required = false)]
    pub received_on: NaiveDate,
    #[schema(required = false)]
    pub channel: ComplaintChannel,
    #[schema(required = false)]
    pub summary: String,
    #[schema(required = false)]
    pub status: ComplaintStatus,
    /// When the response is due (`CASEBRIDGE_COMPLAINT_RESPONSE_DAYS` after receipt).
    #[schema(required = false)]
    pub due_on: NaiveDate,
    /// Still open after its due date.
    #[schema(required = false)]
    pub overdue: bool,
    #[schema(required = false)]
    pub outcome: Option<String>,
    #[schema(required = false, format = Uuid)]
    pub recorded_by: String,
    #[schema(required = false)]
    pub recorded_at: DateTime<Utc>,
    #[schema(required = false)]
    pub updated_at: DateTime<Utc>,
    #[schema(required = false)]
    pub version: i32,
}

impl ComplaintRecord {
    fn of(row: ComplaintRow, today: NaiveDate) -> ApiResult<Self> {
        let status = ComplaintStatus::from_stored(&row.status)?;
        Ok(Self {
            overdue: is_open(status) && row.due_on < today,
            status,
            channel: ComplaintChannel::from_stored(&row.channel)?,
            id: row.id,
            client_id: row.client_id,
            received_on: row.received_on,
            summary: row.summary,
            due_on: row.due_on,
            outcome: row.outcome,
            recorded_by: row.recorded_by,
            recorded_at: utc(row.recorded_at),
            updated_at: utc(row.updated_at),
            version: row.version,
        })
    }
}

impl Disclose for ComplaintRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

fn is_open(status: ComplaintStatus) -> bool {
    matches!(
        status,
        ComplaintStatus::Received | ComplaintStatus::Investigating
    )
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComplaint {
    /// The client the complaint is about, if any.
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    /// Not in the future.
    pub received_on: Date,
    pub channel: ComplaintChannel,
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub summary: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintProgress {
    /// The next status: `investigating`, `resolved` or `withdrawn`.
    pub status: ComplaintStatus,
    /// Required to resolve (what was found and done, as told to the complainant); may say
    /// why a complaint was withdrawn; not given otherwise.
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub outcome: Option<String>,
}

/// List privacy complaints
///
/// Oldest first. `overdue=true` lists open complaints past their due date.
#[utoipa::path(tag = "privacy", params(DueListParams<ComplaintStatus>), responses(
    (status = 200, body = Page<ComplaintRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/complaints")]
async fn list_complaints(
    ctx: Ctx,
    params: Params<DueListParams<ComplaintStatus>>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Complaint, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let today = ctx.state.clock.today();
    let filter = ComplaintFilter {
        status: params.status,
        client_id: optional_field_id("client_id", params.client_id.as_deref())?,
        overdue_on: params.overdue.unwrap_or(false).then_some(today),
    };
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let mut rows = queries::list(conn, &filter, page.after.as_deref(), page.fetch())?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let records = rows
                .into_iter()
                .map(|row| ComplaintRecord::of(row, today))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((records, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Record a privacy complaint
///
/// Its response is due `CASEBRIDGE_COMPLAINT_RESPONSE_DAYS` (default 30) after receipt.
#[utoipa::path(tag = "privacy", request_body = NewComplaint, responses(
    (status = 201, body = ComplaintRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/complaints")]
async fn record_complaint(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Complaint, Action::Create)?;
    let reader = ctx.permit(Resource::Complaint, Action::Read)?;
    let new: NewComplaint = body.parse(&permit)?;
    let client_id = optional_field_id("client_id", new.client_id.as_deref())?;
    let today = ctx.state.clock.today();
    if new.received_on.get() > today {
        return Err(ApiError::invalid(
            "received_on",
            "must not be in the future",
        ));
    }
    let days = i64::from(ctx.state.config.privacy.complaint_response_days);
    let recorder = ctx.recorder();
    let row = ComplaintRow {
        id: new_id(),
        client_id,
        received_on: new.received_on.get(),
        channel: new.channel.as_str().to_owned(),
        summary: new.summary,
        status: ComplaintStatus::Received.as_str().to_owned(),
        due_on: new.received_on.get() + Duration::days(days),
        outcome: None,
        recorded_by: recorder.by,
        recorded_at: recorder.at,
        updated_at: recorder.at,
        version: 1,
    };
    ctx.write(move |conn| {
        if let Some(client_id) = &row.client_id
            && client_queries::find(conn, scope::clients(&permit), client_id)?.is_none()
        {
            return Err(ApiError::invalid("client_id", "is not a client"));
        }
        queries::insert(conn, &row)?;
        let location = format!("/api/v1/complaints/{}", row.id);
        disclosure::created(&reader, &ComplaintRecord::of(row, today)?, location)
    })
    .await
}

/// Get a privacy complaint
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = ComplaintRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/complaints/{id}")]
async fn get_complaint(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Complaint, Action::Read)?;
    let id = path_id(&id)?;
    let today = ctx.state.clock.today();
    let row = ctx
        .db()
        .read(move |conn| queries::find(conn, &id)?.ok_or(ApiError::NotFound))
        .await?;
    disclosure::one(&permit, &ComplaintRecord::of(row, today)?)
}

/// Move a privacy complaint on
///
/// Needs `If-Match`. `received` may go to `investigating`, `resolved` or `withdrawn`;
/// `investigating` to `resolved` or `withdrawn`; `resolved` and `withdrawn` are final (409
/// `complaint_closed`). Resolving needs the `outcome`.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = ComplaintProgress, responses(
    (status = 200, body = ComplaintRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/complaints/{id}")]
async fn progress_complaint(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Complaint, Action::Update)?;
    let reader = ctx.permit(Resource::Complaint, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let change: ComplaintProgress = body.parse(&permit)?;
    match (change.status, &change.outcome) {
        (ComplaintStatus::Received, _) => {
            return Err(ApiError::invalid(
                "status",
                "a complaint cannot go back to received",
            ));
        }
        (ComplaintStatus::Resolved, None) => {
            return Err(ApiError::invalid(
                "outcome",
                "is required to resolve a complaint",
            ));
        }
        (ComplaintStatus::Investigating, Some(_)) => {
            return Err(ApiError::invalid(
                "outcome",
                "is given on resolving or withdrawing a complaint",
            ));
        }
        _ => {}
    }
    let (today, now) = (ctx.state.clock.today(), ctx.now());
    ctx.write(move |conn| {
        let current = queries::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        if current.version != version {
            return Err(ApiError::PreconditionFailed);
        }
        let status = ComplaintStatus::from_stored(&current.status)?;
        if !is_open(status) {
            return Err(ApiError::conflict(
                "complaint_closed",
                format!("The complaint is {}: it cannot change.", status.as_str()),
            ));
        }
        if status == change.status {
            return Err(ApiError::invalid(
                "status",
                "the complaint has this status already",
            ));
        }
        if !queries::progress(
            conn,
            &id,
            version,
            change.status,
            change.outcome.as_deref(),
            now,
        )? {
            return Err(ApiError::PreconditionFailed);
        }
        let row = queries::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        disclosure::one(&reader, &ComplaintRecord::of(row, today)?)
    })
    .await
}
