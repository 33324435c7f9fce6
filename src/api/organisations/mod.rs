//! `/organisations`: the department's divisions and the CSPs it funds.
use crate::domain::Date;
use crate::domain::names::DisplayName;
use actix_web::{HttpRequest, get, patch, post, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{
    Body, PageRequest, Params, expected_version, new_id, nullable, path_id, write_body,
};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::directory::{self as queries, OrganisationChanges, OrganisationRow};
use crate::domain::{OrganisationKind, OrganisationStatus, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_organisations)
        .service(create_organisation)
        .service(get_organisation)
        .service(update_organisation);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub kind: OrganisationKind,
    /// A suspended organisation's users and API clients are refused at once, and its
    /// allocations grant nothing.
    #[schema(required = false)]
    pub status: OrganisationStatus,
    #[schema(required = false)]
    pub contact_email: String,
    /// For CSPs: the first day of their contract.
    #[schema(required = false)]
    pub contract_starts_on: Option<NaiveDate>,
    /// For CSPs: the last day of their contract.
    #[schema(required = false)]
    pub contract_ends_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub version: i32,
}

impl TryFrom<OrganisationRow> for OrganisationRecord {
    type Error = anyhow::Error;

    fn try_from(row: OrganisationRow) -> anyhow::Result<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            kind: OrganisationKind::from_stored(&row.kind)?,
            status: OrganisationStatus::from_stored(&row.status)?,
            contact_email: row.contact_email,
            contract_starts_on: row.contract_starts_on,
            contract_ends_on: row.contract_ends_on,
            version: row.version,
        })
    }
}

