//! `/users`: staff accounts of the department and of CSPs.
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::{Ctx, PasswordChangingCtx, limited_session};
use crate::api::disclosure::{self, Disclose, Disclosed, Page};
use crate::api::request::{Body, PageRequest, Params, expected_version, path_id, utc, write_body};
use crate::audit::{ChangeAlert, Disclosure};
use crate::auth::password;
use crate::authz::dual_control::{self, Access};
use crate::authz::{Action, Permit, Resource, SessionLimit, catalogue, scope};
use crate::db::DbConnection;
use crate::db::directory::{self as queries, PendingGrant, UserChanges, UserRow};
use crate::domain::names::DisplayName;
use crate::domain::{
    Date, OrganisationKind, PrincipalKind, ProtectiveMarking, StoredAsText, UserStatus,
};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(set_password)
        .service(record_onboarding_checks)
        .service(approve_user)
        .service(suspend_user)
        .service(reactivate_user)
        .service(deactivate_user)
        .service(revoke_sessions)
        .service(approve_access_change)
        .service(reject_access_change);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub username: String,
    #[schema(required = false)]
    pub display_name: String,
    #[schema(required = false)]
    pub email: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false)]
    pub status: UserStatus,
    /// The highest protective marking the user may see.
    #[schema(required = false)]
    pub clearance: ProtectiveMarking,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
    #[schema(required = false)]
    pub last_login_at: Option<DateTime<Utc>>,
    /// Why the status last changed: `dormant`, `suspended`, `deactivated`,
    /// `access_review_revoked`, `access_review_no_decision`, ...
    #[schema(required = false)]
    pub status_reason: Option<String>,
    #[schema(required = false)]
    pub training_completed_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub security_check_completed_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub security_check_reference: Option<String>,
    #[schema(required = false)]
    pub acceptable_use_accepted_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub approved_at: Option<DateTime<Utc>>,
    /// Whether the user has confirmed a TOTP authenticator.
    #[schema(required = false)]
    pub mfa_enrolled: bool,
    /// The password was set by someone else: the user must choose a new one at their next
    /// login before doing anything else.
    #[schema(required = false)]
    pub password_change_required: bool,
    /// Access asked for that takes effect only when a second administrator approves it
    /// (`/access-change/approve`); for a `pending` account, its roles and clearance as shown.
    #[schema(required = false)]
    pub pending_access_change: Option<PendingAccessChange>,
    #[schema(required = false)]
    pub version: i32,
}

/// Access waiting for a second person's approval (dual control).
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingAccessChange {
    /// The roles asked for; absent when they do not change (or for a new account).
    pub roles: Option<Vec<String>>,
    pub clearance: Option<ProtectiveMarking>,
    #[schema(format = Uuid)]
    pub organisation_id: Option<String>,
    /// Who asked: someone else must approve.
    #[schema(format = Uuid)]
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

impl PendingAccessChange {
    fn of(row: &UserRow) -> anyhow::Result<Option<Self>> {
        let (Some(requested_by), Some(requested_at)) =
            (row.grant_requested_by.clone(), row.grant_requested_at)
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            roles: row
                .pending_roles
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
            clearance: row
                .pending_clearance
                .map(ProtectiveMarking::from_rank)
                .transpose()?,
            organisation_id: row.pending_organisation_id.clone(),
            requested_by,
            requested_at: utc(requested_at),
        }))
    }
}

impl TryFrom<UserRow> for UserRecord {
    type Error = anyhow::Error;

    fn try_from(row: UserRow) -> anyhow::Result<Self> {
        let pending_access_change = PendingAccessChange::of(&row)?;
        Ok(Self {
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            email: row.email,
            organisation_id: row.organisation_id,
            roles: serde_json::from_str(&row.roles)?,
            status: UserStatus::from_stored(&row.status)?,
            clearance: ProtectiveMarking::from_rank(row.clearance)?,
            created_at: utc(row.created_at),
            last_login_at: row.last_login_at.map(utc),
            status_reason: row.status_reason,
            training_completed_on: row.training_completed_on,
            security_check_completed_on: row.security_check_completed_on,
            security_check_reference: row.security_check_reference,
            acceptable_use_accepted_on: row.acceptable_use_accepted_on,
            approved_at: row.approved_at.map(utc),
            mfa_enrolled: row.totp_confirmed_at.is_some(),
            password_change_required: row.password_change_required,
            pending_access_change,
            version: row.version,
        })
    }
}

