//! `/retention-schedules`, `/retention/runs` and `/disposal-certificates`: how long files
//! are kept, running retention (archiving and disposal; see [`crate::retention`]) and the
//! certificates disposal leaves.
use std::collections::BTreeMap;

use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, new_id, parse_json, path_id, utc};
use crate::authz::{Action, Resource};
use crate::db::retention::{self as queries, CertificateRow, ScheduleRow};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::retention::{self, AppliesTo, ScheduleApplied};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(create_schedule)
        .service(list_schedules)
        .service(run_retention)
        .service(get_certificate);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionScheduleRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub applies_to: AppliesTo,
    /// Null for the schedule for clients without cases.
    #[schema(required = false)]
    pub service_type: Option<String>,
    /// Null for the schedule for clients without cases.
    #[schema(required = false)]
    pub archive_after_years: Option<i32>,
    #[schema(required = false)]
    pub dispose_after_years: i32,
    #[schema(required = false, format = Uuid)]
    pub created_by: String,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
}

impl From<ScheduleRow> for RetentionScheduleRecord {
    fn from(row: ScheduleRow) -> Self {
        Self {
            applies_to: retention::applies_to(&row),
            id: row.id,
            service_type: row.service_type,
            archive_after_years: row.archive_after_years,
            dispose_after_years: row.dispose_after_years,
            created_by: row.created_by,
            created_at: utc(row.created_at),
        }
    }
}

impl Disclose for RetentionScheduleRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRetentionSchedule {
    /// What the schedule governs: the cases of `service_type` (the default), or the clients
    /// who never had a case (one such schedule at most, with neither `service_type` nor
    /// `archive_after_years`).
    #[serde(default)]
    pub applies_to: AppliesTo,
    /// The cases' service type the schedule governs; one schedule per service type. Required
    /// for a schedule of cases.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub service_type: Option<String>,
    /// Years after a case closes that it is archived. Required for a schedule of cases.
    #[validate(range(min = 0, max = 150))]
    #[schema(minimum = 0, maximum = 150)]
    pub archive_after_years: Option<i32>,
    /// Years after a case closes that its client's file may be disposed of (once every case
    /// of the client has); at least `archive_after_years`. For clients without cases: years
    /// after the file's last activity (a change of the client record, a consent, collection
    /// notice, complaint, access or correction request recorded or decided).
    #[validate(range(min = 0, max = 150))]
    #[schema(minimum = 0, maximum = 150)]
    pub dispose_after_years: i32,
}

impl NewRetentionSchedule {
    /// The fields that do not fit what the schedule governs, or each other.
    fn misfits(&self) -> Vec<FieldError> {
        let of_cases = self.applies_to == AppliesTo::Cases;
        let message = if of_cases {
            "required for a schedule of cases"
        } else {
            "not allowed for the schedule for clients without cases"
        };
        let mut misfits: Vec<FieldError> = [
            ("service_type", self.service_type.is_some()),
            ("archive_after_years", self.archive_after_years.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given != of_cases)
        .map(|(field, _)| FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        })
        .collect();
        if self
            .archive_after_years
            .is_some_and(|archive| self.dispose_after_years < archive)
        {
            misfits.push(FieldError {
                field: "dispose_after_years".to_owned(),
                message: "must be at least archive_after_years".to_owned(),
            });
        }
        misfits
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRunRequest {
    /// List what would be archived and disposed of, and change nothing.
    pub dry_run: bool,
}

/// What a retention run did, or (dry) would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionRunRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub dry_run: bool,
    #[schema(required = false)]
    pub ran_at: DateTime<Utc>,
    #[schema(required = false)]
    pub archived_case_ids: Vec<String>,
    #[schema(required = false)]
    pub disposed_client_ids: Vec<String>,
    /// Records deleted (or that would be) by kind.
    #[schema(required = false)]
    pub record_counts: BTreeMap<String, usize>,
    /// The certificate of this run's disposal; null for a dry run or when nothing went.
    #[schema(required = false, format = Uuid)]
    pub certificate_id: Option<String>,
}

impl Disclose for RetentionRunRecord {
    fn id(&self) -> &str {
        &self.id
    }
    /// A run names clients by id only.
    fn client_id(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisposalCertificateRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub disposed_at: DateTime<Utc>,
    #[schema(required = false, format = Uuid)]
    pub authorised_by: String,
    #[schema(required = false)]
    pub schedules: Vec<ScheduleApplied>,
    #[schema(required = false)]
    pub record_counts: BTreeMap<String, usize>,
    /// HMAC-SHA256 (the service's disposal key) of each disposed client id, hex, sorted.
    #[schema(required = false)]
    pub client_id_hashes: Vec<String>,
}

impl TryFrom<CertificateRow> for DisposalCertificateRecord {
    type Error = ApiError;