impl Disclose for OrganisationRecord {
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

/// 422 naming `contract_ends_on` when the contract would end before it starts.
fn check_contract_dates(starts_on: Option<NaiveDate>, ends_on: Option<NaiveDate>) -> ApiResult<()> {
    match (starts_on, ends_on) {
        (Some(starts), Some(ends)) if ends < starts => Err(ApiError::invalid(
            "contract_ends_on",
            "must not be before contract_starts_on",
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    /// Follows the name rule (`domain::names`).
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: DisplayName,
    pub kind: OrganisationKind,
    #[validate(email)]
    pub contact_email: String,
    pub contract_starts_on: Option<Date>,
    pub contract_ends_on: Option<Date>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationUpdate {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub name: Option<DisplayName>,
    #[validate(email)]
    pub contact_email: Option<String>,
    /// `suspended` refuses every user and API client of the organisation at once.
    pub status: Option<OrganisationStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Date>)]
    pub contract_starts_on: Option<Option<Date>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Date>)]
    pub contract_ends_on: Option<Option<Date>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrganisationListParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn load(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<OrganisationRecord> {
    let row = queries::find_organisation(conn, scope::organisations(permit), id)?
        .ok_or(ApiError::NotFound)?;
    Ok(OrganisationRecord::try_from(row)?)
}

fn name_taken() -> ApiError {
    ApiError::Conflict {
        code: "name_taken",
        detail: "Another organisation has this name.".into(),
    }
}

/// List organisations
#[utoipa::path(tag = "organisations", params(OrganisationListParams), responses(
    (status = 200, body = Page<OrganisationRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/organisations")]
async fn list_organisations(
    ctx: Ctx,
    params: Params<OrganisationListParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Organisation, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let (reader, request) = (permit.clone(), page.clone());
    let mut rows = ctx
        .db()
        .read(move |conn| {
            Ok(queries::list_organisations(
                conn,
                scope::organisations(&reader),
                request.after.as_deref(),
                request.fetch(),
            )?)
        })
        .await?;
    let next_cursor = page.finish(&mut rows, |row| &row.id);
    let records = rows
        .into_iter()
        .map(OrganisationRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Create an organisation
#[utoipa::path(tag = "organisations", request_body = NewOrganisation, responses(
    (status = 201, body = OrganisationRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/organisations")]
async fn create_organisation(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Organisation, Action::Create)?;
    let reader = ctx.permit(Resource::Organisation, Action::Read)?;
    let new: NewOrganisation = write_body(&permit, body)?;
    let (starts_on, ends_on) = (
        new.contract_starts_on.map(Date::get),
        new.contract_ends_on.map(Date::get),
    );
    check_contract_dates(starts_on, ends_on)?;
    let now = ctx.now();
    let row = OrganisationRow {
        id: new_id(),
        name: new.name.into(),
        kind: new.kind.as_str().to_owned(),
        contact_email: new.contact_email,
        contract_starts_on: starts_on,
        contract_ends_on: ends_on,
        created_at: now,
        updated_at: now,
        version: 1,
        status: OrganisationStatus::Active.as_str().to_owned(),
    };
    let record = OrganisationRecord::try_from(row.clone())?;
    ctx.write(move |conn| {
        if queries::organisation_name_taken(conn, &row.name, None)? {
            return Err(name_taken());
        }
        queries::insert_organisation(conn, &row)?;
        disclosure::created(
            &reader,
            &record,
            format!("/api/v1/organisations/{}", record.id),
        )
    })
    .await
}

/// Get an organisation
#[utoipa::path(tag = "organisations", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = OrganisationRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/organisations/{id}")]
async fn get_organisation(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Organisation, Action::Read)?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let record = ctx.db().read(move |conn| load(conn, &reader, &id)).await?;
    disclosure::one(&permit, &record)
}

/// Update an organisation
///
/// Suspending one (`status: suspended`) refuses its users and API clients from their next
/// request; a CSP whose contract has ended is refused the same way without any change here.
#[utoipa::path(tag = "organisations", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = OrganisationUpdate, responses(
    (status = 200, body = OrganisationRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/organisations/{id}")]
async fn update_organisation(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Organisation, Action::Update)?;
    let reader = ctx.permit(Resource::Organisation, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let update: OrganisationUpdate = write_body(&permit, body)?;
    if id == ctx.caller.organisation_id && update.status.is_some() {
        return Err(ApiError::Forbidden {
            code: "own_access_unchangeable",
            detail: "You may not change the status of your own organisation.".into(),
        });
    }
    let new_starts_on = update.contract_starts_on.map(|date| date.map(Date::get));
    let new_ends_on = update.contract_ends_on.map(|date| date.map(Date::get));
    let now = ctx.now();
    ctx.write(move |conn| {
        let current = load(conn, &permit, &id)?;
        check_contract_dates(
            new_starts_on.unwrap_or(current.contract_starts_on),
            new_ends_on.unwrap_or(current.contract_ends_on),
        )?;
        if let Some(name) = &update.name
            && queries::organisation_name_taken(conn, name.as_str(), Some(&id))?
        {
            return Err(name_taken());
        }
        let suspending = update.status == Some(OrganisationStatus::Suspended);
        let changes = OrganisationChanges {
            name: update.name.map(String::from),
            status: update.status.map(|status| status.as_str().to_owned()),
            contact_email: update.contact_email,
            contract_starts_on: new_starts_on,
            contract_ends_on: new_ends_on,
        };
        if current.version != version
            || !queries::update_organisation(conn, &id, version, &changes, now)?
        {
            return Err(ApiError::PreconditionFailed);
        }
        // Refused from the next request anyway; ending the sessions also keeps their refresh
        // tokens from coming back to life when the organisation is reactivated.
        if suspending {
            queries::end_organisation_sessions(conn, &id, "organisation_suspended", now)?;
        }
        let record = load(conn, &reader, &id)?;
        disclosure::one(&reader, &record)
    })
    .await
}

/// The CSP `id` names, when `permit` reaches its records (`any`, or `own_organisation` for
/// the CSP's own people); 404 otherwise, exactly as if it did not exist, so that one CSP
/// learns nothing of another's attestations or wrap-up.
pub fn reachable_csp(
    conn: &mut DbConnection,
    permit: &Permit,
    id: &str,
) -> ApiResult<OrganisationRow> {
    queries::find_organisation(conn, scope::organisations(permit), id)?
        .filter(|organisation| organisation.kind == OrganisationKind::Csp.as_str())
        .ok_or(ApiError::NotFound)
}
