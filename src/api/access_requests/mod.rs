//! `/access-requests`: a client's request to see their file (IPP 6). Each is due a statutory
//! period after receipt (`CASEBRIDGE_REQUEST_RESPONSE_DAYS`) and moves `received` ->
//! `in_progress` -> `completed` | `refused`. Its bundle ([`bundle`]) is everything the
//! department holds about the client, read under the request as purpose of use.
mod bundle;

use actix_web::{HttpRequest, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::client_requests::{self, ClientRequest, due_on, received_by};
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{
    Body, DueListParams, Params, expected_version, field_id, new_id, path_id, utc,
};
use crate::authz::{Action, Resource};
use crate::db::DbConnection;
use crate::db::requests::{self as queries, AccessRequestRow, OPEN_ACCESS, RequestFilter};
use crate::domain::names::RequesterName;
use crate::domain::{AccessRequestStatus, Date, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};
use crate::sealing::Keyring;

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_access_requests)
        .service(record_access_request)
        .service(get_access_request)
        .service(progress_access_request)
        .service(bundle::access_request_bundle);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub received_on: NaiveDate,
    /// Who asked: the client, or who acts for them.
    #[schema(required = false)]
    pub requester: String,
    /// The requester's identity (and authority to act for the client) was checked. Needed
    /// before the file is released.
    #[schema(required = false)]
    pub identity_verified: bool,
    #[schema(required = false)]
    pub status: AccessRequestStatus,
    /// When the answer is due (`CASEBRIDGE_REQUEST_RESPONSE_DAYS` after receipt).
    #[schema(required = false)]
    pub due_on: NaiveDate,
    /// Still open after its due date.
    #[schema(required = false)]
    pub overdue: bool,
    /// Why the request was refused (as told to the requester), or a note on its completion.
    #[schema(required = false)]
    pub reason: Option<String>,
    #[schema(required = false, format = Uuid)]
    pub recorded_by: String,
    #[schema(required = false)]
    pub recorded_at: DateTime<Utc>,
    #[schema(required = false)]
    pub updated_at: DateTime<Utc>,
    #[schema(required = false)]
    pub version: i32,
}

impl AccessRequestRecord {
    fn of(row: AccessRequestRow, today: NaiveDate) -> ApiResult<Self> {
        let status = AccessRequestStatus::from_stored(&row.status)?;
        Ok(Self {
            overdue: OPEN_ACCESS.contains(&status) && row.due_on < today,
            status,
            id: row.id,
            client_id: row.client_id,
            received_on: row.received_on,
            requester: row.requester,
            identity_verified: row.identity_verified,
            due_on: row.due_on,
            reason: row.reason,
            recorded_by: row.recorded_by,
            recorded_at: utc(row.recorded_at),
            updated_at: utc(row.updated_at),
            version: row.version,
        })
    }
}

impl ClientRequest for AccessRequestRow {
    type Record = AccessRequestRecord;
    const COLLECTION: &'static str = "access-requests";
    const RESOURCE: Resource = Resource::AccessRequest;

    fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Self>> {
        queries::find_access(conn, id)
    }
    fn list(
        conn: &mut DbConnection,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        queries::list_access(conn, filter, after, limit)
    }
    fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        queries::insert_access(conn, self)
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn record(self, today: NaiveDate, _: &Keyring) -> ApiResult<AccessRequestRecord> {
        AccessRequestRecord::of(self, today)
    }
}

impl Disclose for AccessRequestRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    #[schema(format = Uuid)]
    pub client_id: String,
    /// Not in the future.
    pub received_on: Date,
    /// Who asked: the client, or who acts for them (and on what authority). Follows the name
    /// rule (`domain::names`).
    #[schema(value_type = String, min_length = 1, max_length = 500)]
    pub requester: RequesterName,
    pub identity_verified: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestProgress {
    /// The next status: `in_progress`, `completed` or `refused`.
    pub status: Option<AccessRequestStatus>,
    /// `true` once the requester's identity is checked; it cannot be unset.
    pub identity_verified: Option<bool>,
    /// Required to refuse (the reasons told to the requester); may note a completion.
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub reason: Option<String>,
}

