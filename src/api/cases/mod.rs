//! `/cases` and their allocations to CSPs.
pub mod types;

use std::collections::BTreeSet;

use actix_web::{HttpRequest, get, patch, post, web};
use diesel::prelude::*;
use utoipa_actix_web::service_config::ServiceConfig;

use self::types::{
    AllocationAssignment, AllocationRecord, AllocationUpdate, CaseListParams, CaseRecord,
    CaseUpdate, NewAllocation, NewCase,
};
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclosed, Page};
use crate::api::history::{History, Tracked};
use crate::api::request::{
    Body, PageRequest, Params, expected_version, field_id, new_id, optional_field_id, path_id,
    write_body,
};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::cases::{
    self as queries, AllocationChange, AllocationRow, CaseChanges, CaseFilter, CaseRow,
};
use crate::db::schema::users;
use crate::db::{DbConnection, Scanned};
use crate::domain::{CaseStatus, Date, ProtectiveMarking, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};

/// The case lists' name in their sealed cursors (`PageRequest::finish_scan`).
const CASE_LIST: &str = "cases";

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_cases)
        .service(list_client_cases)
        .service(create_case)
        .service(get_case)
        .service(update_case)
        .service(create_allocation)
        .service(get_allocation)
        .service(update_allocation)
        .service(assign_allocation);
}

/// Turns rows into records, each with the allocations `allocation_permit` lets through, masked.
pub fn assemble(
    conn: &mut DbConnection,
    rows: Vec<CaseRow>,
    allocation_permit: Option<&Permit>,
) -> ApiResult<Vec<CaseRecord>> {
    let mut allocations: Vec<AllocationRow> = match allocation_permit {
        Some(permit) => queries::allocations_of(
            conn,
            scope::allocations(permit),
            rows.iter().map(|r| r.id.clone()).collect(),
        )?,
        None => Vec::new(),
    };
    rows.into_iter()
        .map(|row| {
            let mut nested = Vec::new();
            for allocation in allocations.extract_if(.., |a| a.case_id == row.id) {
                let record = AllocationRecord::from_row(allocation, &row.client_id);
                nested.push(disclosure::masked(
                    allocation_permit.expect("allocations only load with a permit"),
                    &record,
                )?);
            }
            Ok(CaseRecord::from_row(row, nested)?)
        })
        .collect()
}

/// Loads a case the permit reaches, or 404; a restricted client's case needs a purpose of use.
fn load(
    conn: &mut DbConnection,
    permit: &Permit,
    allocation_permit: Option<&Permit>,
    id: &str,
) -> ApiResult<CaseRecord> {
    let row = queries::find(conn, scope::cases(permit, false), id)?.ok_or(ApiError::NotFound)?;
    permit.check_restricted(queries::client_is_restricted(conn, &row.client_id)?)?;
    Ok(assemble(conn, vec![row], allocation_permit)?.remove(0))
}

pub(super) fn allocation_fields(records: &[CaseRecord]) -> BTreeSet<String> {
    records
        .iter()
        .flat_map(|r| &r.allocations)
        .flat_map(|a| a.keys().cloned())
        .collect()
}

fn respond_page(
    permit: &Permit,
    records: &[CaseRecord],
    next_cursor: Option<String>,
) -> ApiResult<Disclosed> {
    Ok(disclosure::page(permit, records, next_cursor)?
        .with_nested_fields("allocations", &allocation_fields(records)))
}

fn respond_one(permit: &Permit, record: CaseRecord) -> ApiResult<Disclosed> {
    let nested = allocation_fields(std::slice::from_ref(&record));
    Ok(disclosure::one(permit, &record)?.with_nested_fields("allocations", &nested))
}

/// 422 unless `user_id` is a user of `organisation_id`.
fn check_member(
    conn: &mut DbConnection,
    field: &str,
    user_id: &str,
    organisation_id: &str,
) -> ApiResult<()> {
    let found: i64 = users::table
        .filter(users::id.eq(user_id))
        .filter(users::organisation_id.eq(organisation_id))
        .count()
        .get_result(conn)?;
    if found == 1 {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "is not a user of the organisation concerned",
        ))
    }
}

async fn list(
    ctx: &Ctx,
    permit: Permit,
    filter: CaseFilter,
    page: PageRequest,
) -> ApiResult<Disclosed> {
    let allocation_permit = ctx.nested_permit(Resource::Allocation);
    let (reader, request) = (permit.clone(), page.clone());
    let (keyring, scan) = (ctx.keyring(), ctx.state.config.list_scan_rows);
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let Scanned {
                mut rows,
                scanned_to,
            } = queries::list(
                conn,
                scope::cases(&reader, true),
                &filter,
                request.after.as_deref(),
                request.fetch(),
                Some(scan),
            )?;
            let next_cursor =
                request.finish_scan(&mut rows, |row| &row.id, scanned_to, &keyring, CASE_LIST)?;
            Ok((
                assemble(conn, rows, allocation_permit.as_ref())?,
                next_cursor,
            ))
        })
        .await?;
    respond_page(&permit, &records, next_cursor)
}

