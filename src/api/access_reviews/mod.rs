//! `/access-reviews`: the periodic review of who may use the system. A dept_admin opens one
//! for an organisation (an item per active user and API client), decides `keep` or `revoke`
//! for each (its csp_manager may propose, a dept_admin confirms), and closes it: revoked
//! subjects and subjects without a confirmed decision are suspended. An open review past its
//! due date closes itself the same way on the next request that touches it (or by
//! `casebridge access-reviews close-due`).
use actix_web::ResponseError;
use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, field_id, path_id, utc, write_body};
use crate::audit::Disclosure;
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::access_reviews::{self as queries, Decision, ReviewRow};
use crate::db::directory;
use crate::domain::{
    Date, OrganisationKind, PrincipalKind, ReviewDecision, ReviewStatus, StoredAsText,
};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_reviews)
        .service(open_review)
        .service(get_review)
        .service(decide)
        .service(close_review);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItem {
    #[schema(format = Uuid)]
    pub subject_id: String,
    pub subject_kind: PrincipalKind,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub decision: Option<ReviewDecision>,
    pub comment: Option<String>,
    #[schema(format = Uuid)]
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// A decision takes effect only once confirmed by a dept_admin (theirs are confirmed
    /// when made).
    pub confirmed: bool,
    #[schema(format = Uuid)]
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// What closing did: `kept`, `revoked` or `suspended_without_decision`.
    pub outcome: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessReviewRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false)]
    pub due_on: NaiveDate,
    #[schema(required = false)]
    pub status: ReviewStatus,
    #[schema(required = false, format = Uuid)]
    pub opened_by: String,
    #[schema(required = false)]
    pub opened_at: DateTime<Utc>,
    #[schema(required = false)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Null when the review closed itself after its due date.
    #[schema(required = false, format = Uuid)]
    pub closed_by: Option<String>,
    #[schema(required = false)]
    pub items: Vec<ReviewItem>,
    #[schema(required = false)]
    pub version: i32,
}

