//! Incident reports: every principal reports (people of every role, API clients); the report
//! raises an alert with its audit row; reporters read only their own reports; the privacy
//! officer reads all, moves them on and opens breaches from them (linked both ways); one's own
//! compromised credentials end one's own sessions; clients and users a reporter may not name
//! answer exactly as unknown ones; refused reports store nothing.
use casebridge::db::schema::{alerts, breaches, incident_reports};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::breaches::time;
use crate::helpers::{Response, TestApp, client_token, register_client, spawn_app, token_request};
use crate::writes::assert_problem;

const REPORTS: &str = "/api/v1/incident-reports";

/// Every demo account.
pub(crate) const DEMO_USERS: &[&str] = &[
    "admin",
    "caseworker",
    "teamleader",
    "searcher",
    "csp-north",
    "csp-north-manager",
    "csp-east",
    "auditor",
    "privacy",
    "records",
];

/// What a reporter reads of their own report...
#[rustfmt::skip]
pub(crate) const REPORT_OWN: &[&str] = &[
    "id", "kind", "description", "occurred_at", "involved_user_ids", "client_ids", "sessions_ended",
    "reported_by", "reporter_organisation_id", "reported_at", "status", "updated_at", "version",
];
/// ...and the privacy officer of any: the breach opened from it too.
#[rustfmt::skip]
pub(crate) const REPORT_ALL: &[&str] = &[
    "id", "kind", "description", "occurred_at", "involved_user_ids", "client_ids", "sessions_ended",
    "reported_by", "reporter_organisation_id", "reported_at", "status", "breach_id", "updated_at", "version",
];

pub(crate) fn misuse() -> Value {
    json!({
        "kind": "suspected_misuse",
        "description": "A colleague looked up a neighbour's file.",
    })
}

pub(crate) async fn report(app: &TestApp, token: &str, body: Value) -> Response {
    app.post(REPORTS, token, body).await
}

