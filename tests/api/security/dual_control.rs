//! Finding 3: no single administrator reaches client content. Roles that read client content
//! need MFA; access that reaches client content, administers access or clears above
//! `OFFICIAL: Sensitive` takes a second administrator's approval; a password set by someone
//! else must be replaced before anything else, and raises an alert; nobody resets the password
//! of an account cleared above their own.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Response, TestApp, spawn_app};
use crate::writes::assert_problem;

const NEW_PASSWORD: &str = "violet harbour lantern quietly";
const OTHER_PASSWORD: &str = "amber orchard kettle softly";

fn new_department_user(app: &TestApp, username: &str, role: &str, status: &str) -> Value {
    json!({
        "username": username, "display_name": "New Staff", "email": "new.staff@example.org",
        "organisation_id": app.organisation_id(casebridge::demo::HOUSING_SUPPORT),
        "roles": [role], "clearance": "OFFICIAL: Sensitive", "status": status,
    })
}

fn user_count(app: &TestApp) -> i64 {
    use casebridge::db::schema::users;
    use diesel::prelude::*;
    app.with_db(|conn| users::table.count().get_result(conn).unwrap())
}

async fn create(app: &TestApp, token: &str, body: Value) -> Response {
    app.post("/api/v1/users", token, body).await
}

async fn approve_access_change(app: &TestApp, token: &str, id: &str) -> Response {
    let current = app.get(&format!("/api/v1/users/{id}"), token).await;
    let path = format!("/api/v1/users/{id}/access-change/approve");
    app.request(
        reqwest::Method::POST,
        &path,
        Some(token),
        None,
        &[("If-Match", &current.etag())],
    )
    .await
}

#[actix_web::test]
async fn an_administrator_alone_cannot_create_an_active_privacy_officer() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let before = user_count(&app);
    let mut body = new_department_user(&app, "rogue.privacy", "privacy_officer", "active");
    body["password"] = json!(NEW_PASSWORD);
    let response = create(&app, &admin, body).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "second_approval_required");
    assert_eq!(user_count(&app), before, "nothing stored");
}

#[actix_web::test]
async fn an_administrator_alone_cannot_create_an_active_caseworker() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let body = new_department_user(&app, "rogue.caseworker", "dept_caseworker", "active");
    let response = create(&app, &admin, body).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "second_approval_required");
}

#[actix_web::test]
async fn whoever_asked_for_a_new_account_may_not_approve_it() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let body = new_department_user(&app, "new.privacy", "privacy_officer", "pending");
    let created = create(&app, &admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.body["pending_access_change"]["requested_by"],
        json!(app.user_id("admin"))
    );
    let approve = format!("/api/v1/users/{id}/approve");
    let own = app.act(&approve, &admin).await;
    assert_problem(&own, StatusCode::FORBIDDEN, "second_approval_required");
    let second = app.second_admin().await;
    let approved = app.act(&approve, &second).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["status"], "active");
    assert!(approved.body["pending_access_change"].is_null());
    assert_eq!(app.alert_reasons("access_granted").len(), 1);
}

#[actix_web::test]
async fn a_role_with_client_content_asked_for_an_active_account_waits_for_a_second_approval() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let id = app.user_id("records");
    let current = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    let asked = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"roles": ["records_manager", "dept_caseworker"]}),
            Some(&current.etag()),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["roles"], json!(["records_manager"]), "not yet");
    assert_eq!(
        asked.body["pending_access_change"]["roles"],
        json!(["records_manager", "dept_caseworker"])
    );
    let records = app.login("records").await;
    let clients = app.get("/api/v1/clients", &records).await;
    assert_eq!(clients.status, StatusCode::FORBIDDEN, "{}", clients.body);

    let own = approve_access_change(&app, &admin, &id).await;
    assert_problem(&own, StatusCode::FORBIDDEN, "second_approval_required");
    let second = app.second_admin().await;
    let approved = approve_access_change(&app, &second, &id).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(
        approved.body["roles"],
        json!(["records_manager", "dept_caseworker"])
    );
    assert!(approved.body["pending_access_change"].is_null());
    assert_eq!(app.alert_reasons("access_granted").len(), 1);
}

