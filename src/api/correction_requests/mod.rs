//! `/correction-requests`: a client's request to correct a field of their file (IPP 7). It is
//! decided once: either the correction is written through the client write path (the
//! client's `If-Match`, the policy's `client, correct` line and its writable fields, the
//! audit row in the same transaction), or it is refused and the client's statement, if they
//! want one kept, goes with that field to every later reader of it.
use actix_web::{HttpRequest, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::client_requests::{self, ClientRequest, due_on, received_by};
use crate::api::clients::{self, types::ClientUpdate};
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::history;
use crate::api::request::{
    Body, DueListParams, Params, expected_version, field_id, new_id, path_id, utc, write_body,
};
use crate::authz::{Action, Resource};
use crate::db::DbConnection;
use crate::db::requests::{
    self as queries, CorrectionRequestRow, OPEN_CORRECTION, RequestFilter, StatementRow,
};
use crate::domain::{CorrectableField, CorrectionDecision, CorrectionStatus, Date, StoredAsText};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::sealing::{Keyring, SealedColumn};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_correction_requests)
        .service(record_correction_request)
        .service(get_correction_request)
        .service(decide_correction_request);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionRequestRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub received_on: NaiveDate,
    #[schema(required = false)]
    pub field: CorrectableField,
    /// The value asked for, as `PATCH /clients/{id}` would carry it.
    #[schema(required = false)]
    pub requested_value: Value,
    /// Why the client says the field is wrong.
    #[schema(required = false)]
    pub reason: String,
    #[schema(required = false)]
    pub status: CorrectionStatus,
    #[schema(required = false)]
    pub due_on: NaiveDate,
    /// Still undecided after its due date.
    #[schema(required = false)]
    pub overdue: bool,
    /// Why the correction was refused (as told to the client).
    #[schema(required = false)]
    pub refusal_reason: Option<String>,
    #[schema(required = false, format = Uuid)]
    pub recorded_by: String,
    #[schema(required = false)]
    pub recorded_at: DateTime<Utc>,
    #[schema(required = false, format = Uuid)]
    pub decided_by: Option<String>,
    #[schema(required = false)]
    pub decided_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub version: i32,
}

impl CorrectionRequestRecord {
    /// The record of a stored request as of `today`, its requested value opened.
    pub fn of(row: CorrectionRequestRow, today: NaiveDate, keyring: &Keyring) -> ApiResult<Self> {
        let status = CorrectionStatus::from_stored(&row.status)?;
        let requested_value = keyring.open(
            SealedColumn::CorrectionRequestedValue,
            &row.id,
            &row.requested_value,
        )?;
        Ok(Self {
            overdue: OPEN_CORRECTION.contains(&status) && row.due_on < today,
            status,
            field: CorrectableField::from_stored(&row.field)?,
            requested_value: serde_json::from_str(&requested_value).map_err(ApiError::internal)?,
            id: row.id,
            client_id: row.client_id,
            received_on: row.received_on,
            reason: row.reason,
            due_on: row.due_on,
            refusal_reason: row.refusal_reason,
            recorded_by: row.recorded_by,
            recorded_at: utc(row.recorded_at),
            decided_by: row.decided_by,
            decided_at: row.decided_at.map(utc),
            version: row.version,
        })
    }
}

/// A correction as the client update body that makes it.
fn update_body(field: CorrectableField, value: Value) -> Value {
    serde_json::json!({ field.as_str(): value })
}

impl ClientRequest for CorrectionRequestRow {
    type Record = CorrectionRequestRecord;
    const COLLECTION: &'static str = "correction-requests";
    const RESOURCE: Resource = Resource::CorrectionRequest;

    fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Self>> {
        queries::find_correction(conn, id)
    }
    fn list(
        conn: &mut DbConnection,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        queries::list_corrections(conn, filter, after, limit)
    }
    fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        queries::insert_correction(conn, self)
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn record(self, today: NaiveDate, keyring: &Keyring) -> ApiResult<CorrectionRequestRecord> {
        CorrectionRequestRecord::of(self, today, keyring)
    }
}

