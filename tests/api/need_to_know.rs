//! Need to know down to the worker: a CSP worker reaches only the clients, cases, notes and
//! allocations of the allocations assigned to them; their manager reaches the CSP's whole
//! caseload (unassigned allocations included) and assigns each allocation to a worker; a CSP's
//! API client syncs the whole caseload; the change feed tells a worker only of their own.
use casebridge::demo::NORTHSIDE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::changes::{cursor_now, item};
use crate::helpers::{Response, TestApp, client_token, register_client, spawn_app, token_request};
use crate::writes::{client_path, read};

/// Demo clients 0 and 3 have open cases allocated to Northside, assigned to `csp-north`.
const ASSIGNED: usize = 0;
const ALSO_ASSIGNED: usize = 3;

/// The path of demo client `index`'s allocation, as its CSP's manager reads it.
async fn allocation_path(app: &TestApp, manager: &str, index: usize) -> String {
    let case = app.case_id(index);
    let record = read(app, &format!("/api/v1/cases/{case}"), manager).await;
    let allocation = record.body["allocations"][0]["id"].as_str().unwrap();
    format!("/api/v1/cases/{case}/allocations/{allocation}")
}

/// `POST {allocation}/assign` of `worker_id`, with `if_match` or the allocation's current ETag.
async fn assign(
    app: &TestApp,
    token: &str,
    allocation: &str,
    worker_id: Value,
    if_match: Option<&str>,
) -> Response {
    let etag = match if_match {
        Some(etag) => etag.to_owned(),
        None => app.get(allocation, token).await.etag(),
    };
    app.request(
        Method::POST,
        &format!("{allocation}/assign"),
        Some(token),
        Some(json!({ "worker_id": worker_id })),
        &[("If-Match", &etag)],
    )
    .await
}

/// A demo service with Northside's manager's token, and demo client `index`'s allocation
/// assigned by them to `worker` (a username; None: unassigned).
async fn assigned_to(index: usize, worker: Option<&str>) -> (TestApp, String) {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let allocation = allocation_path(&app, &manager, index).await;
    let worker_id = worker.map_or(Value::Null, |username| json!(app.user_id(username)));
    let assigned = assign(&app, &manager, &allocation, worker_id, None).await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    (app, manager)
}

fn listed_ids(page: &Response) -> Vec<String> {
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_csp_worker_lists_only_the_clients_and_cases_assigned_to_them() {
    let (app, _) = assigned_to(ASSIGNED, None).await;
    let worker = app.login("csp-north").await;
    let clients = listed_ids(&read(&app, "/api/v1/clients?limit=100", &worker).await);
    assert!(!clients.contains(&app.client_id(ASSIGNED)));
    assert!(clients.contains(&app.client_id(ALSO_ASSIGNED)));
    let cases = listed_ids(&read(&app, "/api/v1/cases?limit=100", &worker).await);
    assert!(!cases.contains(&app.case_id(ASSIGNED)));
    assert!(cases.contains(&app.case_id(ALSO_ASSIGNED)));
}

#[actix_web::test]
async fn a_csp_worker_gets_404_for_the_records_of_an_allocation_not_assigned_to_them() {
    let (app, _) = assigned_to(ASSIGNED, None).await;
    let worker = app.login("csp-north").await;
    let case = app.case_id(ASSIGNED);
    for path in [
        client_path(&app, ASSIGNED),
        format!("/api/v1/cases/{case}"),
        format!("/api/v1/cases/{case}/notes"),
        format!("/api/v1/notes/{}", app.note_id(ASSIGNED, "shared")),
        format!("/api/v1/clients/{}/history", app.client_id(ASSIGNED)),
        format!("/api/v1/cases/{case}/history"),
    ] {
        let response = app.get(&path, &worker).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "GET {path}");
    }
}

