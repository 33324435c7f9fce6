//! Policy documents: the department publishes each version of its acceptable-use policy and
//! its privacy and security policy, naming the roles it applies to; everyone it applies to
//! accepts the version in force before doing anything else (the gate is in
//! `api::context::Ctx::authenticate`), and a new version must be accepted again. Reading and
//! accepting are what a session held by the gate may still do (`AcceptingCtx`).
use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::{AcceptingCtx, Ctx};
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, new_id, path_id, utc};
use crate::authz::{Action, Resource, catalogue};
use crate::db::DbConnection;
use crate::db::policy_documents::{self as queries, PolicyDocumentRow};
use crate::domain::{PolicyDocumentKind, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(publish)
        .service(list)
        .service(in_force)
        .service(get_document)
        .service(accept);
}

/// A version of a policy document.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDocumentRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub kind: PolicyDocumentKind,
    #[schema(required = false)]
    pub version: String,
    #[schema(required = false)]
    pub title: String,
    #[schema(required = false)]
    pub text: String,
    /// Whoever holds one of these roles must accept the version while it is in force.
    #[schema(required = false)]
    pub applies_to_roles: Vec<String>,
    #[schema(required = false, format = Uuid)]
    pub published_by: String,
    #[schema(required = false)]
    pub published_at: DateTime<Utc>,
    /// The version of its kind in force: no later version has been published.
    #[schema(required = false)]
    pub in_force: bool,
    /// When you accepted this version; null if you have not.
    #[schema(required = false)]
    pub accepted_at: Option<DateTime<Utc>>,
}

impl PolicyDocumentRecord {
    fn of(row: PolicyDocumentRow, accepted_at: Option<NaiveDateTime>) -> ApiResult<Self> {
        Ok(Self {
            kind: PolicyDocumentKind::from_stored(&row.kind)?,
            applies_to_roles: serde_json::from_str(&row.applies_to_roles)
                .map_err(ApiError::internal)?,
            in_force: row.superseded_at.is_none(),
            accepted_at: accepted_at.map(utc),
            published_at: utc(row.published_at),
            id: row.id,
            version: row.version,
            title: row.title,
            text: row.text,
            published_by: row.published_by,
        })
    }
}

impl Disclose for PolicyDocumentRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPolicyDocument {
    pub kind: PolicyDocumentKind,
    /// A name for the version, such as `2027-1`; unique within its kind.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub version: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[validate(length(min = 1, max = 50000))]
    #[schema(min_length = 1, max_length = 50000)]
    pub text: String,
    /// Catalogued roles; everyone holding one of them must accept the version.
    #[validate(length(min = 1, max = 9))]
    #[schema(min_items = 1, max_items = 9)]
    pub applies_to_roles: Vec<String>,
}

/// Each of `documents` with when `user_id` accepted it.
fn records(
    conn: &mut DbConnection,
    user_id: &str,
    documents: Vec<PolicyDocumentRow>,
) -> ApiResult<Vec<PolicyDocumentRecord>> {
    let ids: Vec<String> = documents.iter().map(|row| row.id.clone()).collect();
    let accepted = queries::acceptances(conn, user_id, &ids)?;
    documents
        .into_iter()
        .map(|row| {
            let at = accepted
                .iter()
                .find(|(id, _)| *id == row.id)
                .map(|(_, at)| *at);
            PolicyDocumentRecord::of(row, at)
        })
        .collect()
}