/// Reports `body` and answers the new report's id.
pub(crate) async fn reported(app: &TestApp, token: &str, body: Value) -> String {
    let response = report(app, token, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body["id"].as_str().unwrap().to_owned()
}

fn report_count(app: &TestApp) -> i64 {
    app.with_db(|conn| incident_reports::table.count().get_result(conn).unwrap())
}

fn alert_count(app: &TestApp) -> i64 {
    app.with_db(|conn| {
        alerts::table
            .filter(alerts::kind.eq("incident_reported"))
            .count()
            .get_result(conn)
            .unwrap()
    })
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
    keys.sort();
    keys
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The body of a problem without what differs per request.
fn problem(response: &Response) -> Value {
    let mut body = response.body.clone();
    if let Some(body) = body.as_object_mut() {
        body.remove("instance");
        body.remove("request_id");
    }
    body
}

fn random_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Reports naming `hidden` and then an id nothing has, in `field`: both refused (422 on
/// `field[0]`) with the same body, so the answer tells nothing of `hidden`.
async fn assert_named_alike_with_unknown(app: &TestApp, token: &str, field: &str, hidden: String) {
    let mut answers = Vec::new();
    for id in [hidden, random_id()] {
        let mut body = misuse();
        body[field] = json!([id]);
        let refused = report(app, token, body).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(refused.body["errors"][0]["field"], format!("{field}[0]"));
        answers.push(problem(&refused));
    }
    assert_eq!(
        answers[0], answers[1],
        "{field}: a hidden id answers as an unknown one"
    );
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/me", token).await.status
}

#[actix_web::test]
async fn every_role_and_an_api_client_can_report_an_incident() {
    let app = spawn_app().await;
    for user in DEMO_USERS {
        let token = app.login(user).await;
        let response = report(&app, &token, misuse()).await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{user}: {}",
            response.body
        );
        assert_eq!(response.body["status"], "received", "{user}");
        assert_eq!(response.body["reported_by"], app.user_id(user), "{user}");
        assert_eq!(response.body["sessions_ended"], false, "{user}");
        let location = response.headers["location"].to_str().unwrap();
        assert_eq!(
            app.get(location, &token).await.status,
            StatusCode::OK,
            "{user}"
        );
    }
    let admin = app.login("admin").await;
    let (system, secret) = register_client(&app, &admin).await;
    let grant = [("grant_type", "client_credentials")];
    let token = client_token(&token_request(&app, &grant, Some((&system, &secret))).await);
    let response = report(&app, &token, misuse()).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(response.body["reported_by"], system);
    assert_eq!(report_count(&app), DEMO_USERS.len() as i64 + 1);
}

#[actix_web::test]
async fn a_report_raises_an_alert_with_its_audit_row_and_without_its_description() {
    let app = spawn_app().await;
    let csp = app.login("csp-north").await;
    let response = report(&app, &csp, misuse()).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let id = response.body["id"].as_str().unwrap();
    let row = app.audit_row_of(&response);
    let (reason, event_id): (String, String) = app.with_db(|conn| {
        alerts::table
            .filter(alerts::kind.eq("incident_reported"))
            .select((alerts::reason, alerts::event_id))
            .first(conn)
            .unwrap()
    });
    assert_eq!(
        event_id, row.id,
        "the alert is stored with the report's audit row"
    );
    assert!(reason.contains(id), "{reason}");
    assert!(reason.contains("suspected_misuse"), "{reason}");
    assert!(
        !reason.contains("neighbour"),
        "no description in an alert: {reason}"
    );
    let privacy = app.login("privacy").await;
    let listed = app.get("/api/v1/alerts", &privacy).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let kinds: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|alert| alert["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"incident_reported"), "{kinds:?}");
}

#[actix_web::test]
async fn a_reporter_reads_only_their_own_reports() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let east = app.login("csp-east").await;
    let own = reported(&app, &north, misuse()).await;
    let other = reported(&app, &east, misuse()).await;
    let listed = app.get(REPORTS, &north).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(ids(&listed.body), vec![own.clone()]);
    let read = app.get(&format!("{REPORTS}/{own}"), &north).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(crate::helpers::keys(&read.body), sorted(REPORT_OWN));
    let theirs = app.get(&format!("{REPORTS}/{other}"), &north).await;
    let unknown = app.get(&format!("{REPORTS}/{}", random_id()), &north).await;
    assert_problem(&theirs, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        problem(&theirs),
        problem(&unknown),
        "another's report is as unknown"
    );
    // Their manager, in the same organisation, does not read them either.
    let manager = app.login("csp-north-manager").await;
    assert!(ids(&app.get(REPORTS, &manager).await.body).is_empty());
}

#[actix_web::test]
async fn the_privacy_officer_reads_every_report_and_moves_it_on_with_if_match() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let caseworker = app.login("caseworker").await;
    let privacy = app.login("privacy").await;
    let first = reported(&app, &north, misuse()).await;
    let second = reported(&app, &caseworker, misuse()).await;
    let listed = app.get(REPORTS, &privacy).await;
    assert_eq!(ids(&listed.body), vec![first.clone(), second.clone()]);
    let path = format!("{REPORTS}/{first}");
    let read = app.get(&path, &privacy).await;
    assert_eq!(crate::helpers::keys(&read.body), sorted(REPORT_ALL));
    let change = json!({"status": "assessing"});
    let without = app.patch(&path, &privacy, change.clone(), None).await;
    assert_problem(
        &without,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let stale = app
        .patch(&path, &privacy, change.clone(), Some("\"7\""))
        .await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_mismatch");
    let moved = app.patch(&path, &privacy, change, Some(&read.etag())).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["status"], "assessing");
    assert_eq!(app.get(&path, &north).await.body["status"], "assessing");
    let filtered = app
        .get(&format!("{REPORTS}?status=assessing"), &privacy)
        .await;
    assert_eq!(ids(&filtered.body), vec![first.clone()]);
    // Only opening a breach sets breach_opened; nothing goes back to received.
    for status in ["breach_opened", "received", "assessing"] {
        let refused = app
            .patch(
                &path,
                &privacy,
                json!({"status": status}),
                Some(&moved.etag()),
            )
            .await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let closed = app
        .patch(
            &path,
            &privacy,
            json!({"status": "closed"}),
            Some(&moved.etag()),
        )
        .await;
    assert_eq!(closed.body["status"], "closed", "{}", closed.body);
    let reopened = app
        .patch(
            &path,
            &privacy,
            json!({"status": "assessing"}),
            Some(&closed.etag()),
        )
        .await;
    assert_problem(&reopened, StatusCode::CONFLICT, "incident_report_closed");
}

#[actix_web::test]
async fn a_reporter_cannot_move_their_own_report_on() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let id = reported(&app, &north, misuse()).await;
    let path = format!("{REPORTS}/{id}");
    let etag = app.get(&path, &north).await.etag();
    let refused = app
        .patch(&path, &north, json!({"status": "closed"}), Some(&etag))
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.get(&path, &north).await.body["status"], "received");
}

