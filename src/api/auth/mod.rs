//! `/auth`: log in, refresh, log out.
use actix_web::ResponseError;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::{AnySessionCtx, AppState};
use crate::api::request::Body;
use crate::audit::{self, AttemptedLogin, Disclosure};
use crate::auth::login::{self as sign_in, LoginRules};
use crate::auth::{password, sessions};
use crate::authz::may_wind_up;
use crate::db::directory::{self, UserChanges};
use crate::db::schema::users;
use crate::domain::{PrincipalKind, StoredAsText, UserStatus};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config.service(login).service(refresh).service(logout);
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "csp-north", "password": "correct-horse-battery-9"}))]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub username: String,
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    #[schema(format = Password)]
    pub password: String,
    /// The current code of the authenticator app, for an account enrolled in MFA. Each code
    /// is accepted once.
    #[validate(length(min = 6, max = 6))]
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub totp_code: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use: each refresh returns a new one, and replaying an old one ends the session.
    pub refresh_token: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_credentials",
        detail: "The username, password or code is incorrect.".into(),
    }
}

fn tokens(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    refresh_token: String,
) -> ApiResult<HttpResponse> {
    let access_token = state.tokens.issue(user_id, session_id, state.clock.now())?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds,
        refresh_token,
    }))
}

/// Log in
///
/// The same answer for an unknown user, a wrong password or code, and an account or
/// organisation that is not active. After too many failures for one username (5 in 15
/// minutes by default) it is locked for a while (15 minutes by default), whether or not the
/// account exists. An account enrolled in MFA also sends `totp_code`; without one the answer
/// is 401 `mfa_code_required`. A user whose role requires MFA and who has not enrolled gets
/// a token that can only enrol (`POST /api/v1/me/mfa/totp`).
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 429, body = Problem, content_type = "application/problem+json",
        description = "The username is locked after repeated failures (`login_locked`), or too many requests without valid credentials came from this address (`rate_limited`); see Retry-After",
        headers(("Retry-After" = String))),
))]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body,
) -> ApiResult<HttpResponse> {
    let LoginRequest {
        username,
        password,
        totp_code,
    } = body.parse_before_any_permit()?;
    req.extensions_mut().insert(AttemptedLogin {
        username: username.clone(),
        user_id: None,
        kind: PrincipalKind::Person,
    });
    let now = state.clock.now();
    let rules = LoginRules::of(&state.config);
    admit_attempt(&state, &username).await?;
    let lookup = username.clone();
    let policy = state.policy.current();
    let (account, organisation_ok) = state
        .db
        .read(move |conn| {
            let account = sign_in::find_account(conn, &lookup)?;
            let organisation_ok = match &account {
                Some(account) => {
                    sign_in::organisation_in_good_standing(conn, &account.organisation_id, now)?
                        || (may_wind_up(&policy, PrincipalKind::Person, &account.roles()?)
                            && sign_in::organisation_winding_up(
                                conn,
                                &account.organisation_id,
                                now,
                            )?)
                }
                None => false,
            };
            Ok((account, organisation_ok))
        })
        .await?;
    // Verified off the database connections: argon2 takes tens of milliseconds.
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let password_ok = web::block(move || password::verify(&password, stored_hash.as_deref()))
        .await
        .map_err(ApiError::internal)?;
    // Opened only for the right password: a secret that does not open (500) must not tell
    // someone without it that the account exists.
    let totp_secret = match &account {
        Some(account) if password_ok => account.enrolled_totp_secret(&state.keyring)?,
        _ => None,
    };
    let verdict = sign_in::judge(
        sign_in::Attempt {
            account: account.as_ref(),
            password_ok,
            organisation_ok,
            totp_secret: totp_secret.as_deref(),
            totp_code: totp_code.as_deref(),
            now,
        },
        &rules,
    );
    let (user_id, totp_step) = match verdict {
        sign_in::Verdict::Accepted { user_id, totp_step } => (user_id, totp_step),
        sign_in::Verdict::CodeRequired => {
            return Err(ApiError::Unauthenticated {
                code: "mfa_code_required",
                detail: "Send the current code of your authenticator app as `totp_code`.".into(),
            });
        }
        sign_in::Verdict::Dormant { user_id } => {
            audit::recorded_write(&state.db, &req, None, move |conn| {
                let changes = UserChanges::status(UserStatus::Suspended, Some("dormant"));
                directory::change_status(conn, &user_id, &changes, now)?;
                Ok(((), 401, Disclosure::refusal("account_dormant")))
            })
            .await?;
            return Err(invalid_credentials());
        }
        sign_in::Verdict::Refused => {
            return Err(
                record_failed_attempt(&state, &req, None, username, invalid_credentials).await?,
            );
        }
    };
    if let Some(login) = req.extensions_mut().get_mut::<AttemptedLogin>() {
        login.user_id = Some(user_id.clone());
    }
    let ttl = state.config.session_ttl;
    let (ip, user_agent) = audit::origin(&req);
    let verified_hash = account.and_then(|account| account.password_hash);
    let (user_id, session_id, refresh_token) =
        audit::recorded_write(&state.db, &req, None, move |conn| {
            // Checked again where writes are serialised: a password change, suspension or
            // lockout committed since the read above must not be outlived by this session.
            let still = sign_in::find_account(conn, &username)?.filter(|account| {
                account.id == user_id
                    && account.status == UserStatus::Active.as_str()
                    && account.password_hash == verified_hash
            });
            if still.is_none() || sign_in::locked_until(conn, &username, now)?.is_some() {
                return Err(invalid_credentials());
            }
            let (session_id, refresh_token) = sessions::start(
                conn,
                sessions::NewSession {
                    user_id: &user_id,
                    ttl_seconds: ttl,
                    ip,
                    user_agent,
                    scope: None,
                },
                now,
            )?;
            diesel::update(users::table.filter(users::id.eq(&user_id)))
                .set(users::last_login_at.eq(now))
                .execute(conn)?;
            if let Some(step) = totp_step {
                // Checked again here, where writes are serialised: two logins racing with
                // one code cannot both use it.
                if !directory::use_totp_step(conn, &user_id, step)? {
                    return Err(invalid_credentials());
                }
            }
            sign_in::clear_failures(conn, &username)?;
            Ok((
                (user_id, session_id, refresh_token),
                200,
                Disclosure::default(),
            ))
        })
        .await?;
    tokens(&state, &user_id, &session_id, refresh_token)
}