impl Disclose for UserRecord {
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
pub struct NewUser {
    /// Unique among the accounts the caller can see (409 `username_taken`). A CSP manager is
    /// told nothing about other organisations' accounts: a username held elsewhere is
    /// resolved by the department on approval.
    #[validate(length(min = 3, max = 64), regex(path = *USERNAME, message = "may hold only letters, digits, `.`, `_` and `-`"))]
    pub username: String,
    /// Follows the name rule (`domain::names`): a letter or digit, no control, invisible
    /// formatting or bidirectional characters.
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub display_name: DisplayName,
    #[validate(email)]
    pub email: String,
    #[schema(format = Uuid)]
    pub organisation_id: String,
    #[validate(length(min = 1, max = 9))]
    #[schema(min_items = 1, max_items = 9)]
    pub roles: Vec<String>,
    pub clearance: ProtectiveMarking,
    /// `pending` (the default: the account cannot log in until a dept_admin approves it) or,
    /// for department staff only, `active`. CSP staff are approved once their onboarding
    /// checks are recorded.
    pub status: Option<UserStatus>,
    /// An initial password (dept_admin only), at least 12 characters. Without one the user
    /// cannot log in until a dept_admin sets a password.
    #[schema(format = Password)]
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub password: Option<String>,
}

static USERNAME: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"^[A-Za-z0-9._-]+$").expect("valid regex"));

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// A new username (the department's, to resolve a clash found on approval): unique
    /// among the accounts the caller can see (409 `username_taken`).
    #[validate(length(min = 3, max = 64), regex(path = *USERNAME, message = "may hold only letters, digits, `.`, `_` and `-`"))]
    pub username: Option<String>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub display_name: Option<DisplayName>,
    #[validate(email)]
    pub email: Option<String>,
    #[schema(format = Uuid)]
    pub organisation_id: Option<String>,
    #[validate(length(min = 1, max = 9))]
    #[schema(min_items = 1, max_items = 9)]
    pub roles: Option<Vec<String>>,
    pub clearance: Option<ProtectiveMarking>,
}

/// The checks a CSP staff member completes before approval; record them as they happen.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardingChecks {
    pub training_completed_on: Option<Date>,
    pub security_check_completed_on: Option<Date>,
    /// The reference of the security check (for example a police check number).
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub security_check_reference: Option<String>,
    pub acceptable_use_accepted_on: Option<Date>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required when changing your own password.
    #[schema(format = Password)]
    pub current_password: Option<String>,
    #[schema(format = Password, min_length = 12)]
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

