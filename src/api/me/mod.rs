//! `/me`: who the caller is and what the policy lets them do, so a frontend can shape its
//! screens. It reveals nothing about anyone else.
use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::{AnySessionCtx, Ctx, EnrollingCtx};
use crate::api::request::{Body, path_id, utc};
use crate::audit::Disclosure;
use crate::auth::training::TrainingRules;
use crate::auth::{sessions, totp};
use crate::authz::catalogue::RESOURCES;
use crate::authz::{Action, Scope, grants};
use crate::db::directory;
use crate::db::schema::{organisations, users};
use crate::domain::{OrganisationKind, PrincipalKind, ProtectiveMarking};
use crate::error::{ApiError, ApiResult, DocumentToAccept, Problem};
use crate::sealing::SealedColumn;

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(me)
        .service(list_sessions)
        .service(end_session)
        .service(enrol_totp)
        .service(confirm_totp);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[schema(format = Uuid)]
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub organisation: MyOrganisation,
    pub roles: Vec<String>,
    pub clearance: ProtectiveMarking,
    pub mfa: MfaState,
    pub password: PasswordState,
    /// The last day your recorded training is current; null when none is recorded (or for an
    /// API client).
    pub training_due_on: Option<NaiveDate>,
    /// Your training is due within 30 days: ask your manager to record the new training.
    pub training_expires_soon: bool,
    /// Your training is not current: every call but this one, logout and changing your own
    /// password answers 403 `training_expired` until your manager records new training.
    pub training_expired: bool,
    /// The policy documents in force that apply to you and that you have not accepted:
    /// until you accept them (`POST /api/v1/policy-documents/{id}/acceptance`), every call
    /// but reading and accepting them, this one and logout answers 403
    /// `terms_acceptance_required`.
    pub terms_to_accept: Vec<DocumentToAccept>,
    /// For each resource: the actions allowed with their row scopes, and the fields readable
    /// and writable.
    pub permissions: BTreeMap<String, ResourcePermissions>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaState {
    /// The policy requires a second factor for one of the caller's roles.
    pub required: bool,
    /// The caller has confirmed a TOTP authenticator.
    pub enrolled: bool,
    /// This session may only enrol: confirm a code to use the rest of the API.
    pub enrolment_only_session: bool,
}