    fn try_from(row: CertificateRow) -> ApiResult<Self> {
        Ok(Self {
            schedules: parse_json(&row.schedules)?,
            record_counts: parse_json(&row.record_counts)?,
            client_id_hashes: parse_json(&row.client_id_hashes)?,
            id: row.id,
            disposed_at: utc(row.disposed_at),
            authorised_by: row.authorised_by,
        })
    }
}

impl Disclose for DisposalCertificateRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

/// Create a retention schedule
#[utoipa::path(tag = "retention", request_body = NewRetentionSchedule, responses(
    (status = 201, body = RetentionScheduleRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "`schedule_exists` for the service type"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/retention-schedules")]
async fn create_schedule(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::RetentionSchedule, Action::Create)?;
    let reader = ctx.permit(Resource::RetentionSchedule, Action::Read)?;
    let new: NewRetentionSchedule = body.parse(&permit)?;
    let misfits = new.misfits();
    if !misfits.is_empty() {
        return Err(ApiError::Validation(misfits));
    }
    let recorder = ctx.recorder();
    let row = ScheduleRow {
        id: new_id(),
        service_type: new.service_type,
        archive_after_years: new.archive_after_years,
        dispose_after_years: new.dispose_after_years,
        created_by: recorder.by,
        created_at: recorder.at,
    };
    ctx.write(move |conn| {
        if queries::schedule_for(conn, row.service_type.as_deref())?.is_some() {
            let governed = row
                .service_type
                .as_deref()
                .unwrap_or("Clients without cases");
            return Err(ApiError::conflict(
                "schedule_exists",
                format!("{governed} has a retention schedule already."),
            ));
        }
        queries::insert_schedule(conn, &row)?;
        let location = "/api/v1/retention-schedules".to_owned();
        disclosure::created(&reader, &RetentionScheduleRecord::from(row), location)
    })
    .await
}

/// List retention schedules
#[utoipa::path(tag = "retention", responses(
    (status = 200, body = Page<RetentionScheduleRecord>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/retention-schedules")]
async fn list_schedules(ctx: Ctx) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::RetentionSchedule, Action::Read)?;
    let records: Vec<RetentionScheduleRecord> = ctx
        .db()
        .read(|conn| {
            Ok(queries::schedules(conn)?
                .into_iter()
                .map(RetentionScheduleRecord::from)
                .collect())
        })
        .await?;
    disclosure::page(&reader, &records, None)
}

/// Run retention
///
/// Archives closed cases past their schedule's `archive_after_years`, and disposes of clients
/// whose every case is closed past its `dispose_after_years`, and of clients who never had a
/// case whose file has had no activity for the `dispose_after_years` of the schedule for
/// clients without cases, with no active legal hold, no open complaint and no open access or
/// correction request, writing a disposal certificate. `dry_run: true` lists the same and changes
/// nothing. Also `casebridge retention run [--dry-run]`.
#[utoipa::path(tag = "retention", request_body = RetentionRunRequest, responses(
    (status = 200, body = RetentionRunRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/retention/runs")]
async fn run_retention(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::RetentionRun, Action::Create)?;
    let reader = ctx.permit(Resource::RetentionRun, Action::Read)?;
    let request: RetentionRunRequest = body.parse(&permit)?;
    let recorder = ctx.recorder();
    let now = recorder.at;
    let record = move |outcome: retention::Outcome| RetentionRunRecord {
        id: new_id(),
        dry_run: request.dry_run,
        ran_at: utc(now),
        archived_case_ids: outcome.archived_case_ids,
        disposed_client_ids: outcome.disposed_client_ids,
        record_counts: outcome.record_counts,
        certificate_id: outcome.certificate_id,
    };
    if request.dry_run {
        // A read, on a reader: the request's audit row is stored as any read's is.
        let outcome = ctx
            .db()
            .read_long(move |conn| Ok(retention::dry_run(conn, now)?))
            .await?;
        return disclosure::one(&reader, &record(outcome));
    }
    let plan = ctx
        .db()
        .read_long(move |conn| Ok(retention::plan(conn, now)?))
        .await?;
    if plan.is_empty() {
        // Nothing is due: the request's row records a run that changed nothing.
        let record = record(retention::Outcome::default());
        return ctx.write(move |_| disclosure::one(&reader, &record)).await;
    }
    let run = retention::Run::new(&recorder.by, &ctx.state.disposal_key);
    // Each batch stores its own audit row (this request's, naming the clients that batch
    // disposed of) in the batch's transaction: a run stopped midway leaves a row for every
    // file it destroyed, and each one's access log ends there.
    let outcome = retention::carry_out(run, plan, retention::BATCH, |step| {
        let reader = reader.clone();
        ctx.write_recorded(move |conn| {
            let done = step.apply(conn)?;
            let part = record(retention::Outcome {
                archived_case_ids: done.archived.clone(),
                disposed_client_ids: done.disposed.clone(),
                ..Default::default()
            });
            let disclosed = disclosure::one(&reader, &part)?.about_clients(done.disposed.clone());
            Ok((done, disclosed.status(), disclosed.disclosure().clone()))
        })
    })
    .await?;
    // Recorded by the batches' rows.
    disclosure::one(&reader, &record(outcome))
}

/// Get a disposal certificate
#[utoipa::path(tag = "retention", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = DisposalCertificateRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/disposal-certificates/{id}")]
async fn get_certificate(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::DisposalCertificate, Action::Read)?;
    let id = path_id(&id)?;
    let row = ctx
        .db()
        .read(move |conn| queries::certificate(conn, &id)?.ok_or(ApiError::NotFound))
        .await?;
    disclosure::one(&reader, &DisposalCertificateRecord::try_from(row)?)
}