fn load(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<UserRecord> {
    let row = queries::find_user(conn, PrincipalKind::Person, scope::users(permit), id)?
        .ok_or(ApiError::NotFound)?;
    Ok(UserRecord::try_from(row)?)
}

/// 422 unless every role is catalogued and meant for the organisation's kind; answers the
/// kind.
pub fn check_roles(
    conn: &mut DbConnection,
    roles: &[String],
    organisation_id: &str,
) -> ApiResult<OrganisationKind> {
    let kind = queries::organisation_kind(conn, organisation_id)?
        .ok_or_else(|| ApiError::invalid("organisation_id", "is not an organisation"))?;
    let kind = OrganisationKind::from_stored(&kind)?;
    // Named by position: a problem never repeats what was sent.
    for (index, role) in roles.iter().enumerate() {
        match catalogue::role(role) {
            None => {
                return Err(ApiError::invalid(
                    format!("roles[{index}]"),
                    "is not a role",
                ));
            }
            Some(def) if def.organisation_kind != kind => {
                return Err(ApiError::invalid(
                    format!("roles[{index}]"),
                    format!("is not a role for a {} organisation", kind.as_str()),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(kind)
}

fn weak_password(problem: String) -> ApiError {
    ApiError::invalid("password", format!("The password {problem}."))
}

/// List users
#[utoipa::path(tag = "users", params(UserListParams), responses(
    (status = 200, body = Page<UserRecord>),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/users")]
async fn list_users(ctx: Ctx, params: Params<UserListParams>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, Action::Read)?;
    let params = params.parse(&permit)?;
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let (reader, request) = (permit.clone(), page.clone());
    let mut rows = ctx
        .db()
        .read(move |conn| {
            Ok(queries::list_users(
                conn,
                PrincipalKind::Person,
                scope::users(&reader),
                request.after.as_deref(),
                request.fetch(),
            )?)
        })
        .await?;
    let next_cursor = page.finish(&mut rows, |row| &row.id);
    let records = rows
        .into_iter()
        .map(UserRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    disclosure::page(&permit, &records, next_cursor)
}

/// Create a user
#[utoipa::path(tag = "users", request_body = NewUser, responses(
    (status = 201, body = UserRecord, headers(("ETag" = String), ("Location" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users")]
async fn create_user(ctx: Ctx, body: Body) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, Action::Create)?;
    let reader = ctx.permit(Resource::User, Action::Read)?;
    let new: NewUser = write_body(&permit, body)?;
    ctx.caller.check_clearance_grant(Some(new.clearance))?;
    let password_hash = match &new.password {
        Some(password) => {
            if let Some(problem) = password::weakness(password, &new.username) {
                return Err(weak_password(problem));
            }
            Some(password::hash(password)?)
        }
        None => None,
    };
    let status = new.status.unwrap_or(UserStatus::Pending);
    if !matches!(status, UserStatus::Pending | UserStatus::Active) {
        return Err(ApiError::invalid(
            "status",
            "a new user is `pending` or, for department staff, `active`",
        ));
    }
    if !scope::reaches_organisation(&permit, &new.organisation_id) {
        return Err(organisation_not_allowed());
    }
    let access = Access {
        roles: &new.roles,
        clearance: new.clearance,
        organisation_id: &new.organisation_id,
    };
    let dual_control = dual_control::needs_second_approval(ctx.policy(), None, access);
    if dual_control && status == UserStatus::Active {
        return Err(second_approval_required(
            "This access takes a second administrator's approval: create the user `pending`, \
             and another administrator approves it.",
        ));
    }
    let now = ctx.now();
    let mut row = UserRow::new(PrincipalKind::Person, now);
    row.username = new.username;
    row.display_name = new.display_name.into();
    row.email = new.email;
    row.organisation_id = new.organisation_id;
    row.roles = serde_json::to_string(&new.roles).map_err(ApiError::internal)?;
    row.status = status.as_str().to_owned();
    row.clearance = new.clearance.rank();
    // A password chosen by the creator is the user's to replace before anything else.
    row.password_change_required = password_hash.is_some();
    if dual_control {
        row.grant_requested_by = Some(ctx.caller.user_id.clone());
        row.grant_requested_at = Some(now);
    }
    if status == UserStatus::Active {
        row.activated_at = Some(now);
        row.approved_at = Some(now);
    }
    let approver = ctx.caller.user_id.clone();
    ctx.write(move |conn| {
        let kind = check_roles(conn, &new.roles, &row.organisation_id)?;
        if status == UserStatus::Active && kind == OrganisationKind::Csp {
            return Err(onboarding_incomplete(&missing_checks(&row)));
        }
        check_username_free(conn, &reader, &row.username, None)?;
        queries::insert_user(conn, &row, password_hash.as_deref())?;
        if status == UserStatus::Active {
            let approval = UserChanges {
                approved_by: Some(Some(approver)),
                ..UserChanges::default()
            };
            queries::change_user(conn, &row.id, &approval, now)?;
        }
        let record = load(conn, &reader, &row.id)?;
        disclosure::created(&reader, &record, format!("/api/v1/users/{}", record.id))
    })
    .await
}

/// 409 `username_taken` when an account other than `except` that `reader` can see holds
/// `username`. Accounts out of the caller's sight are not consulted, so the answer (and
/// the work done to give it) is the same whether or not one of them holds the name: a
/// clash with one is found when the department approves or reactivates the account, and
/// the unique index on active usernames is the last word.
fn check_username_free(
    conn: &mut DbConnection,
    reader: &Permit,
    username: &str,
    except: Option<&str>,
) -> ApiResult<()> {
    if queries::username_taken(conn, username, Some(scope::users(reader)), except)? {
        return Err(ApiError::Conflict {
            code: "username_taken",
            detail: match except {
                None => "The username is taken.".into(),
                Some(id) => format!(
                    "Another account holds this username: give this one another \
                     (PATCH /api/v1/users/{id} with `username`) first."
                ),
            },
        });
    }
    Ok(())
}

fn second_approval_required(detail: &str) -> ApiError {
    ApiError::Forbidden {
        code: "second_approval_required",
        detail: detail.to_owned(),
    }
}

fn organisation_not_allowed() -> ApiError {
    ApiError::Forbidden {
        code: "organisation_not_allowed",
        detail: "You may create users only in your own organisation.".into(),
    }
}

/// The onboarding checks not yet recorded for `row`.
fn missing_checks(row: &UserRow) -> Vec<&'static str> {
    [
        ("training_completed_on", row.training_completed_on.is_some()),
        (
            "security_check_completed_on",
            row.security_check_completed_on.is_some(),
        ),
        (
            "security_check_reference",
            row.security_check_reference.is_some(),
        ),
        (
            "acceptable_use_accepted_on",
            row.acceptable_use_accepted_on.is_some(),
        ),
    ]
    .into_iter()
    .filter(|(_, recorded)| !recorded)
    .map(|(check, _)| check)
    .collect()
}

fn onboarding_incomplete(missing: &[&str]) -> ApiError {
    ApiError::Conflict {
        code: "onboarding_incomplete",
        detail: format!(
            "A CSP staff member is approved only once every onboarding check is recorded; \
             missing: {}.",
            missing.join(", ")
        ),
    }
}

/// Get a user
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[get("/users/{id}")]
async fn get_user(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, Action::Read)?;
    let id = path_id(&id)?;
    let reader = permit.clone();
    let record = ctx.db().read(move |conn| load(conn, &reader, &id)).await?;
    disclosure::one(&permit, &record)
}

/// Update a user
///
/// Role, clearance and organisation changes apply from the user's next request. The status
/// changes only through `/approve`, `/suspend`, `/reactivate` and `/deactivate`.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), request_body = UserUpdate, responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[patch("/users/{id}")]
async fn update_user(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, Action::Update)?;
    let reader = ctx.permit(Resource::User, Action::Read)?;
    let id = path_id(&id)?;
    let version = expected_version(&req)?;
    let update: UserUpdate = write_body(&permit, body)?;
    ctx.caller.check_clearance_grant(update.clearance)?;
    let changes_access =
        update.roles.is_some() || update.clearance.is_some() || update.organisation_id.is_some();
    if id == ctx.caller.user_id && changes_access {
        // Access is granted by someone else, so one account cannot raise its own.
        return Err(own_access_unchangeable());
    }
    let (policy, requested_by, now) =
        (ctx.policy_snapshot(), ctx.caller.user_id.clone(), ctx.now());
    ctx.write(move |conn| {
        let current = load(conn, &permit, &id)?;
        let organisation_id = update
            .organisation_id
            .clone()
            .unwrap_or(current.organisation_id.clone());
        let roles = update.roles.clone().unwrap_or(current.roles.clone());
        check_roles(conn, &roles, &organisation_id)?;
        let from = Access {
            roles: &current.roles,
            clearance: current.clearance,
            organisation_id: &current.organisation_id,
        };
        let to = Access {
            roles: &roles,
            clearance: update.clearance.unwrap_or(current.clearance),
            organisation_id: &organisation_id,
        };
        let dual_control = dual_control::needs_second_approval(&policy, Some(from), to);
        let grant = PendingGrant {
            roles: update
                .roles
                .map(|roles| serde_json::to_string(&roles))
                .transpose()
                .map_err(ApiError::internal)?,
            clearance: update.clearance.map(ProtectiveMarking::rank),
            organisation_id: update.organisation_id,
        };
        let access_changes = if dual_control && current.status != UserStatus::Pending {
            // Held until a second administrator approves it; the account keeps its access.
            UserChanges::request_grant(grant, &requested_by, now)
        } else {
            // A pending account becomes active only on approval, which someone other than
            // whoever asked for this access must give.
            let requested = dual_control.then(|| Some(requested_by.clone()));
            UserChanges {
                roles: grant.roles,
                clearance: grant.clearance,
                organisation_id: grant.organisation_id,
                grant_requested_by: requested.clone(),
                grant_requested_at: requested.map(|_| Some(now)),
                ..UserChanges::default()
            }
        };
        if let Some(username) = &update.username {
            check_username_free(conn, &reader, username, Some(&id))?;
        }
        let changes = UserChanges {
            username: update.username,
            display_name: update.display_name.map(String::from),
            email: update.email,
            ..access_changes
        };
        if current.version != version || !queries::update_user(conn, &id, version, &changes, now)? {
            return Err(ApiError::PreconditionFailed);
        }
        let record = load(conn, &reader, &id)?;
        disclosure::one(&reader, &record)
    })
    .await
}

/// Set a password
///
/// Everyone may change their own with their current password: wrong ones count towards the
/// account's login lockout (429 `login_locked` once it is locked). An administrator may set
/// the password of an account whose clearance is not above their own; the account must then
/// choose a new one at its next login before anything else, and the reset raises an alert.
/// The user's other sessions end.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), request_body = PasswordChange, responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 429, body = Problem, content_type = "application/problem+json",
        description = "Too many wrong current passwords: the account is locked (`login_locked`); or, without a live session, too many requests from this address (`rate_limited`); see Retry-After",
        headers(("Retry-After" = String))),
), security(("bearer" = [])))]
#[post("/users/{id}/password")]
async fn set_password(
    PasswordChangingCtx(ctx): PasswordChangingCtx,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    let permit = ctx.permit(Resource::User, Action::SetPassword)?;
    let id = path_id(&id)?;
    let change: PasswordChange = body.parse(&permit)?;
    let caller = ctx.caller.clone();
    let own = id == caller.user_id;
    match ctx.limit {
        Some(SessionLimit::PasswordChange) if !own => {
            // A session that must first replace its own password does nothing else.
            return Err(ApiError::Forbidden {
                code: "password_change_required",
                detail: "Choose a new password for your own account first.".into(),
            });
        }
        // A session limited to something else may change its own password only.
        Some(limit) if !own => return Err(limited_session(limit, &caller)),
        _ => {}
    }
    let target = ctx.db().read(move |conn| load(conn, &permit, &id)).await?;
    if !own && target.clearance > caller.clearance {
        return Err(ApiError::Forbidden {
            code: "clearance_above_own",
            detail: "You may not set the password of an account cleared above your own \
                     clearance."
                .into(),
        });
    }
    if let Some(problem) = password::weakness(&change.new_password, &target.username) {
        return Err(weak_password(problem));
    }
    if own {
        crate::api::auth::admit_attempt(&ctx.state, &caller.username).await?;
        let user_id = target.id.clone();
        let stored = ctx
            .db()
            .read(move |conn| Ok(queries::password_hash(conn, &user_id)?))
            .await?;
        let current = change.current_password.clone().unwrap_or_default();
        let verified = web::block(move || password::verify(&current, stored.as_deref()))
            .await
            .map_err(ApiError::internal)?;
        if !verified {
            return Err(ctx.record_failed_attempt(current_password_incorrect).await);
        }
    }
    let new_password = change.new_password;
    let hash = web::block(move || password::hash(&new_password))
        .await
        .map_err(ApiError::internal)??;
    let now = ctx.now();
    ctx.write_recorded(move |conn| {
        queries::set_password_hash(conn, &target.id, &hash, !own, now)?;
        let keep = own.then_some(caller.session_id.as_str());
        queries::end_sessions(conn, &target.id, keep, "password_changed", now)?;
        if own {
            crate::auth::login::clear_failures(conn, &caller.username)?;
        }
        let alert = (!own).then(|| ChangeAlert {
            kind: "password_reset",
            reason: format!(
                "User {} set the password of user {}; it must be replaced at their next login.",
                caller.user_id, target.id
            ),
        });
        Ok((
            (),
            204,
            Disclosure {
                resource_type: Some("user"),
                resource_id: Some(target.id),
                alert,
                ..Disclosure::default()
            },
        ))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn current_password_incorrect() -> ApiError {
    ApiError::Forbidden {
        code: "current_password_incorrect",
        detail: "Changing your own password needs your current password.".into(),
    }
}

fn own_access_unchangeable() -> ApiError {
    ApiError::Forbidden {
        code: "own_access_unchangeable",
        detail: "You may not change your own roles, clearance, organisation or status.".into(),
    }
}

fn find_row(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<UserRow> {
    queries::find_user(conn, PrincipalKind::Person, scope::users(permit), id)?
        .ok_or(ApiError::NotFound)
}

/// A person or an API client: the status actions and ending sessions apply to both.
fn find_principal(conn: &mut DbConnection, permit: &Permit, id: &str) -> ApiResult<UserRow> {
    queries::find_principal(conn, scope::users(permit), id)?.ok_or(ApiError::NotFound)
}

/// Record onboarding checks
///
/// The user's csp_manager or a dept_admin records each check as it is completed. Dates may
/// not be in the future. Recording a new `training_completed_on` renews the user's training
/// for another training period (`--training-valid-days`), and lifts `training_expired` from
/// their next request. Nobody records their own checks (403 `own_access_unchangeable`).
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), request_body = OnboardingChecks, responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/onboarding-checks")]
async fn record_onboarding_checks(
    ctx: Ctx,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, Action::RecordOnboarding)?;
    let reader = ctx.permit(Resource::User, Action::Read)?;
    let id = path_id(&id)?;
    if id == ctx.caller.user_id {
        // Someone else vouches for a person's training and checks: an administrator whose
        // own training lapses is renewed by another (docs/csp-partnership.md#training).
        return Err(ApiError::Forbidden {
            code: "own_access_unchangeable",
            detail: "Someone else records your onboarding checks and training.".into(),
        });
    }
    let checks: OnboardingChecks = body.parse(&permit)?;
    let today = ctx.state.clock.today();
    let dates = [
        ("training_completed_on", checks.training_completed_on),
        (
            "security_check_completed_on",
            checks.security_check_completed_on,
        ),
        (
            "acceptable_use_accepted_on",
            checks.acceptable_use_accepted_on,
        ),
    ];
    if dates.iter().all(|(_, date)| date.is_none()) && checks.security_check_reference.is_none() {
        return Err(ApiError::invalid("body", "record at least one check"));
    }
    for (field, date) in dates {
        if date.is_some_and(|date| date.get() > today) {
            return Err(ApiError::invalid(field, "must not be in the future"));
        }
    }
    let now = ctx.now();
    ctx.write(move |conn| {
        find_row(conn, &permit, &id)?;
        let changes = UserChanges {
            training_completed_on: checks.training_completed_on.map(|d| Some(d.get())),
            security_check_completed_on: checks.security_check_completed_on.map(|d| Some(d.get())),
            security_check_reference: checks.security_check_reference.map(Some),
            acceptable_use_accepted_on: checks.acceptable_use_accepted_on.map(|d| Some(d.get())),
            ..UserChanges::default()
        };
        queries::change_user(conn, &id, &changes, now)?;
        disclosure::one(&reader, &load(conn, &reader, &id)?)
    })
    .await
}

/// A status change. Who may make it, and for which users, comes from the policy (the
/// action's row scope); the statuses it starts from are fixed here.
struct Transition {
    action: Action,
    from: &'static [UserStatus],
    to: UserStatus,
    reason: Option<&'static str>,
}

async fn transition(ctx: Ctx, id: &str, transition: Transition) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, transition.action)?;
    let reader = ctx.permit(Resource::User, Action::Read)?;
    let id = path_id(id)?;
    if id == ctx.caller.user_id {
        return Err(own_access_unchangeable());
    }
    let (now, actor, policy) = (ctx.now(), ctx.caller.user_id.clone(), ctx.policy_snapshot());
    ctx.write(move |conn| {
        let row = find_principal(conn, &permit, &id)?;
        let status = UserStatus::from_stored(&row.status)?;
        if !transition.from.contains(&status) {
            return Err(ApiError::Conflict {
                code: "invalid_status_transition",
                detail: format!(
                    "A {} user cannot be made {}.",
                    status.as_str(),
                    transition.to.as_str()
                ),
            });
        }
        let approving = transition.action == Action::Approve;
        if approving {
            let kind = queries::organisation_kind(conn, &row.organisation_id)?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("user without organisation")))?;
            let missing = missing_checks(&row);
            // Onboarding checks are a person's; a CSP system is vouched for by its approval.
            let person = row.kind == PrincipalKind::Person.as_str();
            if person && kind == OrganisationKind::Csp.as_str() && !missing.is_empty() {
                return Err(onboarding_incomplete(&missing));
            }
        }
        let second_approval = approving && {
            let roles: Vec<String> =
                serde_json::from_str(&row.roles).map_err(ApiError::internal)?;
            let access = Access {
                roles: &roles,
                clearance: ProtectiveMarking::from_rank(row.clearance)?,
                organisation_id: &row.organisation_id,
            };
            dual_control::needs_second_approval(&policy, None, access)
        };
        if second_approval {
            check_second_approver(&row, &actor)?;
        }
        let activating = transition.to == UserStatus::Active;
        if activating {
            // Usernames are unique among active accounts: a clash a CSP manager could not
            // be told of is found here, by the department.
            check_username_free(conn, &reader, &row.username, Some(&id))?;
        }
        let status = UserChanges::status(transition.to, transition.reason);
        let changes = UserChanges {
            activated_at: activating.then_some(Some(now)),
            approved_at: approving.then_some(Some(now)),
            approved_by: approving.then_some(Some(actor.clone())),
            ..if approving {
                status.settle_grant()
            } else {
                status
            }
        };
        queries::change_status(conn, &id, &changes, now)?;
        let record = UserRecord::try_from(find_principal(conn, &reader, &id)?)?;
        let responded = disclosure::one(&reader, &record)?;
        Ok(match second_approval {
            true => responded.raising(access_granted(&row, &actor)),
            false => responded,
        })
    })
    .await
}

