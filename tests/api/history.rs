//! The change history of client files: every change keeps who, when, which request and each
//! field before and after; readers see it masked as the record is; a change can be reverted
//! through the normal write path.
use casebridge::db::schema::change_history;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, new_client, spawn_app};
use crate::writes::{assert_not_writable, assert_problem, client_path, count, read};

/// Demo client 0: Housing Support's, allocated to Northside, with a tax file number.
const NORTHSIDE_CLIENT: usize = 0;
const PURPOSE: (&str, &str) = ("X-Purpose-Of-Use", "review of changes to the file");

fn history_path(app: &TestApp, index: usize) -> String {
    format!("{}/history", client_path(app, index))
}

/// Changes demo client `index` as `token` (with the current ETag); answers the response.
async fn change(app: &TestApp, token: &str, index: usize, body: Value) -> Response {
    let changed = app
        .patch_current(&client_path(app, index), token, body)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    changed
}

fn entries(page: &Response) -> &Vec<Value> {
    page.body["items"].as_array().expect("a page of entries")
}

/// The newest entry of a history page.
fn last(page: &Response) -> &Value {
    entries(page).last().expect("an entry")
}

fn history_rows(app: &TestApp) -> i64 {
    count!(app, change_history::table)
}

async fn revert(app: &TestApp, token: &str, index: usize, entry: &str, etag: &str) -> Response {
    let path = format!("{}/{entry}/revert", history_path(app, index));
    app.request(
        reqwest::Method::POST,
        &path,
        Some(token),
        None,
        &[("If-Match", etag)],
    )
    .await
}

/// The client's current ETag, as `token` reads it.
async fn etag_of(app: &TestApp, token: &str, index: usize) -> String {
    read(app, &client_path(app, index), token).await.etag()
}

#[actix_web::test]
async fn a_change_keeps_who_changed_which_field_from_what_to_what() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let before = read(&app, &client_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let changed = change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 111"}),
    )
    .await;

    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let entry = last(&history);
    assert_eq!(entry["action"], "updated");
    assert_eq!(entry["resource_type"], "client");
    assert_eq!(entry["fields"], json!(["phone"]));
    assert_eq!(
        entry["changes"]["phone"],
        json!({"before": before.body["phone"], "after": "0400 999 111"})
    );
    assert_eq!(entry["changed_by"], app.user_id("caseworker"));
    assert_eq!(entry["changed_by_kind"], "person");
    assert_eq!(entry["request_id"], app.audit_row_of(&changed).request_id);
}

#[actix_web::test]
async fn the_audit_row_of_a_write_names_the_fields_it_changed() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let changed = change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 222", "email": "new@example.org"}),
    )
    .await;
    let row = app.audit_row_of(&changed);
    assert_eq!(row.changed_fields.as_deref(), Some(r#"["email","phone"]"#));
}

#[actix_web::test]
async fn a_write_that_changes_nothing_keeps_no_entry() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let current = read(&app, &client_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let rows = history_rows(&app);
    let same = change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": current.body["phone"]}),
    )
    .await;
    assert_eq!(history_rows(&app), rows);
    assert_eq!(app.audit_row_of(&same).changed_fields, None);
}

#[actix_web::test]
async fn a_csp_never_sees_an_old_tax_file_number() {
    let app = spawn_app().await;
    let teamleader = app.login("teamleader").await;
    change(
        &app,
        &teamleader,
        NORTHSIDE_CLIENT,
        json!({"tax_file_number": "123456782", "phone": "0400 999 333"}),
    )
    .await;
    change(
        &app,
        &teamleader,
        NORTHSIDE_CLIENT,
        json!({"tax_file_number": "876543210"}),
    )
    .await;

    let csp = app.login("csp-north").await;
    let seen = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &csp).await;
    let text = seen.body.to_string();
    assert!(!text.contains("tax_file_number"), "{text}");
    assert!(!text.contains("123456782"), "{text}");
    assert_eq!(last(&seen)["fields"], json!(["phone"]));
    assert_eq!(last(&seen)["changes"]["phone"]["after"], "0400 999 333");
    let row = app.audit_row_of(&seen);
    assert!(row.fields.contains("changes.phone"), "{}", row.fields);
    assert!(!row.fields.contains("tax_file_number"), "{}", row.fields);
}

#[actix_web::test]
async fn the_auditor_sees_who_changed_which_fields_without_their_values() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 444"}),
    )
    .await;
    let auditor = app.login("auditor").await;
    let seen = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &auditor).await;
    let entry = last(&seen);
    assert_eq!(entry["fields"], json!(["phone"]));
    assert_eq!(entry["changed_by"], app.user_id("caseworker"));
    assert!(entry.get("changes").is_none(), "{entry}");
    assert!(!seen.body.to_string().contains("0400 999 444"));
}

