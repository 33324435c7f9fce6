//! Authentication: login, refresh rotation and reuse, logout, account changes taking effect on
//! the next request, forged tokens, and password changes.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Response, TestApp, spawn_app};
use crate::writes::{assert_invalid, assert_problem, read};

const NEW_PASSWORD: &str = "a much longer new passphrase";

async fn me(app: &TestApp, token: &str) -> Response {
    app.get("/api/v1/me", token).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.request(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
        &[],
    )
    .await
}

/// (access token, refresh token) of a new session.
async fn session(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let response = app.login_response(username, password).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "login {username}: {}",
        response.body
    );
    (
        response.body["access_token"].as_str().unwrap().into(),
        response.body["refresh_token"].as_str().unwrap().into(),
    )
}

#[track_caller]
fn assert_token_refused(response: &Response) {
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        response
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
}

#[track_caller]
fn assert_login_refused(response: &Response) {
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

/// An admin PATCH of user `username`, with the ETag read just before.
/// A dept_admin's lifecycle action (`approve`, `suspend`, `reactivate`, `deactivate`).
async fn admin_acts_on_user(app: &TestApp, username: &str, action: &str) {
    let admin = app.login("admin").await;
    let path = format!("/api/v1/users/{}/{action}", app.user_id(username));
    let response = app.act(&path, &admin).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "POST {path}: {}",
        response.body
    );
}

async fn admin_updates_user(app: &TestApp, username: &str, changes: Value) {
    let admin = app.login("admin").await;
    let path = format!("/api/v1/users/{}", app.user_id(username));
    let etag = read(app, &path, &admin).await.etag();
    let response = app.patch(&path, &admin, changes, Some(&etag)).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "PATCH {path}: {}",
        response.body
    );
}

// ---- login -----------------------------------------------------------------------------------

#[actix_web::test]
async fn a_login_returns_a_short_lived_bearer_token_and_a_refresh_token() {
    let app = spawn_app().await;
    let response = app.login_response("caseworker", PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        response.keys_at(""),
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(response.body["token_type"], "Bearer");
    let expires_in = response.body["expires_in"].as_u64().unwrap();
    assert!((1..=900).contains(&expires_in), "expires_in {expires_in}");
    let claims = claims_of(response.body["access_token"].as_str().unwrap());
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 900);
    assert!(
        response.body["refresh_token"]
            .as_str()
            .is_some_and(|token| token.len() > 32)
    );

    let me = me(&app, response.body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["username"], "caseworker");
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let wrong_password = app
        .login_response("caseworker", "not the password at all")
        .await;
    let unknown_user = app.login_response("nobody-here", PASSWORD).await;
    assert_login_refused(&wrong_password);
    assert_login_refused(&unknown_user);
    assert_eq!(wrong_password.body, unknown_user.body);
    assert!(wrong_password.body.get("access_token").is_none());
}