/// List access requests
///
/// Oldest first. `overdue=true` lists open requests past their due date.
#[utoipa::path(tag = "privacy", params(DueListParams<AccessRequestStatus>), responses(
    (status = 200, body = Page<AccessRequestRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/access-requests")]
async fn list_access_requests(
    ctx: Ctx,
    params: Params<DueListParams<AccessRequestStatus>>,
) -> ApiResult<Disclosed> {
    client_requests::page::<AccessRequestRow, _>(&ctx, params).await
}

/// Record a client's request for access to their file
///
/// Its answer is due `CASEBRIDGE_REQUEST_RESPONSE_DAYS` (default 30) after receipt.
#[utoipa::path(tag = "privacy", request_body = NewAccessRequest, responses(
    (status = 201, body = AccessRequestRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/access-requests")]
async fn record_access_request(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    // Refused before the body is looked at.
    let permit = ctx.permit(Resource::AccessRequest, Action::Create)?;
    let new: NewAccessRequest = body.parse(&permit)?;
    let client_id = field_id("client_id", &new.client_id)?;
    let today = ctx.state.clock.today();
    let received_on = received_by(new.received_on.get(), today)?;
    let recorder = ctx.recorder();
    let row = AccessRequestRow {
        id: new_id(),
        client_id,
        received_on,
        requester: new.requester.into(),
        identity_verified: new.identity_verified,
        status: AccessRequestStatus::Received.as_str().to_owned(),
        due_on: due_on(&ctx, received_on),
        reason: None,
        recorded_by: recorder.by,
        recorded_at: recorder.at,
        updated_at: recorder.at,
        version: 1,
    };
    client_requests::create(&ctx, row).await
}

/// Get an access request
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = AccessRequestRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/access-requests/{id}")]
async fn get_access_request(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    client_requests::one::<AccessRequestRow>(&ctx, &id).await
}

/// Move an access request on
///
/// Needs `If-Match`. `received` may go to `in_progress`, `completed` or `refused`;
/// `in_progress` to `completed` or `refused`; those two are final (409 `request_closed`).
/// Refusing needs the `reason`; completing needs the requester's identity verified (409
/// `identity_not_verified`), which this call may also record.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = AccessRequestProgress, responses(
    (status = 200, body = AccessRequestRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/access-requests/{id}")]
async fn progress_access_request(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AccessRequest, Action::Update)?;
    let reader = ctx.permit(Resource::AccessRequest, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let change: AccessRequestProgress = body.parse(&permit)?;
    match (change.status, change.identity_verified, &change.reason) {
        (None, None, _) => {
            return Err(ApiError::invalid(
                "body",
                "give a status or identity_verified",
            ));
        }
        (_, Some(false), _) => {
            return Err(ApiError::invalid(
                "identity_verified",
                "a verified identity stays verified",
            ));
        }
        (Some(AccessRequestStatus::Received), _, _) => {
            return Err(ApiError::invalid(
                "status",
                "a request cannot go back to received",
            ));
        }
        (Some(AccessRequestStatus::Refused), _, None) => {
            return Err(ApiError::invalid(
                "reason",
                "is required to refuse a request",
            ));
        }
        (None | Some(AccessRequestStatus::InProgress), _, Some(_)) => {
            return Err(ApiError::invalid(
                "reason",
                "is given on completing or refusing a request",
            ));
        }
        _ => {}
    }
    let (today, now) = (ctx.state.clock.today(), ctx.now());
    ctx.write(move |conn| {
        let current = queries::find_access(conn, &id)?.ok_or(ApiError::NotFound)?;
        if current.version != version {
            return Err(ApiError::PreconditionFailed);
        }
        let status = AccessRequestStatus::from_stored(&current.status)?;
        if !OPEN_ACCESS.contains(&status) {
            return Err(ApiError::conflict(
                "request_closed",
                format!("The request is {}: it cannot change.", status.as_str()),
            ));
        }
        if change.status == Some(status) {
            return Err(ApiError::invalid(
                "status",
                "the request has this status already",
            ));
        }
        let identity_verified = current.identity_verified || change.identity_verified.is_some();
        let next = change.status.unwrap_or(status);
        if next == AccessRequestStatus::Completed && !identity_verified {
            return Err(identity_not_verified());
        }
        if !queries::progress_access(
            conn,
            &id,
            version,
            next,
            identity_verified,
            change.reason.as_deref(),
            now,
        )? {
            return Err(ApiError::PreconditionFailed);
        }
        let row = queries::find_access(conn, &id)?.ok_or(ApiError::NotFound)?;
        disclosure::one(&reader, &AccessRequestRecord::of(row, today)?)
    })
    .await
}

fn identity_not_verified() -> ApiError {
    ApiError::conflict(
        "identity_not_verified",
        "The requester's identity has not been verified: record it with PATCH first.",
    )
}
