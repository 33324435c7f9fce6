//! Finding 1 and 2: the login lockout holds under concurrency, for passwords and TOTP codes,
//! and wrong current passwords at `POST /users/{id}/password` count towards it.
use casebridge::auth::totp;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, Response, TestApp, spawn_app};
use crate::writes::assert_problem;

const THRESHOLD: usize = 5;
const BURST: usize = 100;

async fn login_with(app: &TestApp, username: &str, password: &str, code: Option<&str>) -> Response {
    let mut body = json!({"username": username, "password": password});
    if let Some(code) = code {
        body["totp_code"] = json!(code);
    }
    app.request(Method::POST, "/api/v1/auth/login", None, Some(body), &[])
        .await
}

/// Sends `BURST` logins at once and answers how many were refused as wrong (evaluated) and
/// how many as locked.
async fn burst(
    app: &TestApp,
    username: &str,
    password: &str,
    code: Option<&str>,
) -> (usize, usize) {
    let responses = join_all((0..BURST).map(|_| login_with(app, username, password, code))).await;
    let wrong = responses
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let locked = responses
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS && r.code() == "login_locked")
        .count();
    assert_eq!(
        wrong + locked,
        BURST,
        "every attempt is refused one way or the other"
    );
    (wrong, locked)
}

/// Enrols `username` (a demo account) in TOTP; answers the secret.
async fn enrol(app: &TestApp, username: &str) -> String {
    let token = app.login(username).await;
    let enrolled = app.act("/api/v1/me/mfa/totp", &token).await;
    assert_eq!(enrolled.status, StatusCode::CREATED, "{}", enrolled.body);
    let secret = enrolled.body["secret"].as_str().unwrap().to_owned();
    let code = totp::code_at(&secret, app.clock.now()).unwrap();
    let confirmed = app
        .post("/api/v1/me/mfa/totp/confirm", &token, json!({"code": code}))
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );
    secret
}

fn wrong_code(secret: &str, app: &TestApp) -> String {
    let right: u32 = totp::code_at(secret, app.clock.now())
        .unwrap()
        .parse()
        .unwrap();
    format!("{:06}", (right + 1) % 1_000_000)
}

#[actix_web::test]
async fn concurrent_wrong_passwords_evaluate_at_most_the_threshold() {
    let app = spawn_app().await;
    let (wrong, locked) = burst(&app, "caseworker", "not the password at all", None).await;
    assert!(wrong < THRESHOLD, "{wrong} wrong passwords answered 401");
    assert!(locked > BURST - THRESHOLD, "{locked} answered 429");
}

#[actix_web::test]
async fn after_a_concurrent_burst_the_right_password_waits_for_the_lock_to_expire() {
    let app = spawn_app().await;
    burst(&app, "caseworker", "not the password at all", None).await;
    let refused = login_with(&app, "caseworker", PASSWORD, None).await;
    assert_problem(&refused, StatusCode::TOO_MANY_REQUESTS, "login_locked");
    app.clock.advance(chrono::Duration::seconds(901));
    let accepted = login_with(&app, "caseworker", PASSWORD, None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
}

#[actix_web::test]
async fn a_burst_locks_once_and_raises_one_lockout_alert() {
    let app = spawn_app().await;
    burst(&app, "caseworker", "not the password at all", None).await;
    assert_eq!(app.alert_reasons("lockout").len(), 1);
}

#[actix_web::test]
async fn concurrent_wrong_totp_codes_evaluate_at_most_the_threshold() {
    let app = spawn_app().await;
    let secret = enrol(&app, "caseworker").await;
    let code = wrong_code(&secret, &app);
    let (wrong, locked) = burst(&app, "caseworker", PASSWORD, Some(&code)).await;
    assert!(wrong < THRESHOLD, "{wrong} wrong codes answered 401");
    assert!(locked > BURST - THRESHOLD, "{locked} answered 429");
    let right = totp::code_at(&secret, app.clock.now()).unwrap();
    let refused = login_with(&app, "caseworker", PASSWORD, Some(&right)).await;
    assert_problem(&refused, StatusCode::TOO_MANY_REQUESTS, "login_locked");
}

async fn change_own_password(app: &TestApp, token: &str, current: &str) -> Response {
    let path = format!("/api/v1/users/{}/password", app.user_id("caseworker"));
    let body =
        json!({"current_password": current, "new_password": "violet harbour lantern quietly"});
    app.post(&path, token, body).await
}

#[actix_web::test]
async fn wrong_current_passwords_lock_the_account_like_failed_logins() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let mut codes = Vec::new();
    for _ in 0..THRESHOLD + 3 {
        codes.push(
            change_own_password(&app, &token, "a wrong guess here")
                .await
                .code()
                .to_owned(),
        );
    }
    let expected: Vec<&str> = std::iter::repeat_n("current_password_incorrect", THRESHOLD - 1)
        .chain(std::iter::repeat_n("login_locked", 4))
        .collect();
    assert_eq!(codes, expected);
    // The same lockout as logins: the right password does not log in now.
    let login = login_with(&app, "caseworker", PASSWORD, None).await;
    assert_problem(&login, StatusCode::TOO_MANY_REQUESTS, "login_locked");
    // Nor does the right current password change it while locked.
    let change = change_own_password(&app, &token, PASSWORD).await;
    assert_problem(&change, StatusCode::TOO_MANY_REQUESTS, "login_locked");
}

#[actix_web::test]
async fn concurrent_wrong_current_passwords_evaluate_at_most_the_threshold() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let responses: Vec<Response> =
        join_all((0..BURST).map(|_| change_own_password(&app, &token, "a wrong guess here"))).await;
    let wrong = responses
        .iter()
        .filter(|r| r.code() == "current_password_incorrect")
        .count();
    assert!(
        wrong < THRESHOLD,
        "{wrong} wrong current passwords evaluated"
    );
    assert!(responses.iter().all(|r| r.status != StatusCode::NO_CONTENT));
}

#[actix_web::test]
async fn wrong_current_passwords_are_audited_as_refused() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    change_own_password(&app, &token, "a wrong guess here").await;
    let rows = app.audit_rows("/api/v1/users/{id}/password");
    let reasons: Vec<Option<String>> = rows.iter().map(|row| row.reason.clone()).collect();
    assert_eq!(reasons, vec![Some("current_password_incorrect".to_owned())]);
    assert_eq!(rows[0].outcome, "denied");
}