/// Dual control: whoever asked for the access may not be the one who approves it.
fn check_second_approver(row: &UserRow, approver: &str) -> ApiResult<()> {
    if row.grant_requested_by.as_deref() == Some(approver) {
        return Err(second_approval_required(
            "You asked for this access: another administrator must approve it.",
        ));
    }
    Ok(())
}

/// The alert for the auditor when access under dual control takes effect.
fn access_granted(row: &UserRow, approver: &str) -> ChangeAlert {
    ChangeAlert {
        kind: "access_granted",
        reason: format!(
            "User {approver} approved access asked for by {} for user {} (roles {}).",
            row.grant_requested_by
                .as_deref()
                .unwrap_or("an unrecorded requester"),
            row.id,
            row.pending_roles.as_deref().unwrap_or(&row.roles),
        ),
    }
}

/// Approve a pending user
///
/// A dept_admin makes a pending user active. A CSP staff member needs every onboarding check
/// recorded first (409 `onboarding_incomplete` names the missing ones).
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/approve")]
async fn approve_user(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let rule = Transition {
        action: Action::Approve,
        from: &[UserStatus::Pending],
        to: UserStatus::Active,
        reason: None,
    };
    transition(ctx, &id, rule).await
}

/// Suspend a user
///
/// Takes effect on the user's next request: their sessions end. A csp_manager may suspend
/// its own organisation's staff.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/suspend")]
async fn suspend_user(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let rule = Transition {
        action: Action::Suspend,
        from: &[UserStatus::Pending, UserStatus::Active],
        to: UserStatus::Suspended,
        reason: Some("suspended"),
    };
    transition(ctx, &id, rule).await
}