#[actix_web::test]
async fn a_clearance_above_sensitive_waits_for_a_second_approval() {
    let app = spawn_app().await;
    // The demo administrators are cleared OFFICIAL: Sensitive; give the second PROTECTED.
    {
        use casebridge::db::schema::users;
        use diesel::prelude::*;
        app.with_db(|conn| {
            diesel::update(users::table.filter(users::username.eq("admin2")))
                .set(users::clearance.eq(2))
                .execute(conn)
                .unwrap()
        });
    }
    let second = app.second_admin().await;
    let id = app.user_id("records");
    let current = app.get(&format!("/api/v1/users/{id}"), &second).await;
    let asked = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &second,
            json!({"clearance": "PROTECTED"}),
            Some(&current.etag()),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["clearance"], "OFFICIAL: Sensitive", "not yet");
    assert_eq!(
        asked.body["pending_access_change"]["clearance"],
        "PROTECTED"
    );
    // The first administrator may not approve what is above their own clearance.
    let admin = app.login("admin").await;
    let response = approve_access_change(&app, &admin, &id).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[actix_web::test]
async fn a_rejected_access_change_is_forgotten() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let id = app.user_id("records");
    let current = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    app.patch(
        &format!("/api/v1/users/{id}"),
        &admin,
        json!({"roles": ["privacy_officer"]}),
        Some(&current.etag()),
    )
    .await;
    let asked = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    let rejected = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/users/{id}/access-change/reject"),
            Some(&admin),
            None,
            &[("If-Match", &asked.etag())],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["roles"], json!(["records_manager"]));
    assert!(rejected.body["pending_access_change"].is_null());
    let second = app.second_admin().await;
    let nothing = approve_access_change(&app, &second, &id).await;
    assert_problem(&nothing, StatusCode::CONFLICT, "no_pending_access_change");
}

#[actix_web::test]
async fn removing_a_role_takes_effect_at_once() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let id = app.user_id("teamleader");
    let current = app.get(&format!("/api/v1/users/{id}"), &admin).await;
    let changed = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &admin,
            json!({"roles": ["dept_caseworker"]}),
            Some(&current.etag()),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["roles"], json!(["dept_caseworker"]));
    assert!(changed.body["pending_access_change"].is_null());
}

#[actix_web::test]
async fn nobody_resets_the_password_of_an_account_cleared_above_their_own() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let path = format!("/api/v1/users/{}/password", app.user_id("teamleader"));
    let response = app
        .post(&path, &admin, json!({"new_password": NEW_PASSWORD}))
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "clearance_above_own");
    let still = app.login_response("teamleader", PASSWORD).await;
    assert_eq!(still.status, StatusCode::OK, "the old password still works");
}

async fn reset_caseworker(app: &TestApp) {
    let admin = app.login("admin").await;
    let path = format!("/api/v1/users/{}/password", app.user_id("caseworker"));
    let reset = app
        .post(&path, &admin, json!({"new_password": NEW_PASSWORD}))
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
}

