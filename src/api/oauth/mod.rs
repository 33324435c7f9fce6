//! `POST /oauth/token`: the OAuth2 client-credentials grant (RFC 6749 §4.4) for CSP systems.
//! Errors follow RFC 6749 §5.2 (`{error, error_description}`), not problem details, because
//! OAuth2 client libraries expect them.
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::api::context::AppState;
use crate::audit::{self, AttemptedLogin, Disclosure};
use crate::auth::login::{self, LoginRules};
use crate::auth::{client_secret, sessions};
use crate::db::directory::{self, UserChanges};
use crate::db::schema::users;
use crate::domain::{PrincipalKind, StoredAsText, UserStatus};
use crate::error::ApiError;

pub fn routes(config: &mut ServiceConfig) {
    config.service(token);
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
    /// Ignored: a token carries the client's roles, no more and no less.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires. There is no refresh token: ask for a new one.
    pub expires_in: u64,
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client` or `unsupported_grant_type`.
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
    last_login_at: Option<chrono::NaiveDateTime>,
    activated_at: Option<chrono::NaiveDateTime>,
    created_at: chrono::NaiveDateTime,
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
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security((), ("client_basic" = [])),
)]
#[post("/oauth/token")]
async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
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
        return Ok(
            Refusal::request("Send the request as application/x-www-form-urlencoded.")
                .response(&req),
        );
    }
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return Ok(Refusal::request("The form is not valid.").response(&req));
    };
    let mut names: Vec<&str> = form.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Ok(Refusal::request("A parameter appears more than once.").response(&req));
    }
    match form.iter().find(|(name, _)| name == "grant_type") {
        None => return Ok(Refusal::request("grant_type is required.").response(&req)),
        Some((_, grant)) if grant != "client_credentials" => {
            return Ok(Refusal {
                error: "unsupported_grant_type",
                description: "Only the client_credentials grant is supported.",
                basic: false,
            }
            .response(&req));
        }
        Some(_) => {}
    }
    let (client_id, secret, basic) = match credentials(&req, &form) {
        Ok(credentials) => credentials,
        Err(refusal) => return Ok(refusal.response(&req)),
    };
    if client_id.len() > 100 || secret.len() > 200 {
        return Ok(invalid_client(basic).response(&req));
    }
    req.extensions_mut().insert(AttemptedLogin {
        username: client_id.clone(),
        user_id: None,
        kind: PrincipalKind::ApiClient,
    });
    let now = state.clock.now();
    let lookup = client_id.clone();
    let found = state
        .db
        .read(move |conn| {
            let Some(client) = active_client(conn, &lookup, now)? else {
                return Ok(None);
            };
            Ok(directory::client_secret(conn, &client.id)?.map(|(digest, _)| (client, digest)))
        })
        .await?;
    let (client, digest) = match found {
        Some((client, digest)) if client_secret::matches(&secret, &digest) => (client, digest),
        _ => return Ok(invalid_client(basic).response(&req)),
    };
    if let Some(attempt) = req.extensions_mut().get_mut::<AttemptedLogin>() {
        attempt.user_id = Some(client.id.clone());
    }
    let rules = LoginRules::of(&state.config);
    if rules.is_dormant(
        client.last_login_at,
        client.activated_at,
        client.created_at,
        now,
    ) {
        let id = client.id.clone();
        audit::recorded_write(&state.db, &req, None, move |conn| {
            let changes = UserChanges::status(UserStatus::Suspended, Some("dormant"));
            directory::change_status(conn, &id, &changes, now)?;
            Ok(((), 401, Disclosure::refusal("account_dormant")))
        })
        .await?;
        return Ok(invalid_client(basic).response(&req));
    }
    let ttl = state.config.access_token_ttl;
    let (ip, user_agent) = audit::origin(&req);
    let session_id = audit::recorded_write(&state.db, &req, None, move |conn| {
        // Checked again where writes are serialised: a rotation or revocation committed since
        // the read above must not be outlived by this token.
        let unchanged = active_client(conn, &client.id, now)?.is_some()
            && directory::client_secret(conn, &client.id)?
                .is_some_and(|(now_digest, _)| now_digest == digest);
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
        return Ok(invalid_client(basic).response(&req));
    };
    let access_token = state.tokens.issue(&client_id, &session_id, now)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Pragma", "no-cache"))
        .json(ClientToken {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
        }))
}