/// List cases
///
/// Cases within the caller's row scope; without `X-Purpose-Of-Use`, cases of restricted
/// clients are left out.
#[utoipa::path(tag = "cases", params(CaseListParams), responses(
    (status = 200, body = Page<CaseRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/cases")]
async fn list_cases(ctx: Ctx, params: Params<CaseListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Case, Action::Read)?;
    let params = params.parse(&permit)?;
    if params.status.is_some() {
        permit.check_filterable("status")?;
    }
    let page = PageRequest::parse_scanned(
        params.limit,
        params.cursor.as_deref(),
        &ctx.keyring(),
        CASE_LIST,
    )?;
    let filter = CaseFilter {
        client_id: None,
        status: params.status.map(|s| s.as_str().to_owned()),
    };
    list(&ctx, permit, filter, page).await
}

/// List a client's cases
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid), CaseListParams), responses(
    (status = 200, body = Page<CaseRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json", description = "Invalid cursor"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/clients/{id}/cases")]
async fn list_client_cases(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<CaseListParams>,
) -> ApiResult<Disclosed> {
    let client_permit = ctx.permit(Resource::Client, Action::Read)?;
    let case_permit = ctx.permit(Resource::Case, Action::Read)?;
    let params = params.parse(&case_permit)?;
    if params.status.is_some() {
        case_permit.check_filterable("status")?;
    }
    let page = PageRequest::parse_scanned(
        params.limit,
        params.cursor.as_deref(),
        &ctx.keyring(),
        CASE_LIST,
    )?;
    let client_id = path_id(&id)?;
    let check_id = client_id.clone();
    ctx.db()
        .read(move |conn| crate::api::clients::load(conn, &client_permit, &check_id).map(drop))
        .await?;
    let filter = CaseFilter {
        client_id: Some(client_id),
        status: params.status.map(|s| s.as_str().to_owned()),
    };
    list(&ctx, case_permit, filter, page).await
}