#[actix_web::test]
async fn a_csp_worker_cannot_write_a_note_on_a_case_not_assigned_to_them() {
    let (app, _) = assigned_to(ASSIGNED, None).await;
    let worker = app.login("csp-north").await;
    let case = app.case_id(ASSIGNED);
    let note = app
        .post(
            &format!("/api/v1/cases/{case}/notes"),
            &worker,
            json!({"note_type": "contact", "body": "Visited"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::NOT_FOUND, "{}", note.body);
    let stored: i64 = app.with_db(|conn| {
        use casebridge::db::schema::notes;
        use diesel::prelude::*;
        notes::table
            .filter(notes::case_id.eq(&case))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(stored, 2, "only the demo's two notes");
}

#[actix_web::test]
async fn a_csp_worker_still_reads_the_records_assigned_to_them() {
    let app = spawn_app().await;
    let worker = app.login("csp-north").await;
    let case = app.case_id(ALSO_ASSIGNED);
    read(&app, &client_path(&app, ALSO_ASSIGNED), &worker).await;
    let record = read(&app, &format!("/api/v1/cases/{case}"), &worker).await;
    assert_eq!(
        record.body["allocations"][0]["worker_id"],
        app.user_id("csp-north")
    );
    read(&app, &format!("/api/v1/cases/{case}/notes"), &worker).await;
}

#[actix_web::test]
async fn the_csp_manager_reads_an_unassigned_allocations_records() {
    let (app, manager) = assigned_to(ASSIGNED, None).await;
    let clients = listed_ids(&read(&app, "/api/v1/clients?limit=100", &manager).await);
    assert!(clients.contains(&app.client_id(ASSIGNED)));
    let case = app.case_id(ASSIGNED);
    let record = read(&app, &format!("/api/v1/cases/{case}"), &manager).await;
    assert_eq!(record.body["allocations"][0]["worker_id"], Value::Null);
}

#[actix_web::test]
async fn a_csp_manager_assigns_an_allocation_with_history_and_audit() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let to = app.user_id("csp-north-manager");
    let assigned = assign(&app, &manager, &allocation, json!(to), None).await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    assert_eq!(assigned.body["worker_id"], to);
    assert_eq!(assigned.body["version"], 2);
    let row = app.audit_row_of(&assigned);
    assert_eq!(row.outcome, "allowed");
    assert_eq!(row.resource_type.as_deref(), Some("allocation"));
    assert!(row.fields.contains("worker_id"), "{}", row.fields);
    let history = read(
        &app,
        &format!("/api/v1/cases/{}/history", app.case_id(ASSIGNED)),
        &manager,
    )
    .await;
    let changed = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| {
            entry["resource_type"] == "allocation"
                && entry["action"] == "updated"
                && entry["fields"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("worker_id"))
        });
    assert!(changed, "{}", history.body);
}

#[actix_web::test]
async fn a_csp_worker_may_not_assign_an_allocation() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let allocation = allocation_path(&app, &manager, ALSO_ASSIGNED).await;
    let worker = app.login("csp-north").await;
    let etag = app.get(&allocation, &worker).await.etag();
    let refused = assign(
        &app,
        &worker,
        &allocation,
        json!(app.user_id("csp-north")),
        Some(&etag),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

#[actix_web::test]
async fn assigning_to_another_organisations_user_is_invalid_and_stores_nothing() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let refused = assign(
        &app,
        &manager,
        &allocation,
        json!(app.user_id("csp-east")),
        None,
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(
        refused.body["errors"][0]["field"], "worker_id",
        "{}",
        refused.body
    );
    let after = read(&app, &allocation, &manager).await;
    assert_eq!(after.body["version"], 1);
    assert_eq!(after.body["worker_id"], app.user_id("csp-north"));
}

#[actix_web::test]
async fn assigning_to_a_user_who_is_not_active_is_invalid() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let pending = app.new_csp_user(&manager, "csp-north-2", NORTHSIDE).await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.body);
    assert_eq!(pending.body["status"], "pending");
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let refused = assign(
        &app,
        &manager,
        &allocation,
        pending.body["id"].clone(),
        None,
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(
        refused.body["errors"][0]["field"], "worker_id",
        "{}",
        refused.body
    );
}

#[actix_web::test]
async fn assigning_with_a_stale_if_match_is_refused() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let stale = app.get(&allocation, &manager).await.etag();
    let first = assign(&app, &manager, &allocation, Value::Null, Some(&stale)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = assign(
        &app,
        &manager,
        &allocation,
        json!(app.user_id("csp-north")),
        Some(&stale),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        again.body
    );
}

#[actix_web::test]
async fn reassigning_an_allocation_moves_its_records_between_workers() {
    let (app, manager) = assigned_to(ASSIGNED, Some("csp-north-manager")).await;
    let worker = app.login("csp-north").await;
    let path = client_path(&app, ASSIGNED);
    assert_eq!(app.get(&path, &worker).await.status, StatusCode::NOT_FOUND);
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let back = assign(
        &app,
        &manager,
        &allocation,
        json!(app.user_id("csp-north")),
        None,
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    read(&app, &path, &worker).await;
}

#[actix_web::test]
async fn the_feed_tells_a_worker_nothing_of_allocations_not_assigned_to_them() {
    let (app, _) = assigned_to(ASSIGNED, None).await;
    let worker = app.login("csp-north").await;
    let cursor = cursor_now(&app, &worker).await;
    let caseworker = app.login("caseworker").await;
    for index in [ASSIGNED, ALSO_ASSIGNED] {
        let path = client_path(&app, index);
        let changed = app
            .patch_current(&path, &caseworker, json!({"phone": "0400 000 111"}))
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    }
    let page = read(&app, &format!("/api/v1/changes?since={cursor}"), &worker).await;
    assert!(
        item(&page, "client", &app.client_id(ALSO_ASSIGNED)).is_some(),
        "{}",
        page.body
    );
    let unassigned = app.client_id(ASSIGNED);
    assert!(
        !page.body.to_string().contains(&unassigned),
        "{}",
        page.body
    );
}

#[actix_web::test]
async fn the_feed_tells_a_worker_of_the_removal_when_their_allocation_is_reassigned() {
    let app = spawn_app().await;
    let worker = app.login("csp-north").await;
    let cursor = cursor_now(&app, &worker).await;
    let manager = app.login("csp-north-manager").await;
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let to = json!(app.user_id("csp-north-manager"));
    let moved = assign(&app, &manager, &allocation, to, None).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let page = read(&app, &format!("/api/v1/changes?since={cursor}"), &worker).await;
    let client = item(&page, "client", &app.client_id(ASSIGNED)).expect("the client");
    assert_eq!(client["removed"], true, "{}", page.body);
    let case = item(&page, "case", &app.case_id(ASSIGNED)).expect("the case");
    assert_eq!(case["removed"], true, "{}", page.body);
}

#[actix_web::test]
async fn the_feed_tells_the_newly_assigned_worker_of_the_records() {
    let (app, manager) = assigned_to(ASSIGNED, None).await;
    let worker = app.login("csp-north").await;
    let cursor = cursor_now(&app, &worker).await;
    let allocation = allocation_path(&app, &manager, ASSIGNED).await;
    let back = assign(
        &app,
        &manager,
        &allocation,
        json!(app.user_id("csp-north")),
        None,
    )
    .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let page = read(&app, &format!("/api/v1/changes?since={cursor}"), &worker).await;
    let client = item(&page, "client", &app.client_id(ASSIGNED)).expect("the client");
    assert_eq!(client["removed"], false, "{}", page.body);
}

#[actix_web::test]
async fn an_api_client_with_the_worker_role_syncs_the_whole_caseload() {
    let (app, _) = assigned_to(ASSIGNED, None).await;
    let (client_id, secret) = register_client(&app, &app.login("admin").await).await;
    let form = [("grant_type", "client_credentials")];
    let system = client_token(&token_request(&app, &form, Some((&client_id, &secret))).await);
    read(&app, &client_path(&app, ASSIGNED), &system).await;
    let cases = listed_ids(&read(&app, "/api/v1/cases?limit=100", &system).await);
    assert!(cases.contains(&app.case_id(ASSIGNED)));
}

#[actix_web::test]
async fn only_the_manager_records_a_notice_given_to_a_client_not_assigned_to_the_worker() {
    let (app, manager) = assigned_to(ASSIGNED, None).await;
    let path = format!(
        "/api/v1/clients/{}/collection-notices",
        app.client_id(ASSIGNED)
    );
    let notice = crate::privacy::given_today(casebridge::demo::NOTICE_VERSION);
    let worker = app.login("csp-north").await;
    let refused = app.post(&path, &worker, notice.clone()).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    let recorded = app.post(&path, &manager, notice).await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
}