/// Publish a policy document
///
/// A new version of the acceptable-use policy or the privacy and security policy. It is in
/// force at once and supersedes the version of its kind in force: everyone holding one of
/// `applies_to_roles` must accept it before doing anything else.
#[utoipa::path(tag = "policy-documents", request_body = NewPolicyDocument, responses(
    (status = 201, body = PolicyDocumentRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "`document_version_exists`"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/policy-documents")]
async fn publish(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::PolicyDocument, Action::Create)?;
    let reader = ctx.permit(Resource::PolicyDocument, Action::Read)?;
    let new: NewPolicyDocument = body.parse(&permit)?;
    let mut roles = new.applies_to_roles;
    if let Some(unknown) = roles.iter().find(|role| catalogue::role(role).is_none()) {
        return Err(ApiError::invalid(
            "applies_to_roles",
            format!("{unknown} is not a role"),
        ));
    }
    roles.sort();
    roles.dedup();
    let row = PolicyDocumentRow {
        id: new_id(),
        kind: new.kind.as_str().to_owned(),
        version: new.version,
        title: new.title,
        text: new.text,
        applies_to_roles: serde_json::Value::from(roles).to_string(),
        published_by: ctx.caller.user_id.clone(),
        published_at: ctx.now(),
        superseded_at: None,
    };
    ctx.write(move |conn| {
        if queries::version_exists(conn, &row.kind, &row.version)? {
            return Err(ApiError::conflict(
                "document_version_exists",
                format!(
                    "Version {} of the {} document was published already.",
                    row.version, row.kind
                ),
            ));
        }
        queries::publish(conn, &row)?;
        let location = format!("/api/v1/policy-documents/{}", row.id);
        disclosure::created(&reader, &PolicyDocumentRecord::of(row, None)?, location)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// Every version of the policy documents
///
/// Newest first, each with whether it is in force and when you accepted it.
#[utoipa::path(tag = "policy-documents", params(ListParams), responses(
    (status = 200, body = Page<PolicyDocumentRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/policy-documents")]
async fn list(AcceptingCtx(ctx): AcceptingCtx, params: Params<ListParams>) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::PolicyDocument, Action::Read)?;
    let params = params.parse(&reader)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let user_id = ctx.caller.user_id.clone();
    let (items, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let mut rows = queries::list(conn, page.after.as_deref(), page.fetch())?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            Ok((records(conn, &user_id, rows)?, next_cursor))
        })
        .await?;
    disclosure::page(&reader, &items, next_cursor)
}

/// The policy documents in force
///
/// The version in force of each kind published, with when you accepted it.
#[utoipa::path(tag = "policy-documents", responses(
    (status = 200, body = Page<PolicyDocumentRecord>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/policy-documents/current")]
async fn in_force(AcceptingCtx(ctx): AcceptingCtx) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::PolicyDocument, Action::Read)?;
    let user_id = ctx.caller.user_id.clone();
    let items = ctx
        .db()
        .read(move |conn| {
            let rows = queries::in_force(conn)?;
            records(conn, &user_id, rows)
        })
        .await?;
    disclosure::page(&reader, &items, None)
}

/// A policy document
#[utoipa::path(tag = "policy-documents", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = PolicyDocumentRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/policy-documents/{id}")]
async fn get_document(
    AcceptingCtx(ctx): AcceptingCtx,
    id: web::Path<String>,
) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::PolicyDocument, Action::Read)?;
    let id = path_id(&id)?;
    let user_id = ctx.caller.user_id.clone();
    let record = ctx
        .db()
        .read(move |conn| {
            let row = queries::find(conn, &id)?.ok_or(ApiError::NotFound)?;
            records(conn, &user_id, vec![row])
        })
        .await?;
    disclosure::one(&reader, &record[0])
}

/// Accept a policy document
///
/// Records that you accept the version, which must be the one in force (409
/// `document_superseded` otherwise: accept the newer one). 201 with the document the first
/// time, 200 when you had accepted it already.
#[utoipa::path(tag = "policy-documents", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = PolicyDocumentRecord),
    (status = 201, body = PolicyDocumentRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "`document_superseded`"),
), security(("bearer" = [])))]
#[post("/policy-documents/{id}/acceptance")]
async fn accept(AcceptingCtx(ctx): AcceptingCtx, id: web::Path<String>) -> ApiResult<Disclosed> {
    ctx.permit(Resource::PolicyDocument, Action::Accept)?;
    let reader = ctx.permit(Resource::PolicyDocument, Action::Read)?;
    let id = path_id(&id)?;
    let (user_id, now) = (ctx.caller.user_id.clone(), ctx.now());
    ctx.write(move |conn| {
        let row = queries::find(conn, &id)?.ok_or(ApiError::NotFound)?;
        if row.superseded_at.is_some() {
            return Err(ApiError::conflict(
                "document_superseded",
                format!(
                    "Version {} is no longer in force: accept the version in force instead.",
                    row.version
                ),
            ));
        }
        let accepted = queries::acceptances(conn, &user_id, std::slice::from_ref(&row.id))?;
        if let Some((_, at)) = accepted.first() {
            return disclosure::one(&reader, &PolicyDocumentRecord::of(row, Some(*at))?);
        }
        queries::accept(conn, &user_id, &row.id, now)?;
        let location = format!("/api/v1/policy-documents/{}", row.id);
        disclosure::created(
            &reader,
            &PolicyDocumentRecord::of(row, Some(now))?,
            location,
        )
    })
    .await
}