#[actix_web::test]
async fn pending_and_suspended_users_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let body = json!({
        "username": "new.worker", "display_name": "New Worker", "email": "new.worker@example.org",
        "organisation_id": app.organisation_id(casebridge::demo::HOUSING_SUPPORT), "roles": ["dept_caseworker"],
        "clearance": "OFFICIAL", "password": NEW_PASSWORD,
    });
    let created = app.post("/api/v1/users", &admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "pending");

    let pending = app.login_response("new.worker", NEW_PASSWORD).await;
    assert_login_refused(&pending);
    assert_eq!(
        pending.body,
        app.login_response("nobody-here", NEW_PASSWORD).await.body,
        "a pending account is not revealed"
    );

    // Dual control: another administrator approves the account the first one asked for.
    let second = app.second_admin().await;
    let approve = format!("/api/v1/users/{}/approve", app.user_id("new.worker"));
    let approved = app.act(&approve, &second).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let (token, refresh_token) = session(&app, "new.worker", NEW_PASSWORD).await;

    admin_acts_on_user(&app, "new.worker", "suspend").await;
    assert_login_refused(&app.login_response("new.worker", NEW_PASSWORD).await);
    assert_token_refused(&me(&app, &token).await);
    assert_problem(
        &refresh(&app, &refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
}

// ---- refresh and logout ----------------------------------------------------------------------

#[actix_web::test]
async fn a_refresh_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let (_, first) = session(&app, "caseworker", PASSWORD).await;

    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(
        rotated.keys_at(""),
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(
        me(&app, rotated.body["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );

    let again = refresh(&app, &second).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "the new refresh token works: {}",
        again.body
    );
    assert_problem(
        &refresh(&app, &first).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
}

#[actix_web::test]
async fn reusing_an_old_refresh_token_ends_the_session() {
    let app = spawn_app().await;
    let (access, first) = session(&app, "caseworker", PASSWORD).await;
    let (other_session, _) = session(&app, "caseworker", PASSWORD).await;
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let newest_access = rotated.body["access_token"].as_str().unwrap().to_owned();
    let newest_refresh = rotated.body["refresh_token"].as_str().unwrap().to_owned();

    // Someone replays the old token: the session ends for whoever holds it.
    assert_problem(
        &refresh(&app, &first).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
    assert_token_refused(&me(&app, &access).await);
    assert_token_refused(&me(&app, &newest_access).await);
    assert_problem(
        &refresh(&app, &newest_refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    assert_eq!(
        me(&app, &other_session).await.status,
        StatusCode::OK,
        "other sessions are unaffected"
    );

    // The trail names whose session each refresh acted for, and why one was refused.
    let rows: Vec<(u16, Option<String>, String, Option<String>)> = app
        .audit_rows("/api/v1/auth/refresh")
        .into_iter()
        .map(|row| {
            let status = u16::try_from(row.status).unwrap();
            (status, row.actor_user_id, row.actor_kind, row.reason)
        })
        .collect();
    let caseworker = Some(app.user_id("caseworker"));
    assert_eq!(
        rows,
        [
            (200, caseworker.clone(), "user".to_owned(), None),
            (
                401,
                caseworker,
                "user".to_owned(),
                Some("refresh_token_reused".to_owned())
            ),
            (
                401,
                None,
                "anonymous".to_owned(),
                Some("invalid_refresh_token".to_owned())
            ),
        ]
    );
}

#[actix_web::test]
async fn a_garbage_refresh_token_is_401() {
    let app = spawn_app().await;
    for token in [
        "garbage",
        "not-a-session.secret",
        &format!("{}.AAAA", uuid::Uuid::now_v7()),
    ] {
        assert_problem(
            &refresh(&app, token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        );
    }
}

#[actix_web::test]
async fn after_logout_the_access_token_stops_working_at_once() {
    let app = spawn_app().await;
    let (access, refresh_token) = session(&app, "caseworker", PASSWORD).await;
    let (other_session, _) = session(&app, "caseworker", PASSWORD).await;
    assert_eq!(me(&app, &access).await.status, StatusCode::OK);

    let logout = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&access),
            None,
            &[],
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.body);
    assert_token_refused(&me(&app, &access).await);
    assert_token_refused(&app.get("/api/v1/clients", &access).await);
    assert_problem(
        &refresh(&app, &refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    assert_eq!(
        me(&app, &other_session).await.status,
        StatusCode::OK,
        "only that session ends"
    );
}

// ---- account changes take effect on the next request -----------------------------------------

#[actix_web::test]
async fn a_deactivated_users_token_stops_working_on_the_next_request() {
    let app = spawn_app().await;
    let (access, refresh_token) = session(&app, "caseworker", PASSWORD).await;
    assert_eq!(
        app.get("/api/v1/clients", &access).await.status,
        StatusCode::OK
    );

    admin_acts_on_user(&app, "caseworker", "deactivate").await;
    assert_token_refused(&app.get("/api/v1/clients", &access).await);
    assert_token_refused(&me(&app, &access).await);
    assert_problem(
        &refresh(&app, &refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    assert_login_refused(&app.login_response("caseworker", PASSWORD).await);
}

/// Suspension ends the user's sessions, so reactivating the account does not bring back the
/// tokens from before (SPEC: access ends when a person leaves).
#[actix_web::test]
async fn reactivating_a_user_does_not_revive_sessions_from_before() {
    let app = spawn_app().await;
    let (access, refresh_token) = session(&app, "caseworker", PASSWORD).await;
    admin_acts_on_user(&app, "caseworker", "suspend").await;
    assert_token_refused(&me(&app, &access).await);

    admin_acts_on_user(&app, "caseworker", "reactivate").await;
    assert_token_refused(&me(&app, &access).await);
    assert_problem(
        &refresh(&app, &refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    session(&app, "caseworker", PASSWORD).await;
}

#[actix_web::test]
async fn a_role_change_applies_to_the_next_request_with_the_same_token() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    assert_eq!(
        app.get("/api/v1/clients", &token).await.status,
        StatusCode::OK
    );

    admin_updates_user(&app, "caseworker", json!({"roles": ["division_searcher"]})).await;
    assert_problem(
        &app.get("/api/v1/clients", &token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &app.get(&format!("/api/v1/clients/{}", app.client_id(0)), &token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(
        me(&app, &token).await.body["roles"],
        json!(["division_searcher"])
    );
}

// ---- forged and broken tokens ----------------------------------------------------------------

/// The key test apps sign with: `<data_dir>/jwt-secret`, base64url without padding.
fn signing_key(app: &TestApp) -> Vec<u8> {
    let text = std::fs::read_to_string(app.data_dir.path().join("jwt-secret"))
        .expect("the app wrote its key");
    URL_SAFE_NO_PAD.decode(text.trim()).unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, key: &[u8], algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

/// A token with `alg: none` and no signature.
fn unsigned(claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "typ": "JWT"})),
        encode(claims)
    )
}

fn with(claims: &Value, name: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[name] = value;
    claims
}

#[actix_web::test]
async fn forged_and_broken_tokens_are_401() {
    let app = spawn_app().await;
    let genuine = claims_of(&app.login("caseworker").await);
    let key = signing_key(&app);
    let now = chrono::Utc::now().timestamp();

    // The forging works: the genuine claims re-signed with the app's key are accepted.
    assert_eq!(
        me(&app, &sign(&genuine, &key, Algorithm::HS256))
            .await
            .status,
        StatusCode::OK
    );

    let forged = [
        ("garbage", "garbage".to_owned()),
        ("empty payload", "a.b.c".to_owned()),
        (
            "expired",
            sign(
                &with(
                    &with(&genuine, "exp", json!(now - 3600)),
                    "iat",
                    json!(now - 4000),
                ),
                &key,
                Algorithm::HS256,
            ),
        ),
        ("another key", sign(&genuine, &[7u8; 64], Algorithm::HS256)),
        ("alg none", unsigned(&genuine)),
        ("alg HS512", sign(&genuine, &key, Algorithm::HS512)),
        (
            "wrong issuer",
            sign(
                &with(&genuine, "iss", json!("someone-else")),
                &key,
                Algorithm::HS256,
            ),
        ),
        (
            "wrong audience",
            sign(
                &with(&genuine, "aud", json!("another-api")),
                &key,
                Algorithm::HS256,
            ),
        ),
        (
            "nbf in the future",
            sign(
                &with(&genuine, "nbf", json!(now + 3600)),
                &key,
                Algorithm::HS256,
            ),
        ),
        (
            "no exp",
            sign(&without(&genuine, "exp"), &key, Algorithm::HS256),
        ),
        (
            "another user",
            sign(
                &with(&genuine, "sub", json!(app.user_id("teamleader"))),
                &key,
                Algorithm::HS256,
            ),
        ),
        (
            "unknown session",
            sign(
                &with(&genuine, "sid", json!(uuid::Uuid::now_v7().to_string())),
                &key,
                Algorithm::HS256,
            ),
        ),
    ];
    for (attack, token) in forged {
        let response = me(&app, &token).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{attack}: {}",
            response.body
        );
        assert_token_refused(&response);
        assert_token_refused(&app.get("/api/v1/clients", &token).await);
    }
}

fn without(claims: &Value, name: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

#[actix_web::test]
async fn a_request_without_a_bearer_token_is_401() {
    let app = spawn_app().await;
    let none = app
        .request(Method::GET, "/api/v1/me", None, None, &[])
        .await;
    assert_problem(&none, StatusCode::UNAUTHORIZED, "authentication_required");
    let token = app.login("caseworker").await;
    let basic = app
        .request(
            Method::GET,
            "/api/v1/clients",
            None,
            None,
            &[("Authorization", &format!("Basic {token}"))],
        )
        .await;
    assert_problem(&basic, StatusCode::UNAUTHORIZED, "authentication_required");
}

// ---- password changes ------------------------------------------------------------------------

fn password_path(app: &TestApp, username: &str) -> String {
    format!("/api/v1/users/{}/password", app.user_id(username))
}

#[actix_web::test]
async fn changing_your_own_password_needs_the_current_one_and_a_strong_new_one() {
    let app = spawn_app().await;
    let (token, _) = session(&app, "caseworker", PASSWORD).await;
    let (other_session, _) = session(&app, "caseworker", PASSWORD).await;
    let path = password_path(&app, "caseworker");

    let missing = app
        .post(&path, &token, json!({"new_password": NEW_PASSWORD}))
        .await;
    assert_problem(
        &missing,
        StatusCode::FORBIDDEN,
        "current_password_incorrect",
    );
    let wrong = app
        .post(
            &path,
            &token,
            json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "current_password_incorrect");
    let weak = app
        .post(
            &path,
            &token,
            json!({"current_password": PASSWORD, "new_password": "short1!"}),
        )
        .await;
    assert_invalid(&weak, "password");
    let eleven = app
        .post(
            &path,
            &token,
            json!({"current_password": PASSWORD, "new_password": "elevenchars"}),
        )
        .await;
    assert_invalid(&eleven, "password");
    assert_eq!(
        app.login_response("caseworker", PASSWORD).await.status,
        StatusCode::OK,
        "nothing changed yet"
    );

    let changed = app
        .post(
            &path,
            &token,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_login_refused(&app.login_response("caseworker", PASSWORD).await);
    session(&app, "caseworker", NEW_PASSWORD).await;
    assert_eq!(
        me(&app, &token).await.status,
        StatusCode::OK,
        "the session that changed it continues"
    );
    assert_token_refused(&me(&app, &other_session).await);
}

#[actix_web::test]
async fn a_user_cannot_set_someone_elses_password() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let response = app
        .post(
            &password_path(&app, "teamleader"),
            &token,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert!(
        [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&response.status),
        "{} {}",
        response.status,
        response.body
    );
    assert_eq!(
        app.login_response("teamleader", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_login_refused(&app.login_response("teamleader", NEW_PASSWORD).await);
}

#[actix_web::test]
async fn an_admin_resets_a_password_and_the_users_sessions_end() {
    let app = spawn_app().await;
    let (victim, victim_refresh) = session(&app, "csp-north", PASSWORD).await;
    let admin = app.login("admin").await;

    let weak = app
        .post(
            &password_path(&app, "csp-north"),
            &admin,
            json!({"new_password": "csp-north"}),
        )
        .await;
    assert_invalid(&weak, "password");
    let reset = app
        .post(
            &password_path(&app, "csp-north"),
            &admin,
            json!({"new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    assert_token_refused(&me(&app, &victim).await);
    assert_problem(
        &refresh(&app, &victim_refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    assert_login_refused(&app.login_response("csp-north", PASSWORD).await);
    session(&app, "csp-north", NEW_PASSWORD).await;
}
