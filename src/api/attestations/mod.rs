//! The CSP's annual attestation of its compliance with its privacy and data security
//! obligations: its manager submits one for its own organisation, answering the checklist the
//! department publishes (`policies/attestation.toml`, see `authz::checklist`); a dept_admin
//! acknowledges it; the department sees which CSPs under contract are overdue.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::organisations::reachable_csp;
use crate::api::request::{
    Body, FieldChecks, PageParams, PageRequest, Params, expected_version, new_id, parse_json,
    path_id, utc, write_body,
};
use crate::authz::checklist::Checklist;
use crate::authz::{Action, Resource};
use crate::db::attestations::{self as queries, AttestationRow};
use crate::domain::{AttestationAnswer, AttestationStatus, Date, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(attestation_checklist)
        .service(list_attestations)
        .service(submit_attestation)
        .service(get_attestation)
        .service(acknowledge_attestation)
        .service(attestations_overdue);
}

/// The attestation checklist in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistRecord {
    /// Named by every attestation answered against it.
    pub version: String,
    /// An attestation is overdue a year and this many days after the end of the last period
    /// attested to (or after the contract's start).
    pub grace_days: u16,
    pub questions: Vec<ChecklistQuestion>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistQuestion {
    /// The key of its answer in `answers`.
    pub id: String,
    pub text: String,
}

/// A question of the checklist as it was answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnsweredQuestion {
    pub question_id: String,
    /// The question's text when it was answered.
    pub question: String,
    pub answer: AttestationAnswer,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttestationRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false)]
    pub period_start: NaiveDate,
    #[schema(required = false)]
    pub period_end: NaiveDate,
    #[schema(required = false)]
    pub statement: String,
    /// The edition of the checklist the answers are to.
    #[schema(required = false)]
    pub checklist_version: String,
    #[schema(required = false)]
    pub answers: Vec<AnsweredQuestion>,
    #[schema(required = false)]
    pub signed_by_name: String,
    #[schema(required = false)]
    pub signed_by_position: String,
    #[schema(required = false, format = Uuid)]
    pub submitted_by: String,
    #[schema(required = false)]
    pub submitted_at: DateTime<Utc>,
    #[schema(required = false)]
    pub status: AttestationStatus,
    #[schema(required = false, format = Uuid)]
    pub acknowledged_by: Option<String>,
    #[schema(required = false)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[schema(required = false)]
    pub version: i32,
}

impl AttestationRecord {
    fn of(row: AttestationRow) -> ApiResult<Self> {
        Ok(Self {
            status: AttestationStatus::from_stored(&row.status)?,
            answers: parse_json(&row.answers)?,
            submitted_at: utc(row.submitted_at),
            acknowledged_at: row.acknowledged_at.map(utc),
            id: row.id,
            organisation_id: row.organisation_id,
            period_start: row.period_start,
            period_end: row.period_end,
            statement: row.statement,
            checklist_version: row.checklist_version,
            signed_by_name: row.signed_by_name,
            signed_by_position: row.signed_by_position,
            submitted_by: row.submitted_by,
            acknowledged_by: row.acknowledged_by,
            version: row.version,
        })
    }
}