#[actix_web::test]
async fn a_breach_opened_from_a_report_is_linked_both_ways() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let privacy = app.login("privacy").await;
    let id = reported(&app, &north, misuse()).await;
    let mut body = crate::breaches::new_breach(&[]);
    body["incident_report_ids"] = json!([id]);
    let opened = app.post("/api/v1/breaches", &privacy, body.clone()).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    assert_eq!(opened.body["incident_report_ids"], json!([id]));
    let breach = opened.body["id"].as_str().unwrap();
    let read = app
        .get(&format!("/api/v1/breaches/{breach}"), &privacy)
        .await;
    assert_eq!(read.body["incident_report_ids"], json!([id]));
    let report = app.get(&format!("{REPORTS}/{id}"), &privacy).await;
    assert_eq!(report.body["status"], "breach_opened");
    assert_eq!(report.body["breach_id"], breach);
    // The reporter sees where their report stands, not the breach register.
    let own = app.get(&format!("{REPORTS}/{id}"), &north).await;
    assert_eq!(own.body["status"], "breach_opened");
    assert!(own.body.get("breach_id").is_none(), "{}", own.body);
    // A report a breach was opened from opens no second one; nothing is stored.
    let count = || app.with_db(|conn| breaches::table.count().get_result::<i64>(conn).unwrap());
    let before = count();
    let again = app.post("/api/v1/breaches", &privacy, body).await;
    assert_problem(&again, StatusCode::CONFLICT, "incident_report_closed");
    assert_eq!(count(), before);
}

#[actix_web::test]
async fn a_breach_naming_an_unknown_report_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let count = || app.with_db(|conn| breaches::table.count().get_result::<i64>(conn).unwrap());
    let before = count();
    for (id, field) in [
        (random_id(), "incident_report_ids[0]"),
        ("nope".into(), "incident_report_ids[0]"),
    ] {
        let mut body = crate::breaches::new_breach(&[]);
        body["incident_report_ids"] = json!([id]);
        let refused = app.post("/api/v1/breaches", &privacy, body).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            refused.body["errors"][0]["field"], field,
            "{}",
            refused.body
        );
    }
    assert_eq!(count(), before);
}

#[actix_web::test]
async fn reporting_ones_own_credentials_compromised_ends_ones_own_sessions_only() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let north_elsewhere = app.login("csp-north").await;
    let east = app.login("csp-east").await;
    let response = report(
        &app,
        &north,
        json!({"kind": "credentials_compromised", "description": "My password was phished."}),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(response.body["sessions_ended"], true);
    assert_eq!(me(&app, &north).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &north_elsewhere).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&app, &east).await,
        StatusCode::OK,
        "another user's session lives"
    );
    // A new login works, and finds the report.
    let again = app.login("csp-north").await;
    let listed = app.get(REPORTS, &again).await;
    assert_eq!(listed.body["items"][0]["sessions_ended"], true);
    assert!(app.alert_reasons("incident_reported")[0].contains("session"));
}

#[actix_web::test]
async fn naming_oneself_among_the_compromised_ends_ones_own_sessions() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let worker = app.login("csp-north").await;
    let body = json!({
        "kind": "credentials_compromised",
        "description": "Our shared note of passwords was lost.",
        "involved_user_ids": [app.user_id("csp-north"), app.user_id("csp-north-manager")],
    });
    let response = report(&app, &manager, body).await;
    assert_eq!(response.body["sessions_ended"], true, "{}", response.body);
    assert_eq!(me(&app, &manager).await, StatusCode::UNAUTHORIZED);
    // Another's sessions end by containment, not by a report.
    assert_eq!(me(&app, &worker).await, StatusCode::OK);
}

#[actix_web::test]
async fn reporting_someone_elses_credentials_ends_no_session() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let worker = app.login("csp-north").await;
    let body = json!({
        "kind": "credentials_compromised",
        "description": "A worker's password was written on their desk.",
        "involved_user_ids": [app.user_id("csp-north")],
    });
    let response = report(&app, &manager, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(response.body["sessions_ended"], false);
    assert_eq!(me(&app, &manager).await, StatusCode::OK);
    assert_eq!(me(&app, &worker).await, StatusCode::OK);
}

