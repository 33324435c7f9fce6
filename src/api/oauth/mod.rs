//! `POST /oauth/token`: the OAuth2 client-credentials grant (RFC 6749 §4.4) for CSP systems.
//! Errors follow RFC 6749 §5.2 (`{error, error_description}`), not problem details, because
//! OAuth2 client libraries expect them.
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::context::AppState;
use crate::audit::{self, AttemptedLogin, Disclosure};
use crate::auth::login::{self, LoginRules};
use crate::auth::{client_secret, sessions, tokens};
use crate::db::directory::{self, UserChanges};
use crate::db::schema::users;
use crate::domain::{PrincipalKind, StoredAsText, UserStatus};
use crate::error::ApiError;

pub fn routes(config: &mut ServiceConfig) {
    config.service(token).service(revoke).service(introspect);
}

/// The form fields of a token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: String,
    /// With `client_secret`, unless the client authenticates with HTTP Basic.
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    #[schema(format = Password)]
    pub client_secret: Option<String>,
    /// Some of the client's roles, space-separated, to narrow the token to them (for a
    /// system that needs less than it may do). Absent: all of its roles. A role the client
    /// does not hold is `invalid_scope`.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires. There is no refresh token: ask for a new one.
    pub expires_in: u64,
    /// The roles the token carries, space-separated.
    pub scope: String,
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_scope` or `unsupported_grant_type`.
    pub error: &'static str,
    pub error_description: String,
}

struct Refusal {
    error: &'static str,
    description: &'static str,
    /// The client tried HTTP Basic: a 401 then names that scheme (RFC 6749 §5.2).
    basic: bool,
}

impl Refusal {
    fn request(description: &'static str) -> Self {
        Self {
            error: "invalid_request",
            description,
            basic: false,
        }
    }

    fn response(self, req: &HttpRequest) -> HttpResponse {
        req.extensions_mut().insert(Disclosure::refusal(self.error));
        let status = if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            let scheme = if self.basic {
                "Basic realm=\"casebridge\""
            } else {
                "Bearer"
            };
            response.insert_header(("WWW-Authenticate", scheme));
        }
        response.insert_header(("Pragma", "no-cache"));
        response.json(OAuthError {
            error: self.error,
            error_description: self.description.to_owned(),
        })
    }
}

fn invalid_client(basic: bool) -> Refusal {
    Refusal {
        error: "invalid_client",
        description: "Client authentication failed.",
        basic,
    }
}

/// The client's id and secret, from HTTP Basic (each part form-encoded, RFC 6749 §2.3.1) or
/// from the form, not both.
fn credentials(
    req: &HttpRequest,
    form: &[(String, String)],
) -> Result<(String, String, bool), Refusal> {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let basic = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim().to_owned());
    match (basic, field("client_id"), field("client_secret")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Refusal::request(
            "Authenticate with HTTP Basic or with form fields, not both.",
        )),
        (Some(encoded), None, None) => {
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| invalid_client(true))?;
            let decode =
                |part: &str| form_urlencoded_decode(part).ok_or_else(|| invalid_client(true));
            Ok((decode(id)?, decode(secret)?, true))
        }
        (None, Some(id), Some(secret)) => Ok((id, secret, false)),
        (None, _, _) => Err(invalid_client(false)),
    }
}

#[derive(Debug, Queryable)]
struct ActiveClient {
    id: String,
    /// A JSON list.
    roles: String,
    last_login_at: Option<chrono::NaiveDateTime>,
    activated_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
}

/// The roles a token request's `scope` asks for (RFC 6749 §3.3: space-separated), when it
/// narrows the client's `roles`: None when it asks for all of them or says nothing; `Err`
/// when it names a role the client does not hold, or nothing at all.
fn granted_scope(requested: Option<&str>, roles: &[String]) -> Result<Option<Vec<String>>, ()> {
    let Some(requested) = requested else {
        return Ok(None);
    };
    let mut asked: Vec<String> = requested
        .split(' ')
        .filter(|role| !role.is_empty())
        .map(str::to_owned)
        .collect();
    asked.sort_unstable();
    asked.dedup();
    if asked.is_empty() || asked.iter().any(|role| !roles.contains(role)) {
        return Err(());
    }
    Ok((asked.len() < roles.len()).then_some(asked))
}

/// The API client `id` if it is active and its organisation in good standing.
fn active_client(
    conn: &mut crate::db::DbConnection,
    id: &str,
    now: chrono::NaiveDateTime,
) -> diesel::QueryResult<Option<ActiveClient>> {
    let found: Option<(ActiveClient, String)> = users::table
        .filter(users::id.eq(id))
        .filter(users::kind.eq(PrincipalKind::ApiClient.as_str()))
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .select((
            (
                users::id,
                users::roles,
                users::last_login_at,
                users::activated_at,
                users::created_at,
            ),
            users::organisation_id,
        ))
        .first(conn)
        .optional()?;
    let Some((client, organisation_id)) = found else {
        return Ok(None);
    };
    Ok(login::organisation_in_good_standing(conn, &organisation_id, now)?.then_some(client))
}

fn form_urlencoded_decode(part: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={part}")).ok()?;
    pairs.into_iter().next().map(|(_, value)| value)
}

/// Why an OAuth endpoint did not answer: an OAuth refusal (RFC 6749 §5.2) or a problem of
/// the service's own (a body too large or too slow, the database out of reach).
enum Rejection {
    OAuth(Refusal),
    Problem(ApiError),
}

impl From<Refusal> for Rejection {
    fn from(refusal: Refusal) -> Self {
        Self::OAuth(refusal)
    }
}

impl From<ApiError> for Rejection {
    fn from(problem: ApiError) -> Self {
        Self::Problem(problem)
    }
}

/// The endpoint's answer: a refusal as OAuth 2.0 shapes it, a problem as every other one.
fn answer(
    req: &HttpRequest,
    outcome: Result<HttpResponse, Rejection>,
) -> Result<HttpResponse, ApiError> {
    match outcome {
        Ok(response) => Ok(response),
        Err(Rejection::OAuth(refusal)) => Ok(refusal.response(req)),
        Err(Rejection::Problem(problem)) => Err(problem),
    }
}

/// The parameters of an OAuth request: form-encoded (RFC 6749 §3.2), each at most once.
fn read_form(
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<Vec<(String, String)>, Rejection> {
    let body = body.map_err(
        |error| match error.as_error::<actix_web::error::PayloadError>() {
            Some(unread) => crate::api::request::unread_body(unread),
            None => crate::api::request::unreadable_body(),
        },
    )?;
    let form_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| {
            value
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(
            Refusal::request("Send the request as application/x-www-form-urlencoded.").into(),
        );
    }
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return Err(Refusal::request("The form is not valid.").into());
    };
    let mut names: Vec<&str> = form.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(Refusal::request("A parameter appears more than once.").into());
    }
    Ok(form)
}

fn parameter<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// An API client that proved who it is with its current secret.
struct Authenticated {
    client: ActiveClient,
    /// The digest of the secret it used, to check again where writes are serialised.
    digest: String,
    basic: bool,
}

/// Authenticates the calling API client (HTTP Basic or form fields), recording the attempt
/// in the request's audit row like a login.
async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    form: &[(String, String)],
) -> Result<Authenticated, Rejection> {
    let (client_id, secret, basic) = credentials(req, form)?;
    if client_id.len() > 100 || secret.len() > 200 {
        return Err(invalid_client(basic).into());
    }
    req.extensions_mut().insert(AttemptedLogin {
        username: client_id.clone(),
        user_id: None,
        kind: PrincipalKind::ApiClient,
    });
    let now = state.clock.now();
    let found = state
        .db
        .read(move |conn| {
            let Some(client) = active_client(conn, &client_id, now)? else {
                return Ok(None);
            };
            let accepted = directory::accepted_secrets(conn, &client.id, now)?;
            Ok(Some((client, accepted)))
        })
        .await?;
    let matched = found.and_then(|(client, accepted)| {
        let digest = accepted
            .into_iter()
            .find(|digest| client_secret::matches(&secret, digest))?;
        Some((client, digest))
    });
    let Some((client, digest)) = matched else {
        return Err(invalid_client(basic).into());
    };
    if let Some(attempt) = req.extensions_mut().get_mut::<AttemptedLogin>() {
        attempt.user_id = Some(client.id.clone());
    }
    Ok(Authenticated {
        client,
        digest,
        basic,
    })
}

/// Obtain an access token (OAuth2 client credentials)
///
/// For CSP systems registered as API clients. Authenticate with HTTP Basic
/// (`client_id:client_secret`) or with the `client_id` and `client_secret` form fields. The
/// token's row scope and field mask are those of the client's roles and organisation.
#[utoipa::path(tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = ClientToken),
        (status = 400, body = OAuthError),
        (status = 401, body = OAuthError),
    ),
    security((), ("client_basic" = [])),
)]
#[post("/oauth/token")]
async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let outcome = issue_token(&state, &req, body).await;
    answer(&req, outcome)
}

async fn issue_token(
    state: &AppState,
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, Rejection> {
    let form = read_form(req, body)?;
    match parameter(&form, "grant_type") {
        None => return Err(Refusal::request("grant_type is required.").into()),
        Some(grant) if grant != "client_credentials" => {
            return Err(Refusal {
                error: "unsupported_grant_type",
                description: "Only the client_credentials grant is supported.",
                basic: false,
            }
            .into());
        }
        Some(_) => {}
    }
    let Authenticated {
        client,
        digest,
        basic,
    } = authenticate(state, req, &form).await?;
    let roles: Vec<String> = serde_json::from_str(&client.roles)
        .map_err(anyhow::Error::from)
        .map_err(ApiError::from)?;
    let Ok(scope) = granted_scope(parameter(&form, "scope"), &roles) else {
        return Err(Refusal {
            error: "invalid_scope",
            description: "The scope names a role the client does not hold.",
            basic: false,
        }
        .into());
    };
    let granted = scope.clone().unwrap_or(roles).join(" ");
    let now = state.clock.now();
    let rules = LoginRules::of(&state.config);
    if rules.is_dormant(
        client.last_login_at,
        client.activated_at,
        client.created_at,
        now,
    ) {
        let id = client.id.clone();
        audit::recorded_write(&state.db, req, None, move |conn| {
            let changes = UserChanges::status(UserStatus::Suspended, Some("dormant"));
            directory::change_status(conn, &id, &changes, now)?;
            Ok(((), 401, Disclosure::refusal("account_dormant")))
        })
        .await?;
        return Err(invalid_client(basic).into());
    }
    let ttl = state.config.access_token_ttl;
    let (ip, user_agent) = audit::origin(req);
    let client_id = client.id.clone();
    let session_id = audit::recorded_write(&state.db, req, None, move |conn| {
        // Checked again where writes are serialised: a rotation or revocation committed since
        // the read above must not be outlived by this token.
        let unchanged = active_client(conn, &client.id, now)?.is_some()
            && directory::accepted_secrets(conn, &client.id, now)?.contains(&digest);
        if !unchanged {
            return Ok((None, 401, Disclosure::refusal("invalid_client")));
        }
        let (session_id, _unused_refresh_token) = sessions::start(
            conn,
            sessions::NewSession {
                user_id: &client.id,
                ttl_seconds: ttl,
                ip,
                user_agent,
                scope,
            },
            now,
        )?;
        diesel::update(users::table.filter(users::id.eq(&client.id)))
            .set(users::last_login_at.eq(now))
            .execute(conn)?;
        Ok((Some(session_id), 200, Disclosure::default()))
    })
    .await?;
    let Some(session_id) = session_id else {
        return Err(invalid_client(basic).into());
    };
    let access_token = state
        .tokens
        .issue(&client_id, &session_id, now)
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Pragma", "no-cache"))
        .json(ClientToken {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope: granted,
        }))
}

/// The form fields of a revocation or introspection request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenOfClient {
    /// An access token the calling client was issued.
    pub token: String,
    /// `access_token`, or absent (the only kind there is).
    pub token_type_hint: Option<String>,
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    #[schema(format = Password)]
    pub client_secret: Option<String>,
}

/// The calling client of a revocation or introspection request, and the token it names.
async fn client_and_token(
    state: &AppState,
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<(ActiveClient, String), Rejection> {
    let form = read_form(req, body)?;
    let Some(presented) = parameter(&form, "token").map(str::to_owned) else {
        return Err(Refusal::request("token is required.").into());
    };
    let Authenticated { client, .. } = authenticate(state, req, &form).await?;
    Ok((client, presented))
}

/// The session of `token` if it is a valid access token issued to `client_id`. A token of
/// another client is treated as no token at all: neither endpoint says whose it is.
fn own_session(state: &AppState, client_id: &str, presented: &str) -> Option<tokens::Claims> {
    state
        .tokens
        .verify(presented, state.clock.now())
        .filter(|claims| claims.sub == client_id)
}

/// Revoke an access token (RFC 7009)
///
/// A CSP system ends one of its own tokens, for example when it shuts down or suspects the
/// token was exposed: the token is refused from the next request. The answer is 200 whether
/// or not the token was valid, and a token issued to another client is left alone (the
/// endpoint does not say whose a token is).
#[utoipa::path(tag = "oauth",
    request_body(content = TokenOfClient, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, body = OAuthError),
        (status = 401, body = OAuthError),
    ),
    security((), ("client_basic" = [])),
)]
#[post("/oauth/revoke")]
async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let outcome = revoke_token(&state, &req, body).await;
    answer(&req, outcome)
}

async fn revoke_token(
    state: &AppState,
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, Rejection> {
    let (client, presented) = client_and_token(state, req, body).await?;
    if let Some(claims) = own_session(state, &client.id, &presented) {
        let now = state.clock.now();
        audit::recorded_write(&state.db, req, None, move |conn| {
            sessions::end_own(conn, &claims.sub, &claims.sid, "revoked_by_client", now)?;
            Ok(((), 200, Disclosure::default()))
        })
        .await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Pragma", "no-cache"))
        .finish())
}

/// What introspection says of a token (RFC 7662 §2.2): `active` alone when it is not a live
/// token of the calling client.
#[derive(Debug, Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// The client the token was issued to (the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub sub: Option<String>,
    /// The client's roles now, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Introspect an access token (RFC 7662)
///
/// A CSP system asks whether one of its own tokens is live (session not ended, client and
/// organisation still active) and until when. A token of another client, an expired or a
/// revoked one, or no token at all, is `{"active": false}`.
#[utoipa::path(tag = "oauth",
    request_body(content = TokenOfClient, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = Introspection),
        (status = 400, body = OAuthError),
        (status = 401, body = OAuthError),
    ),
    security((), ("client_basic" = [])),
)]
#[post("/oauth/introspect")]
async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let outcome = introspect_token(&state, &req, body).await;
    answer(&req, outcome)
}

async fn introspect_token(
    state: &AppState,
    req: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, Rejection> {
    let (client, presented) = client_and_token(state, req, body).await?;
    let inactive = Introspection {
        active: false,
        client_id: None,
        sub: None,
        scope: None,
        token_type: None,
        exp: None,
        iat: None,
    };
    let Some(claims) = own_session(state, &client.id, &presented) else {
        return Ok(no_store(inactive));
    };
    let now = state.clock.now();
    let (sub, sid) = (claims.sub.clone(), claims.sid.clone());
    let caller = state
        .db
        .read(move |conn| Ok(sessions::load_caller(conn, &sub, &sid, now)?))
        .await?;
    let Some(caller) = caller else {
        return Ok(no_store(inactive));
    };
    Ok(no_store(Introspection {
        active: true,
        client_id: Some(claims.sub.clone()),
        sub: Some(claims.sub),
        scope: Some(caller.roles.join(" ")),
        token_type: Some("Bearer"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
    }))
}

fn no_store(introspection: Introspection) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Pragma", "no-cache"))
        .json(introspection)
}

/// The authorisation server's metadata (RFC 8414), for OAuth 2.0 client libraries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerMetadata {
    /// `CASEBRIDGE_PUBLIC_URL`.
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    /// Only `client_credentials`: people log in at `/api/v1/auth/login`.
    pub grant_types_supported: [&'static str; 1],
    /// Empty: there is no authorisation endpoint.
    pub response_types_supported: [&'static str; 0],
    pub token_endpoint_auth_methods_supported: [&'static str; 2],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 2],
    pub introspection_endpoint_auth_methods_supported: [&'static str; 2],
    pub service_documentation: String,
}

/// OAuth 2.0 authorisation-server metadata (RFC 8414)
///
/// Where a CSP system's OAuth 2.0 library finds the token, revocation and introspection
/// endpoints. Served only when `CASEBRIDGE_PUBLIC_URL` says where callers reach the service
/// (a `Host` header is the caller's claim, so it never names an endpoint).
#[utoipa::path(tag = "oauth",
    responses(
        (status = 200, body = ServerMetadata),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json", description = "`CASEBRIDGE_PUBLIC_URL` is not set"),
    ),
    security(()),
)]
#[get("/.well-known/oauth-authorization-server")]
pub async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(base) = state.config.public_url.as_deref() else {
        return Err(ApiError::NotFound);
    };
    const CLIENT_AUTHENTICATION: [&str; 2] = ["client_secret_basic", "client_secret_post"];
    Ok(HttpResponse::Ok().json(ServerMetadata {
        issuer: base.to_owned(),
        token_endpoint: format!("{base}/api/v1/oauth/token"),
        revocation_endpoint: format!("{base}/api/v1/oauth/revoke"),
        introspection_endpoint: format!("{base}/api/v1/oauth/introspect"),
        grant_types_supported: ["client_credentials"],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: CLIENT_AUTHENTICATION,
        revocation_endpoint_auth_methods_supported: CLIENT_AUTHENTICATION,
        introspection_endpoint_auth_methods_supported: CLIENT_AUTHENTICATION,
        service_documentation: format!("{base}/docs/"),
    }))
}

#[cfg(test)]
mod tests {
    use super::granted_scope;

    fn roles() -> Vec<String> {
        vec!["csp_manager".to_owned(), "csp_worker".to_owned()]
    }

    #[test]
    fn no_scope_or_every_role_grants_every_role() {
        assert_eq!(granted_scope(None, &roles()), Ok(None));
        assert_eq!(
            granted_scope(Some("csp_worker csp_manager"), &roles()),
            Ok(None)
        );
    }

    #[test]
    fn a_narrower_scope_narrows_the_roles() {
        assert_eq!(
            granted_scope(Some(" csp_worker  csp_worker"), &roles()),
            Ok(Some(vec!["csp_worker".to_owned()]))
        );
    }

    #[test]
    fn a_role_not_held_or_an_empty_scope_is_refused() {
        for requested in ["dept_admin", "csp_worker dept_admin", "", "   "] {
            assert_eq!(
                granted_scope(Some(requested), &roles()),
                Err(()),
                "{requested:?}"
            );
        }
    }
}
