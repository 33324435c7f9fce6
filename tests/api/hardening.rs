//! Holes a security review found, each closed and kept closed.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::writes::{assert_problem, today};

const NORTHSIDE_CLIENT: usize = 0;
const UNALLOCATED_CLIENT: usize = 8;

async fn etag_of(app: &TestApp, path: &str, token: &str) -> String {
    let response = app.get(path, token).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.etag()
}

#[actix_web::test]
async fn an_administrator_cannot_raise_their_own_access_nor_grant_more_than_their_clearance() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let own = format!("/api/v1/users/{}", app.user_id("admin"));
    let etag = etag_of(&app, &own, &admin).await;
    let escalate = app
        .patch(
            &own,
            &admin,
            json!({"roles": ["dept_admin", "dept_team_leader"]}),
            Some(&etag),
        )
        .await;
    assert_problem(&escalate, StatusCode::FORBIDDEN, "own_access_unchangeable");
    assert_eq!(
        app.get("/api/v1/clients", &admin).await.status,
        StatusCode::FORBIDDEN,
        "still no client content"
    );

    // The demo administrator holds OFFICIAL: Sensitive, so cannot hand out PROTECTED.
    let other = format!("/api/v1/users/{}", app.user_id("caseworker"));
    let etag = etag_of(&app, &other, &admin).await;
    let raise = app
        .patch(
            &other,
            &admin,
            json!({"clearance": "PROTECTED"}),
            Some(&etag),
        )
        .await;
    assert_problem(
        &raise,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(raise.body["errors"][0]["field"], "clearance");
    assert_eq!(
        app.get(&other, &admin).await.body["clearance"],
        "OFFICIAL: Sensitive"
    );
}

#[actix_web::test]
async fn a_role_that_needs_a_purpose_lends_its_fields_only_with_one() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let caseworker = format!("/api/v1/users/{}", app.user_id("caseworker"));
    let etag = etag_of(&app, &caseworker, &admin).await;
    let both = app
        .patch_user(
            &caseworker,
            &admin,
            json!({"roles": ["dept_caseworker", "privacy_officer"]}),
            Some(&etag),
        )
        .await;
    assert_eq!(both.status, StatusCode::OK, "{}", both.body);

    let token = app.login("caseworker").await;
    // Client 0 has a tax file number in the demo data; a caseworker may not read it.
    let client = format!("/api/v1/clients/{}", app.client_id(0));
    let without = app.get(&client, &token).await;
    assert_eq!(without.status, StatusCode::OK);
    assert!(
        without.body.get("tax_file_number").is_none(),
        "{}",
        without.body
    );
    let with = app
        .get_with(
            &client,
            &token,
            &[("X-Purpose-Of-Use", "complaint 2026-17")],
        )
        .await;
    assert!(with.body["tax_file_number"].is_string(), "{}", with.body);
}

#[actix_web::test]
async fn a_case_above_a_csps_clearance_does_not_reveal_its_client() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    let client_id = app.client_id(UNALLOCATED_CLIENT);
    let case = app
        .post(
            "/api/v1/cases",
            &leader,
            json!({"client_id": client_id, "service_type": "protection", "risk_level": "high", "protective_marking": "PROTECTED"}),
        )
        .await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    let allocation = app
        .post(
            &format!("/api/v1/cases/{}/allocations", case.body["id"].as_str().unwrap()),
            &leader,
            json!({"organisation_id": app.organisation_id(casebridge::demo::EASTERN), "worker_id": app.demo_worker_of(casebridge::demo::EASTERN), "starts_on": today().to_string(), "service_description": "Protection visits"}),
        )
        .await;
    assert_eq!(
        allocation.status,
        StatusCode::CREATED,
        "{}",
        allocation.body
    );
    assert_problem(
        &app.get(&format!("/api/v1/clients/{client_id}"), &east)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let listed = app.get("/api/v1/clients?limit=200", &east).await;
    assert!(
        !listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == client_id.as_str())
    );
}

#[actix_web::test]
async fn implausible_dates_and_nul_characters_are_refused_not_stored() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let case = format!(
        "/api/v1/cases/{}/allocations",
        app.case_id(UNALLOCATED_CLIENT)
    );
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    for starts_on in ["+10000-01-01", "-100000-01-01", "1800-01-01"] {
        let response = app
            .post(&case, &leader, json!({"organisation_id": eastern, "starts_on": starts_on, "service_description": "x"}))
            .await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(response.body["errors"][0]["field"], "starts_on");
    }
    let login = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "a\u{0}b", "password": "whatever-it-is"})),
            &[],
        )
        .await;
    assert_problem(
        &login,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let client = app
        .post(
            "/api/v1/clients",
            &leader,
            json!({"given_name": "A\u{0}", "family_name": "B", "date_of_birth": "1990-01-01"}),
        )
        .await;
    assert_problem(
        &client,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(client.body["errors"][0]["field"], "given_name");
    let search = app
        .get("/api/v1/profiles?family_name=a%00b&given_name=x", &leader)
        .await;
    assert_problem(
        &search,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[actix_web::test]
async fn knowing_a_session_id_is_not_enough_to_end_the_session() {
    let app = spawn_app().await;
    let login = app
        .login_response("searcher", crate::helpers::PASSWORD)
        .await;
    let access = login.body["access_token"].as_str().unwrap();
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let session_id = refresh.split_once('.').unwrap().0;
    let forged = app
        .request(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": format!("{session_id}.forged")})),
            &[],
        )
        .await;
    assert_problem(&forged, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    assert_eq!(
        app.get("/api/v1/me", access).await.status,
        StatusCode::OK,
        "the session lives on"
    );
}

#[actix_web::test]
async fn no_etag_reveals_a_version_the_caller_may_not_read() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let case = app
        .get(
            &format!("/api/v1/cases/{}", app.case_id(NORTHSIDE_CLIENT)),
            &north,
        )
        .await;
    assert_eq!(case.status, StatusCode::OK);
    assert!(case.body.get("version").is_none());
    assert!(case.headers.get("etag").is_none());
    let client = app
        .get(
            &format!("/api/v1/clients/{}", app.client_id(NORTHSIDE_CLIENT)),
            &north,
        )
        .await;
    assert_eq!(
        client.headers["etag"], "\"1\"",
        "clients, which the CSP may edit, keep theirs"
    );
}

#[actix_web::test]
async fn nested_and_list_errors_name_their_field() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let response = app
        .post(
            "/api/v1/clients",
            &caseworker,
            json!({"given_name": "A", "family_name": "B", "date_of_birth": "1990-01-01", "address": {"state": "XX", "postcode": "12"}}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["address.postcode", "address.state"]);

    let long_alert = "x".repeat(201);
    let response = app
        .post(
            "/api/v1/clients",
            &caseworker,
            json!({"given_name": "A", "family_name": "B", "date_of_birth": "1990-01-01", "safety_alerts": [long_alert]}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(response.body["errors"][0]["field"], "safety_alerts[0]");
}