#[actix_web::test]
async fn a_privacy_officer_sees_every_value_only_with_a_purpose_of_use() {
    let app = spawn_app().await;
    let teamleader = app.login("teamleader").await;
    change(
        &app,
        &teamleader,
        NORTHSIDE_CLIENT,
        json!({"tax_file_number": "123456782"}),
    )
    .await;
    let privacy = app.login("privacy").await;
    let path = history_path(&app, NORTHSIDE_CLIENT);
    let refused = app.get(&path, &privacy).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "purpose_of_use_required");
    let seen = app.get_with(&path, &privacy, &[PURPOSE]).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        last(&seen)["changes"]["tax_file_number"]["after"],
        "123456782"
    );
}

#[actix_web::test]
async fn a_history_outside_the_callers_reach_is_not_found_and_without_a_grant_forbidden() {
    let app = spawn_app().await;
    let east = app.login("csp-east").await;
    let path = history_path(&app, NORTHSIDE_CLIENT);
    assert_problem(
        &app.get(&path, &east).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let searcher = app.login("searcher").await;
    assert_problem(
        &app.get(&path, &searcher).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[actix_web::test]
async fn a_history_cursor_not_issued_by_the_service_is_refused() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let path = format!(
        "{}?cursor=not-a-cursor",
        history_path(&app, NORTHSIDE_CLIENT)
    );
    assert_problem(
        &app.get(&path, &caseworker).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
}

#[actix_web::test]
async fn a_history_pages_oldest_first_with_a_cursor() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    for phone in ["0400 999 501", "0400 999 502", "0400 999 503"] {
        change(&app, &caseworker, NORTHSIDE_CLIENT, json!({"phone": phone})).await;
    }
    let path = history_path(&app, NORTHSIDE_CLIENT);
    let first = read(&app, &format!("{path}?limit=2"), &caseworker).await;
    assert_eq!(entries(&first).len(), 2);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = read(
        &app,
        &format!("{path}?limit=2&cursor={cursor}"),
        &caseworker,
    )
    .await;
    assert_eq!(last(&second)["changes"]["phone"]["after"], "0400 999 503");
    assert_eq!(second.body["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn a_revert_restores_the_previous_values_and_keeps_an_entry_of_its_own() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let before = read(&app, &client_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 601"}),
    )
    .await;
    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let entry = last(&history)["id"].as_str().unwrap().to_owned();

    let etag = etag_of(&app, &caseworker, NORTHSIDE_CLIENT).await;
    let reverted = revert(&app, &caseworker, NORTHSIDE_CLIENT, &entry, &etag).await;
    assert_eq!(reverted.status, StatusCode::OK, "{}", reverted.body);
    assert_eq!(reverted.body["phone"], before.body["phone"]);
    assert_eq!(
        app.audit_row_of(&reverted).changed_fields.as_deref(),
        Some(r#"["phone"]"#)
    );

    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let undo = last(&history);
    assert_eq!(undo["action"], "reverted");
    assert_eq!(undo["reverts"], entry.as_str());
    assert_eq!(undo["changes"]["phone"]["before"], "0400 999 601");
}

#[actix_web::test]
async fn a_revert_with_a_stale_version_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let stale = etag_of(&app, &caseworker, NORTHSIDE_CLIENT).await;
    change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 701"}),
    )
    .await;
    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let entry = last(&history)["id"].as_str().unwrap().to_owned();
    let rows = history_rows(&app);

    let refused = revert(&app, &caseworker, NORTHSIDE_CLIENT, &entry, &stale).await;
    assert_problem(
        &refused,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    );
    assert_eq!(history_rows(&app), rows);
    let now = read(&app, &client_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    assert_eq!(now.body["phone"], "0400 999 701");
}

#[actix_web::test]
async fn a_revert_of_a_field_the_caller_may_not_write_is_refused() {
    let app = spawn_app().await;
    let teamleader = app.login("teamleader").await;
    change(
        &app,
        &teamleader,
        NORTHSIDE_CLIENT,
        json!({"tax_file_number": "123456782"}),
    )
    .await;
    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &teamleader).await;
    let entry = last(&history)["id"].as_str().unwrap().to_owned();
    let rows = history_rows(&app);

    let caseworker = app.login("caseworker").await;
    let etag = etag_of(&app, &caseworker, NORTHSIDE_CLIENT).await;
    let refused = revert(&app, &caseworker, NORTHSIDE_CLIENT, &entry, &etag).await;
    assert_not_writable(&refused, &["tax_file_number"]);
    assert_eq!(history_rows(&app), rows);
}

