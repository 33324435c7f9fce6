//! `/reports`: views across records for the department's oversight.
use actix_web::get;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{PageRequest, Params, field_id, utc};
use crate::auth::login::LoginRules;
use crate::auth::training::{TrainingRecord, TrainingRules};
use crate::authz::{Action, Resource};
use crate::db::access_reviews as reviews;
use crate::db::directory::{self, UserRow};
use crate::domain::{OrganisationKind, PrincipalKind, ProtectiveMarking, StoredAsText, UserStatus};
use crate::error::{ApiError, ApiResult, Problem};

mod csp_access;
mod csp_register;
mod requests_overdue;
mod terms;
mod unusual;

pub use csp_access::CspAccessEntry;

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(access_register)
        .service(unusual::unusual_activity)
        .service(csp_access::csp_access)
        .service(csp_register::csp_register)
        .service(requests_overdue::requests_overdue)
        .service(terms::terms_not_accepted);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastReview {
    #[schema(format = Uuid)]
    pub review_id: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub decision: Option<String>,
    pub outcome: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterEntry {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub kind: PrincipalKind,
    #[schema(required = false)]
    pub username: String,
    #[schema(required = false)]
    pub display_name: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false)]
    pub status: UserStatus,
    #[schema(required = false)]
    pub status_reason: Option<String>,
    /// Not used within the dormancy period (90 days by default): suspended at its next login,
    /// or already suspended as dormant.
    #[schema(required = false)]
    pub dormant: bool,
    #[schema(required = false)]
    pub clearance: ProtectiveMarking,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
    #[schema(required = false)]
    pub training_completed_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub security_check_completed_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub acceptable_use_accepted_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub approved_at: Option<DateTime<Utc>>,
    /// For an API client, when it last obtained a token.
    #[schema(required = false)]
    pub last_login_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub mfa_enrolled: bool,
    #[schema(required = false)]
    pub last_review: Option<LastReview>,
    /// Active, and not reviewed within the review interval (90 days by default).
    #[schema(required = false)]
    pub review_overdue: bool,
    /// The last day the recorded training is current; null when none is recorded.
    #[schema(required = false)]
    pub training_due_on: Option<NaiveDate>,
    /// Training due within 30 days.
    #[schema(required = false)]
    pub training_expires_soon: bool,
    /// Training overdue (or, for CSP staff, never recorded): the person is refused until new
    /// training is recorded.
    #[schema(required = false)]
    pub training_expired: bool,
}

impl Disclose for RegisterEntry {
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
pub struct RegisterParams {
    /// Only this organisation's users and API clients.
    #[param(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

struct Periods {
    now: NaiveDateTime,
    rules: LoginRules,
    review_interval: Duration,
    training: TrainingRules,
}

fn entry(
    row: UserRow,
    organisation_kind: OrganisationKind,
    last_review: Option<LastReview>,
    periods: &Periods,
) -> ApiResult<RegisterEntry> {
    let status = UserStatus::from_stored(&row.status)?;
    let kind = PrincipalKind::from_stored(&row.kind)?;
    let training = periods.training.standing(
        TrainingRecord::of(kind, organisation_kind, row.training_completed_on),
        periods.now.date(),
    );
    let dormant = row.status_reason.as_deref() == Some("dormant")
        || (status == UserStatus::Active
            && periods.rules.is_dormant(
                row.last_login_at,
                row.activated_at,
                row.created_at,
                periods.now,
            ));
    let reviewed_since = last_review
        .as_ref()
        .and_then(|review| review.closed_at)
        .map(|at| at.naive_utc())
        .unwrap_or(row.created_at);
    Ok(RegisterEntry {
        kind,
        training_due_on: training.due_on,
        training_expires_soon: training.expires_soon,
        training_expired: training.expired,
        roles: serde_json::from_str(&row.roles).map_err(ApiError::internal)?,
        clearance: ProtectiveMarking::from_rank(row.clearance)?,
        created_at: utc(row.created_at),
        approved_at: row.approved_at.map(utc),
        last_login_at: row.last_login_at.map(utc),
        mfa_enrolled: row.totp_confirmed_at.is_some(),
        review_overdue: status == UserStatus::Active
            && periods.now - reviewed_since > periods.review_interval,
        dormant,
        status,
        last_review,
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        organisation_id: row.organisation_id,
        status_reason: row.status_reason,
        training_completed_on: row.training_completed_on,
        security_check_completed_on: row.security_check_completed_on,
        acceptable_use_accepted_on: row.acceptable_use_accepted_on,
    })
}

/// The access register
///
/// Every user and API client that is pending, active or suspended, with their roles,
/// onboarding dates, last login, dormancy, MFA, last access review and whether one is
/// overdue, and when their training is due and whether it is due soon or overdue.
#[utoipa::path(tag = "reports", params(RegisterParams), responses(
    (status = 200, body = Page<RegisterEntry>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/access-register")]
async fn access_register(ctx: Ctx, params: Params<RegisterParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::AccessRegister, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let organisation_id = params
        .organisation_id
        .as_deref()
        .map(|id| field_id("organisation_id", id))
        .transpose()?;
    let config = &ctx.state.config;
    let periods = Periods {
        now: ctx.now(),
        rules: LoginRules::of(config),
        review_interval: Duration::days(i64::from(config.review_interval_days)),
        training: TrainingRules::of(config),
    };
    let (rows, last_reviews, kinds, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let mut rows = directory::register(
                conn,
                organisation_id.as_deref(),
                page.after.as_deref(),
                page.fetch(),
            )?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
            let organisations: Vec<String> =
                rows.iter().map(|row| row.organisation_id.clone()).collect();
            Ok((
                rows,
                reviews::last_reviews(conn, &ids)?,
                directory::organisation_kinds(conn, &organisations)?,
                next_cursor,
            ))
        })
        .await?;
    let entries = rows
        .into_iter()
        .map(|row| {
            // Ordered by closing time: the last one seen is the latest.
            let last = last_reviews
                .iter()
                .rfind(|item| item.subject_id == row.id)
                .map(|item| LastReview {
                    review_id: item.review_id.clone(),
                    closed_at: item.closed_at.map(utc),
                    decision: item.decision.clone(),
                    outcome: item.outcome.clone(),
                });
            let organisation_kind = kinds
                .iter()
                .find(|(id, _)| *id == row.organisation_id)
                .map(|(_, kind)| OrganisationKind::from_stored(kind))
                .transpose()?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user without organisation")))?;
            entry(row, organisation_kind, last, &periods)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    disclosure::page(&permit, &entries, next_cursor)
}
