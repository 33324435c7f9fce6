//! `/clients/{id}/legal-holds`: a legal hold keeps a client's file from disposal (for
//! litigation, an inquiry or an investigation) until it is released.
use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::clients;
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, new_id, path_id, utc};
use crate::authz::{Action, Resource};
use crate::db::legal_holds::{self as queries, LegalHoldRow};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(place_hold)
        .service(list_holds)
        .service(release_hold);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LegalHoldRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub reason: String,
    /// Not released: the client's file may not be disposed of.
    #[schema(required = false)]
    pub active: bool,
    #[schema(required = false, format = Uuid)]
    pub placed_by: String,
    #[schema(required = false)]
    pub placed_at: DateTime<Utc>,
    #[schema(required = false, format = Uuid)]
    pub released_by: Option<String>,
    #[schema(required = false)]
    pub released_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub release_reason: Option<String>,
}

impl From<LegalHoldRow> for LegalHoldRecord {
    fn from(row: LegalHoldRow) -> Self {
        Self {
            active: row.released_at.is_none(),
            id: row.id,
            client_id: row.client_id,
            reason: row.reason,
            placed_by: row.placed_by,
            placed_at: utc(row.placed_at),
            released_by: row.released_by,
            released_at: row.released_at.map(utc),
            release_reason: row.release_reason,
        }
    }
}

impl Disclose for LegalHoldRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

/// Why a hold is placed or released.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldReason {
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// Place a legal hold on a client's file
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), request_body = HoldReason, responses(
    (status = 201, body = LegalHoldRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/clients/{id}/legal-holds")]
async fn place_hold(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::LegalHold, Action::Create)?;
    let reader = ctx.permit(Resource::LegalHold, Action::Read)?;
    let client_id = path_id(&id)?;
    let body: HoldReason = body.parse(&permit)?;
    let recorder = ctx.recorder();
    let row = LegalHoldRow {
        id: new_id(),
        client_id,
        reason: body.reason,
        placed_by: recorder.by,
        placed_at: recorder.at,
        released_by: None,
        released_at: None,
        release_reason: None,
    };
    ctx.write(move |conn| {
        clients::load(conn, &permit, &row.client_id)?;
        queries::insert(conn, &row)?;
        let location = format!("/api/v1/clients/{}/legal-holds", row.client_id);
        disclosure::created(&reader, &LegalHoldRecord::from(row), location)
    })
    .await
}

/// A client's legal holds
///
/// Active and released, oldest first.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Page<LegalHoldRecord>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/clients/{id}/legal-holds")]
async fn list_holds(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    clients::records_of(&ctx, Resource::LegalHold, &id, |conn, client_id| {
        Ok(queries::of_client(conn, client_id)?
            .into_iter()
            .map(LegalHoldRecord::from)
            .collect())
    })
    .await
}

/// Release a legal hold
///
/// Once only (409 `hold_released`).
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid), ("hold_id" = String, Path, format = Uuid)), request_body = HoldReason, responses(
    (status = 200, body = LegalHoldRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/clients/{id}/legal-holds/{hold_id}/release")]
async fn release_hold(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::LegalHold, Action::Release)?;
    let reader = ctx.permit(Resource::LegalHold, Action::Read)?;
    let (client_id, hold_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let body: HoldReason = body.parse(&permit)?;
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        clients::load(conn, &permit, &client_id)?;
        queries::find(conn, &client_id, &hold_id)?.ok_or(ApiError::NotFound)?;
        if !queries::release(conn, &hold_id, &recorder.by, recorder.at, &body.reason)? {
            return Err(ApiError::conflict(
                "hold_released",
                "The legal hold was released already.",
            ));
        }
        let row = queries::find(conn, &client_id, &hold_id)?.ok_or(ApiError::NotFound)?;
        disclosure::one(&reader, &LegalHoldRecord::from(row))
    })
    .await
}
