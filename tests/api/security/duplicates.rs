//! Finding 8: the duplicate check (`409 possible_duplicate` on `POST /clients`) names only
//! clients the caller could read in a list: a restricted client only with a purpose of use,
//! and nobody outside the caller's rows or clearance. See docs/security/names.md.
use casebridge::db::schema::clients;
use casebridge::demo::{FAMILY_SERVICES, PROTECTED_CLIENT, RESTRICTED_CLIENT};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};
use crate::writes::{assert_problem, count};

const PURPOSE: &str = "intake: checking for an existing file";

/// `POST /clients` as the demo caseworker (Housing Support, `OFFICIAL: Sensitive`), with a
/// purpose of use when given.
async fn create(app: &TestApp, body: Value, purpose: Option<&str>) -> Response {
    let caseworker = app.login("caseworker").await;
    let headers: Vec<(&str, &str)> = purpose
        .map(|purpose| vec![("X-Purpose-Of-Use", purpose)])
        .unwrap_or_default();
    app.request(
        Method::POST,
        "/api/v1/clients",
        Some(&caseworker),
        Some(body),
        &headers,
    )
    .await
}

/// The audit row of the last refused `POST /clients`.
fn last_refusal(app: &TestApp) -> casebridge::audit::chain::AuditEvent {
    app.audit_rows("/api/v1/clients")
        .into_iter()
        .rfind(|row| row.status == 409)
        .expect("a refusal was audited")
}

#[actix_web::test]
async fn a_restricted_candidate_is_withheld_from_a_caller_without_a_purpose() {
    let app = spawn_app().await;
    let restricted = app.client_id(RESTRICTED_CLIENT);
    let stored = count!(app, clients::table);

    let refused = create(&app, app.new_client_like(RESTRICTED_CLIENT), None).await;

    assert_problem(&refused, StatusCode::CONFLICT, "possible_duplicate");
    assert_eq!(refused.body["candidates"], json!([]));
    assert_eq!(refused.body["restricted_candidate_withheld"], json!(true));
    assert!(
        !refused.body.to_string().contains(&restricted),
        "{}",
        refused.body
    );
    assert!(!last_refusal(&app).client_ids.contains(&restricted));
    assert_eq!(count!(app, clients::table), stored, "nothing stored");
}

#[actix_web::test]
async fn confirm_new_does_not_override_a_candidate_the_caller_was_not_shown() {
    let app = spawn_app().await;
    let stored = count!(app, clients::table);
    let mut body = app.new_client_like(RESTRICTED_CLIENT);
    body["confirm_new"] = json!(true);

    let refused = create(&app, body, None).await;

    assert_problem(&refused, StatusCode::CONFLICT, "possible_duplicate");
    assert_eq!(refused.body["restricted_candidate_withheld"], json!(true));
    assert_eq!(count!(app, clients::table), stored, "nothing stored");
}

#[actix_web::test]
async fn with_a_purpose_the_restricted_candidate_is_named_and_the_audit_row_says_why() {
    let app = spawn_app().await;
    let restricted = app.client_id(RESTRICTED_CLIENT);

    let refused = create(&app, app.new_client_like(RESTRICTED_CLIENT), Some(PURPOSE)).await;

    assert_problem(&refused, StatusCode::CONFLICT, "possible_duplicate");
    assert_eq!(refused.body["candidates"], json!([restricted]));
    assert!(refused.body.get("restricted_candidate_withheld").is_none());
    let row = last_refusal(&app);
    assert_eq!(row.client_ids, json!([restricted]).to_string());
    assert_eq!(row.purpose_of_use.as_deref(), Some(PURPOSE));

    let mut confirmed = app.new_client_like(RESTRICTED_CLIENT);
    confirmed["confirm_new"] = json!(true);
    let created = create(&app, confirmed, Some(PURPOSE)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[actix_web::test]
async fn a_client_above_the_callers_clearance_is_never_a_candidate() {
    let app = spawn_app().await;
    // The caseworker's division leads the PROTECTED client's file; the caseworker is cleared
    // to OFFICIAL: Sensitive, so for them the file does not exist: no 409, no hint.
    let created = create(&app, app.new_client_like(PROTECTED_CLIENT), None).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[actix_web::test]
async fn a_client_outside_the_callers_rows_is_never_a_candidate() {
    let app = spawn_app().await;
    // Demo client 100 is Family Services' alone: the Housing Support caseworker cannot read
    // it, so its file does not stop (or reveal itself to) a new one.
    let family_services = app.organisation_id(FAMILY_SERVICES);
    let id = app.client_id(100);
    let lead: String = app.with_db(|conn| {
        clients::table
            .filter(clients::id.eq(id))
            .select(clients::lead_division_id)
            .first(conn)
            .unwrap()
    });
    assert_eq!(lead, family_services);

    let created = create(&app, app.new_client_like(100), None).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}
