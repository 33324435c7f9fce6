//! The wrap-up of a CSP's contract, which proves the client files came back: a dept_admin
//! opens it before or at the contract's end; it lists the CSP's users and API clients and, in
//! its annex (a page of clients at a time), every client ever allocated to the CSP with what
//! the audit trail shows was disclosed to the CSP's people and systems; the CSP's manager
//! (who may still sign in for this alone once the contract has ended, see
//! `authz::SessionLimit::WrapUp`) records a certificate of return or destruction; a
//! dept_admin closes it. CSPs whose contract ended without a closed wrap-up are reported.
use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, get, post, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::{Ctx, WrapUpCtx};
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::organisations::reachable_csp;
use crate::api::request::{
    Body, PageParams, PageRequest, Params, expected_version, new_id, parse_json, path_id, utc,
    write_body,
};
use crate::authz::{Action, Permit, Resource};
use crate::db::DbConnection;
use crate::db::wrap_ups::{self as queries, CertificateRow, WrapUpRow};
use crate::domain::{Date, PrincipalKind, ReturnMethod, StoredAsText, UserStatus, WrapUpStatus};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(open_wrap_up)
        .service(get_wrap_up)
        .service(wrap_up_annex)
        .service(record_certificate)
        .service(close_wrap_up)
        .service(wrap_ups_outstanding);
}

/// A user or API client of the CSP.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrapUpPrincipal {
    #[schema(format = Uuid)]
    pub id: String,
    pub kind: PrincipalKind,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub status: UserStatus,
}

/// What the CSP certifies it returned or destroyed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrapUpCertificate {
    #[schema(format = Uuid)]
    pub id: String,
    pub what: String,
    pub how: ReturnMethod,
    pub when: NaiveDate,
    pub by_whom: String,
    pub statement: String,
    #[schema(format = Uuid)]
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WrapUpRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    /// The contract end this wrap-up is for.
    #[schema(required = false)]
    pub contract_ends_on: NaiveDate,
    #[schema(required = false)]
    pub status: WrapUpStatus,
    #[schema(required = false, format = Uuid)]
    pub opened_by: String,
    #[schema(required = false)]
    pub opened_at: DateTime<Utc>,
    #[schema(required = false, format = Uuid)]
    pub closed_by: Option<String>,
    #[schema(required = false)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Every user and API client of the CSP, whatever their status.
    #[schema(required = false)]
    pub principals: Vec<WrapUpPrincipal>,
    /// How many clients ever had a case allocated to the CSP: the annex lists them.
    #[schema(required = false)]
    pub allocated_clients: i64,
    #[schema(required = false)]
    pub certificates: Vec<WrapUpCertificate>,
    #[schema(required = false)]
    pub version: i32,
}

impl Disclose for WrapUpRecord {
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

/// One allocation of a client's case to the CSP.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnnexAllocation {
    #[schema(format = Uuid)]
    pub case_id: String,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

/// A client ever allocated to the CSP, and what the audit trail shows its people and systems
/// were disclosed of the client's file: what must come back.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnnexEntry {
    #[schema(format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub allocations: Vec<AnnexAllocation>,
    /// Every field disclosed, as `resource.field` (`client.phone`, `note.body`); empty when
    /// nothing was.
    #[schema(required = false)]
    pub fields: Vec<String>,
    /// How many allowed requests of the CSP's principals disclosed some of it.
    #[schema(required = false)]
    pub disclosures: i64,
    #[schema(required = false)]
    pub first_disclosed_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub last_disclosed_at: Option<DateTime<Utc>>,
}

