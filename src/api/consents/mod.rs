//! `/clients/{id}/consents`: a client's consents to the configured purposes, and their
//! withdrawal (IPP 2). A consent is never deleted; a withdrawal takes effect on the next
//! request (the `consented` row scope reads the table on every request).
use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::clients;
use crate::api::context::Ctx;
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, new_id, path_id, utc};
use crate::authz::{Action, Resource};
use crate::db::DbConnection;
use crate::db::consents::{self as queries, ConsentRow, Withdrawal};
use crate::domain::{Date, Medium, StoredAsText};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(record_consent)
        .service(list_consents)
        .service(withdraw_consent);
}

/// A client's consent to one purpose.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub purpose: String,
    #[schema(required = false)]
    pub given_on: NaiveDate,
    #[schema(required = false)]
    pub method: Medium,
    #[schema(required = false)]
    pub expires_on: Option<NaiveDate>,
    /// Given, not withdrawn and not expired today.
    #[schema(required = false)]
    pub current: bool,
    #[schema(required = false)]
    pub withdrawn_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub withdrawal_method: Option<Medium>,
    #[schema(required = false, format = Uuid)]
    pub recorded_by: String,
    #[schema(required = false)]
    pub recorded_at: DateTime<Utc>,
    #[schema(required = false, format = Uuid)]
    pub withdrawal_recorded_by: Option<String>,
    #[schema(required = false)]
    pub withdrawal_recorded_at: Option<DateTime<Utc>>,
}

impl ConsentRecord {
    fn of(row: ConsentRow, today: NaiveDate) -> ApiResult<Self> {
        Ok(Self {
            current: row.given_on <= today
                && row.withdrawn_on.is_none()
                && row.expires_on.is_none_or(|expires| expires >= today),
            method: Medium::from_stored(&row.method)?,
            withdrawal_method: row
                .withdrawal_method
                .as_deref()
                .map(Medium::from_stored)
                .transpose()?,
            id: row.id,
            client_id: row.client_id,
            purpose: row.purpose,
            given_on: row.given_on,
            expires_on: row.expires_on,
            withdrawn_on: row.withdrawn_on,
            recorded_by: row.recorded_by,
            recorded_at: utc(row.recorded_at),
            withdrawal_recorded_by: row.withdrawal_recorded_by,
            withdrawal_recorded_at: row.withdrawal_recorded_at.map(utc),
        })
    }
}

impl Disclose for ConsentRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// One of the configured purposes (`CASEBRIDGE_CONSENT_PURPOSES`), such as
    /// `share_basic_profile_with_divisions`.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub purpose: String,
    /// Not in the future.
    pub given_on: Date,
    pub method: Medium,
    /// After `given_on`, if the consent lapses.
    pub expires_on: Option<Date>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentWithdrawal {
    /// Not in the future, nor before the consent was given.
    pub withdrawn_on: Date,
    pub method: Medium,
}

/// Record a consent
///
/// The client's consent to one of the configured purposes.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), request_body = NewConsent, responses(
    (status = 201, body = ConsentRecord, headers(("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/clients/{id}/consents")]
async fn record_consent(ctx: Ctx, id: web::Path<String>, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Consent, Action::Create)?;
    let reader = ctx.permit(Resource::Consent, Action::Read)?;
    let client_id = path_id(&id)?;
    let new: NewConsent = body.parse(&permit)?;
    let purposes = &ctx.state.config.privacy.consent_purposes;
    if !purposes.contains(&new.purpose) {
        return Err(ApiError::invalid(
            "purpose",
            format!("must be one of: {}", purposes.join(", ")),
        ));
    }
    let today = ctx.state.clock.today();
    if new.given_on.get() > today {
        return Err(ApiError::invalid("given_on", "must not be in the future"));
    }
    if new
        .expires_on
        .is_some_and(|expires| expires <= new.given_on)
    {
        return Err(ApiError::invalid("expires_on", "must be after given_on"));
    }
    let recorder = ctx.recorder();
    let row = ConsentRow {
        id: new_id(),
        client_id,
        purpose: new.purpose,
        given_on: new.given_on.get(),
        method: new.method.as_str().to_owned(),
        expires_on: new.expires_on.map(Date::get),
        withdrawn_on: None,
        withdrawal_method: None,
        recorded_by: recorder.by,
        recorded_at: recorder.at,
        withdrawal_recorded_by: None,
        withdrawal_recorded_at: None,
    };
    ctx.write(move |conn| {
        clients::load(conn, &permit, &row.client_id)?;
        queries::insert(conn, &row)?;
        let location = format!("/api/v1/clients/{}/consents", row.client_id);
        disclosure::created(&reader, &ConsentRecord::of(row, today)?, location)
    })
    .await
}

/// A client's consents
///
/// Every consent recorded, withdrawn or not, oldest first.
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Page<ConsentRecord>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/clients/{id}/consents")]
async fn list_consents(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let today = ctx.state.clock.today();
    clients::records_of(&ctx, Resource::Consent, &id, move |conn, client_id| {
        of_client(conn, client_id, today)
    })
    .await
}

/// Every consent a client gave, oldest first.
pub fn of_client(
    conn: &mut DbConnection,
    client_id: &str,
    today: NaiveDate,
) -> ApiResult<Vec<ConsentRecord>> {
    queries::of_client(conn, client_id)?
        .into_iter()
        .map(|row| ConsentRecord::of(row, today))
        .collect()
}

/// Withdraw a consent
///
/// Records the client's withdrawal; it takes effect on the next request. Once only (409
/// `consent_withdrawn`).
#[utoipa::path(tag = "privacy", params(("id" = String, Path, format = Uuid), ("consent_id" = String, Path, format = Uuid)), request_body = ConsentWithdrawal, responses(
    (status = 200, body = ConsentRecord),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/clients/{id}/consents/{consent_id}/withdraw")]
async fn withdraw_consent(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::Consent, Action::Withdraw)?;
    let reader = ctx.permit(Resource::Consent, Action::Read)?;
    let (client_id, consent_id) = (path_id(&path.0)?, path_id(&path.1)?);
    let body: ConsentWithdrawal = body.parse(&permit)?;
    let today = ctx.state.clock.today();
    if body.withdrawn_on.get() > today {
        return Err(ApiError::invalid(
            "withdrawn_on",
            "must not be in the future",
        ));
    }
    let recorder = ctx.recorder();
    ctx.write(move |conn| {
        clients::load(conn, &permit, &client_id)?;
        let consent = queries::find(conn, &client_id, &consent_id)?.ok_or(ApiError::NotFound)?;
        if body.withdrawn_on.get() < consent.given_on {
            return Err(ApiError::invalid(
                "withdrawn_on",
                "must not be before the consent was given",
            ));
        }
        let withdrawal = Withdrawal {
            on: body.withdrawn_on.get(),
            method: body.method.as_str(),
            by: &recorder.by,
            at: recorder.at,
        };
        if !queries::withdraw(conn, &consent_id, &withdrawal)? {
            return Err(ApiError::conflict(
                "consent_withdrawn",
                "The consent was withdrawn already.",
            ));
        }
        let row = queries::find(conn, &client_id, &consent_id)?.ok_or(ApiError::NotFound)?;
        disclosure::one(&reader, &ConsentRecord::of(row, today)?)
    })
    .await
}
