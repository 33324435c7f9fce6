//! `/breaches`: the data breach register. A privacy officer records a suspected breach,
//! contains it in one call, computes the affected individuals from the audit trail (and saves
//! the computation that notifications rely on), assesses it within the assessment period
//! (extendable), drafts and records the notifications (or the decision not to notify, with its
//! ground), and records the post-incident review. Individuals the audit trail cannot show are
//! added by hand. Which regulators must be told follows from what the breach touched. Auditors
//! read the register.
mod containment;
mod impact;
mod types;

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, get, patch, post, web};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

pub use self::containment::{ContainmentAction, ContainmentRequest};
pub use self::impact::{AddedByHand, AffectedIndividual, BreachImpact, RequiredNotification};
pub use self::types::*;
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclosed, Page};
use crate::api::incident_reports;
use crate::api::request::{
    Body, FieldChecks, PageRequest, Params, expected_version, field_id, new_id, optional_field_id,
    parse_json, path_id, utc, uuids_of, write_body,
};
use crate::authz::{Action, Permit, Resource, scope};
use crate::db::DbConnection;
use crate::db::breaches::{
    self as queries, BreachFilter, BreachRow, DecisionRow, ExtensionRow, ManualIndividualRow,
    MarkedRecords, NotificationRow, SnapshotRow,
};
use crate::db::clients as client_queries;
use crate::db::directory;
use crate::db::incident_reports as incident_queries;
use crate::domain::{
    BreachKind, BreachSource, BreachStatus, ContainmentStep, InformationKind, ManualSource,
    NotNotifyingGround, NotificationRecipient, ProtectiveMarking, StoredAsText,
};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_breaches)
        .service(record_breach)
        .service(get_breach)
        .service(assess_breach)
        .service(extend_assessment)
        .service(contain_breach)
        .service(affected_individuals)
        .service(save_affected_snapshot)
        .service(add_individual)
        .service(notification_draft)
        .service(record_notification)
        .service(decide_not_to_notify)
        .service(record_review)
        .service(breaches_overdue);
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