impl Disclose for AnnexEntry {
    fn id(&self) -> &str {
        &self.client_id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWrapUpCertificate {
    /// What was returned or destroyed: the files, copies, systems and media.
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub what: String,
    pub how: ReturnMethod,
    /// When it was done: not in the future.
    pub when: Date,
    /// Who did it.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub by_whom: String,
    /// The CSP's statement that no other copy is kept.
    #[validate(length(min = 1, max = 10000))]
    #[schema(min_length = 1, max_length = 10000)]
    pub statement: String,
}

fn record(conn: &mut DbConnection, row: WrapUpRow) -> ApiResult<WrapUpRecord> {
    let principals = queries::principals(conn, &row.organisation_id)?
        .into_iter()
        .map(|principal| {
            Ok(WrapUpPrincipal {
                kind: PrincipalKind::from_stored(&principal.kind)?,
                status: UserStatus::from_stored(&principal.status)?,
                roles: parse_json(&principal.roles)?,
                id: principal.id,
                username: principal.username,
                display_name: principal.display_name,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let certificates = queries::certificates(conn, &row.id)?
        .into_iter()
        .map(|certificate| {
            Ok(WrapUpCertificate {
                how: ReturnMethod::from_stored(&certificate.how)?,
                recorded_at: utc(certificate.recorded_at),
                id: certificate.id,
                what: certificate.what,
                when: certificate.done_on,
                by_whom: certificate.by_whom,
                statement: certificate.statement,
                recorded_by: certificate.recorded_by,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(WrapUpRecord {
        status: WrapUpStatus::from_stored(&row.status)?,
        allocated_clients: queries::allocated_client_count(conn, &row.organisation_id)?,
        opened_at: utc(row.opened_at),
        closed_at: row.closed_at.map(utc),
        id: row.id,
        organisation_id: row.organisation_id,
        contract_ends_on: row.contract_ends_on,
        opened_by: row.opened_by,
        closed_by: row.closed_by,
        principals,
        certificates,
        version: row.version,
    })
}

/// The latest wrap-up of the CSP `id` names, when the permit reaches it; 404 otherwise.
fn reachable_wrap_up(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<WrapUpRow> {
    let organisation = reachable_csp(conn, permit, id)?;
    queries::latest(conn, &organisation.id)?.ok_or(ApiError::NotFound)
}

fn wrap_up_closed() -> ApiError {
    ApiError::conflict("wrap_up_closed", "The wrap-up is closed.")
}

fn location(organisation_id: &str) -> String {
    format!("/api/v1/organisations/{organisation_id}/wrap-up")
}

/// Open a CSP's contract wrap-up
///
/// For the contract end the CSP's record names (409 `contract_end_not_set` without one),
/// before or after it. One open wrap-up per CSP (409 `wrap_up_already_open`). While it is
/// open and the contract has ended, the CSP's manager may still sign in, for the wrap-up
/// alone.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid)), responses(
    (status = 201, body = WrapUpRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/organisations/{id}/wrap-up")]
async fn open_wrap_up(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::WrapUp, Action::Create)?;
    let reader = ctx.permit(Resource::WrapUp, Action::Read)?;
    let id = path_id(&id)?;
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        let organisation = reachable_csp(conn, &permit, &id)?;
        let Some(contract_ends_on) = organisation.contract_ends_on else {
            return Err(ApiError::conflict(
                "contract_end_not_set",
                "Set the CSP's contract_ends_on before opening its wrap-up.",
            ));
        };
        if queries::latest(conn, &organisation.id)?
            .is_some_and(|latest| latest.status == WrapUpStatus::Open.as_str())
        {
            return Err(ApiError::conflict(
                "wrap_up_already_open",
                "The CSP's wrap-up is open already.",
            ));
        }
        let row = WrapUpRow {
            id: new_id(),
            organisation_id: organisation.id,
            contract_ends_on,
            status: WrapUpStatus::Open.as_str().to_owned(),
            opened_by: recorder.by,
            opened_at: recorder.at,
            closed_by: None,
            closed_at: None,
            version: 1,
        };
        queries::insert(conn, &row)?;
        let location = location(&row.organisation_id);
        disclosure::created(&reader, &record(conn, row)?, location)
    })
    .await
}

/// Get a CSP's contract wrap-up
///
/// The latest one: its users and API clients, how many clients were ever allocated to it
/// (listed in the annex) and its certificates. A CSP's manager reads its own (also once the
/// contract has ended); another CSP's is 404.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = WrapUpRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/organisations/{id}/wrap-up")]
async fn get_wrap_up(WrapUpCtx(ctx): WrapUpCtx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::WrapUp, Action::Read)?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let record = ctx
        .db()
        .read(move |conn| {
            let row = reachable_wrap_up(conn, &reader, &id)?;
            record(conn, row)
        })
        .await?;
    disclosure::one(&permit, &record)
}

/// The wrap-up's annex: what must come back
///
/// Every client ever allocated to the CSP, by client id, a page at a time: its allocations to
/// the CSP, and the fields of its file that the audit trail shows the CSP's users and API
/// clients were disclosed, when first and last, and by how many requests.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid), PageParams), responses(
    (status = 200, body = Page<AnnexEntry>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/organisations/{id}/wrap-up/annex")]
async fn wrap_up_annex(
    WrapUpCtx(ctx): WrapUpCtx,
    id: web::Path<String>,
    params: Params<PageParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::WrapUpAnnex, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let (entries, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let wrap_up = reachable_wrap_up(conn, &reader, &id)?;
            let organisation = wrap_up.organisation_id;
            let mut clients = queries::allocated_clients(
                conn,
                &organisation,
                page.after.as_deref(),
                page.fetch(),
            )?;
            let next_cursor = page.finish(&mut clients, |client| client);
            let entries = annex(conn, &organisation, clients)?;
            Ok((entries, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &entries, next_cursor)
}

/// The annex entries of `clients`, in their order.
fn annex(
    conn: &mut DbConnection,
    organisation_id: &str,
    clients: Vec<String>,
) -> ApiResult<Vec<AnnexEntry>> {
    let mut entries: BTreeMap<String, AnnexEntry> = clients
        .iter()
        .map(|client_id| {
            let entry = AnnexEntry {
                client_id: client_id.clone(),
                allocations: Vec::new(),
                fields: Vec::new(),
                disclosures: 0,
                first_disclosed_at: None,
                last_disclosed_at: None,
            };
            (client_id.clone(), entry)
        })
        .collect();
    for allocation in queries::allocations_of(conn, organisation_id, &clients)? {
        if let Some(entry) = entries.get_mut(&allocation.client_id) {
            entry.allocations.push(AnnexAllocation {
                case_id: allocation.case_id,
                starts_on: allocation.starts_on,
                ends_on: allocation.ends_on,
            });
        }
    }
    let annex_resource = Resource::WrapUpAnnex.name();
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut span: BTreeMap<String, (NaiveDateTime, NaiveDateTime)> = BTreeMap::new();
    for group in queries::disclosures_to(conn, organisation_id, &clients, annex_resource)? {
        let Some(entry) = entries.get_mut(&group.client_id) else {
            continue;
        };
        entry.disclosures += group.requests;
        let resource = group.resource_type.unwrap_or_default();
        fields.entry(group.client_id.clone()).or_default().extend(
            parse_json::<Vec<String>>(&group.fields)?
                .into_iter()
                .map(|field| format!("{resource}.{field}")),
        );
        if let (Some(first), Some(last)) = (group.first, group.last) {
            let known = span.entry(group.client_id).or_insert((first, last));
            *known = (known.0.min(first), known.1.max(last));
        }
    }
    Ok(clients
        .iter()
        .filter_map(|client_id| entries.remove(client_id))
        .map(|mut entry| {
            entry.fields = fields
                .remove(&entry.client_id)
                .map(|fields| fields.into_iter().collect())
                .unwrap_or_default();
            if let Some((first, last)) = span.remove(&entry.client_id) {
                entry.first_disclosed_at = Some(utc(first));
                entry.last_disclosed_at = Some(utc(last));
            }
            entry
        })
        .collect())
}

/// Record a certificate of return or destruction
///
/// By the CSP's manager (also once the contract has ended) or a dept_admin (a certificate
/// received on paper): what was returned or destroyed, how, when, by whom, and the CSP's
/// statement. Only while the wrap-up is open (409 `wrap_up_closed`). Answers the wrap-up.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid)), request_body = NewWrapUpCertificate, responses(
    (status = 201, body = WrapUpRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/organisations/{id}/wrap-up/certificate")]
async fn record_certificate(
    WrapUpCtx(ctx): WrapUpCtx,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::WrapUpCertificate, Action::Create)?;
    let reader = ctx.permit(Resource::WrapUp, Action::Read)?;
    let id = path_id(&id)?;
    let new: NewWrapUpCertificate = write_body(&permit, body)?;
    if new.when.get() > ctx.state.clock.today() {
        return Err(ApiError::invalid("when", "must not be in the future"));
    }
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        let wrap_up = reachable_wrap_up(conn, &permit, &id)?;
        if wrap_up.status != WrapUpStatus::Open.as_str() {
            return Err(wrap_up_closed());
        }
        queries::insert_certificate(
            conn,
            &CertificateRow {
                id: new_id(),
                wrap_up_id: wrap_up.id.clone(),
                what: new.what,
                how: new.how.as_str().to_owned(),
                done_on: new.when.get(),
                by_whom: new.by_whom,
                statement: new.statement,
                recorded_by: recorder.by,
                recorded_at: recorder.at,
            },
        )?;
        let row = reachable_wrap_up(conn, &reader, &id)?;
        let location = location(&row.organisation_id);
        disclosure::created(&reader, &record(conn, row)?, location)
    })
    .await
}

/// Close a CSP's contract wrap-up
///
/// Needs `If-Match` (so that what is closed is what was read, certificates included) and at
/// least one certificate (409 `certificate_required`). A closed wrap-up is final, and the
/// CSP's people can no longer sign in once its contract has ended.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), responses(
    (status = 200, body = WrapUpRecord, headers(("ETag" = String))),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/organisations/{id}/wrap-up/close")]
async fn close_wrap_up(ctx: Ctx, req: HttpRequest, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::WrapUp, Action::Close)?;
    let reader = ctx.permit(Resource::WrapUp, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        let wrap_up = reachable_wrap_up(conn, &permit, &id)?;
        if wrap_up.version != version {
            return Err(ApiError::PreconditionFailed);
        }
        if wrap_up.status != WrapUpStatus::Open.as_str() {
            return Err(wrap_up_closed());
        }
        if queries::certificates(conn, &wrap_up.id)?.is_empty() {
            return Err(ApiError::conflict(
                "certificate_required",
                "Record the CSP's certificate of return or destruction before closing.",
            ));
        }
        if !queries::close(conn, &wrap_up.id, version, &recorder.by, recorder.at)? {
            return Err(ApiError::PreconditionFailed);
        }
        let row = reachable_wrap_up(conn, &reader, &id)?;
        disclosure::one(&reader, &record(conn, row)?)
    })
    .await
}

/// A CSP whose contract ended without a closed wrap-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutstandingWrapUp {
    /// The CSP's id.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub contract_ends_on: NaiveDate,
    #[schema(required = false)]
    pub days_since_end: i64,
    /// The open wrap-up, if one was opened.
    #[schema(required = false, format = Uuid)]
    pub wrap_up_id: Option<String>,
    /// `open`, or null when none was opened.
    #[schema(required = false)]
    pub wrap_up_status: Option<WrapUpStatus>,
    /// Certificates recorded in the open wrap-up.
    #[schema(required = false)]
    pub certificates: i64,
}

impl Disclose for OutstandingWrapUp {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

/// Outstanding wrap-ups
///
/// Every CSP whose contract ended before today without a closed wrap-up for that end, with
/// its open wrap-up if one was opened. By CSP id.
#[utoipa::path(tag = "reports", responses(
    (status = 200, body = Page<OutstandingWrapUp>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/wrap-ups-outstanding")]
async fn wrap_ups_outstanding(ctx: Ctx) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::OutstandingWrapUp, Action::Read)?;
    let today = ctx.state.clock.today();
    let outstanding = ctx
        .db()
        .read(move |conn| Ok(queries::outstanding(conn, today)?))
        .await?;
    let entries = outstanding
        .into_iter()
        .map(|queries::Outstanding { organisation, open }| {
            let contract_ends_on = organisation
                .contract_ends_on
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("contract end missing")))?;
            let certificates = open.as_ref().map_or(0, |(_, count)| *count);
            let wrap_up_status = open
                .as_ref()
                .map(|(wrap_up, _)| WrapUpStatus::from_stored(&wrap_up.status))
                .transpose()?;
            Ok(OutstandingWrapUp {
                days_since_end: (today - contract_ends_on).num_days(),
                wrap_up_id: open.map(|(wrap_up, _)| wrap_up.id),
                wrap_up_status,
                certificates,
                contract_ends_on,
                id: organisation.id,
                name: organisation.name,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    disclosure::page(&permit, &entries, None)
}