impl Disclose for AttestationRecord {
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
pub struct NewAttestation {
    /// The first day of the year attested to.
    pub period_start: Date,
    /// The last day attested to: not after today, not before `period_start`.
    pub period_end: Date,
    /// The CSP's statement of its compliance, and of any exception a `no` answer marks.
    #[validate(length(min = 1, max = 10000))]
    #[schema(min_length = 1, max_length = 10000)]
    pub statement: String,
    /// An answer to every question of the checklist in force (`GET
    /// /api/v1/attestation-checklist`), by question id.
    pub answers: BTreeMap<String, AttestationAnswer>,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub signed_by_name: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub signed_by_position: String,
}

/// The answers in the checklist's order, with each question's text; 422 naming
/// `answers.<id>` for each question left out and each id that is not a question.
fn answered(
    checklist: &Checklist,
    answers: &BTreeMap<String, AttestationAnswer>,
    checks: &mut FieldChecks,
) -> Vec<AnsweredQuestion> {
    for id in answers.keys() {
        checks.require(
            checklist.question(id).is_some(),
            format!("answers.{id}"),
            format!("is not a question of checklist {}", checklist.version),
        );
    }
    checklist
        .questions
        .iter()
        .filter_map(|question| {
            let answer = answers.get(&question.id).copied();
            checks.require(
                answer.is_some(),
                format!("answers.{}", question.id),
                "must be answered",
            );
            Some(AnsweredQuestion {
                question_id: question.id.clone(),
                question: question.text.clone(),
                answer: answer?,
            })
        })
        .collect()
}

/// The attestation checklist
///
/// The questions an attestation answers, as the department publishes them now.
#[utoipa::path(tag = "csp-partnership", responses(
    (status = 200, body = ChecklistRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/attestation-checklist")]
async fn attestation_checklist(ctx: Ctx) -> ApiResult<HttpResponse> {
    ctx.permit(Resource::Attestation, Action::Read)?;
    let checklist = ctx.policy().checklist();
    Ok(HttpResponse::Ok().json(ChecklistRecord {
        version: checklist.version.clone(),
        grace_days: checklist.grace_days,
        questions: checklist
            .questions
            .iter()
            .map(|question| ChecklistQuestion {
                id: question.id.clone(),
                text: question.text.clone(),
            })
            .collect(),
    }))
}

/// List a CSP's attestations
///
/// Oldest first. A CSP's manager lists its own organisation's; another organisation is 404.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid), PageParams), responses(
    (status = 200, body = Page<AttestationRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/organisations/{id}/attestations")]
async fn list_attestations(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<PageParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Attestation, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let (records, next_cursor) = ctx
        .db()
        .read(move |conn| {
            let organisation = reachable_csp(conn, &reader, &id)?;
            let mut rows =
                queries::list(conn, &organisation.id, page.after.as_deref(), page.fetch())?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let records = rows
                .into_iter()
                .map(AttestationRecord::of)
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((records, next_cursor))
        })
        .await?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Submit an attestation
///
/// By the CSP's manager, for its own organisation: the period attested to, an answer to every
/// question of the checklist in force, a statement, and who signed it. The checklist's
/// version and questions are kept with the answers.
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid)), request_body = NewAttestation, responses(
    (status = 201, body = AttestationRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/organisations/{id}/attestations")]
async fn submit_attestation(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Attestation, Action::Create)?;
    let reader = ctx.permit(Resource::Attestation, Action::Read)?;
    let id = path_id(&id)?;
    let new: NewAttestation = write_body(&permit, body)?;
    let today = ctx.state.clock.today();
    let checklist = ctx.policy().checklist();
    let mut checks = FieldChecks::default();
    checks.require(
        new.period_end.get() <= today,
        "period_end",
        "must not be in the future",
    );
    checks.require(
        new.period_start <= new.period_end,
        "period_start",
        "must not be after period_end",
    );
    let answers = answered(checklist, &new.answers, &mut checks);
    checks.finish()?;
    let recorder = ctx.recorder();
    let row = AttestationRow {
        id: new_id(),
        organisation_id: id,
        period_start: new.period_start.get(),
        period_end: new.period_end.get(),
        statement: new.statement,
        checklist_version: checklist.version.clone(),
        answers: serde_json::to_string(&answers).map_err(ApiError::internal)?,
        signed_by_name: new.signed_by_name,
        signed_by_position: new.signed_by_position,
        submitted_by: recorder.by,
        submitted_at: recorder.at,
        status: AttestationStatus::Submitted.as_str().to_owned(),
        acknowledged_by: None,
        acknowledged_at: None,
        version: 1,
    };
    ctx.write(move |conn| {
        reachable_csp(conn, &permit, &row.organisation_id)?;
        queries::insert(conn, &row)?;
        let location = format!(
            "/api/v1/organisations/{}/attestations/{}",
            row.organisation_id, row.id
        );
        disclosure::created(&reader, &AttestationRecord::of(row)?, location)
    })
    .await
}

/// Get an attestation
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid), ("attestation_id" = String, Path, format = Uuid)), responses(
    (status = 200, body = AttestationRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/organisations/{id}/attestations/{attestation_id}")]
async fn get_attestation(ctx: Ctx, path: web::Path<(String, String)>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Attestation, Action::Read)?;
    let (id, attestation_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let reader = permit.clone();
    let record = ctx
        .db()
        .read(move |conn| {
            let organisation = reachable_csp(conn, &reader, &id)?;
            let row = queries::find(conn, &organisation.id, &attestation_id)?
                .ok_or(ApiError::NotFound)?;
            AttestationRecord::of(row)
        })
        .await?;
    disclosure::one(&permit, &record)
}

/// Acknowledge an attestation
///
/// The department's acknowledgement that it received and read the attestation. Needs
/// `If-Match`; an attestation is acknowledged once (409 `attestation_acknowledged`).
#[utoipa::path(tag = "csp-partnership", params(("id" = String, Path, format = Uuid), ("attestation_id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), responses(
    (status = 200, body = AttestationRecord, headers(("ETag" = String))),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/organisations/{id}/attestations/{attestation_id}/acknowledgement")]
async fn acknowledge_attestation(
    ctx: Ctx,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Attestation, Action::Acknowledge)?;
    let reader = ctx.permit(Resource::Attestation, Action::Read)?;
    let (id, attestation_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let version = expected_version(&req)?;
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        let organisation = reachable_csp(conn, &permit, &id)?;
        let current =
            queries::find(conn, &organisation.id, &attestation_id)?.ok_or(ApiError::NotFound)?;
        if current.version != version {
            return Err(ApiError::PreconditionFailed);
        }
        if current.status == AttestationStatus::Acknowledged.as_str() {
            return Err(ApiError::conflict(
                "attestation_acknowledged",
                "The attestation has been acknowledged already.",
            ));
        }
        if !queries::acknowledge(conn, &current.id, version, &recorder.by, recorder.at)? {
            return Err(ApiError::PreconditionFailed);
        }
        let row =
            queries::find(conn, &organisation.id, &attestation_id)?.ok_or(ApiError::NotFound)?;
        disclosure::one(&reader, &AttestationRecord::of(row)?)
    })
    .await
}

/// A CSP under contract whose attestation is overdue.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueAttestation {
    /// The CSP's id.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub contract_starts_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub contract_ends_on: Option<NaiveDate>,
    /// Null when the CSP never attested.
    #[schema(required = false, format = Uuid)]
    pub last_attestation_id: Option<String>,
    #[schema(required = false)]
    pub last_period_end: Option<NaiveDate>,
    /// Whether the department acknowledged the last attestation.
    #[schema(required = false)]
    pub last_acknowledged: Option<bool>,
    /// A year and the checklist's `grace_days` after the last period's end (or the
    /// contract's start).
    #[schema(required = false)]
    pub due_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub days_overdue: Option<i64>,
}