#[actix_web::test]
async fn a_creation_is_not_revertible() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let created = app.post("/api/v1/clients", &caseworker, new_client()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let history = read(&app, &format!("/api/v1/clients/{id}/history"), &caseworker).await;
    let entry = last(&history);
    assert_eq!(entry["action"], "created");
    assert_eq!(entry["changes"]["given_name"]["before"], Value::Null);
    let path = format!(
        "/api/v1/clients/{id}/history/{}/revert",
        entry["id"].as_str().unwrap()
    );
    let refused = app
        .request(
            reqwest::Method::POST,
            &path,
            Some(&caseworker),
            None,
            &[("If-Match", &created.etag())],
        )
        .await;
    assert_problem(&refused, StatusCode::CONFLICT, "not_revertible");
}

#[actix_web::test]
async fn a_csp_may_not_revert_and_an_entry_of_another_client_is_not_found() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 801"}),
    )
    .await;
    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    let entry = last(&history)["id"].as_str().unwrap().to_owned();

    let csp = app.login("csp-north").await;
    let etag = etag_of(&app, &csp, NORTHSIDE_CLIENT).await;
    let refused = revert(&app, &csp, NORTHSIDE_CLIENT, &entry, &etag).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");

    let other = 3;
    let etag = etag_of(&app, &caseworker, other).await;
    let elsewhere = revert(&app, &caseworker, other, &entry, &etag).await;
    assert_problem(&elsewhere, StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn a_case_history_shows_the_case_and_only_the_allocations_the_caller_reaches() {
    let app = spawn_app().await;
    let teamleader = app.login("teamleader").await;
    let case = app.case_id(NORTHSIDE_CLIENT);
    let path = format!("/api/v1/cases/{case}");
    let updated = app
        .patch_current(&path, &teamleader, json!({"risk_level": "high"}))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    let allocated = app
        .post(
            &format!("{path}/allocations"),
            &teamleader,
            json!({"organisation_id": eastern, "worker_id": app.demo_worker_of(casebridge::demo::EASTERN), "starts_on": crate::writes::day(0), "service_description": "Outreach"}),
        )
        .await;
    assert_eq!(allocated.status, StatusCode::CREATED, "{}", allocated.body);

    let seen = read(&app, &format!("{path}/history"), &teamleader).await;
    let kinds: Vec<&str> = entries(&seen)
        .iter()
        .map(|entry| entry["resource_type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"case") && kinds.contains(&"allocation"),
        "{kinds:?}"
    );

    let csp = app.login("csp-north").await;
    let north = read(&app, &format!("{path}/history"), &csp).await;
    assert!(
        !north
            .body
            .to_string()
            .contains(allocated.body["id"].as_str().unwrap()),
        "another CSP's allocation: {}",
        north.body
    );
    assert!(
        entries(&north)
            .iter()
            .any(|entry| entry["resource_type"] == "case")
    );
}

#[actix_web::test]
async fn an_applied_correction_is_kept_in_the_history() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let client = app.client_id(NORTHSIDE_CLIENT);
    let requested = app
        .post(
            "/api/v1/correction-requests",
            &privacy,
            json!({"client_id": client, "received_on": crate::writes::day(0), "field": "phone", "requested_value": "0400 999 901", "reason": "The number changed"}),
        )
        .await;
    assert_eq!(requested.status, StatusCode::CREATED, "{}", requested.body);
    let etag = etag_of(&app, &app.login("caseworker").await, NORTHSIDE_CLIENT).await;
    let decided = app
        .request(
            reqwest::Method::POST,
            &format!(
                "/api/v1/correction-requests/{}/decision",
                requested.body["id"].as_str().unwrap()
            ),
            Some(&privacy),
            Some(json!({"decision": "correct"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    assert_eq!(
        app.audit_row_of(&decided).changed_fields.as_deref(),
        Some(r#"["phone"]"#)
    );
    let caseworker = app.login("caseworker").await;
    let history = read(&app, &history_path(&app, NORTHSIDE_CLIENT), &caseworker).await;
    assert_eq!(last(&history)["changes"]["phone"]["after"], "0400 999 901");
}

#[actix_web::test]
async fn the_values_in_the_history_are_sealed_at_rest() {
    let app = spawn_app().await;
    let teamleader = app.login("teamleader").await;
    change(
        &app,
        &teamleader,
        NORTHSIDE_CLIENT,
        json!({"tax_file_number": "123456782", "phone": "0400 999 991"}),
    )
    .await;
    let stored: Vec<(String, String)> = app.with_db(|conn| {
        change_history::table
            .select((change_history::fields, change_history::changes))
            .load(conn)
            .unwrap()
    });
    let (_, changes) = stored
        .iter()
        .find(|(fields, _)| fields.contains("tax_file_number"))
        .expect("the entry");
    assert!(!changes.contains("123456782") && !changes.contains("0400 999 991"));
}

#[actix_web::test]
async fn disposal_removes_the_history_with_the_file() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    change(&app, &caseworker, 3, json!({"phone": "0400 999 992"})).await;
    let [_, disposed, _] = crate::retention::three_files_due(&app).await;
    let records = app.login("records").await;
    let run = app
        .post(
            "/api/v1/retention/runs",
            &records,
            json!({"dry_run": false}),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert!(
        run.body["record_counts"]["change_history"]
            .as_i64()
            .unwrap()
            >= 1
    );
    let left: i64 = app.with_db(|conn| {
        change_history::table
            .filter(change_history::client_id.eq(&disposed))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(left, 0);
}

#[actix_web::test]
async fn an_access_request_bundle_holds_the_files_history() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    change(
        &app,
        &caseworker,
        NORTHSIDE_CLIENT,
        json!({"phone": "0400 999 993"}),
    )
    .await;
    let privacy = app.login("privacy").await;
    let request = app
        .post(
            "/api/v1/access-requests",
            &privacy,
            json!({"client_id": app.client_id(NORTHSIDE_CLIENT), "received_on": crate::writes::day(0),
                   "requester": "The client", "identity_verified": true}),
        )
        .await;
    assert_eq!(request.status, StatusCode::CREATED, "{}", request.body);
    let bundle = app
        .get(
            &format!(
                "/api/v1/access-requests/{}/bundle",
                request.body["id"].as_str().unwrap()
            ),
            &privacy,
        )
        .await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    let history = bundle.body["history"].as_array().expect("the history");
    assert_eq!(
        history.last().unwrap()["changes"]["phone"]["after"],
        "0400 999 993"
    );
}

#[actix_web::test]
async fn reading_a_restricted_clients_history_raises_the_alert_a_read_of_the_file_does() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let client = client_path(&app, casebridge::demo::RESTRICTED_CLIENT);
    let purpose = ("X-Purpose-Of-Use", "Court order 2026/118");
    let etag = app.get_with(&client, &caseworker, &[purpose]).await.etag();
    let changed = app
        .request(
            reqwest::Method::PATCH,
            &client,
            Some(&caseworker),
            Some(json!({"phone": "0400 999 994"})),
            &[purpose, ("If-Match", &etag)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let alerts = app.alert_reasons("restricted_client_read").len();

    let history = format!("{client}/history");
    let refused = app.get(&history, &caseworker).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "purpose_of_use_required");
    let seen = app.get_with(&history, &caseworker, &[purpose]).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(
        app.alert_reasons("restricted_client_read").len(),
        alerts + 1
    );
}

#[actix_web::test]
async fn an_entry_made_under_a_higher_marking_stays_hidden_after_the_marking_is_lowered() {
    let app = spawn_app().await;
    let teamleader = app.login("teamleader").await;
    let protected = casebridge::demo::PROTECTED_CLIENT;
    let original = read(&app, &client_path(&app, protected), &teamleader).await;
    let original_phone = original.body["phone"].as_str().unwrap().to_owned();
    change(
        &app,
        &teamleader,
        protected,
        json!({"phone": "0400 999 995"}),
    )
    .await;
    change(
        &app,
        &teamleader,
        protected,
        json!({"protective_marking": "OFFICIAL"}),
    )
    .await;
    change(
        &app,
        &teamleader,
        protected,
        json!({"phone": "0400 999 996"}),
    )
    .await;

    let caseworker = app.login("caseworker").await;
    let seen = read(&app, &history_path(&app, protected), &caseworker).await;
    let text = seen.body.to_string();
    // The phone while the file was PROTECTED is gone; the one it had when lowered was
    // readable at the lower marking, and shows as the next change's `before`.
    assert!(!text.contains(&original_phone), "{text}");
    assert_eq!(entries(&seen).len(), 1, "{text}");
    assert_eq!(last(&seen)["changes"]["phone"]["after"], "0400 999 996");
    let cleared = read(&app, &history_path(&app, protected), &teamleader).await;
    assert_eq!(entries(&cleared).len(), 3);
}