/// Open a case
///
/// The case belongs to the caller's division; the client must be one the caller can read.
#[utoipa::path(tag = "cases", request_body = NewCase, responses(
    (status = 201, body = CaseRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "The client is not one the caller can read"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/cases")]
async fn create_case(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Case, Action::Create)?;
    let reader = ctx.permit(Resource::Case, Action::Read)?;
    let client_reader = ctx.permit(Resource::Client, Action::Read)?;
    let allocation_permit = ctx.nested_permit(Resource::Allocation);
    let new: NewCase = write_body(&permit, body)?;
    ctx.caller.check_marking(new.protective_marking)?;
    let client_id = field_id("client_id", &new.client_id)?;
    let history = ctx.history();
    let now = history.at;
    let row = CaseRow {
        id: new_id(),
        client_id,
        division_id: ctx.caller.organisation_id.clone(),
        service_type: new.service_type,
        status: CaseStatus::Open.as_str().to_owned(),
        opened_at: now,
        closed_at: None,
        archived_at: None,
        lead_worker_id: new.lead_worker_id,
        summary: new.summary,
        risk_level: new.risk_level.as_str().to_owned(),
        protective_marking: new
            .protective_marking
            .unwrap_or(ProtectiveMarking::Official)
            .rank(),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let id = row.id.clone();
    ctx.write(move |conn| {
        crate::api::clients::load(conn, &client_reader, &row.client_id)?;
        if let Some(worker) = &row.lead_worker_id {
            check_member(conn, "lead_worker_id", worker, &row.division_id)?;
        }
        queries::insert(conn, &row)?;
        let record = load(conn, &reader, allocation_permit.as_ref(), &row.id)?;
        let changed = history.created(conn, &record)?;
        Ok(respond_one(&reader, record)?
            .at(format!("/api/v1/cases/{id}"))
            .changing(changed))
    })
    .await
}

/// Get a case
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid), ("X-Purpose-Of-Use" = Option<String>, Header)), responses(
    (status = 200, body = CaseRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/cases/{id}")]
async fn get_case(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Case, Action::Read)?;
    let allocation_permit = ctx.nested_permit(Resource::Allocation);
    let id = path_id(&id)?;
    let reader = permit.clone();
    let record = ctx
        .db()
        .read(move |conn| load(conn, &reader, allocation_permit.as_ref(), &id))
        .await?;
    respond_one(&permit, record)
}

/// Update a case
///
/// Needs `If-Match`. Setting `status` to `closed` records `closed_at`.
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = CaseUpdate, responses(
    (status = 200, body = CaseRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/cases/{id}")]
async fn update_case(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Case, Action::Update)?;
    let reader = ctx.permit(Resource::Case, Action::Read)?;
    let allocation_permit = ctx.nested_permit(Resource::Allocation);
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let update: CaseUpdate = write_body(&permit, body)?;
    ctx.caller.check_marking(update.protective_marking)?;
    let history = ctx.history();
    let now = history.at;
    let mut changes = CaseChanges {
        service_type: update.service_type,
        status: update.status.map(|s| s.as_str().to_owned()),
        closed_at: None,
        lead_worker_id: update.lead_worker_id,
        summary: update.summary,
        risk_level: update.risk_level.map(|r| r.as_str().to_owned()),
        protective_marking: update.protective_marking.map(ProtectiveMarking::rank),
    };
    ctx.write(move |conn| {
        let current = load(conn, &permit, None, &id)?;
        // `closed_at` records when the case was closed, so only a change of status moves it.
        if update.status.is_some_and(|status| status != current.status) {
            changes.closed_at = Some((update.status == Some(CaseStatus::Closed)).then_some(now));
        }
        if let Some(Some(worker)) = &changes.lead_worker_id {
            check_member(conn, "lead_worker_id", worker, &current.division_id)?;
        }
        if current.version != version || !queries::update(conn, &id, version, &changes, now)? {
            return Err(ApiError::PreconditionFailed);
        }
        let record = load(conn, &reader, allocation_permit.as_ref(), &id)?;
        let changed = history.updated(conn, &current, &record)?;
        Ok(respond_one(&reader, record)?.changing(changed))
    })
    .await
}

/// Allocate a case to a CSP
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid)), request_body = NewAllocation, responses(
    (status = 201, body = AllocationRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/cases/{id}/allocations")]
async fn create_allocation(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Allocation, Action::Create)?;
    let reader = ctx.permit(Resource::Allocation, Action::Read)?;
    let case_id = path_id(&id)?;
    let new: NewAllocation = write_body(&permit, body)?;
    if new.ends_on.is_some_and(|ends_on| ends_on < new.starts_on) {
        return Err(ApiError::invalid("ends_on", "must not be before starts_on"));
    }
    let history = ctx.history();
    let now = history.at;
    ctx.write(move |conn| {
        // The create permit's row scope names the cases it may allocate.
        let case = case_within(conn, &permit, &case_id)?;
        if !scope::csp_under_contract(conn, &new.organisation_id, permit.today())? {
            return Err(ApiError::invalid(
                "organisation_id",
                "is not a contracted service provider under contract today",
            ));
        }
        if let Some(worker) = &new.worker_id {
            check_member(conn, "worker_id", worker, &new.organisation_id)?;
        }
        let row = AllocationRow {
            id: new_id(),
            case_id: case.id,
            organisation_id: new.organisation_id,
            worker_id: new.worker_id,
            starts_on: new.starts_on.get(),
            ends_on: new.ends_on.map(Date::get),
            service_description: new.service_description,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        queries::insert_allocation(conn, &row)?;
        let record = AllocationRecord::from_row(row, &case.client_id);
        let changed = history.created(conn, &record)?;
        let location = format!("/api/v1/cases/{}/allocations/{}", record.case_id, record.id);
        Ok(disclosure::created(&reader, &record, location)?.changing(changed))
    })
    .await
}

/// Get an allocation
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid), ("allocation_id" = String, Path, format = Uuid), ("X-Purpose-Of-Use" = Option<String>, Header)), responses(
    (status = 200, body = AllocationRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/cases/{id}/allocations/{allocation_id}")]
async fn get_allocation(ctx: Ctx, path: web::Path<(String, String)>) -> ApiResult<Disclosed> {
    let case_permit = ctx.permit(Resource::Case, Action::Read)?;
    let permit = ctx.permit(Resource::Allocation, Action::Read)?;
    let (case_id, allocation_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let reader = permit.clone();
    let record = ctx
        .db()
        .read(move |conn| {
            let case = case_within(conn, &case_permit, &case_id)?;
            let row =
                queries::allocations_of(conn, scope::allocations(&reader), vec![case.id.clone()])?
                    .into_iter()
                    .find(|allocation| allocation.id == allocation_id)
                    .ok_or(ApiError::NotFound)?;
            Ok(AllocationRecord::from_row(row, &case.client_id))
        })
        .await?;
    disclosure::one(&permit, &record)
}

/// End an allocation
///
/// Sets `ends_on`; needs `If-Match` with the allocation's ETag.
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid), ("allocation_id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = AllocationUpdate, responses(
    (status = 200, body = AllocationRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/cases/{id}/allocations/{allocation_id}")]
async fn update_allocation(
    ctx: Ctx,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Allocation, Action::Update)?;
    let reader = ctx.permit(Resource::Allocation, Action::Read)?;
    let (case_id, allocation_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let version = expected_version(&req)?;
    let update: AllocationUpdate = write_body(&permit, body)?;
    let ends_on = update.ends_on.flatten().map(Date::get);
    let history = ctx.history();
    ctx.write(move |conn| {
        let case = case_within(conn, &permit, &case_id)?;
        let current =
            queries::find_allocation(conn, &case.id, &allocation_id)?.ok_or(ApiError::NotFound)?;
        if ends_on.is_some_and(|ends_on| ends_on < current.starts_on) {
            return Err(ApiError::invalid("ends_on", "must not be before starts_on"));
        }
        let change = AllocationChange::Ends(ends_on);
        allocation_changed(conn, &history, &reader, &case, current, version, change)
    })
    .await
}

/// Assign an allocation to a worker
///
/// A CSP manager names which of their organisation's active workers the allocation is assigned
/// to (`null`: unassigned). A CSP worker reaches only the clients, cases and notes of the
/// allocations assigned to them (need to know: docs/csp-partnership.md, "Need-to-know down to
/// the worker"). Needs `If-Match` with the allocation's ETag.
#[utoipa::path(tag = "cases", params(("id" = String, Path, format = Uuid), ("allocation_id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = AllocationAssignment, responses(
    (status = 200, body = AllocationRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "`worker_id` is not an active worker of the allocation's organisation"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/cases/{id}/allocations/{allocation_id}/assign")]
async fn assign_allocation(
    ctx: Ctx,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Allocation, Action::Assign)?;
    let case_permit = ctx.permit(Resource::Case, Action::Read)?;
    let reader = ctx.permit(Resource::Allocation, Action::Read)?;
    let (case_id, allocation_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let version = expected_version(&req)?;
    let assignment: AllocationAssignment = write_body(&permit, body)?;
    let worker_id = optional_field_id("worker_id", assignment.worker_id.as_deref())?;
    let history = ctx.history();
    ctx.write(move |conn| {
        let case = case_within(conn, &case_permit, &case_id)?;
        // The assign permit's row scope names the allocations it may assign.
        let current =
            queries::allocations_of(conn, scope::allocations(&permit), vec![case.id.clone()])?
                .into_iter()
                .find(|allocation| allocation.id == allocation_id)
                .ok_or(ApiError::NotFound)?;
        if let Some(worker) = &worker_id
            && !queries::is_active_worker_of(conn, worker, &current.organisation_id)?
        {
            return Err(ApiError::invalid(
                "worker_id",
                "is not an active worker of the allocation's organisation",
            ));
        }
        let previous = current.worker_id.clone();
        let change = AllocationChange::Assign {
            worker_id: worker_id.as_deref(),
            previous: previous.as_deref(),
        };
        allocation_changed(conn, &history, &reader, &case, current, version, change)
    })
    .await
}

/// Case `id` within `permit`'s row scope, its client's restriction checked: how every read
/// and write of a case's allocations opens.
fn case_within(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<CaseRow> {
    let case = queries::find(conn, scope::cases(permit, false), id)?.ok_or(ApiError::NotFound)?;
    permit.check_restricted(queries::client_is_restricted(conn, &case.client_id)?)?;
    Ok(case)
}

/// Applies `change` to `current` (an allocation of `case`) if the caller read `version`, records
/// it in the change history, and answers with the allocation as changed: 412 when the version
/// has moved on.
fn allocation_changed(
    conn: &mut DbConnection,
    history: &History,
    reader: &Permit,
    case: &CaseRow,
    current: AllocationRow,
    version: i32,
    change: AllocationChange,
) -> ApiResult<Disclosed> {
    if current.version != version
        || !queries::update_allocation(conn, &case.id, &current.id, version, change, history.at)?
    {
        return Err(ApiError::PreconditionFailed);
    }
    let row = queries::find_allocation(conn, &case.id, &current.id)?.ok_or(ApiError::NotFound)?;
    let before = AllocationRecord::from_row(current, &case.client_id);
    let record = AllocationRecord::from_row(row, &case.client_id);
    let changed = history.updated(conn, &before, &record)?;
    Ok(disclosure::one(reader, &record)?.changing(changed))
}

impl Tracked for CaseRecord {
    const RESOURCE: Resource = Resource::Case;
    fn case_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl Tracked for AllocationRecord {
    const RESOURCE: Resource = Resource::Allocation;
    fn case_id(&self) -> Option<&str> {
        Some(&self.case_id)
    }
}