impl Disclose for OverdueAttestation {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

/// When an attestation counting from `from` (a period's end, or a contract's start) is due.
fn due_on(from: NaiveDate, grace_days: u16) -> Option<NaiveDate> {
    from.checked_add_months(Months::new(12))
        .map(|year_later| year_later + Duration::days(i64::from(grace_days)))
}

/// An attestation is overdue on `today` when its reference day (the last period's end, or the
/// contract's start) is before this: a year and the checklist's `grace_days` before today.
pub fn overdue_cutoff(today: NaiveDate, grace_days: u16) -> ApiResult<NaiveDate> {
    (today - Duration::days(i64::from(grace_days)))
        .checked_sub_months(Months::new(12))
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("date out of range")))
}

/// Overdue attestations
///
/// Every CSP under contract today that has not attested to a period ending within the last
/// year and the checklist's `grace_days`, and whose contract started before that (a CSP that
/// never attested is overdue a year and `grace_days` after its contract started). A submitted
/// attestation counts whether or not it was acknowledged. By CSP id.
#[utoipa::path(tag = "reports", responses(
    (status = 200, body = Page<OverdueAttestation>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/attestations-overdue")]
async fn attestations_overdue(ctx: Ctx) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::OverdueAttestation, Action::Read)?;
    let today = ctx.state.clock.today();
    let grace_days = ctx.policy().checklist().grace_days;
    let cutoff = overdue_cutoff(today, grace_days)?;
    let overdue = ctx
        .db()
        .read(move |conn| Ok(queries::overdue(conn, today, cutoff, None)?))
        .await?;
    let entries: Vec<OverdueAttestation> = overdue
        .into_iter()
        .map(|(organisation, last)| {
            let from = last
                .as_ref()
                .map(|last| last.period_end)
                .or(organisation.contract_starts_on);
            let due_on = from.and_then(|from| due_on(from, grace_days));
            OverdueAttestation {
                days_overdue: due_on.map(|due| (today - due).num_days()),
                due_on,
                last_acknowledged: last
                    .as_ref()
                    .map(|last| last.status == AttestationStatus::Acknowledged.as_str()),
                last_period_end: last.as_ref().map(|last| last.period_end),
                last_attestation_id: last.map(|last| last.id),
                id: organisation.id,
                name: organisation.name,
                contract_starts_on: organisation.contract_starts_on,
                contract_ends_on: organisation.contract_ends_on,
            }
        })
        .collect();
    disclosure::page(&permit, &entries, None)
}