/// Reactivate a suspended user
///
/// Also an API client's id (for example one suspended by an access review).
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/reactivate")]
async fn reactivate_user(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let rule = Transition {
        action: Action::Reactivate,
        from: &[UserStatus::Suspended],
        to: UserStatus::Active,
        reason: None,
    };
    transition(ctx, &id, rule).await
}

/// Deactivate a user
///
/// For good: a departure. A csp_manager reports one by deactivating its own staff member.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/deactivate")]
async fn deactivate_user(ctx: Ctx, id: web::Path<String>) -> ApiResult<Disclosed> {
    let rule = Transition {
        action: Action::Deactivate,
        from: &[
            UserStatus::Pending,
            UserStatus::Active,
            UserStatus::Suspended,
        ],
        to: UserStatus::Deactivated,
        reason: Some("deactivated"),
    };
    transition(ctx, &id, rule).await
}

/// End every session of a user
///
/// Their access and refresh tokens stop working at once; the account stays as it is.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid)), responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/revoke-sessions")]
async fn revoke_sessions(ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let permit = ctx.permit(Resource::User, Action::RevokeSessions)?;
    let id = path_id(&id)?;
    let now = ctx.now();
    ctx.write_recorded(move |conn| {
        let row = find_principal(conn, &permit, &id)?;
        queries::end_sessions(conn, &row.id, None, "revoked_by_admin", now)?;
        Ok((
            (),
            204,
            Disclosure {
                resource_type: Some("user"),
                resource_id: Some(row.id),
                ..Disclosure::default()
            },
        ))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Approve a pending access change
///
/// Applies the roles, clearance or organisation another administrator asked for (dual
/// control): 403 `second_approval_required` for whoever asked, 409
/// `no_pending_access_change` when nothing waits. Needs `If-Match` with the ETag of the
/// record reviewed, so that what is approved is what was read. Raises an alert.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/access-change/approve")]
async fn approve_access_change(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<Disclosed> {
    settle_access_change(ctx, &req, &id, true).await
}

/// Reject a pending access change
///
/// Discards access asked for under dual control; whoever asked may withdraw it this way.
/// Needs `If-Match`.
#[utoipa::path(tag = "users", params(("id" = String, Path, format = Uuid), ("If-Match" = String, Header, description = "The ETag of the version read", pattern = r#"^(W/)?"[0-9]{1,9}"$"#)), responses(
    (status = 200, body = UserRecord, headers(("ETag" = String))),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 412, body = Problem, content_type = "application/problem+json"),
    (status = 428, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/users/{id}/access-change/reject")]
async fn reject_access_change(
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<Disclosed> {
    settle_access_change(ctx, &req, &id, false).await
}

async fn settle_access_change(
    ctx: Ctx,
    req: &HttpRequest,
    id: &str,
    approve: bool,
) -> ApiResult<Disclosed> {
    let permit = ctx.permit(Resource::User, Action::Approve)?;
    let reader = ctx.permit(Resource::User, Action::Read)?;
    let id = path_id(id)?;
    let version = expected_version(req)?;
    if id == ctx.caller.user_id {
        return Err(own_access_unchangeable());
    }
    let (now, actor, caller) = (ctx.now(), ctx.caller.user_id.clone(), ctx.caller.clone());
    ctx.write(move |conn| {
        let row = find_row(conn, &permit, &id)?;
        let waiting =
            row.status != UserStatus::Pending.as_str() && row.grant_requested_by.is_some();
        if !waiting {
            return Err(ApiError::Conflict {
                code: "no_pending_access_change",
                detail: "No access change waits for approval on this account (a pending \
                         account is approved with /approve)."
                    .into(),
            });
        }
        if row.version != version {
            return Err(ApiError::PreconditionFailed);
        }
        let settled = UserChanges::default().settle_grant();
        let changes = if approve {
            check_second_approver(&row, &actor)?;
            let clearance = row
                .pending_clearance
                .map(ProtectiveMarking::from_rank)
                .transpose()?;
            caller.check_clearance_grant(clearance)?;
            let roles: Vec<String> =
                serde_json::from_str(row.pending_roles.as_deref().unwrap_or(&row.roles))
                    .map_err(ApiError::internal)?;
            let organisation_id = row
                .pending_organisation_id
                .clone()
                .unwrap_or(row.organisation_id.clone());
            check_roles(conn, &roles, &organisation_id)?;
            UserChanges {
                roles: row.pending_roles.clone(),
                clearance: row.pending_clearance,
                organisation_id: row.pending_organisation_id.clone(),
                ..settled
            }
        } else {
            settled
        };
        if !queries::update_user(conn, &id, version, &changes, now)? {
            return Err(ApiError::PreconditionFailed);
        }
        let responded = disclosure::one(&reader, &load(conn, &reader, &id)?)?;
        Ok(match approve {
            true => responded.raising(access_granted(&row, &actor)),
            false => responded,
        })
    })
    .await
}