impl Disclose for CorrectionRequestRecord {
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
pub struct NewCorrectionRequest {
    #[schema(format = Uuid)]
    pub client_id: String,
    /// Default today; not in the future.
    pub received_on: Option<Date>,
    pub field: CorrectableField,
    /// The value asked for, as `PATCH /clients/{id}` would carry it (`null` to clear an
    /// optional field); checked as that update would be.
    pub requested_value: Value,
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionDecisionBody {
    pub decision: CorrectionDecision,
    /// Required to refuse: the reasons told to the client.
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub refusal_reason: Option<String>,
    /// On refusal, the client's statement that the field is wrong, to be kept with it and
    /// shown to everyone who reads that field.
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub statement: Option<String>,
}

/// List correction requests
///
/// Oldest first. `overdue=true` lists undecided requests past their due date.
#[utoipa::path(tag = "privacy", params(DueListParams<CorrectionStatus>), responses(
    (status = 200, body = Page<CorrectionRequestRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/correction-requests")]
async fn list_correction_requests(
    ctx: Ctx,
    params: Params<DueListParams<CorrectionStatus>>,
) -> ApiResult<Disclosed> {
    client_requests::page::<CorrectionRequestRow, _>(&ctx, params).await
}

/// Record a client's request to correct their file
///
/// The requested value is checked as the client update would check it (422 naming
/// `requested_value`). Its decision is due `CASEBRIDGE_REQUEST_RESPONSE_DAYS` (default 30)
/// after receipt.
#[utoipa::path(tag = "privacy", request_body = NewCorrectionRequest, responses(
    (status = 201, body = CorrectionRequestRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/correction-requests")]
async fn record_correction_request(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    // Refused before the body is looked at.
    let permit = ctx.permit(Resource::CorrectionRequest, Action::Create)?;
    let new: NewCorrectionRequest = body.parse(&permit)?;
    let client_id = field_id("client_id", &new.client_id)?;
    let today = ctx.state.clock.today();
    let received_on = received_by(new.received_on.map_or(today, Date::get), today)?;
    Body::from(update_body(new.field, new.requested_value.clone()))
        .parse::<ClientUpdate>(&permit)
        .map_err(as_requested_value)?;
    let recorder = ctx.recorder();
    let id = new_id();
    let row = CorrectionRequestRow {
        requested_value: ctx.keyring().seal(
            SealedColumn::CorrectionRequestedValue,
            &id,
            &new.requested_value.to_string(),
        )?,
        id,
        client_id,
        received_on,
        field: new.field.as_str().to_owned(),
        reason: new.reason,
        status: CorrectionStatus::Received.as_str().to_owned(),
        due_on: due_on(&ctx, received_on),
        refusal_reason: None,
        recorded_by: recorder.by,
        recorded_at: recorder.at,
        decided_by: None,
        decided_at: None,
        version: 1,
    };
    client_requests::create(&ctx, row).await
}

/// The client update's complaints about a requested value, named as the request's field.
fn as_requested_value(error: ApiError) -> ApiError {
    match error {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|error| FieldError {
                    field: "requested_value".into(),
                    message: format!("{}: {}", error.field, error.message),
                })
                .collect(),
        ),
        other => other,
    }
}

/// Get a correction request
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = CorrectionRequestRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/correction-requests/{id}")]
async fn get_correction_request(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    client_requests::one::<CorrectionRequestRow>(&ctx, &id).await
}

/// Decide a correction request
///
/// `correct` writes the requested value to the client's file as `PATCH /clients/{id}` would:
/// it needs `If-Match` with the client's ETag, and the policy's `client, correct` line and
/// write permission on the field (403 `field_not_writable`). `refuse` needs the
/// `refusal_reason`, and keeps the client's `statement`, if given, with the field. A request
/// is decided once (409 `request_decided`). Audited with the request as purpose of use.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "To correct: the client's ETag", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = CorrectionDecisionBody, responses(
    (status = 200, body = CorrectionRequestRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/correction-requests/{id}/decision")]
async fn decide_correction_request(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::CorrectionRequest, Action::Decide)?;
    let id = path_id(&id)?;
    let purpose = format!("correction request {id}");
    let reader = ctx.permit_for(Resource::CorrectionRequest, Action::Read, purpose.clone())?;
    let decision: CorrectionDecisionBody = body.parse(&permit)?;
    let (today, recorder, keyring) = (ctx.state.clock.today(), ctx.recorder(), ctx.keyring());
    let correction = match decision.decision {
        CorrectionDecision::Correct => {
            for (field, given) in [
                ("refusal_reason", &decision.refusal_reason),
                ("statement", &decision.statement),
            ] {
                if given.is_some() {
                    return Err(ApiError::invalid(field, "is given only on refusal"));
                }
            }
            let writer = ctx.permit_for(Resource::Client, Action::Correct, purpose)?;
            Some((writer, expected_version(&req)?))
        }
        CorrectionDecision::Refuse if decision.refusal_reason.is_none() => {
            return Err(ApiError::invalid(
                "refusal_reason",
                "is required to refuse a correction",
            ));
        }
        CorrectionDecision::Refuse => None,
    };
    let change = clients::Change::of(&ctx);
    ctx.write(move |conn| {
        let mut changed = history::Changed::new();
        let row = queries::find_correction(conn, &id)?.ok_or(ApiError::NotFound)?;
        let request = CorrectionRequestRecord::of(row, today, &keyring)?;
        if !OPEN_CORRECTION.contains(&request.status) {
            return Err(ApiError::conflict(
                "request_decided",
                format!("The request was {} already.", request.status.as_str()),
            ));
        }
        let status = match &correction {
            Some((writer, client_version)) => {
                let update: ClientUpdate = write_body(
                    writer,
                    update_body(request.field, request.requested_value.clone()),
                )?;
                changed = change
                    .apply(
                        conn,
                        writer,
                        &request.client_id,
                        *client_version,
                        update,
                        None,
                    )?
                    .fields;
                CorrectionStatus::Corrected
            }
            None => {
                if let Some(statement) = decision.statement {
                    let id = new_id();
                    queries::insert_statement(
                        conn,
                        &StatementRow {
                            statement: keyring.seal(
                                SealedColumn::ClientStatement,
                                &id,
                                &statement,
                            )?,
                            id,
                            client_id: request.client_id.clone(),
                            field: request.field.as_str().to_owned(),
                            correction_request_id: request.id.clone(),
                            recorded_by: recorder.by.clone(),
                            recorded_at: recorder.at,
                        },
                    )?;
                }
                CorrectionStatus::Refused
            }
        };
        if !queries::decide_correction(
            conn,
            &id,
            request.version,
            status,
            decision.refusal_reason.as_deref(),
            &recorder.by,
            recorder.at,
        )? {
            return Err(ApiError::PreconditionFailed);
        }
        let row = queries::find_correction(conn, &id)?.ok_or(ApiError::NotFound)?;
        Ok(
            disclosure::one(&reader, &CorrectionRequestRecord::of(row, today, &keyring)?)?
                .changing(changed),
        )
    })
    .await
}
