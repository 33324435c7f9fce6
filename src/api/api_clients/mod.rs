//! `/api-clients`: CSP systems that call the API with OAuth2 client credentials. An API
//! client is a principal like a person (a row in `users` of kind `api_client`): the same
//! roles, row scopes, field masks, organisation standing, audit and access reviews apply.
use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, path_id, utc, write_body};
use crate::api::users::check_roles;
use crate::audit::ChangeAlert;
use crate::auth::client_secret;
use crate::authz::dual_control::{self, Access};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::directory::{self as queries, UserChanges, UserRow};
use crate::domain::names::DisplayName;
use crate::domain::{OrganisationKind, PrincipalKind, ProtectiveMarking, StoredAsText, UserStatus};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_api_clients)
        .service(create_api_client)
        .service(get_api_client)
        .service(rotate_secret)
        .service(revoke_api_client);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClientRecord {
    /// Also the OAuth2 `client_id`.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false)]
    pub status: UserStatus,
    #[schema(required = false)]
    pub status_reason: Option<String>,
    #[schema(required = false)]
    pub clearance: ProtectiveMarking,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
    /// When it last obtained a token.
    #[schema(required = false)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub secret_issued_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub version: i32,
}

impl Disclose for ApiClientRecord {
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

/// An API client's record with its new secret, shown this once. The schema of the body that
/// `Disclosed::with_credential` builds; never constructed itself.
#[allow(dead_code)]
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClientWithSecret {
    #[serde(flatten)]
    pub api_client: ApiClientRecord,
    /// Store it now: only its digest is kept.
    pub client_secret: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiClient {
    #[schema(format = Uuid)]
    pub organisation_id: String,
    /// Follows the name rule (`domain::names`).
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: DisplayName,
    #[validate(length(min = 1, max = 9))]
    #[schema(min_items = 1, max_items = 9)]
    pub roles: Vec<String>,
    /// Default `OFFICIAL`.
    pub clearance: Option<ProtectiveMarking>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiClientListParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn record(conn: &mut DbConnection, row: UserRow) -> ApiResult<ApiClientRecord> {
    let issued_at = queries::client_secret(conn, &row.id)?.map(|(_, at)| utc(at));
    Ok(ApiClientRecord {
        roles: serde_json::from_str(&row.roles).map_err(ApiError::internal)?,
        status: UserStatus::from_stored(&row.status)?,
        clearance: ProtectiveMarking::from_rank(row.clearance)?,
        created_at: utc(row.created_at),
        last_used_at: row.last_login_at.map(utc),
        secret_issued_at: issued_at,
        status_reason: row.status_reason,
        name: row.display_name,
        organisation_id: row.organisation_id,
        version: row.version,
        id: row.id,
    })
}

fn find(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<UserRow> {
    queries::find_user(conn, PrincipalKind::ApiClient, scope::users(permit), id)?
        .ok_or(ApiError::NotFound)
}

fn load(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<ApiClientRecord> {
    let row = find(conn, permit, id)?;
    record(conn, row)
}

/// List API clients
#[utoipa::path(tag = "api-clients", params(ApiClientListParams), responses(
    (status = 200, body = Page<ApiClientRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/api-clients")]
async fn list_api_clients(ctx: Ctx, params: Params<ApiClientListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::ApiClient, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let (reader, request) = (permit.clone(), page.clone());
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let mut rows = queries::list_users(
                conn,
                PrincipalKind::ApiClient,
                scope::users(&reader),
                request.after.as_deref(),
                request.fetch(),
            )?;
            let next_cursor = request.finish(&mut rows, |row| &row.id);
            let records = rows
                .into_iter()
                .map(|row| record(conn, row))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((records, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Register an API client
///
/// For a CSP system. Answers its `id` (the OAuth2 `client_id`) and `client_secret`, shown
/// this once. Its roles, organisation and clearance bound what it sees exactly as for a
/// person. A client whose roles read client content is `pending` until another administrator
/// approves it (`POST /api/v1/users/{id}/approve`, dual control); it obtains tokens once
/// active.
#[utoipa::path(tag = "api-clients", request_body = NewApiClient, responses(
    (status = 201, body = ApiClientWithSecret, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/api-clients")]
async fn create_api_client(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::ApiClient, Action::Create)?;
    let reader = ctx.permit(Resource::ApiClient, Action::Read)?;
    let new: NewApiClient = write_body(&permit, body)?;
    let clearance = new.clearance.unwrap_or(ProtectiveMarking::Official);
    ctx.caller.check_clearance_grant(Some(clearance))?;
    if !scope::reaches_organisation(&permit, &new.organisation_id) {
        return Err(ApiError::forbidden(
            "You may not register API clients for this organisation.",
        ));
    }
    let access = Access {
        roles: &new.roles,
        clearance,
        organisation_id: &new.organisation_id,
    };
    let dual_control = dual_control::needs_second_approval(ctx.policy(), None, access);
    let now = ctx.now();
    let mut row = UserRow::new(PrincipalKind::ApiClient, now);
    // Not a name anyone can log in with: `:` is not allowed in usernames.
    row.username = format!("api-client:{}", row.id);
    row.display_name = new.name.into();
    row.organisation_id = new.organisation_id;
    row.roles = serde_json::to_string(&new.roles).map_err(ApiError::internal)?;
    row.clearance = clearance.rank();
    if dual_control {
        row.status = UserStatus::Pending.as_str().to_owned();
        row.grant_requested_by = Some(ctx.caller.user_id.clone());
        row.grant_requested_at = Some(now);
    } else {
        row.status = UserStatus::Active.as_str().to_owned();
        row.activated_at = Some(now);
        row.approved_at = Some(now);
    }
    let secret = client_secret::generate();
    let digest = client_secret::digest(&secret);
    ctx.write(move |conn| {
        // SPEC: API clients are CSP systems; a department login is a person with MFA.
        if check_roles(conn, &new.roles, &row.organisation_id)? != OrganisationKind::Csp {
            return Err(ApiError::invalid(
                "organisation_id",
                "API clients are registered for contracted service providers only",
            ));
        }
        queries::insert_user(conn, &row, None)?;
        queries::set_client_secret(conn, &row.id, &digest, now, None)?;
        let record = load(conn, &reader, &row.id)?;
        Ok(disclosure::created(
            &reader,
            &record,
            format!("/api/v1/api-clients/{}", record.id),
        )?
        .with_credential("client_secret", secret))
    })
    .await
}

/// Get an API client
#[utoipa::path(tag = "api-clients", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = ApiClientRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/api-clients/{id}")]
async fn get_api_client(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::ApiClient, Action::Read)?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let record = ctx.db().read(move |conn| load(conn, &reader, &id)).await?;
    disclosure::one(&permit, &record)
}

/// What becomes of the secret a rotation replaces.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviousSecret {
    /// Still accepted for `CASEBRIDGE_CLIENT_SECRET_OVERLAP_HOURS` (default 24), so that the
    /// CSP can deploy the new one without an outage; tokens already issued live on.
    #[default]
    Keep,
    /// Refused at once, and every token issued with it from its next request: for a secret
    /// that may have leaked.
    End,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotateParams {
    /// `keep` (default) or `end`.
    #[param(inline)]
    pub previous_secret: Option<PreviousSecret>,
}

/// Rotate an API client's secret
///
/// Answers the new secret once. By default the old secret keeps working beside it for
/// `CASEBRIDGE_CLIENT_SECRET_OVERLAP_HOURS` (24), then stops; with `previous_secret=end` it
/// stops at once and every token issued with it is refused from its next request (for a
/// secret that may have leaked). Raises a `secret_rotated` alert: whoever rotates it holds
/// the system's credential until they hand it over.
#[utoipa::path(tag = "api-clients", params(("id" = String, Path, format = Uuid), RotateParams), responses(
    (status = 200, body = ApiClientWithSecret, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/api-clients/{id}/rotate-secret")]
async fn rotate_secret(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<RotateParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::ApiClient, Action::RotateSecret)?;
    let reader = ctx.permit(Resource::ApiClient, Action::Read)?;
    let id = path_id(&id)?;
    let previous = params.parse(&permit)?.previous_secret.unwrap_or_default();
    let now = ctx.now();
    let overlap = chrono::Duration::hours(i64::from(ctx.state.config.client_secret_overlap_hours));
    let previous_until = (previous == PreviousSecret::Keep && overlap > chrono::Duration::zero())
        .then(|| now + overlap);
    let secret = client_secret::generate();
    let digest = client_secret::digest(&secret);
    let rotated_by = ctx.caller.user_id.clone();
    ctx.write(move |conn| {
        let row = find(conn, &permit, &id)?;
        if row.status == UserStatus::Deactivated.as_str() {
            return Err(revoked());
        }
        queries::set_client_secret(conn, &id, &digest, now, previous_until)?;
        if previous_until.is_none() {
            queries::end_sessions(conn, &id, None, "secret_rotated", now)?;
        }
        queries::change_user(conn, &id, &UserChanges::default(), now)?;
        let record = load(conn, &reader, &id)?;
        let alert = ChangeAlert {
            kind: "secret_rotated",
            reason: format!("User {rotated_by} issued a new secret for API client {id}."),
        };
        Ok(disclosure::one(&reader, &record)?
            .with_credential("client_secret", secret)
            .raising(alert))
    })
    .await
}

fn revoked() -> ApiError {
    ApiError::Conflict {
        code: "api_client_revoked",
        detail: "The API client has been revoked.".into(),
    }
}

/// Revoke an API client
///
/// For good: its secret stops working and its tokens are refused from their next request.
#[utoipa::path(tag = "api-clients", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = ApiClientRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/api-clients/{id}/revoke")]
async fn revoke_api_client(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::ApiClient, Action::Revoke)?;
    let reader = ctx.permit(Resource::ApiClient, Action::Read)?;
    let id = path_id(&id)?;
    let now = ctx.now();
    ctx.write(move |conn| {
        let row = find(conn, &permit, &id)?;
        if row.status == UserStatus::Deactivated.as_str() {
            return Err(revoked());
        }
        let changes = UserChanges::status(UserStatus::Deactivated, Some("revoked"));
        queries::change_status(conn, &id, &changes, now)?;
        disclosure::one(&reader, &load(conn, &reader, &id)?)
    })
    .await
}