async fn login_as(app: &TestApp, username: &str, password: &str) -> String {
    let response = app.login_response(username, password).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn after_a_reset_the_account_can_only_choose_a_new_password() {
    let app = spawn_app().await;
    reset_caseworker(&app).await;
    let token = login_as(&app, "caseworker", NEW_PASSWORD).await;
    let clients = app.get("/api/v1/clients", &token).await;
    assert_problem(&clients, StatusCode::FORBIDDEN, "password_change_required");
    let enrol = app.act("/api/v1/me/mfa/totp", &token).await;
    assert_problem(&enrol, StatusCode::FORBIDDEN, "password_change_required");
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["password"]["change_required"], true);
    // Not someone else's password either.
    let other = format!("/api/v1/users/{}/password", app.user_id("records"));
    let response = app
        .post(&other, &token, json!({"new_password": OTHER_PASSWORD}))
        .await;
    assert_problem(&response, StatusCode::FORBIDDEN, "password_change_required");

    let own = format!("/api/v1/users/{}/password", app.user_id("caseworker"));
    let changed = app
        .post(
            &own,
            &token,
            json!({"current_password": NEW_PASSWORD, "new_password": OTHER_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    let clients = app.get("/api/v1/clients", &token).await;
    assert_eq!(clients.status, StatusCode::OK, "{}", clients.body);
}

#[actix_web::test]
async fn a_password_reset_raises_an_alert() {
    let app = spawn_app().await;
    reset_caseworker(&app).await;
    let reasons = app.alert_reasons("password_reset");
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains(&app.user_id("caseworker")));
    assert!(!reasons[0].contains(NEW_PASSWORD));
}

#[actix_web::test]
async fn changing_ones_own_password_raises_no_alert_and_needs_no_further_change() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let own = format!("/api/v1/users/{}/password", app.user_id("caseworker"));
    let changed = app
        .post(
            &own,
            &token,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert!(app.alert_reasons("password_reset").is_empty());
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["password"]["change_required"], false);
}

#[actix_web::test]
async fn roles_that_read_client_content_require_mfa() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let second = app.second_admin().await;
    for (username, role) in [
        ("new.caseworker", "dept_caseworker"),
        ("new.leader", "dept_team_leader"),
        ("new.searcher", "division_searcher"),
    ] {
        let created = create(
            &app,
            &admin,
            new_department_user(&app, username, role, "pending"),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["id"].as_str().unwrap();
        let approved = app
            .act(&format!("/api/v1/users/{id}/approve"), &second)
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        let path = format!("/api/v1/users/{id}/password");
        app.post(&path, &second, json!({"new_password": NEW_PASSWORD}))
            .await;
        let token = login_as(&app, username, NEW_PASSWORD).await;
        let own = app
            .post(
                &path,
                &token,
                json!({"current_password": NEW_PASSWORD, "new_password": OTHER_PASSWORD}),
            )
            .await;
        assert_eq!(own.status, StatusCode::NO_CONTENT, "{}", own.body);
        let clients = app.get("/api/v1/profiles?family_name=x", &token).await;
        assert_problem(&clients, StatusCode::FORBIDDEN, "mfa_enrolment_required");
        let me = app.get("/api/v1/me", &token).await;
        assert_eq!(me.body["mfa"]["required"], true, "{role}");
    }
}

async fn register_northside_system(app: &TestApp, admin: &str) -> Response {
    let body = json!({
        "organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE),
        "name": "Northside case system", "roles": ["csp_worker"],
    });
    app.post("/api/v1/api-clients", admin, body).await
}

async fn client_token(app: &TestApp, id: &str, secret: &str) -> reqwest::StatusCode {
    app.client
        .post(format!("{}/api/v1/oauth/token", app.address))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

#[actix_web::test]
async fn an_api_client_reading_client_content_waits_for_a_second_administrator() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let created = register_northside_system(&app, &admin).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "pending");
    let id = created.body["id"].as_str().unwrap();
    let secret = created.body["client_secret"].as_str().unwrap();
    assert_eq!(
        client_token(&app, id, secret).await,
        StatusCode::UNAUTHORIZED,
        "no token before approval"
    );
    let approve = format!("/api/v1/users/{id}/approve");
    let own = app.act(&approve, &admin).await;
    assert_problem(&own, StatusCode::FORBIDDEN, "second_approval_required");
    let second = app.second_admin().await;
    let approved = app.act(&approve, &second).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(client_token(&app, id, secret).await, StatusCode::OK);
}

#[actix_web::test]
async fn rotating_an_api_client_secret_raises_an_alert() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let created = register_northside_system(&app, &admin).await;
    let id = created.body["id"].as_str().unwrap();
    let rotated = app
        .act(&format!("/api/v1/api-clients/{id}/rotate-secret"), &admin)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let reasons = app.alert_reasons("secret_rotated");
    assert_eq!(reasons.len(), 1);
    assert!(!reasons[0].contains(rotated.body["client_secret"].as_str().unwrap()));
}