fn login_locked(until: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> ApiError {
    ApiError::LoginLocked {
        retry_after_seconds: (until - now).num_seconds().max(1),
    }
}

/// Counts an attempt to prove `username`'s secret (a password, with or without a code)
/// before it is verified: 429 `login_locked` when the username is locked or its window's
/// attempts are used up. Logins and password changes share the count.
pub(crate) async fn admit_attempt(state: &AppState, username: &str) -> ApiResult<()> {
    let (now, rules, username) = (
        state.clock.now(),
        LoginRules::of(&state.config),
        username.to_owned(),
    );
    let admission = state
        .db
        .write(move |conn, _| Ok(sign_in::admit_attempt(conn, &rules, &username, now)?))
        .await?;
    match admission {
        sign_in::Admission::Admitted => Ok(()),
        sign_in::Admission::Refused { until } => Err(login_locked(until, now)),
    }
}

/// Records an admitted attempt that failed, with its audit row: the error to answer is
/// `refused()`, or 429 `login_locked` when the username is (or this failure made it) locked;
/// the failure that locks it raises the lockout alert.
pub(crate) async fn record_failed_attempt(
    state: &AppState,
    req: &HttpRequest,
    caller: Option<std::sync::Arc<crate::authz::Caller>>,
    username: String,
    refused: fn() -> ApiError,
) -> ApiResult<ApiError> {
    let (now, rules) = (state.clock.now(), LoginRules::of(&state.config));
    audit::recorded_write(&state.db, req, caller, move |conn| {
        let (error, locked_out) = match sign_in::record_failure(conn, &rules, &username, now)? {
            sign_in::Failure::Counted => (refused(), false),
            sign_in::Failure::LockedNow { until } => (login_locked(until, now), true),
            sign_in::Failure::AlreadyLocked { until } => (login_locked(until, now), false),
        };
        let disclosure = Disclosure {
            locked_out,
            ..Disclosure::refusal(error.code())
        };
        let status = error.status_code().as_u16();
        Ok((error, status, disclosure))
    })
    .await
}

const INVALID_REFRESH_TOKEN: &str = "invalid_refresh_token";
const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";

/// Refresh the access token
///
/// Rotates the refresh token. Presenting a refresh token that was already used ends the session.
#[utoipa::path(tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Body,
) -> ApiResult<HttpResponse> {
    let RefreshRequest { refresh_token } = body.parse_before_any_permit()?;
    let now = state.clock.now();
    // A reuse ends the session: that change and the refusal's row commit together.
    let outcome = audit::recorded_write(&state.db, &req, None, move |conn| {
        let outcome = sessions::refresh(conn, &refresh_token, now)?;
        let (status, disclosure) = match &outcome {
            sessions::Refresh::Rotated { user_id, .. } => {
                (200, Disclosure::default().acting_for(user_id))
            }
            sessions::Refresh::Reused { user_id } => (
                401,
                Disclosure::refusal(REFRESH_TOKEN_REUSED).acting_for(user_id),
            ),
            sessions::Refresh::Rejected => (401, Disclosure::refusal(INVALID_REFRESH_TOKEN)),
        };
        Ok((outcome, status, disclosure))
    })
    .await?;
    match outcome {
        sessions::Refresh::Rotated {
            user_id,
            session_id,
            refresh_token,
        } => tokens(&state, &user_id, &session_id, refresh_token),
        sessions::Refresh::Rejected => Err(ApiError::Unauthenticated {
            code: INVALID_REFRESH_TOKEN,
            detail: "The refresh token is invalid, expired or its session has ended.".into(),
        }),
        sessions::Refresh::Reused { .. } => Err(ApiError::Unauthenticated {
            code: REFRESH_TOKEN_REUSED,
            detail:
                "This refresh token was already used; the session has been ended. Log in again."
                    .into(),
        }),
    }
}

/// Log out
///
/// Ends the session: its access and refresh tokens stop working at once.
#[utoipa::path(tag = "auth", responses(
    (status = 204),
    (status = 401, body = Problem, content_type = "application/problem+json"),
), security(("bearer" = [])))]
#[post("/auth/logout")]
async fn logout(AnySessionCtx(ctx): AnySessionCtx) -> ApiResult<HttpResponse> {
    let session_id = ctx.caller.session_id.clone();
    let now = ctx.now();
    ctx.write_recorded(move |conn| {
        sessions::end(conn, &session_id, "logout", now)?;
        Ok(((), 204, Disclosure::default()))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