/// What the caller must do before anything else, if anything.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordState {
    /// The password was set by someone else (an initial password or a reset): choose a new
    /// one with `POST /api/v1/users/{id}/password` before anything else.
    pub change_required: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrganisation {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub kind: OrganisationKind,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePermissions {
    pub actions: Vec<AllowedAction>,
    pub readable_fields: Vec<String>,
    pub writable_fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllowedAction {
    pub action: Action,
    pub scopes: Vec<Scope>,
}

/// The caller and their effective permissions
#[utoipa::path(tag = "me", responses(
    (status = 200, body = Me),
    (status = 401, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/me")]
async fn me(AnySessionCtx(ctx): AnySessionCtx) -> ApiResult<HttpResponse> {
    let user_id = ctx.caller.user_id.clone();
    let (display_name, organisation_name) = ctx
        .db()
        .read(move |conn| {
            users::table
                .inner_join(organisations::table)
                .filter(users::id.eq(&user_id))
                .select((users::display_name, organisations::name))
                .first::<(String, String)>(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let caller = &ctx.caller;
    let training =
        TrainingRules::of(&ctx.state.config).standing(caller.training, ctx.state.clock.today());
    let permissions = RESOURCES
        .iter()
        .filter_map(|def| {
            let granted = grants(ctx.policy(), &caller.roles, caller.kind, def.resource);
            let permissions = ResourcePermissions {
                actions: granted
                    .actions
                    .into_iter()
                    .map(|(action, scopes)| AllowedAction {
                        action,
                        scopes: scopes.into_iter().collect(),
                    })
                    .collect(),
                readable_fields: granted.readable.iter().map(|f| f.to_string()).collect(),
                writable_fields: granted.writable.iter().map(|f| f.to_string()).collect(),
            };
            (!permissions.actions.is_empty()).then(|| (def.name.to_owned(), permissions))
        })
        .collect();
    Ok(HttpResponse::Ok().json(Me {
        id: caller.user_id.clone(),
        username: caller.username.clone(),
        display_name,
        organisation: MyOrganisation {
            id: caller.organisation_id.clone(),
            name: organisation_name,
            kind: caller.organisation_kind,
        },
        roles: caller.roles.clone(),
        clearance: caller.clearance,
        mfa: MfaState {
            required: caller.mfa_required(ctx.policy()),
            enrolled: caller.mfa_enrolled,
            enrolment_only_session: caller.must_enrol_in_mfa(ctx.policy()),
        },
        password: PasswordState {
            change_required: caller.must_change_password,
        },
        training_due_on: training.due_on,
        training_expires_soon: training.expires_soon,
        training_expired: training.expired,
        terms_to_accept: caller.terms_to_accept.clone(),
        permissions,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionRecord {
    #[schema(format = Uuid)]
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request belongs to.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionRecord>,
}

/// Your live sessions
///
/// Every session you are logged in with, where it was opened from, and which one this
/// request uses. End one you do not recognise.
#[utoipa::path(tag = "me", responses(
    (status = 200, body = SessionList),
    (status = 401, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/me/sessions")]
async fn list_sessions(ctx: Ctx) -> ApiResult<HttpResponse> {
    let (user_id, current) = (ctx.caller.user_id.clone(), ctx.caller.session_id.clone());
    let now = ctx.now();
    let rows = ctx
        .db()
        .read(move |conn| Ok(sessions::live(conn, &user_id, now)?))
        .await?;
    let items = rows
        .into_iter()
        .map(|row| SessionRecord {
            current: row.id == current,
            id: row.id,
            created_at: utc(row.created_at),
            expires_at: utc(row.expires_at),
            ip: row.ip,
            user_agent: row.user_agent,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { items }))
}

/// End one of your sessions
///
/// Its access and refresh tokens stop working at once. 404 for a session that is not yours
/// or has already ended.
#[utoipa::path(tag = "me", params(("id" = String, Path, format = Uuid)), responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[delete("/me/sessions/{id}")]
async fn end_session(ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = path_id(&id)?;
    let user_id = ctx.caller.user_id.clone();
    let now = ctx.now();
    ctx.write_recorded(move |conn| {
        if !sessions::end_own(conn, &user_id, &id, "ended_by_user", now)? {
            return Err(ApiError::NotFound);
        }
        Ok(((), 204, Disclosure::default()))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32: type it into an authenticator app, or use `otpauth_uri` (as a QR code).
    /// Shown once.
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmation {
    #[validate(length(min = 6, max = 6))]
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub code: String,
}

/// Enrol a TOTP authenticator
///
/// Returns a new secret once; it takes effect when a code from it is confirmed. Enrolling
/// again before confirming replaces the secret; after confirming it is 409.
#[utoipa::path(tag = "me", responses(
    (status = 201, body = TotpEnrolment),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/me/mfa/totp")]
async fn enrol_totp(EnrollingCtx(ctx): EnrollingCtx) -> ApiResult<HttpResponse> {
    if ctx.caller.kind != PrincipalKind::Person {
        return Err(ApiError::forbidden(
            "API clients authenticate with their secret.",
        ));
    }
    let enrolment = totp::enrol(&ctx.caller.username)?;
    let user_id = ctx.caller.user_id.clone();
    let secret = ctx
        .keyring()
        .seal(SealedColumn::UserTotpSecret, &user_id, &enrolment.secret)?;
    ctx.write_recorded(move |conn| {
        if !directory::set_pending_totp(conn, &user_id, &secret)? {
            return Err(ApiError::Conflict {
                code: "mfa_already_enrolled",
                detail: "An authenticator is already confirmed for your account; ask an \
                         administrator to reset it."
                    .into(),
            });
        }
        Ok(((), 201, Disclosure::default()))
    })
    .await?;
    Ok(HttpResponse::Created().json(TotpEnrolment {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
    }))
}

/// Confirm the TOTP authenticator
///
/// With a current code from the enrolled secret. From then on every login needs a code; a
/// session limited to enrolment becomes a full one.
#[utoipa::path(tag = "me", request_body = TotpConfirmation, responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/me/mfa/totp/confirm")]
async fn confirm_totp(EnrollingCtx(ctx): EnrollingCtx, body: Body) -> ApiResult<HttpResponse> {
    let TotpConfirmation { code } = body.parse_before_any_permit()?;
    let (user_id, keyring) = (ctx.caller.user_id.clone(), ctx.keyring());
    let now = ctx.now();
    ctx.write_recorded(move |conn| {
        let Some(secret) = directory::pending_totp(conn, &user_id)? else {
            return Err(ApiError::Conflict {
                code: "mfa_not_enrolling",
                detail: "Enrol first with POST /api/v1/me/mfa/totp.".into(),
            });
        };
        let secret = keyring.open(SealedColumn::UserTotpSecret, &user_id, &secret)?;
        let step = totp::matching_step(&secret, &code, now)
            .ok_or_else(|| ApiError::invalid("code", "is not the current code"))?;
        directory::confirm_totp(conn, &user_id, step, now)?;
        Ok(((), 204, Disclosure::default()))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
