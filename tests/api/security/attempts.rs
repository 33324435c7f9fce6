//! Finding 10: 615 refused reads of one client did not appear under
//! `/audit/events?client_id=` nor in that client's access log. Now a refused or failed
//! request names the client it aimed at (by its path: the client, or the client of the case
//! or note), marked as not disclosed: the department sees who tried, breach impact still
//! counts disclosures only, and the caller's response is unchanged.
use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};

const NORTHSIDE_CLIENT: usize = 0;
const UNALLOCATED_CLIENT: usize = 8;

fn items(response: &Response) -> Vec<Value> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.body["items"].as_array().unwrap().clone()
}

/// The events listed that answered `refused`.
fn the_event_of<'a>(events: &'a [Value], app: &TestApp, refused: &Response) -> &'a Value {
    let id = app.audit_row_of(refused).id;
    events
        .iter()
        .find(|event| event["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the refusal {id} is not listed: {events:?}"))
}

#[actix_web::test]
async fn a_refused_read_of_a_client_is_listed_under_that_client_as_not_disclosed() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    let refused = app.get(&format!("/api/v1/clients/{client}"), &north).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let auditor = app.login("auditor").await;
    let listed = items(
        &app.get(
            &format!("/api/v1/audit/events?client_id={client}"),
            &auditor,
        )
        .await,
    );
    let event = the_event_of(&listed, &app, &refused);
    assert_eq!(event["attempted_client_id"], client.as_str());
    assert_eq!(event["client_ids"], json!([]), "nothing was disclosed");
    assert_eq!(event["actor_user_id"], app.user_id("csp-north"));
    assert_eq!(event["outcome"], "denied");
}

#[actix_web::test]
async fn a_refused_read_of_a_client_is_in_the_clients_access_log() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    let refused = app
        .get(&format!("/api/v1/clients/{client}/cases"), &north)
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let auditor = app.login("auditor").await;
    let log = items(
        &app.get(&format!("/api/v1/clients/{client}/access-log"), &auditor)
            .await,
    );
    let event = the_event_of(&log, &app, &refused);
    assert_eq!(event["attempted_client_id"], client.as_str());
    assert_eq!(event["fields"], json!([]));
}

#[actix_web::test]
async fn a_refused_read_of_a_clients_case_or_note_names_the_client() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    let case = app.case_id(UNALLOCATED_CLIENT);
    let note = app.note_id(UNALLOCATED_CLIENT, "department");
    for path in [
        format!("/api/v1/cases/{case}"),
        format!("/api/v1/cases/{case}/notes"),
        format!("/api/v1/notes/{note}"),
    ] {
        let refused = app.get(&path, &north).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            app.audit_row_of(&refused).attempted_client_id.as_deref(),
            Some(client.as_str()),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn an_anonymous_attempt_on_a_client_is_recorded_against_the_client() {
    let app = spawn_app().await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    let refused = app
        .anonymous(Method::GET, &format!("/api/v1/clients/{client}"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let row = app.audit_row_of(&refused);
    assert_eq!(row.attempted_client_id.as_deref(), Some(client.as_str()));
    assert_eq!(row.actor_kind, "anonymous");
}

#[actix_web::test]
async fn a_read_that_disclosed_the_client_is_not_an_attempt() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let client = app.client_id(NORTHSIDE_CLIENT);
    let read = app.get(&format!("/api/v1/clients/{client}"), &north).await;
    assert_eq!(read.status, StatusCode::OK);
    let row = app.audit_row_of(&read);
    assert_eq!(row.attempted_client_id, None);
    assert_eq!(row.client_ids, format!("[\"{client}\"]"));
}

#[actix_web::test]
async fn an_attempt_on_a_nonexistent_client_answers_exactly_like_one_out_of_reach() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let existing = app.client_id(UNALLOCATED_CLIENT);
    let nonexistent = uuid::Uuid::now_v7().to_string();
    let answer = async |id: &str| {
        let response = app.get(&format!("/api/v1/clients/{id}"), &north).await;
        let mut headers: BTreeSet<String> = response
            .headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect();
        headers.remove("date");
        let mut body = response.body.clone();
        (response.status, headers, body.take(), response)
    };
    let (status, headers, body, out_of_reach) = answer(&existing).await;
    let (status_2, headers_2, body_2, missing) = answer(&nonexistent).await;
    assert_eq!((status, &headers, &body), (status_2, &headers_2, &body_2));
    // Both are recorded as attempts on the id asked for.
    assert_eq!(
        app.audit_row_of(&out_of_reach)
            .attempted_client_id
            .as_deref(),
        Some(existing.as_str())
    );
    assert_eq!(
        app.audit_row_of(&missing).attempted_client_id.as_deref(),
        Some(nonexistent.as_str())
    );
}

fn time(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[actix_web::test]
async fn breach_impact_counts_disclosures_not_attempts() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let seen = app.client_id(NORTHSIDE_CLIENT);
    let tried = app.client_id(UNALLOCATED_CLIENT);
    assert_eq!(
        app.get(&format!("/api/v1/clients/{seen}"), &north)
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..3 {
        let refused = app.get(&format!("/api/v1/clients/{tried}"), &north).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
    }
    let privacy = app.login("privacy").await;
    let now = Utc::now();
    let breach = app
        .post(
            "/api/v1/breaches",
            &privacy,
            json!({
                "aware_at": time(now),
                "reported_by": "Northside Care manager",
                "source": "csp",
                "description": "A worker's account was used by someone else.",
                "kinds": ["access"],
                "suspected_actor_ids": [app.user_id("csp-north")],
                "window_from": time(now - Duration::hours(1)),
                "window_to": time(now + Duration::hours(1)),
            }),
        )
        .await;
    assert_eq!(breach.status, StatusCode::CREATED, "{}", breach.body);
    let id = breach.body["id"].as_str().unwrap();
    let affected = app
        .get(&format!("/api/v1/breaches/{id}/affected"), &privacy)
        .await;
    assert_eq!(affected.status, StatusCode::OK, "{}", affected.body);
    let individuals: BTreeSet<&str> = affected.body["individuals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|individual| individual["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(individuals, BTreeSet::from([seen.as_str()]));
    assert_eq!(affected.body["number_affected"], 1);
}

#[actix_web::test]
async fn a_clients_access_request_bundle_lists_what_was_disclosed_not_attempts() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    let refused = app.get(&format!("/api/v1/clients/{client}"), &north).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let privacy = app.login("privacy").await;
    let created = app
        .post(
            "/api/v1/access-requests",
            &privacy,
            json!({
                "client_id": client,
                "received_on": Utc::now().date_naive().to_string(),
                "requester": "The client, by letter",
                "identity_verified": true,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let bundle = app
        .get(&format!("/api/v1/access-requests/{id}/bundle"), &privacy)
        .await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    let log = bundle.body["access_log"].as_array().unwrap();
    let north_id = app.user_id("csp-north");
    assert!(
        log.iter()
            .all(|event| event["actor_user_id"] != north_id.as_str()),
        "{log:?}"
    );
}
