//! Finding 11: a CSP manager learns nothing about accounts outside its organisation from
//! `POST /users`. A username is refused only when an account the caller can see holds it;
//! a clash with any other account is the department's to resolve when it approves. See
//! docs/security/names.md.
use casebridge::demo::{EASTERN, NORTHSIDE};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Response, TestApp, onboarding_checks, spawn_app};
use crate::writes::assert_problem;

/// Demo `csp-east` is Eastern Outreach's; Northside's manager cannot see it.
const HELD_ELSEWHERE: &str = "csp-east";

/// Northside's manager asks for a staff member named `username`.
async fn ask_as_north_manager(app: &TestApp, username: &str) -> Response {
    let manager = app.login("csp-north-manager").await;
    app.new_csp_user(&manager, username, NORTHSIDE).await
}

/// The parts of a `POST /users` answer that may depend on the username asked for.
fn shape(response: &Response) -> (StatusCode, Vec<String>, serde_json::Value) {
    (
        response.status,
        response.keys_at(""),
        response.body["status"].clone(),
    )
}

#[actix_web::test]
async fn a_csp_manager_is_answered_alike_whether_or_not_another_organisation_holds_the_username() {
    let app = spawn_app().await;

    let held = ask_as_north_manager(&app, HELD_ELSEWHERE).await;
    let free = ask_as_north_manager(&app, "north.brand.new").await;

    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    assert_eq!(held.body["status"], "pending");
    assert_eq!(shape(&held), shape(&free));
}

#[actix_web::test]
async fn a_username_held_in_the_managers_own_organisation_is_refused() {
    let app = spawn_app().await;

    let refused = ask_as_north_manager(&app, "csp-north").await;

    assert_problem(&refused, StatusCode::CONFLICT, "username_taken");
}

#[actix_web::test]
async fn a_pending_request_does_not_take_over_the_login_of_the_active_account() {
    let app = spawn_app().await;
    let asked = ask_as_north_manager(&app, HELD_ELSEWHERE).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);

    let login = app.login_response(HELD_ELSEWHERE, PASSWORD).await;

    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let token = login.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(
        me.body["organisation"]["id"],
        app.organisation_id(EASTERN).as_str()
    );
}

#[actix_web::test]
async fn the_department_finds_the_clash_on_approval_and_resolves_it_by_renaming() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let admin = app.login("admin").await;
    let asked = ask_as_north_manager(&app, HELD_ELSEWHERE).await;
    let path = format!("/api/v1/users/{}", asked.body["id"].as_str().unwrap());
    let checks = app
        .post(
            &format!("{path}/onboarding-checks"),
            &manager,
            onboarding_checks(app.clock.today()),
        )
        .await;
    assert_eq!(checks.status, StatusCode::OK, "{}", checks.body);
    let etag = app.get(&path, &admin).await.etag();

    let clash = app.act(&format!("{path}/approve"), &admin).await;
    assert_problem(&clash, StatusCode::CONFLICT, "username_taken");

    let renamed = app
        .patch(
            &path,
            &admin,
            json!({"username": "north.second"}),
            Some(&etag),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["username"], "north.second");
    let approved = app.act(&format!("{path}/approve"), &admin).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "active");
}

#[actix_web::test]
async fn a_rename_to_a_username_another_account_holds_is_refused() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let asked = ask_as_north_manager(&app, "north.someone").await;
    let path = format!("/api/v1/users/{}", asked.body["id"].as_str().unwrap());
    let etag = app.get(&path, &admin).await.etag();

    let refused = app
        .patch(
            &path,
            &admin,
            json!({"username": "caseworker"}),
            Some(&etag),
        )
        .await;

    assert_problem(&refused, StatusCode::CONFLICT, "username_taken");
}
