//! Finding 9: authorisation before validation. The report and export endpoints answered 422
//! to every role when their parameters were missing, audited as `validation_failed`: a caller
//! without the function learned the parameters and left no denial in the trail. A role
//! without the function is now refused (403, audited as denied) whatever its query string or
//! body held; only a caller with it learns how they were judged. Query strings and bodies are
//! opened only with a permit (`api::request::{Params, Body}`), and `clippy.toml` disallows
//! the extractors that would judge them first.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::writes::assert_problem;

/// Endpoints whose required parameters are missing in these paths, with a role that lacks
/// the function.
const MISSING_PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "/api/v1/reports/csp-access",
        "/api/v1/reports/csp-access",
        "caseworker",
    ),
    (
        "/api/v1/reports/unusual-activity",
        "/api/v1/reports/unusual-activity",
        "caseworker",
    ),
    (
        "/api/v1/audit/events/export",
        "/api/v1/audit/events/export",
        "caseworker",
    ),
    (
        "/api/v1/breaches/{id}/notification-draft",
        "/api/v1/breaches/0190f5e4-8e0a-7cc3-a1f5-7f0b3d5c6e01/notification-draft",
        "caseworker",
    ),
];

/// Every endpoint that reads a query string, with a role that lacks its function.
fn with_query(app: &TestApp) -> Vec<(String, &'static str)> {
    let (client, case) = (app.client_id(0), app.case_id(0));
    let breach = "0190f5e4-8e0a-7cc3-a1f5-7f0b3d5c6e01";
    let oversight = [
        "/api/v1/users",
        "/api/v1/organisations",
        "/api/v1/api-clients",
        "/api/v1/alerts",
        "/api/v1/access-reviews",
        "/api/v1/breaches",
        "/api/v1/reports/breaches-overdue",
        "/api/v1/reports/access-register",
        "/api/v1/reports/collection-notices-outdated",
        "/api/v1/reports/csp-access",
        "/api/v1/reports/unusual-activity",
        "/api/v1/complaints",
        "/api/v1/access-requests",
        "/api/v1/correction-requests",
        "/api/v1/audit/events",
        "/api/v1/audit/events/export",
    ];
    let mut paths: Vec<(String, &'static str)> = oversight
        .iter()
        .map(|path| (path.to_string(), "csp-north"))
        .collect();
    paths.push((format!("/api/v1/clients/{client}/access-log"), "csp-north"));
    paths.push((
        format!("/api/v1/breaches/{breach}/notification-draft"),
        "csp-north",
    ));
    for path in ["/api/v1/clients", "/api/v1/cases", "/api/v1/profiles"] {
        paths.push((path.to_owned(), "admin"));
    }
    paths.push((format!("/api/v1/clients/{client}/cases"), "admin"));
    paths.push((format!("/api/v1/cases/{case}/notes"), "admin"));
    paths
}

#[actix_web::test]
async fn a_role_without_the_function_is_refused_when_required_parameters_are_missing() {
    let app = spawn_app().await;
    for (route, path, role) in MISSING_PARAMETERS {
        let token = app.login(role).await;
        let response = app.get(path, &token).await;
        assert_problem(&response, StatusCode::FORBIDDEN, "forbidden");
        let rows = app.audit_rows(route);
        let row = rows
            .last()
            .unwrap_or_else(|| panic!("no audit row for {route}"));
        assert_eq!(
            (row.outcome.as_str(), row.reason.as_deref()),
            ("denied", Some("forbidden")),
            "{route}"
        );
    }
}

#[actix_web::test]
async fn a_role_without_the_function_is_refused_whatever_its_query_string() {
    let app = spawn_app().await;
    for (path, role) in with_query(&app) {
        let token = app.login(role).await;
        for query in [
            "limit=ten",
            "colour=blue",
            "from=yesterday&to=x",
            "cursor=%00",
        ] {
            let response = app.get(&format!("{path}?{query}"), &token).await;
            assert_eq!(
                (response.status, response.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{role} GET {path}?{query}: {}",
                response.body
            );
        }
    }
}

#[actix_web::test]
async fn a_role_without_the_function_is_refused_whatever_its_body() {
    let app = spawn_app().await;
    let oversized = format!("{{\"x\": \"{}\"}}", "x".repeat(64 * 1024));
    let bodies: [(&str, String); 5] = [
        ("application/json", "{\"given_name\": ".into()),
        ("application/json", "[1, 2]".into()),
        (
            "application/json",
            json!({"colour": "blue", "limit": "ten"}).to_string(),
        ),
        ("text/plain", "{}".into()),
        ("application/json", oversized),
    ];
    let case = app.case_id(0);
    let writes = [
        ("/api/v1/clients".to_owned(), "admin"),
        (format!("/api/v1/cases/{case}/notes"), "admin"),
        ("/api/v1/users".to_owned(), "csp-north"),
        ("/api/v1/breaches".to_owned(), "csp-north"),
        ("/api/v1/retention-schedules".to_owned(), "csp-north"),
        ("/api/v1/complaints".to_owned(), "csp-north"),
    ];
    for (path, role) in writes {
        let token = app.login(role).await;
        for (content_type, body) in &bodies {
            let response = app
                .client
                .request(Method::POST, format!("{}{path}", app.address))
                .bearer_auth(&token)
                .header("Content-Type", *content_type)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(
                (status, problem["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{role} POST {path} ({content_type}, {} bytes): {problem}",
                body.len()
            );
        }
    }
}

#[actix_web::test]
async fn a_role_with_the_function_still_learns_which_parameter_is_missing() {
    let app = spawn_app().await;
    let auditor = app.login("auditor").await;
    let response = app.get("/api/v1/reports/csp-access", &auditor).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(response.body["errors"][0]["field"], "organisation_id");
    let response = app
        .get(
            "/api/v1/reports/unusual-activity?from=2026-11-01T00:00:00Z",
            &auditor,
        )
        .await;
    assert_eq!(
        response.body["errors"][0]["field"], "to",
        "{}",
        response.body
    );
    let rows = app.audit_rows("/api/v1/reports/csp-access");
    assert_eq!(
        rows.last().map(|row| row.reason.as_deref()),
        Some(Some("validation_failed"))
    );
}