impl Disclose for AccessReviewRecord {
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

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccessReview {
    #[schema(format = Uuid)]
    pub organisation_id: String,
    /// Not in the past. After it, the review closes itself.
    pub due_on: Date,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisionRequest {
    #[schema(format = Uuid)]
    pub subject_id: String,
    pub decision: ReviewDecision,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewListParams {
    #[param(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn record(conn: &mut DbConnection, row: ReviewRow) -> ApiResult<AccessReviewRecord> {
    let items = queries::items(conn, &row.id)?
        .into_iter()
        .map(|subject| {
            let item = subject.item;
            Ok(ReviewItem {
                subject_id: item.subject_id,
                subject_kind: PrincipalKind::from_stored(&subject.kind)?,
                username: subject.username,
                display_name: subject.display_name,
                roles: serde_json::from_str(&subject.roles)?,
                decision: item
                    .decision
                    .as_deref()
                    .map(ReviewDecision::from_stored)
                    .transpose()?,
                comment: item.comment,
                decided_by: item.decided_by,
                decided_at: item.decided_at.map(utc),
                confirmed: item.confirmed_by.is_some(),
                confirmed_by: item.confirmed_by,
                confirmed_at: item.confirmed_at.map(utc),
                outcome: item.outcome,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(AccessReviewRecord {
        status: ReviewStatus::from_stored(&row.status)?,
        opened_at: utc(row.opened_at),
        closed_at: row.closed_at.map(utc),
        id: row.id,
        organisation_id: row.organisation_id,
        due_on: row.due_on,
        opened_by: row.opened_by,
        closed_by: row.closed_by,
        items,
        version: row.version,
    })
}

/// The review, after closing it if its due date has passed.
fn touch(
    (today, now): (NaiveDate, NaiveDateTime),
    conn: &mut DbConnection,
    permit: &Permit,
    id: &str,
) -> ApiResult<ReviewRow> {
    let row = queries::find(conn, scope::access_reviews(permit), id)?.ok_or(ApiError::NotFound)?;
    if row.status == ReviewStatus::Open.as_str() && row.due_on < today {
        queries::close(conn, &row.id, None, now)?;
        return queries::find(conn, scope::access_reviews(permit), id)?.ok_or(ApiError::NotFound);
    }
    Ok(row)
}

/// List access reviews
///
/// Open reviews past their due date are closed first.
#[utoipa::path(tag = "access-reviews", params(ReviewListParams), responses(
    (status = 200, body = Page<AccessReviewRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/access-reviews")]
async fn list_reviews(ctx: Ctx, params: Params<ReviewListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AccessReview, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let organisation_id = params
        .organisation_id
        .as_deref()
        .map(|id| field_id("organisation_id", id))
        .transpose()?;
    let (today, now) = (ctx.state.clock.today(), ctx.now());
    ctx.write(move |conn| {
        queries::close_due(conn, scope::access_reviews(&permit), today, now)?;
        let mut rows = queries::list(
            conn,
            scope::access_reviews(&permit),
            organisation_id.as_deref(),
            page.after.as_deref(),
            page.fetch(),
        )?;
        let next_cursor = page.finish(&mut rows, |row| &row.id);
        let records = rows
            .into_iter()
            .map(|row| record(conn, row))
            .collect::<ApiResult<Vec<_>>>()?;
        disclosure::page(&permit, &records, next_cursor)
    })
    .await
}

/// Open an access review
///
/// One item per active user and API client of the organisation. One open review per
/// organisation at a time.
#[utoipa::path(tag = "access-reviews", request_body = NewAccessReview, responses(
    (status = 201, body = AccessReviewRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/access-reviews")]
async fn open_review(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AccessReview, Action::Create)?;
    let reader = ctx.permit(Resource::AccessReview, Action::Read)?;
    let new: NewAccessReview = write_body(&permit, body)?;
    let (today, now) = (ctx.state.clock.today(), ctx.now());
    if new.due_on.get() < today {
        return Err(ApiError::invalid("due_on", "must not be in the past"));
    }
    if !scope::reaches_organisation(&permit, &new.organisation_id) {
        return Err(ApiError::forbidden("You may not review this organisation."));
    }
    let row = ReviewRow {
        id: uuid::Uuid::now_v7().to_string(),
        organisation_id: new.organisation_id,
        due_on: new.due_on.get(),
        status: ReviewStatus::Open.as_str().to_owned(),
        opened_by: ctx.caller.user_id.clone(),
        opened_at: now,
        closed_at: None,
        closed_by: None,
        version: 1,
    };
    ctx.write(move |conn| {
        directory::organisation_kind(conn, &row.organisation_id)?
            .and_then(|kind| OrganisationKind::parse(&kind))
            .ok_or_else(|| ApiError::invalid("organisation_id", "is not an organisation"))?;
        queries::close_due(conn, scope::access_reviews(&reader), today, now)?;
        if queries::open_review_of(conn, &row.organisation_id)?.is_some() {
            return Err(ApiError::Conflict {
                code: "review_already_open",
                detail: "The organisation already has an open access review.".into(),
            });
        }
        queries::open(conn, &row)?;
        let record = record(conn, row)?;
        disclosure::created(
            &reader,
            &record,
            format!("/api/v1/access-reviews/{}", record.id),
        )
    })
    .await
}

/// Get an access review
#[utoipa::path(tag = "access-reviews", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = AccessReviewRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/access-reviews/{id}")]
async fn get_review(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AccessReview, Action::Read)?;
    let id = path_id(&id)?;
    let clock = (ctx.state.clock.today(), ctx.now());
    ctx.write(move |conn| {
        let row = touch(clock, conn, &permit, &id)?;
        disclosure::one(&permit, &record(conn, row)?)
    })
    .await
}

/// Decide on one subject of a review
///
/// `keep` or `revoke`. A dept_admin's decision is confirmed at once; a csp_manager's is a
/// proposal that a dept_admin confirms by deciding the same subject. Nobody decides on their
/// own access.
#[utoipa::path(tag = "access-reviews", params(("id" = String, Path, format = Uuid)), request_body = ReviewDecisionRequest, responses(
    (status = 200, body = AccessReviewRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/access-reviews/{id}/decisions")]
async fn decide(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    // A confirmed decision if the policy lets the caller decide, else a proposal.
    let (permit, confirmed) = match ctx.permit(Resource::AccessReview, Action::Decide) {
        Ok(permit) => (permit, true),
        Err(_) => (ctx.permit(Resource::AccessReview, Action::Propose)?, false),
    };
    let reader = ctx.permit(Resource::AccessReview, Action::Read)?;
    let id = path_id(&id)?;
    let request: ReviewDecisionRequest = body.parse(&permit)?;
    if request.subject_id == ctx.caller.user_id {
        return Err(ApiError::Forbidden {
            code: "own_access_unchangeable",
            detail: "You may not decide on your own access.".into(),
        });
    }
    let clock = (ctx.state.clock.today(), ctx.now());
    let actor = ctx.caller.user_id.clone();
    ctx.write_recorded(move |conn| {
        let row = touch(clock, conn, &permit, &id)?;
        if row.status != ReviewStatus::Open.as_str() {
            return Ok(refused_but_committed(review_closed()));
        }
        let item = queries::item(conn, &row.id, &request.subject_id)?
            .ok_or_else(|| ApiError::invalid("subject_id", "is not a subject of this review"))?;
        if !confirmed && item.confirmed_by.is_some() {
            return Err(ApiError::Conflict {
                code: "decision_confirmed",
                detail: "A dept_admin has already confirmed a decision for this subject.".into(),
            });
        }
        queries::decide(
            conn,
            &item.id,
            Decision {
                decision: request.decision,
                comment: request.comment.as_deref(),
                by: &actor,
                confirmed,
                at: clock.1,
            },
        )?;
        queries::bump_version(conn, &row.id)?;
        let row =
            queries::find(conn, scope::access_reviews(&reader), &id)?.ok_or(ApiError::NotFound)?;
        answered(disclosure::one(&reader, &record(conn, row)?)?)
    })
    .await?
}

/// A refusal whose transaction must still commit: a review that closed itself on this request
/// stays closed (and its suspensions stay applied) although the request is refused.
fn refused_but_committed(error: ApiError) -> (ApiResult<Disclosed>, u16, Disclosure) {
    let status = error.status_code().as_u16();
    let disclosure = Disclosure::refusal(error.code());
    (Err(error), status, disclosure)
}

fn answered(disclosed: Disclosed) -> ApiResult<(ApiResult<Disclosed>, u16, Disclosure)> {
    let (status, disclosure) = (disclosed.status(), disclosed.disclosure().clone());
    Ok((Ok(disclosed), status, disclosure))
}

fn review_closed() -> ApiError {
    ApiError::Conflict {
        code: "review_closed",
        detail: "The access review is closed.".into(),
    }
}

/// Close an access review
///
/// Applies it: subjects with a confirmed `revoke`, and subjects with no confirmed decision,
/// are suspended (their sessions end at once); confirmed `keep` leaves them as they are.
#[utoipa::path(tag = "access-reviews", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = AccessReviewRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/access-reviews/{id}/close")]
async fn close_review(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AccessReview, Action::Close)?;
    let reader = ctx.permit(Resource::AccessReview, Action::Read)?;
    let id = path_id(&id)?;
    let clock = (ctx.state.clock.today(), ctx.now());
    let actor = ctx.caller.user_id.clone();
    ctx.write_recorded(move |conn| {
        let row = touch(clock, conn, &permit, &id)?;
        if row.status != ReviewStatus::Open.as_str() {
            return Ok(refused_but_committed(review_closed()));
        }
        queries::close(conn, &row.id, Some(&actor), clock.1)?;
        let row =
            queries::find(conn, scope::access_reviews(&reader), &id)?.ok_or(ApiError::NotFound)?;
        answered(disclosure::one(&reader, &record(conn, row)?)?)
    })
    .await?
}