#[actix_web::test]
async fn an_api_client_reporting_its_credentials_compromised_loses_its_tokens() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let (system, secret) = register_client(&app, &admin).await;
    let grant = [("grant_type", "client_credentials")];
    let token = client_token(&token_request(&app, &grant, Some((&system, &secret))).await);
    let other = client_token(&token_request(&app, &grant, Some((&system, &secret))).await);
    let body = json!({"kind": "credentials_compromised", "description": "Our secret was committed to a public repository."});
    let response = report(&app, &token, body).await;
    assert_eq!(response.body["sessions_ended"], true, "{}", response.body);
    assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &admin).await, StatusCode::OK);
}

#[actix_web::test]
async fn clients_outside_the_reporters_reach_answer_exactly_like_unknown_ones() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let before = (report_count(&app), alert_count(&app));
    // Client 1 is allocated to Eastern Outreach, not Northside.
    assert_named_alike_with_unknown(&app, &north, "client_ids", app.client_id(1)).await;
    // A client above the reporter's clearance is as unknown too.
    let caseworker = app.login("caseworker").await;
    let protected = app.client_id(casebridge::demo::PROTECTED_CLIENT);
    assert_named_alike_with_unknown(&app, &caseworker, "client_ids", protected).await;
    assert_eq!(
        (report_count(&app), alert_count(&app)),
        before,
        "nothing stored"
    );
    // A client in reach is named, and read back.
    let mut body = misuse();
    body["client_ids"] = json!([app.client_id(0)]);
    let id = reported(&app, &north, body).await;
    let read = app.get(&format!("{REPORTS}/{id}"), &north).await;
    assert_eq!(read.body["client_ids"], json!([app.client_id(0)]));
    assert!(
        app.audit_row_of(&read)
            .client_ids
            .contains(&app.client_id(0))
    );
}

#[actix_web::test]
async fn a_role_that_reads_no_client_names_none() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    assert_named_alike_with_unknown(&app, &admin, "client_ids", app.client_id(0)).await;
    assert_eq!(report_count(&app), 0);
}

#[actix_web::test]
async fn users_of_another_organisation_answer_exactly_like_unknown_ones_to_a_csp() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    assert_named_alike_with_unknown(&app, &north, "involved_user_ids", app.user_id("csp-east"))
        .await;
    assert_eq!(report_count(&app), 0);
    // Its own organisation's users, yes; and the department names anyone.
    let mut body = misuse();
    body["involved_user_ids"] = json!([app.user_id("csp-north-manager")]);
    assert_eq!(report(&app, &north, body).await.status, StatusCode::CREATED);
    let caseworker = app.login("caseworker").await;
    let mut body = misuse();
    body["involved_user_ids"] = json!([app.user_id("csp-east")]);
    assert_eq!(
        report(&app, &caseworker, body).await.status,
        StatusCode::CREATED
    );
}

#[actix_web::test]
async fn invalid_reports_name_every_field_and_store_nothing_and_end_no_session() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let future = time(Utc::now() + Duration::days(1));
    let body = json!({
        "kind": "credentials_compromised",
        "description": "x".repeat(5001),
        "occurred_at": future,
        "client_ids": ["not-a-uuid"],
    });
    let refused = report(&app, &north, body).await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|error| error["field"].as_str())
        .collect();
    assert!(fields.contains(&"description"), "{fields:?}");
    let body = json!({
        "kind": "credentials_compromised",
        "description": "Phished.",
        "occurred_at": future,
        "client_ids": ["not-a-uuid"],
    });
    let refused = report(&app, &north, body).await;
    let fields: std::collections::BTreeSet<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|error| error["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["client_ids[0]", "occurred_at"].into(),
        "{}",
        refused.body
    );
    for body in [
        json!({"kind": "stolen_lunch", "description": "Someone took it."}),
        json!({"kind": "other", "description": ""}),
        json!({"kind": "other"}),
        json!({"kind": "other", "description": "x", "colour": "red"}),
    ] {
        let refused = report(&app, &north, body.clone()).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    assert_eq!((report_count(&app), alert_count(&app)), (0, 0));
    assert_eq!(
        me(&app, &north).await,
        StatusCode::OK,
        "a refused report ends nothing"
    );
}

#[actix_web::test]
async fn a_reporter_cannot_set_a_reports_status() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let mut body = misuse();
    body["status"] = json!("closed");
    let refused = report(&app, &north, body).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "field_not_writable");
    assert_eq!(refused.body["fields"], json!(["status"]));
    assert_eq!(report_count(&app), 0);
}
