//! `/reports/csp-register`: the register of CSPs with access (issue 20, part 7). Each CSP with
//! its contract and standing, how many of its users and API clients hold each status, how the
//! active people stand on training and terms, and its last attestation, access review, access
//! audit and wrap-up. Each CSP of a page costs a few look-ups on its own keys.
use actix_web::get;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::terms;
use crate::api::attestations::overdue_cutoff;
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{PageRequest, Params, utc};
use crate::auth::training::{TrainingRecord, TrainingRules};
use crate::authz::{Action, Resource, scope};
use crate::db::directory::{self, OrganisationRow};
use crate::db::{DbConnection, access_reviews, attestations, audit, policy_documents, wrap_ups};
use crate::domain::{
    AttestationStatus, OrganisationKind, OrganisationStatus, PrincipalKind, ReviewStatus,
    StoredAsText, UserStatus, WrapUpStatus,
};
use crate::error::{ApiError, ApiResult, Problem};

/// How many of a CSP's users, or of its API clients, hold each status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct PrincipalCounts {
    pub pending: i64,
    pub active: i64,
    pub suspended: i64,
    pub deactivated: i64,
}

impl PrincipalCounts {
    fn count(&mut self, status: UserStatus) {
        let count = match status {
            UserStatus::Pending => &mut self.pending,
            UserStatus::Active => &mut self.active,
            UserStatus::Suspended => &mut self.suspended,
            UserStatus::Deactivated => &mut self.deactivated,
        };
        *count += 1;
    }
}

/// A CSP's attestation of the latest period.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterAttestation {
    #[schema(format = Uuid)]
    pub id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub submitted_at: DateTime<Utc>,
    pub status: AttestationStatus,
    /// When the department acknowledged it; null until then.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A CSP's latest access review, open or closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterAccessReview {
    #[schema(format = Uuid)]
    pub id: String,
    pub status: ReviewStatus,
    pub due_on: NaiveDate,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A CSP's latest wrap-up: the open one, else the last closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterWrapUp {
    #[schema(format = Uuid)]
    pub id: String,
    pub status: WrapUpStatus,
    /// The contract end it covers.
    pub contract_ends_on: NaiveDate,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Certificates of return or destruction recorded in it.
    pub certificates: i64,
}

/// A CSP in the register of CSPs with access.
#[derive(Debug, Serialize, ToSchema)]
pub struct CspRegisterEntry {
    /// The CSP's id.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub status: OrganisationStatus,
    #[schema(required = false)]
    pub contract_starts_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub contract_ends_on: Option<NaiveDate>,
    /// Active and under contract today: its principals may act and its allocations grant
    /// access.
    #[schema(required = false)]
    pub in_good_standing: bool,
    /// Its people by status.
    #[schema(required = false)]
    pub users: PrincipalCounts,
    /// Its API clients by status.
    #[schema(required = false)]
    pub api_clients: PrincipalCounts,
    /// Active people whose training is due within 30 days.
    #[schema(required = false)]
    pub training_due_soon: i64,
    /// Active people whose training is overdue or was never recorded: they are refused until
    /// new training is recorded.
    #[schema(required = false)]
    pub training_overdue: i64,
    /// Active people who have not accepted a policy document in force that applies to them
    /// (`/reports/terms-not-accepted` lists them).
    #[schema(required = false)]
    pub terms_not_accepted: i64,
    /// Null when the CSP never attested.
    #[schema(required = false)]
    pub last_attestation: Option<RegisterAttestation>,
    /// As `/reports/attestations-overdue` reports it.
    #[schema(required = false)]
    pub attestation_overdue: bool,
    /// Null when none was opened.
    #[schema(required = false)]
    pub last_access_review: Option<RegisterAccessReview>,
    /// When the department last ran the CSP's access audit (`/reports/csp-access`) and was
    /// allowed; null when it never did.
    #[schema(required = false)]
    pub last_csp_access_report_at: Option<DateTime<Utc>>,
    /// Null when no wrap-up was opened.
    #[schema(required = false)]
    pub wrap_up: Option<RegisterWrapUp>,
}