fn record(conn: &mut DbConnection, row: BreachRow, today: NaiveDate) -> ApiResult<BreachRecord> {
    let extensions = queries::extensions(conn, &row.id)?
        .into_iter()
        .map(|extension| Extension {
            previous_due_on: extension.previous_due_on,
            new_due_on: extension.new_due_on,
            reason: extension.reason,
            recorded_by: extension.recorded_by,
            recorded_at: utc(extension.recorded_at),
        })
        .collect();
    let containment_actions = queries::containment(conn, &row.id)?
        .into_iter()
        .map(|step| {
            Ok(ContainmentRecord {
                action: ContainmentStep::from_stored(&step.action)?,
                target_id: step.target_id,
                outcome: step.outcome,
                performed_by: step.performed_by,
                performed_at: utc(step.performed_at),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let notifications = queries::notifications(conn, &row.id)?
        .into_iter()
        .map(|notification| {
            Ok(NotificationRecord {
                recipient: NotificationRecipient::from_stored(&notification.recipient)?,
                id: notification.id,
                client_id: notification.client_id,
                method: notification.method,
                sent_on: notification.sent_on,
                snapshot_id: notification.snapshot_id,
                recorded_by: notification.recorded_by,
                recorded_at: utc(notification.recorded_at),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let decisions_not_to_notify = queries::decisions(conn, &row.id)?
        .into_iter()
        .map(|decision| {
            Ok(DecisionNotToNotify {
                recipient: NotificationRecipient::from_stored(&decision.recipient)?,
                ground: NotNotifyingGround::from_stored(&decision.ground)?,
                id: decision.id,
                client_id: decision.client_id,
                explanation: decision.explanation,
                decided_by: decision.decided_by,
                decided_at: utc(decision.decided_at),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let notifications_required = saved_impact(conn, &row.id)?
        .map(|impact| impact.required_notifications)
        .unwrap_or_default()
        .into_iter()
        .map(|required| NotificationRequirement {
            status: if notifications
                .iter()
                .any(|sent| sent.recipient == required.recipient)
            {
                RequirementStatus::Notified
            } else if decisions_not_to_notify
                .iter()
                .any(|decision| decision.recipient == required.recipient)
            {
                RequirementStatus::DecidedNotToNotify
            } else {
                RequirementStatus::Pending
            },
            recipient: required.recipient,
            reason: required.reason,
        })
        .collect();
    let status = BreachStatus::from_stored(&row.status)?;
    Ok(BreachRecord {
        kinds: parse_json::<Vec<String>>(&row.kinds)?
            .iter()
            .map(|kind| BreachKind::from_stored(kind))
            .collect::<anyhow::Result<_>>()?,
        suspected_actor_ids: parse_json(&row.suspected_actor_ids)?,
        source: BreachSource::from_stored(&row.source)?,
        assessment_overdue: status == BreachStatus::Assessing && row.assessment_due_on < today,
        status,
        assessment: row.assessment.as_deref().map(parse_json).transpose()?,
        review: row.review.as_deref().map(parse_json).transpose()?,
        aware_at: utc(row.aware_at),
        window_from: utc(row.window_from),
        window_to: utc(row.window_to),
        occurred_at: row.occurred_at.map(utc),
        occurred_until: row.occurred_until.map(utc),
        on_behalf_of: parse_json(&row.on_behalf_of)?,
        incident_report_ids: incident_queries::of_breach(conn, &row.id)?,
        assessed_at: row.assessed_at.map(utc),
        reviewed_at: row.reviewed_at.map(utc),
        created_at: utc(row.created_at),
        id: row.id,
        reported_by: row.reported_by,
        description: row.description,
        assessment_due_on: row.assessment_due_on,
        eligible: row.eligible,
        assessed_by: row.assessed_by,
        reviewed_by: row.reviewed_by,
        created_by: row.created_by,
        version: row.version,
        extensions,
        containment_actions,
        notifications,
        notifications_required,
        decisions_not_to_notify,
    })
}

fn find(conn: &mut DbConnection, id: &str) -> ApiResult<BreachRow> {
    queries::find(conn, id)?.ok_or(ApiError::NotFound)
}

/// The breach as its reader may see it.
fn answer(
    conn: &mut DbConnection,
    reader: &Permit,
    id: &str,
    today: NaiveDate,
) -> ApiResult<Disclosed> {
    let row = find(conn, id)?;
    disclosure::one(reader, &record(conn, row, today)?)
}

/// A change to one breach, as every handler that changes one starts: the caller may update
/// the breach and read the result; the body has been parsed.
struct Change<B> {
    reader: Permit,
    id: String,
    body: B,
    now: NaiveDateTime,
    today: NaiveDate,
    actor: String,
}

impl<B: serde::de::DeserializeOwned + validator::Validate + utoipa::ToSchema> Change<B> {
    /// `action`: what the caller does to the breach (`update` unless it needs more).
    fn of(ctx: &Ctx, action: Action, id: &str, body: Body) -> ApiResult<Self> {
        let permit = ctx.permit(Resource::Breach, action)?;
        Ok(Self {
            reader: ctx.permit(Resource::Breach, Action::Read)?,
            id: path_id(id)?,
            body: body.parse(&permit)?,
            now: ctx.now(),
            today: ctx.state.clock.today(),
            actor: ctx.caller.user_id.clone(),
        })
    }
}

fn check_being_assessed(row: &BreachRow) -> ApiResult<()> {
    if row.status != BreachStatus::Assessing.as_str() {
        return Err(ApiError::conflict(
            "breach_assessed",
            "The breach has been assessed: its assessment period is over.",
        ));
    }
    Ok(())
}

// ---- recording and listing ---------------------------------------------------------------

async fn page_of(
    ctx: &Ctx,
    permit: Permit,
    filter: BreachFilter,
    page: PageRequest,
) -> ApiResult<Disclosed> {
    let today = ctx.state.clock.today();
    ctx.db()
        .read(move |conn| {
            let mut rows = queries::list(conn, &filter, page.after.as_deref(), page.fetch())?;
            let next_cursor = page.finish(&mut rows, |row| &row.id);
            let records = rows
                .into_iter()
                .map(|row| record(conn, row, today))
                .collect::<ApiResult<Vec<_>>>()?;
            disclosure::page(&permit, &records, next_cursor)
        })
        .await
}

/// List the breach register
///
/// Oldest first. `eligible=true` is the register of eligible data breaches.
#[utoipa::path(tag = "breaches", params(BreachListParams), responses(
    (status = 200, body = Page<BreachRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/breaches")]
async fn list_breaches(ctx: Ctx, params: Params<BreachListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Breach, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let filter = BreachFilter {
        eligible: params.eligible,
        ..BreachFilter::default()
    };
    page_of(&ctx, permit, filter, page).await
}

/// Breaches whose assessment is overdue
///
/// Still being assessed after their due date (30 days from awareness unless extended).
#[utoipa::path(tag = "reports", params(PageParams), responses(
    (status = 200, body = Page<BreachRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/reports/breaches-overdue")]
async fn breaches_overdue(ctx: Ctx, params: Params<PageParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Breach, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let filter = BreachFilter {
        assessment_due_before: Some(ctx.state.clock.today()),
        ..BreachFilter::default()
    };
    page_of(&ctx, permit, filter, page).await
}

/// Record a suspected breach
///
/// Its assessment is due 30 days (configurable) after `aware_at`.
#[utoipa::path(tag = "breaches", request_body = NewBreach, responses(
    (status = 201, body = BreachRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches")]
async fn record_breach(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Breach, Action::Create)?;
    let reader = ctx.permit(Resource::Breach, Action::Read)?;
    let new: NewBreach = write_body(&permit, body)?;
    let now = ctx.now();
    let mut checks = FieldChecks::default();
    checks.require(
        new.aware_at.get() <= now,
        "aware_at",
        "must not be in the future",
    );
    checks.require(
        new.window_from < new.window_to,
        "window_to",
        "must be after window_from",
    );
    checks.require(
        new.window_from.get() <= now,
        "window_from",
        "must not be in the future",
    );
    let occurred_at = new.occurred_at.map(|at| at.get());
    let occurred_until = new.occurred_until.map(|until| until.get());
    checks.require(
        occurred_at.is_none_or(|at| at <= new.aware_at.get()),
        "occurred_at",
        "must not be after aware_at",
    );
    checks.require(
        occurred_until.is_none() || occurred_at.is_some(),
        "occurred_until",
        "needs occurred_at, when the breach began",
    );
    checks.require(
        occurred_until.is_none_or(|until| until <= now && occurred_at <= Some(until)),
        "occurred_until",
        "must be after occurred_at and not in the future",
    );
    for (index, agency) in new.on_behalf_of.iter().enumerate() {
        checks.require(
            (1..=200).contains(&agency.trim().chars().count()),
            format!("on_behalf_of[{index}]"),
            "must be a name of 1 to 200 characters",
        );
    }
    let suspects: BTreeSet<String> =
        uuids_of(&mut checks, "suspected_actor_ids", &new.suspected_actor_ids)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
    let reports = uuids_of(&mut checks, "incident_report_ids", &new.incident_report_ids);
    checks.finish()?;
    // Opening a breach from a report moves the report on: the caller must be able to.
    let report_permit = if reports.is_empty() {
        None
    } else {
        Some(ctx.permit(Resource::IncidentReport, Action::Update)?)
    };
    let kinds: BTreeSet<&str> = new.kinds.iter().map(|kind| kind.as_str()).collect();
    let days = i64::from(ctx.state.config.oversight.breach_assessment_days);
    let row = BreachRow {
        id: new_id(),
        aware_at: new.aware_at.get(),
        reported_by: new.reported_by,
        source: new.source.as_str().to_owned(),
        description: new.description,
        kinds: to_json(&kinds)?,
        suspected_actor_ids: to_json(&suspects)?,
        window_from: new.window_from.get(),
        window_to: new.window_to.get(),
        assessment_due_on: new.aware_at.get().date() + Duration::days(days),
        status: BreachStatus::Assessing.as_str().to_owned(),
        eligible: None,
        assessment: None,
        assessed_at: None,
        assessed_by: None,
        review: None,
        reviewed_at: None,
        reviewed_by: None,
        created_by: ctx.caller.user_id.clone(),
        created_at: now,
        version: 1,
        occurred_at,
        occurred_until,
        on_behalf_of: to_json(&new.on_behalf_of)?,
    };
    let today = ctx.state.clock.today();
    ctx.write(move |conn| {
        for (index, id) in suspects.iter().enumerate() {
            if directory::find_principal(conn, scope::users(&permit), id)?.is_none() {
                return Err(ApiError::invalid(
                    format!("suspected_actor_ids[{index}]"),
                    "is not a user or API client",
                ));
            }
        }
        let mut opened_from = Vec::with_capacity(reports.len());
        for (index, id) in &reports {
            let found = match &report_permit {
                Some(permit) => incident_reports::find_open(conn, permit, id)?,
                None => None,
            };
            if opened_from.contains(&id) {
                continue;
            }
            if found.is_none() {
                return Err(ApiError::invalid(
                    format!("incident_report_ids[{index}]"),
                    "is not an incident report",
                ));
            }
            opened_from.push(id);
        }
        queries::insert(conn, &row)?;
        for id in opened_from {
            if !incident_queries::open_breach(conn, id, &row.id, now)? {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "an incident report checked open could not be linked"
                )));
            }
        }
        let record = record(conn, row, today)?;
        disclosure::created(&reader, &record, format!("/api/v1/breaches/{}", record.id))
    })
    .await
}

/// Get a breach
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/breaches/{id}")]
async fn get_breach(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let reader = ctx.permit(Resource::Breach, Action::Read)?;
    let id = path_id(&id)?;
    let today = ctx.state.clock.today();
    ctx.db()
        .read(move |conn| answer(conn, &reader, &id, today))
        .await
}

// ---- assessment ----------------------------------------------------------------------------

/// Record the assessment
///
/// The harm assessment and the decision `eligible`. An eligible breach is one where serious
/// harm is likely; a likely serious harm that remedial action prevented needs those steps.
/// Needs `If-Match`; may be revised until the review is recorded.
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = BreachAssessment, responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/breaches/{id}")]
async fn assess_breach(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Breach, Action::Update)?;
    let reader = ctx.permit(Resource::Breach, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let assessment: BreachAssessment = body.parse(&permit)?;
    let mut checks = FieldChecks::default();
    checks.require(
        !assessment.eligible || assessment.serious_harm_likely,
        "eligible",
        "an eligible breach is one likely to result in serious harm",
    );
    checks.require(
        !assessment.serious_harm_likely
            || assessment.eligible
            || !assessment.remedial_steps.trim().is_empty(),
        "remedial_steps",
        "a breach likely to cause serious harm is eligible unless remedial action prevented \
         the harm: describe that action",
    );
    let at_risk = assessment.individuals_at_risk.unwrap_or(0);
    checks.require(
        !assessment.eligible || at_risk > 0,
        "individuals_at_risk",
        "an eligible breach puts someone at likely risk of serious harm: say how many",
    );
    checks.require(
        assessment.serious_harm_likely || at_risk == 0,
        "individuals_at_risk",
        "must be 0 when serious harm is not likely",
    );
    checks.finish()?;
    let (now, today, actor) = (
        ctx.now(),
        ctx.state.clock.today(),
        ctx.caller.user_id.clone(),
    );
    ctx.write(move |conn| {
        let row = find(conn, &id)?;
        if row.status == BreachStatus::Reviewed.as_str() {
            return Err(ApiError::conflict(
                "breach_reviewed",
                "The breach has been reviewed: its assessment is final.",
            ));
        }
        let stored = to_json(&assessment)?;
        if row.version != version
            || !queries::assess(
                conn,
                &id,
                version,
                assessment.eligible,
                &stored,
                &actor,
                now,
            )?
        {
            return Err(ApiError::PreconditionFailed);
        }
        answer(conn, &reader, &id, today)
    })
    .await
}

/// Extend the assessment period
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), request_body = NewExtension, responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/extensions")]
async fn extend_assessment(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let Change {
        reader,
        id,
        body: extension,
        now,
        today,
        actor,
    } = Change::<NewExtension>::of(&ctx, Action::Update, &id, body)?;
    ctx.write(move |conn| {
        let row = find(conn, &id)?;
        check_being_assessed(&row)?;
        let new_due_on = extension.new_due_on.get();
        if new_due_on <= row.assessment_due_on {
            return Err(ApiError::invalid(
                "new_due_on",
                format!(
                    "must be after the current due date, {}",
                    row.assessment_due_on
                ),
            ));
        }
        queries::insert_extension(
            conn,
            &ExtensionRow {
                id: new_id(),
                breach_id: id.clone(),
                previous_due_on: row.assessment_due_on,
                new_due_on,
                reason: extension.reason,
                recorded_by: actor,
                recorded_at: now,
            },
        )?;
        queries::set_assessment_due_on(conn, &id, new_due_on)?;
        queries::bump_version(conn, &id)?;
        answer(conn, &reader, &id, today)
    })
    .await
}

// ---- containment ---------------------------------------------------------------------------

/// Contain a breach
///
/// Carries out every step at once, in one transaction, and records who did what when:
/// `suspend_user` (its sessions end), `revoke_sessions`, `suspend_organisation` (every
/// session of its users ends), `rotate_api_client_secret` (the secret is replaced by one
/// nobody is shown; a dept_admin issues the next). A step naming an unknown target, or the
/// caller's own account or organisation, refuses the whole request and nothing is done.
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), request_body = ContainmentRequest, responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/containment")]
async fn contain_breach(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Breach, Action::Contain)?;
    let reader = ctx.permit(Resource::Breach, Action::Read)?;
    let id = path_id(&id)?;
    let request: ContainmentRequest = body.parse(&permit)?;
    let (now, today, caller) = (ctx.now(), ctx.state.clock.today(), ctx.caller.clone());
    ctx.write(move |conn| {
        find(conn, &id)?;
        let containment = containment::Containment {
            permit: &permit,
            caller: &caller,
            breach_id: &id,
            now,
        };
        containment.carry_out(conn, &request.actions)?;
        queries::bump_version(conn, &id)?;
        answer(conn, &reader, &id, today)
    })
    .await
}

// ---- affected individuals ----------------------------------------------------------------

fn compute_impact(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> ApiResult<BreachImpact> {
    let row = find(conn, id)?;
    let suspects: Vec<String> = parse_json(&row.suspected_actor_ids)?;
    let events = queries::disclosing_events(conn, &suspects, row.window_from, row.window_to)?;
    let scope = impact::Scope {
        breach_id: &row.id,
        window_from: row.window_from,
        window_to: row.window_to,
        suspected_actor_ids: suspects,
    };
    let mut impact = impact::compute(scope, events, now)?;
    impact.add_by_hand(added_by_hand(conn, id)?);
    impact.mark(&highest_markings(conn, &impact)?);
    Ok(impact)
}

/// The individuals added to a breach by hand, as an impact holds them.
fn added_by_hand(conn: &mut DbConnection, id: &str) -> ApiResult<Vec<(String, AddedByHand)>> {
    queries::manual_individuals(conn, id)?
        .into_iter()
        .map(|row| {
            let added = AddedByHand {
                source: ManualSource::from_stored(&row.source)?,
                information_kinds: parse_json(&row.information_kinds)?,
                protective_marking: ProtectiveMarking::from_rank(row.protective_marking)?,
                reason: row.reason,
                added_by: row.added_by,
                added_at: utc(row.added_at),
            };
            Ok((row.client_id, added))
        })
        .collect()
}

/// For each affected individual, the highest protective marking of the records involved: the
/// client record, its cases when case details were disclosed, its notes when notes were (a
/// list does not say which case or note it showed, so the highest of them counts).
fn highest_markings(
    conn: &mut DbConnection,
    impact: &BreachImpact,
) -> ApiResult<BTreeMap<String, ProtectiveMarking>> {
    let mut highest = BTreeMap::new();
    for (records, disclosed) in [
        (MarkedRecords::Clients, None),
        (MarkedRecords::Cases, Some(InformationKind::CaseDetails)),
        (MarkedRecords::Notes, Some(InformationKind::CaseNotes)),
    ] {
        let client_ids: Vec<String> = impact
            .individuals
            .iter()
            .filter(|individual| {
                disclosed.is_none_or(|kind| individual.information_kinds.contains(&kind))
            })
            .map(|individual| individual.client_id.clone())
            .collect();
        // Bounded lists of parameters, within both databases' limits.
        for chunk in client_ids.chunks(1000) {
            for (client_id, rank) in queries::markings(conn, records, chunk)? {
                let marking = ProtectiveMarking::from_rank(rank)?;
                let entry = highest.entry(client_id).or_insert(marking);
                *entry = marking.max(*entry);
            }
        }
    }
    Ok(highest)
}

/// What an impact response discloses: the clients it names.
fn disclose_impact(permit: &Permit, impact: &BreachImpact) -> ApiResult<Disclosed> {
    let mut disclosed = disclosure::one(permit, impact)?;
    for individual in &impact.individuals {
        disclosed = disclosed.about_clients([individual.client_id.clone()]);
    }
    Ok(disclosed)
}

/// The affected individuals
///
/// Computed now from the audit trail: every client whose data the suspected actors' allowed
/// requests disclosed within the window, with the fields, the kinds of information, the
/// times and the audit events that prove it; counts by kind of information; and the further
/// notifications the kinds call for (a tax file number: the Commonwealth regulator).
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = BreachImpact),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/breaches/{id}/affected")]
async fn affected_individuals(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::BreachImpact, Action::Read)?;
    let id = path_id(&id)?;
    let now = ctx.now();
    ctx.db()
        .read_long(move |conn| disclose_impact(&permit, &compute_impact(conn, &id, now)?))
        .await
}

/// Save the affected individuals
///
/// Computes them as `GET .../affected` does and keeps the result: notifications and their
/// drafts rely on the latest saved snapshot, so what was notified can be shown later even
/// though the trail keeps growing.
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), responses(
    (status = 201, body = BreachImpact, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/affected-snapshots")]
async fn save_affected_snapshot(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    ctx.permit(Resource::BreachImpact, Action::Create)?;
    let reader = ctx.permit(Resource::BreachImpact, Action::Read)?;
    let id = path_id(&id)?;
    let (now, actor) = (ctx.now(), ctx.caller.user_id.clone());
    // Computed outside the writer, which a long computation would hold up for everyone.
    let breach = id.clone();
    let mut impact = ctx
        .db()
        .read_long(move |conn| compute_impact(conn, &breach, now))
        .await?;
    ctx.write(move |conn| {
        let snapshot_id = new_id();
        impact.snapshot_id = Some(snapshot_id.clone());
        queries::insert_snapshot(
            conn,
            &SnapshotRow {
                id: snapshot_id,
                breach_id: id.clone(),
                taken_at: now,
                taken_by: actor,
                content: to_json(&impact)?,
            },
        )?;
        Ok(disclose_impact(&reader, &impact)?.at(format!("/api/v1/breaches/{id}/affected")))
    })
    .await
}

/// The latest saved affected individuals, with those added by hand since; None before the
/// first snapshot.
fn saved_impact(conn: &mut DbConnection, id: &str) -> ApiResult<Option<BreachImpact>> {
    let Some(snapshot) = queries::latest_snapshot(conn, id)? else {
        return Ok(None);
    };
    let mut impact: BreachImpact = parse_json(&snapshot.content)?;
    impact.add_by_hand(added_by_hand(conn, id)?);
    Ok(Some(impact))
}

fn latest_snapshot(conn: &mut DbConnection, id: &str) -> ApiResult<BreachImpact> {
    saved_impact(conn, id)?.ok_or_else(|| {
        ApiError::conflict(
            "affected_snapshot_required",
            "Save the affected individuals first: POST /api/v1/breaches/{id}/affected-snapshots.",
        )
    })
}

/// Add an affected individual by hand
///
/// For a client the audit trail cannot show: a lost or misdirected paper file, a breach inside
/// a CSP's own system, something said. Records where the information was (`source`), why the
/// individual is affected, the kinds of information and the highest protective marking of the
/// records involved (at least the client record's). The individual then counts among the
/// affected individuals (live, in drafts and in the latest snapshot), and notifications and
/// decisions not to notify are accepted for them. A client the caller cannot reach, or one
/// already added to the breach, is refused and nothing is stored.
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), request_body = NewManualIndividual, responses(
    (status = 201, body = ManualIndividual, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/affected-individuals")]
async fn add_individual(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::BreachIndividual, Action::Create)?;
    let reader = ctx.permit(Resource::BreachIndividual, Action::Read)?;
    let id = path_id(&id)?;
    let new: NewManualIndividual = body.parse(&permit)?;
    let client_id = field_id("client_id", &new.client_id)?;
    let (now, actor) = (ctx.now(), ctx.caller.user_id.clone());
    ctx.write(move |conn| {
        find(conn, &id)?;
        let client = client_queries::find(conn, scope::clients(&permit), &client_id)?
            .ok_or_else(|| ApiError::invalid("client_id", "is not a client"))?;
        if queries::manual_individuals(conn, &id)?
            .iter()
            .any(|row| row.client_id == client_id)
        {
            return Err(ApiError::conflict(
                "individual_already_added",
                "The client has already been added to this breach by hand.",
            ));
        }
        let information_kinds: BTreeSet<InformationKind> =
            new.information_kinds.iter().copied().collect();
        let marking = ProtectiveMarking::from_rank(client.row.protective_marking)?.max(
            new.protective_marking
                .unwrap_or(ProtectiveMarking::Official),
        );
        let row = ManualIndividualRow {
            id: new_id(),
            breach_id: id.clone(),
            client_id,
            information_kinds: to_json(&information_kinds)?,
            protective_marking: marking.rank(),
            source: new.source.as_str().to_owned(),
            reason: new.reason,
            added_by: actor,
            added_at: now,
        };
        queries::insert_manual_individual(conn, &row)?;
        queries::bump_version(conn, &id)?;
        let individual = ManualIndividual {
            id: row.id,
            breach_id: row.breach_id,
            client_id: row.client_id,
            source: new.source,
            reason: row.reason,
            information_kinds: information_kinds.into_iter().collect(),
            protective_marking: marking,
            added_by: row.added_by,
            added_at: utc(row.added_at),
        };
        disclosure::created(
            &reader,
            &individual,
            format!("/api/v1/breaches/{id}/affected"),
        )
    })
    .await
}

// ---- notifications -------------------------------------------------------------------------

/// The individual a notification names: required (and affected) for an individual, refused
/// for anyone else.
fn notified_client(
    recipient: NotificationRecipient,
    client_id: Option<&str>,
    impact: &BreachImpact,
) -> ApiResult<Option<String>> {
    match (recipient, client_id) {
        (NotificationRecipient::Individual, None) => Err(ApiError::invalid(
            "client_id",
            "is required when notifying an individual",
        )),
        (NotificationRecipient::Individual, Some(client_id)) => impact
            .individual(client_id)
            .map(|individual| Some(individual.client_id.clone()))
            .ok_or_else(|| {
                ApiError::invalid(
                    "client_id",
                    "is not one of the affected individuals of the latest snapshot",
                )
            }),
        (_, Some(_)) => Err(ApiError::invalid(
            "client_id",
            "is only given when notifying an individual",
        )),
        (_, None) => Ok(None),
    }
}

/// Record a notification
///
/// To an affected individual, the Victorian (`ovic`) or Commonwealth (`oaic`) Information
/// Commissioner, the police, another agency or a CSP, based on the
/// latest saved affected-individuals snapshot (409 `affected_snapshot_required` without one).
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), request_body = NewNotification, responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/notifications")]
async fn record_notification(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let Change {
        reader,
        id,
        body: notification,
        now,
        today,
        actor,
    } = Change::<NewNotification>::of(&ctx, Action::Update, &id, body)?;
    if notification.sent_on.get() > today {
        return Err(ApiError::invalid("sent_on", "must not be in the future"));
    }
    let addressed = Addressed {
        reader,
        id,
        recipient: notification.recipient,
        client_id: notification.client_id.clone(),
        today,
    };
    ctx.write(move |conn| {
        addressed.record(conn, |conn, breach_id, client_id, impact| {
            let snapshot_id = impact.snapshot_id.clone().ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("a saved snapshot without its id"))
            })?;
            Ok(queries::insert_notification(
                conn,
                &NotificationRow {
                    id: new_id(),
                    breach_id: breach_id.to_owned(),
                    recipient: notification.recipient.as_str().to_owned(),
                    client_id,
                    method: notification.method,
                    sent_on: notification.sent_on.get(),
                    snapshot_id,
                    recorded_by: actor,
                    recorded_at: now,
                },
            )?)
        })
    })
    .await
}

/// Something recorded against a breach for one recipient (a notification, a decision not to
/// notify): based on the latest snapshot, naming an affected individual for `individual` and
/// no one otherwise. The answer is the breach, and names the individual.
struct Addressed {
    reader: Permit,
    id: String,
    recipient: NotificationRecipient,
    client_id: Option<String>,
    today: NaiveDate,
}

impl Addressed {
    fn record(
        self,
        conn: &mut DbConnection,
        insert: impl FnOnce(&mut DbConnection, &str, Option<String>, &BreachImpact) -> ApiResult<()>,
    ) -> ApiResult<Disclosed> {
        find(conn, &self.id)?;
        let impact = latest_snapshot(conn, &self.id)?;
        let client_id = notified_client(self.recipient, self.client_id.as_deref(), &impact)?;
        insert(conn, &self.id, client_id.clone(), &impact)?;
        queries::bump_version(conn, &self.id)?;
        let disclosed = answer(conn, &self.reader, &self.id, self.today)?;
        Ok(match client_id {
            Some(client_id) => disclosed.about_clients([client_id]),
            None => disclosed,
        })
    }
}

/// Record a decision not to notify
///
/// An individual (`client_id`, one of the affected) or another recipient is not notified, on
/// one of the grounds the guideline and the Privacy and Data Protection Act allow; `other`
/// needs an `explanation`. Who decided and when are recorded; the decision shows on the breach
/// and in the drafts to regulators. A notification may still be recorded later (the ground may
/// lapse). Needs the latest saved snapshot (409 `affected_snapshot_required`).
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), request_body = NewDecisionNotToNotify, responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/decisions-not-to-notify")]
async fn decide_not_to_notify(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let Change {
        reader,
        id,
        body: decision,
        now,
        today,
        actor,
    } = Change::<NewDecisionNotToNotify>::of(&ctx, Action::Decide, &id, body)?;
    let mut checks = FieldChecks::default();
    checks.require(
        decision.ground != NotNotifyingGround::Other || decision.explanation.is_some(),
        "explanation",
        "is required for the ground other",
    );
    let client_id = optional_field_id("client_id", decision.client_id.as_deref());
    checks.require(client_id.is_ok(), "client_id", "must be a UUID");
    checks.finish()?;
    let addressed = Addressed {
        reader,
        id,
        recipient: decision.recipient,
        client_id: client_id?,
        today,
    };
    ctx.write(move |conn| {
        addressed.record(conn, |conn, breach_id, client_id, _| {
            Ok(queries::insert_decision(
                conn,
                &DecisionRow {
                    id: new_id(),
                    breach_id: breach_id.to_owned(),
                    recipient: decision.recipient.as_str().to_owned(),
                    client_id,
                    ground: decision.ground.as_str().to_owned(),
                    explanation: decision.explanation,
                    decided_by: actor,
                    decided_at: now,
                },
            )?)
        })
    })
    .await
}

/// Draft a notification
///
/// The contents the breach guideline lists for the recipient, filled from the register, the
/// assessment (409 `assessment_required` before it) and the latest affected-individuals
/// snapshot (409 `affected_snapshot_required` before one).
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid), DraftParams), responses(
    (status = 200, body = BreachNotice),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/breaches/{id}/notification-draft")]
async fn notification_draft(
    ctx: Ctx,
    id: web::Path<String>,
    params: Params<DraftParams>,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::BreachNotice, Action::Read)?;
    let id = path_id(&id)?;
    let params = params.parse(&permit)?;
    let oversight = ctx.state.config.oversight.clone();
    let today = ctx.state.clock.today();
    ctx.db()
        .read(move |conn| {
            let row = find(conn, &id)?;
            let breach = record(conn, row, today)?;
            let assessment = breach.assessment.clone().ok_or_else(|| {
                ApiError::conflict(
                    "assessment_required",
                    "Record the assessment first (PATCH /api/v1/breaches/{id}).",
                )
            })?;
            let impact = latest_snapshot(conn, &id)?;
            let client_id =
                notified_client(params.recipient, params.client_id.as_deref(), &impact)?;
            let information_kinds = match &client_id {
                Some(client_id) => impact
                    .individual(client_id)
                    .map(|individual| individual.information_kinds.clone())
                    .unwrap_or_default(),
                None => {
                    let mut kinds: BTreeSet<InformationKind> =
                        impact.information_kinds().into_iter().collect();
                    kinds.extend(assessment.information_kinds.iter().copied());
                    kinds.into_iter().collect()
                }
            };
            let notified: BTreeSet<&str> = breach
                .notifications
                .iter()
                .filter_map(|notification| notification.client_id.as_deref())
                .collect();
            let not_notifying = match params.recipient {
                NotificationRecipient::Individual => Vec::new(),
                _ => breach
                    .decisions_not_to_notify
                    .iter()
                    .map(|decision| NotNotifying {
                        recipient: decision.recipient,
                        ground: decision.ground,
                        explanation: decision.explanation.clone(),
                    })
                    .collect(),
            };
            let notice = BreachNotice {
                snapshot_id: impact.snapshot_id.clone().unwrap_or_default(),
                recipient: params.recipient,
                agency: oversight.agency_name.clone(),
                contact: oversight.privacy_contact.clone(),
                aware_at: breach.aware_at,
                how_it_occurred: breach.description.clone(),
                breach_kinds: breach.kinds.clone(),
                occurred: breach.occurred_at.map(|from| Period {
                    from,
                    to: breach.occurred_until.unwrap_or(from),
                }),
                period: Period {
                    from: breach.window_from,
                    to: breach.window_to,
                },
                on_behalf_of: breach.on_behalf_of.clone(),
                information_kinds,
                recommended_steps: assessment.recommended_steps.clone(),
                containment_steps: containment_steps(&breach, &assessment),
                number_affected: impact.number_affected,
                individuals_at_risk: assessment.individuals_at_risk,
                number_notified: notified.len(),
                not_notifying,
                how_to_complain: format!(
                    "Complain first to {} ({}). If you are not satisfied with the response, you \
                     may complain to the Information Commissioner.",
                    oversight.agency_name, oversight.privacy_contact
                ),
                breach_id: breach.id,
                client_id,
            };
            disclosure::one(&permit, &notice)
        })
        .await
}

fn containment_steps(breach: &BreachRecord, assessment: &BreachAssessment) -> Vec<String> {
    let mut steps: Vec<String> = breach
        .containment_actions
        .iter()
        .map(|step| {
            format!(
                "{}: {} {} ({})",
                step.performed_at.format("%Y-%m-%d %H:%M UTC"),
                step.action.as_str().replace('_', " "),
                step.target_id,
                step.outcome.replace('_', " ")
            )
        })
        .collect();
    if !assessment.remedial_steps.trim().is_empty() {
        steps.push(assessment.remedial_steps.clone());
    }
    steps
}

// ---- review --------------------------------------------------------------------------------

/// Record the post-incident review
///
/// Once the breach is assessed (409 `assessment_required` before). The review is final.
#[utoipa::path(tag = "breaches", params(("id" = String, Path, format = Uuid)), request_body = BreachReview, responses(
    (status = 200, body = BreachRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/breaches/{id}/review")]
async fn record_review(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let Change {
        reader,
        id,
        body: review,
        now,
        today,
        actor,
    } = Change::<BreachReview>::of(&ctx, Action::Update, &id, body)?;
    ctx.write(move |conn| {
        let row = find(conn, &id)?;
        match BreachStatus::from_stored(&row.status)? {
            BreachStatus::Assessing => {
                return Err(ApiError::conflict(
                    "assessment_required",
                    "Record the assessment before the review.",
                ));
            }
            BreachStatus::Reviewed => {
                return Err(ApiError::conflict(
                    "breach_reviewed",
                    "The breach has been reviewed.",
                ));
            }
            BreachStatus::Assessed => {}
        }
        queries::set_review(conn, &id, &to_json(&review)?, &actor, now)?;
        queries::bump_version(conn, &id)?;
        answer(conn, &reader, &id, today)
    })
    .await
}
