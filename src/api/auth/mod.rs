//! `/auth`: log in, refresh, log out.
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use crate::api::context::{AppState, Ctx};
use crate::api::request::plain_body;
use crate::audit::{self, AttemptedLogin, Disclosure};
use crate::auth::{password, sessions};
use crate::db::schema::users;
use crate::domain::{StoredAsText, UserStatus};
use crate::error::{ApiError, ApiResult, Problem};

pub fn routes(config: &mut ServiceConfig) {
    config.service(login).service(refresh).service(logout);
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub username: String,
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    #[schema(format = Password)]
    pub password: String,
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
        detail: "The username or password is incorrect.".into(),
    }
}

fn tokens(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    refresh_token: String,
) -> ApiResult<HttpResponse> {
    let access_token = state.tokens.issue(user_id, session_id)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds,
        refresh_token,
    }))
}

/// Log in
///
/// The same answer for an unknown user, a wrong password and an account that is not active.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let LoginRequest { username, password } = plain_body(body.into_inner())?;
    req.extensions_mut().insert(AttemptedLogin {
        username: username.clone(),
        user_id: None,
    });
    let ttl = state.config.session_ttl;
    let lookup = username.clone();
    let user: Option<(String, Option<String>, String)> = state
        .db
        .read(move |conn| {
            Ok(users::table
                .filter(users::username.eq(&lookup))
                .select((users::id, users::password_hash, users::status))
                .first(conn)
                .optional()?)
        })
        .await?;
    // Verified off the database connections: argon2 takes tens of milliseconds.
    let stored_hash = user.as_ref().and_then(|(_, hash, _)| hash.clone());
    let password_ok = web::block(move || password::verify(&password, stored_hash.as_deref()))
        .await
        .map_err(ApiError::internal)?;
    let user_id = match user {
        Some((user_id, _, status)) if password_ok && status == UserStatus::Active.as_str() => {
            user_id
        }
        _ => return Err(invalid_credentials()),
    };
    if let Some(login) = req.extensions_mut().get_mut::<AttemptedLogin>() {
        login.user_id = Some(user_id.clone());
    }
    let (user_id, session_id, refresh_token) =
        audit::recorded_write(&state.db, &req, None, move |conn| {
            let (session_id, refresh_token) = sessions::start(conn, &user_id, ttl)?;
            diesel::update(users::table.filter(users::id.eq(&user_id)))
                .set(users::last_login_at.eq(Utc::now().naive_utc()))
                .execute(conn)?;
            Ok((
                (user_id, session_id, refresh_token),
                200,
                Disclosure::default(),
            ))
        })
        .await?;
    tokens(&state, &user_id, &session_id, refresh_token)
}

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
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let RefreshRequest { refresh_token } = plain_body(body.into_inner())?;
    // A reuse ends the session: that change and the refusal's row commit together.
    let outcome = audit::recorded_write(&state.db, &req, None, move |conn| {
        let outcome = sessions::refresh(conn, &refresh_token)?;
        let status = if matches!(outcome, sessions::Refresh::Rotated { .. }) {
            200
        } else {
            401
        };
        Ok((outcome, status, Disclosure::default()))
    })
    .await?;
    match outcome {
        sessions::Refresh::Rotated {
            user_id,
            session_id,
            refresh_token,
        } => tokens(&state, &user_id, &session_id, refresh_token),
        sessions::Refresh::Rejected => Err(ApiError::Unauthenticated {
            code: "invalid_refresh_token",
            detail: "The refresh token is invalid, expired or its session has ended.".into(),
        }),
        sessions::Refresh::Reused => Err(ApiError::Unauthenticated {
            code: "refresh_token_reused",
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
async fn logout(ctx: Ctx) -> ApiResult<HttpResponse> {
    let session_id = ctx.caller.session_id.clone();
    ctx.write_recorded(move |conn| {
        sessions::end(conn, &session_id, "logout")?;
        Ok(((), 204, Disclosure::default()))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