impl Disclose for CspRegisterEntry {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CspRegisterParams {
    /// Only CSPs of this status.
    pub status: Option<OrganisationStatus>,
    /// `true`: only CSPs in good standing today; `false`: only those that are not.
    pub in_good_standing: Option<bool>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

/// What the register needs to judge each CSP on `today`.
struct Rules {
    today: NaiveDate,
    training: TrainingRules,
    attestation_cutoff: NaiveDate,
}

/// Everything a CSP's entry shows besides its own row, each found on the CSP's keys.
fn entry(
    conn: &mut DbConnection,
    rules: &Rules,
    organisation: OrganisationRow,
    documents: &[(String, Vec<String>)],
    attestation_overdue: bool,
) -> ApiResult<CspRegisterEntry> {
    let id = organisation.id.as_str();
    let mut users = PrincipalCounts::default();
    let mut api_clients = PrincipalCounts::default();
    let (mut training_due_soon, mut training_overdue) = (0, 0);
    for (kind, status, completed_on) in directory::standings(conn, id)? {
        let kind = PrincipalKind::from_stored(&kind)?;
        let status = UserStatus::from_stored(&status)?;
        match kind {
            PrincipalKind::Person => users.count(status),
            PrincipalKind::ApiClient => api_clients.count(status),
        }
        if status != UserStatus::Active {
            continue;
        }
        let training = rules.training.standing(
            TrainingRecord::of(kind, OrganisationKind::Csp, completed_on),
            rules.today,
        );
        training_due_soon += i64::from(training.expires_soon);
        training_overdue += i64::from(training.expired);
    }
    let last_attestation = attestations::latest(conn, id)?
        .map(|row| {
            Ok::<_, ApiError>(RegisterAttestation {
                status: AttestationStatus::from_stored(&row.status)?,
                submitted_at: utc(row.submitted_at),
                acknowledged_at: row.acknowledged_at.map(utc),
                period_start: row.period_start,
                period_end: row.period_end,
                id: row.id,
            })
        })
        .transpose()?;
    let last_access_review = access_reviews::latest(conn, id)?
        .map(|row| {
            Ok::<_, ApiError>(RegisterAccessReview {
                status: ReviewStatus::from_stored(&row.status)?,
                due_on: row.due_on,
                opened_at: utc(row.opened_at),
                closed_at: row.closed_at.map(utc),
                id: row.id,
            })
        })
        .transpose()?;
    let wrap_up = match wrap_ups::latest(conn, id)? {
        Some(row) => Some(RegisterWrapUp {
            status: WrapUpStatus::from_stored(&row.status)?,
            certificates: wrap_ups::certificate_count(conn, &row.id)?,
            contract_ends_on: row.contract_ends_on,
            opened_at: utc(row.opened_at),
            closed_at: row.closed_at.map(utc),
            id: row.id,
        }),
        None => None,
    };
    Ok(CspRegisterEntry {
        status: OrganisationStatus::from_stored(&organisation.status)?,
        in_good_standing: scope::csp_under_contract(conn, id, rules.today)?,
        terms_not_accepted: policy_documents::not_accepted_count(conn, documents, id)?,
        last_csp_access_report_at: audit::last_csp_access_run(conn, id)?.map(utc),
        users,
        api_clients,
        training_due_soon,
        training_overdue,
        last_attestation,
        attestation_overdue,
        last_access_review,
        wrap_up,
        name: organisation.name,
        contract_starts_on: organisation.contract_starts_on,
        contract_ends_on: organisation.contract_ends_on,
        id: organisation.id,
    })
}

/// The register of CSPs with access
///
/// Every CSP, by id: its contract dates, status and whether it is in good standing today; its
/// users and API clients by status, and how many of its active people have training due
/// within 30 days or overdue, or owe the acceptance of a policy document; its last
/// attestation and whether one is overdue; its last access review; when the department last
/// ran its access audit; and its wrap-up.
#[utoipa::path(tag = "reports", params(CspRegisterParams), responses(
    (status = 200, body = Page<CspRegisterEntry>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/csp-register")]
pub async fn csp_register(ctx: Ctx, params: Params<CspRegisterParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::CspRegister, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let today = ctx.state.clock.today();
    let rules = Rules {
        today,
        training: TrainingRules::of(&ctx.state.config),
        attestation_cutoff: overdue_cutoff(today, ctx.policy().checklist().grace_days)?,
    };
    let reachable = scope::organisations(&permit);
    let (entries, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let mut rows = directory::list_csps(
                conn,
                reachable,
                params.status,
                params.in_good_standing,
                today,
                page.after.as_deref(),
                page.fetch(),
            )?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
            let overdue: Vec<String> =
                attestations::overdue(conn, today, rules.attestation_cutoff, Some(&ids))?
                    .into_iter()
                    .map(|(organisation, _)| organisation.id)
                    .collect();
            let documents = terms::documents_owed(conn)?;
            let entries = rows
                .into_iter()
                .map(|row| {
                    let attestation_overdue = overdue.contains(&row.id);
                    entry(conn, &rules, row, &documents, attestation_overdue)
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((entries, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &entries, next_cursor)
}
