//! Attacks on `GET /api/v1/changes`: ids of records the caller never reached, removals that
//! never come, cursors, audit. A test that fails shows a defect; one that passes is an attack
//! the feed resists, kept as a regression test.
use casebridge::demo::{EASTERN, NORTHSIDE, PROTECTED_CLIENT, RESTRICTED_CLIENT};
use chrono::Duration;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::changes::{
    EASTERN_CLIENT, NORTHSIDE_CLIENT, UNALLOCATED_CLIENT, announce_dated_changes, cursor_now, item,
};
use crate::helpers::{Response, TestApp, client_token, register_client, spawn_app, token_request};
use crate::writes::{client_path, day, read};

// Demo client 0's case is allocated to Northside, client 1's to Eastern, client 8's to no
// one; client 3's to Northside too.

async fn changes_since(app: &TestApp, token: &str, cursor: &str) -> Response {
    read(
        app,
        &format!("/api/v1/changes?since={cursor}&limit=500"),
        token,
    )
    .await
}

async fn changes_with_purpose(app: &TestApp, token: &str, cursor: &str) -> Response {
    let response = app
        .get_with(
            &format!("/api/v1/changes?since={cursor}&limit=500"),
            token,
            &[("X-Purpose-Of-Use", "case review")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response
}

fn next_cursor(page: &Response) -> String {
    page.body["next_cursor"].as_str().unwrap().to_owned()
}

/// Asserts that no item of the page names any of `ids`, as a record or a removal.
fn assert_never_named(page: &Response, ids: &[&str], why: &str) {
    let text = page.body["items"].to_string();
    for id in ids {
        assert!(!text.contains(id), "{why}: {id} in {}", page.body);
    }
}

async fn change_phone(app: &TestApp, token: &str, index: usize, phone: &str) {
    let changed = app
        .patch_current(&client_path(app, index), token, json!({"phone": phone}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
}

async fn allocate(app: &TestApp, token: &str, case: &str, csp: &str, body: Value) -> String {
    let mut body = body;
    body["organisation_id"] = json!(app.organisation_id(csp));
    body["worker_id"] = json!(app.demo_worker_of(csp));
    body["service_description"] = json!("Outreach visits");
    let created = app
        .post(&format!("/api/v1/cases/{case}/allocations"), token, body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn write_note(app: &TestApp, token: &str, index: usize, visibility: &str) -> String {
    let note = app
        .post(
            &format!("/api/v1/cases/{}/notes", app.case_id(index)),
            token,
            json!({"note_type": "contact", "visibility": visibility, "body": "Visited today"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    note.body["id"].as_str().unwrap().to_owned()
}

// ---- leaks: ids of what the caller never reached -----------------------------------------

#[actix_web::test]
async fn a_division_worker_is_not_given_the_id_of_a_client_above_their_clearance() {
    let app = spawn_app().await;
    let (leader, worker) = (app.login("teamleader").await, app.login("caseworker").await);
    let protected = app.client_id(PROTECTED_CLIENT);
    // The caseworker (OFFICIAL: Sensitive) never reaches the PROTECTED client.
    let direct = app.get(&client_path(&app, PROTECTED_CLIENT), &worker).await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.body);
    let cursor = cursor_now(&app, &worker).await;
    change_phone(&app, &leader, PROTECTED_CLIENT, "0400 000 222").await;

    let page = changes_since(&app, &worker, &cursor).await;
    assert_never_named(
        &page,
        &[&protected],
        "a client above the caller's clearance is not named, not even as a removal",
    );
}

#[actix_web::test]
async fn a_csp_worker_is_not_given_the_ids_of_an_allocated_case_above_their_clearance() {
    let app = spawn_app().await;
    let (leader, north) = (app.login("teamleader").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let case = app.case_id(PROTECTED_CLIENT);
    let allocation = allocate(
        &app,
        &leader,
        &case,
        NORTHSIDE,
        json!({"starts_on": day(0)}),
    )
    .await;
    let client = app.client_id(PROTECTED_CLIENT);
    // csp-north (OFFICIAL: Sensitive) cannot read the PROTECTED client or its case.
    let direct = app.get(&client_path(&app, PROTECTED_CLIENT), &north).await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.body);

    let page = changes_since(&app, &north, &cursor).await;
    assert_never_named(
        &page,
        &[&client, &case, &allocation],
        "records above the CSP worker's clearance are not named",
    );
}

#[actix_web::test]
async fn a_csp_is_not_given_the_ids_of_a_case_allocated_to_it_from_a_later_date() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    let cursor = cursor_now(&app, &east).await;
    let case = app.case_id(UNALLOCATED_CLIENT);
    let allocation = allocate(&app, &leader, &case, EASTERN, json!({"starts_on": day(10)})).await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    // Before the allocation starts, Eastern reaches none of it.
    let direct = app.get(&client_path(&app, UNALLOCATED_CLIENT), &east).await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.body);

    let page = changes_since(&app, &east, &cursor).await;
    assert_never_named(
        &page,
        &[&client, &case, &allocation],
        "an allocation that has not started gives no reach, so no ids",
    );
}

#[actix_web::test]
async fn a_csp_is_not_told_of_another_csps_allocation_on_a_shared_case() {
    let app = spawn_app().await;
    let (leader, north) = (app.login("teamleader").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let case = app.case_id(NORTHSIDE_CLIENT);
    let eastern = allocate(&app, &leader, &case, EASTERN, json!({"starts_on": day(0)})).await;

    let page = changes_since(&app, &north, &cursor).await;
    let told = item(&page, "case", &case).expect("the case changed");
    assert_eq!(told["removed"], false);
    for allocation in told["record"]["allocations"].as_array().unwrap() {
        assert_ne!(allocation["id"], eastern.as_str(), "{}", page.body);
    }
    assert_never_named(&page, &[&eastern], "Eastern's allocation is Eastern's");
}

#[actix_web::test]
async fn a_csp_is_not_told_of_a_case_of_another_division_on_its_client() {
    let app = spawn_app().await;
    let (worker, north) = (app.login("caseworker").await, app.login("csp-north").await);
    // A Family Services case on Northside's client (a shared client), made as a fixture.
    let client = app.client_id(NORTHSIDE_CLIENT);
    let family = app.organisation_id(casebridge::demo::FAMILY_SERVICES);
    let other_case = uuid::Uuid::now_v7().to_string();
    app.with_db(|conn| {
        use casebridge::db::schema::cases;
        let now = chrono::Utc::now().naive_utc();
        diesel::insert_into(cases::table)
            .values((
                cases::id.eq(&other_case),
                cases::client_id.eq(&client),
                cases::division_id.eq(&family),
                cases::service_type.eq("family support"),
                cases::status.eq("open"),
                cases::opened_at.eq(now),
                cases::summary.eq("Family Services only"),
                cases::risk_level.eq("low"),
                cases::protective_marking.eq(0),
                cases::created_at.eq(now),
                cases::updated_at.eq(now),
                cases::version.eq(1),
            ))
            .execute(conn)
            .unwrap();
    });
    let cursor = cursor_now(&app, &north).await;
    // Changes on the shared client and on the other division's case.
    change_phone(&app, &worker, NORTHSIDE_CLIENT, "0400 000 333").await;
    app.with_db(|conn| {
        conn.transaction(|conn| {
            casebridge::db::changes::record(
                conn,
                casebridge::db::changes::Kind::Case,
                &other_case,
                chrono::Utc::now().naive_utc(),
            )
        })
        .unwrap()
    });

    let page = changes_since(&app, &north, &cursor).await;
    assert_eq!(item(&page, "client", &client).unwrap()["removed"], false);
    assert_never_named(&page, &[&other_case], "another division's case");
}

#[actix_web::test]
async fn a_restricted_client_comes_without_data_unless_a_purpose_is_stated() {
    let app = spawn_app().await;
    let worker = app.login("caseworker").await;
    let restricted = app.client_id(RESTRICTED_CLIENT);
    let cursor = cursor_now(&app, &worker).await;
    let changed = app
        .request(
            reqwest::Method::PATCH,
            &client_path(&app, RESTRICTED_CLIENT),
            Some(&worker),
            Some(json!({"phone": "0400 999 888"})),
            &[
                ("X-Purpose-Of-Use", "case review"),
                (
                    "If-Match",
                    &app.get_with(
                        &client_path(&app, RESTRICTED_CLIENT),
                        &worker,
                        &[("X-Purpose-Of-Use", "case review")],
                    )
                    .await
                    .etag(),
                ),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);

    let without = changes_since(&app, &worker, &cursor).await;
    let told = item(&without, "client", &restricted).expect("a removal");
    assert_eq!(
        told,
        &json!({"type": "client", "id": restricted, "removed": true})
    );
    assert!(!without.body.to_string().contains("0400 999 888"));
    let row = app.audit_row_of(&without);
    assert!(!row.client_ids.contains(&restricted), "{}", row.client_ids);

    let with = changes_with_purpose(&app, &worker, &cursor).await;
    let told = item(&with, "client", &restricted).expect("the record");
    assert_eq!(told["record"]["phone"], "0400 999 888");
    let row = app.audit_row_of(&with);
    assert!(row.client_ids.contains(&restricted), "{}", row.client_ids);
    assert_eq!(row.purpose_of_use.as_deref(), Some("case review"));
}

#[actix_web::test]
async fn an_auditor_is_refused_the_changes() {
    let app = spawn_app().await;
    let auditor = app.login("auditor").await;
    let response = app.get("/api/v1/changes?since=0", &auditor).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN, "{}", response.body);
}

#[actix_web::test]
async fn a_privacy_officer_without_a_purpose_of_use_is_refused() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let response = app.get("/api/v1/changes?since=0", &privacy).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN, "{}", response.body);
    assert_eq!(response.code(), "purpose_of_use_required");
}

#[actix_web::test]
async fn a_privacy_officer_is_not_told_of_records_above_their_clearance() {
    let app = spawn_app().await;
    let (leader, privacy) = (app.login("teamleader").await, app.login("privacy").await);
    lower_clearance(&app, "privacy");
    let cursor = next_cursor(&changes_with_purpose(&app, &privacy, "0").await);
    let cursor = {
        // Catch up to now.
        let mut cursor = cursor;
        loop {
            let page = changes_with_purpose(&app, &privacy, &cursor).await;
            cursor = next_cursor(&page);
            if page.body["more"] == false {
                break cursor;
            }
        }
    };
    change_phone(&app, &leader, PROTECTED_CLIENT, "0400 000 444").await;
    let page = changes_with_purpose(&app, &privacy, &cursor).await;
    assert_never_named(
        &page,
        &[&app.client_id(PROTECTED_CLIENT)],
        "a client above the officer's clearance",
    );
}

#[actix_web::test]
async fn a_privacy_officer_is_not_given_the_id_of_a_disposed_client_above_their_clearance() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    lower_clearance(&app, "privacy");
    let protected = app.client_id(PROTECTED_CLIENT);
    let direct = app
        .get_with(
            &client_path(&app, PROTECTED_CLIENT),
            &privacy,
            &[("X-Purpose-Of-Use", "case review")],
        )
        .await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.body);
    let start = read_with_purpose_cursor_now(&app, &privacy).await;
    dispose(&app, &protected);

    let page = changes_with_purpose(&app, &privacy, &start).await;
    assert_never_named(
        &page,
        &[&protected],
        "a file the officer never could read is not named when it is disposed of",
    );
}

async fn read_with_purpose_cursor_now(app: &TestApp, token: &str) -> String {
    let start = app
        .get_with(
            "/api/v1/changes",
            token,
            &[("X-Purpose-Of-Use", "case review")],
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    next_cursor(&start)
}

/// Sets a demo user's clearance to OFFICIAL: Sensitive (a fixture).
fn lower_clearance(app: &TestApp, username: &str) {
    use casebridge::db::schema::users;
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::clearance.eq(1))
            .execute(conn)
            .unwrap()
    });
}

/// Disposes of a client's file as a retention run does (its write path, in a transaction).
fn dispose(app: &TestApp, client_id: &str) {
    app.with_db(|conn| {
        conn.transaction(|conn| {
            casebridge::db::retention::dispose(
                conn,
                &[client_id.to_owned()],
                chrono::Utc::now().naive_utc(),
            )
            .map(drop)
        })
        .unwrap()
    });
}

#[actix_web::test]
async fn an_api_client_of_a_csp_is_told_only_of_its_own_clients() {
    let app = spawn_app().await;
    let (admin, worker) = (app.login("admin").await, app.login("caseworker").await);
    let (id, secret) = register_client(&app, &admin).await;
    let system = client_token(
        &token_request(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await,
    );
    let cursor = cursor_now(&app, &system).await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT, "0400 000 555").await;
    change_phone(&app, &worker, EASTERN_CLIENT, "0400 000 666").await;
    change_phone(&app, &worker, UNALLOCATED_CLIENT, "0400 000 777").await;
    let department = write_note(&app, &worker, NORTHSIDE_CLIENT, "department").await;

    let page = changes_since(&app, &system, &cursor).await;
    let northside = app.client_id(NORTHSIDE_CLIENT);
    assert_eq!(item(&page, "client", &northside).unwrap()["removed"], false);
    assert_never_named(
        &page,
        &[
            &app.client_id(EASTERN_CLIENT),
            &app.client_id(UNALLOCATED_CLIENT),
            &department,
        ],
        "a Northside system is told only of Northside's records",
    );
}

// ---- missed changes: removals and records that never come -------------------------------

#[actix_web::test]
async fn a_csp_is_told_of_its_new_client_when_its_allocation_starts() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    announce_dated_changes(&app);
    let cursor = cursor_now(&app, &east).await;
    let case = app.case_id(UNALLOCATED_CLIENT);
    allocate(&app, &leader, &case, EASTERN, json!({"starts_on": day(2)})).await;
    let before = changes_since(&app, &east, &cursor).await;
    let cursor = next_cursor(&before);

    app.clock.advance(Duration::days(3));
    // As the server does every few minutes.
    announce_dated_changes(&app);
    let client = app.client_id(UNALLOCATED_CLIENT);
    let east = app.login("csp-east").await;
    let direct = app.get(&client_path(&app, UNALLOCATED_CLIENT), &east).await;
    assert_eq!(
        direct.status,
        StatusCode::OK,
        "in reach now: {}",
        direct.body
    );
    let after = changes_since(&app, &east, &cursor).await;
    let told = item(&after, "client", &client).unwrap_or_else(|| {
        panic!(
            "the client came into reach, but the feed never brings it: before {} after {}",
            before.body, after.body
        )
    });
    assert_eq!(told["removed"], false);
}

#[actix_web::test]
async fn ending_an_allocation_on_a_date_over_30_days_ago_removes_its_client_and_case() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    let case = app.case_id(UNALLOCATED_CLIENT);
    let allocation = allocate(
        &app,
        &leader,
        &case,
        EASTERN,
        json!({"starts_on": day(-90)}),
    )
    .await;
    let cursor = cursor_now(&app, &east).await;
    // Recorded late: the service stopped six weeks ago.
    let path = format!("/api/v1/cases/{case}/allocations/{allocation}");
    let ended = app
        .patch_current(&path, &leader, json!({"ends_on": day(-42)}))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    let client = app.client_id(UNALLOCATED_CLIENT);
    let direct = app.get(&client_path(&app, UNALLOCATED_CLIENT), &east).await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.body);

    let page = changes_since(&app, &east, &cursor).await;
    for (kind, id) in [
        ("allocation", &*allocation),
        ("case", &*case),
        ("client", &*client),
    ] {
        let told = item(&page, kind, id)
            .unwrap_or_else(|| panic!("no removal of the {kind}: {}", page.body));
        assert_eq!(told["removed"], true);
    }
}

#[actix_web::test]
async fn raising_a_case_marking_above_a_csps_clearance_removes_its_client_too() {
    let app = spawn_app().await;
    let (leader, north) = (app.login("teamleader").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let case = app.case_id(NORTHSIDE_CLIENT);
    let raised = app
        .patch_current(
            &format!("/api/v1/cases/{case}"),
            &leader,
            json!({"protective_marking": "PROTECTED"}),
        )
        .await;
    assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
    let client = app.client_id(NORTHSIDE_CLIENT);
    // The client came into Northside's reach through this case only: it has left it.
    let direct = app.get(&client_path(&app, NORTHSIDE_CLIENT), &north).await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.body);

    let page = changes_since(&app, &north, &cursor).await;
    assert_eq!(item(&page, "case", &case).unwrap()["removed"], true);
    let told = item(&page, "client", &client)
        .unwrap_or_else(|| panic!("the client left Northside's reach untold: {}", page.body));
    assert_eq!(told["removed"], true);
}

#[actix_web::test]
async fn a_statement_kept_after_a_refused_correction_is_a_change_of_the_client() {
    let app = spawn_app().await;
    let (privacy, north) = (app.login("privacy").await, app.login("csp-north").await);
    let client = app.client_id(NORTHSIDE_CLIENT);
    let request = app
        .post(
            "/api/v1/correction-requests",
            &privacy,
            json!({"client_id": client, "field": "email", "requested_value": "mira@example.org", "reason": "Out of date"}),
        )
        .await;
    assert_eq!(request.status, StatusCode::CREATED, "{}", request.body);
    let cursor = cursor_now(&app, &north).await;
    let statement = "I say my email is mira@example.org";
    let refused = app
        .post(
            &format!(
                "/api/v1/correction-requests/{}/decision",
                request.body["id"].as_str().unwrap()
            ),
            &privacy,
            json!({"decision": "refuse", "refusal_reason": "Records show otherwise", "statement": statement}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
    let now = read(&app, &client_path(&app, NORTHSIDE_CLIENT), &north).await;
    assert!(now.body["statements"].to_string().contains(statement));

    let page = changes_since(&app, &north, &cursor).await;
    let told = item(&page, "client", &client).unwrap_or_else(|| {
        panic!(
            "the client's record (its statements) changed, the feed is silent: {}",
            page.body
        )
    });
    assert_eq!(told["record"], now.body);
}

#[actix_web::test]
async fn a_disposed_client_comes_as_one_removal_to_the_csp_that_held_it() {
    let app = spawn_app().await;
    let (worker, north) = (app.login("caseworker").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let client = app.client_id(NORTHSIDE_CLIENT);
    let note = write_note(&app, &worker, NORTHSIDE_CLIENT, "shared").await;
    dispose(&app, &client);

    let page = changes_since(&app, &north, &cursor).await;
    assert_eq!(
        page.body["items"],
        json!([{"type": "client", "id": client, "removed": true}])
    );
    assert!(!page.body.to_string().contains(&note));
}

// ---- cursors and paging ------------------------------------------------------------------

#[actix_web::test]
async fn a_cursor_beyond_the_newest_change_is_400() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let now: i64 = cursor_now(&app, &north).await.parse().unwrap();
    // A cursor never given out would silently skip every change up to it.
    let ahead = (now + 1_000_000).to_string();
    let response = app
        .get(&format!("/api/v1/changes?since={ahead}"), &north)
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(response.code(), "invalid_cursor");
}

#[actix_web::test]
async fn a_cursor_with_a_sign_or_spaces_is_refused() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    for cursor in ["%2B5", "%205", "5%20"] {
        let response = app
            .get(&format!("/api/v1/changes?since={cursor}"), &north)
            .await;
        assert!(
            response.status == StatusCode::BAD_REQUEST
                || response.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{cursor}: {} {}",
            response.status,
            response.body
        );
    }
}

#[actix_web::test]
async fn a_limit_out_of_range_is_refused() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    for limit in ["0", "-1", "501"] {
        let response = app
            .get(&format!("/api/v1/changes?since=0&limit={limit}"), &north)
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{limit}: {}",
            response.body
        );
    }
}

#[actix_web::test]
async fn a_record_changed_on_two_pages_ends_as_it_is_now_and_nothing_is_skipped() {
    let app = spawn_app().await;
    let (worker, north) = (app.login("caseworker").await, app.login("csp-north").await);
    let mut cursor = cursor_now(&app, &north).await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT, "0400 000 001").await;
    let first = write_note(&app, &worker, NORTHSIDE_CLIENT, "shared").await;
    change_phone(&app, &worker, 3, "0400 000 003").await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT, "0400 000 002").await;
    let last = write_note(&app, &worker, 3, "shared").await;
    let mut seen: Vec<(String, Value)> = Vec::new();
    let mut pages = 0;
    loop {
        let page = read(
            &app,
            &format!("/api/v1/changes?since={cursor}&limit=2"),
            &north,
        )
        .await;
        pages += 1;
        for item in page.body["items"].as_array().unwrap() {
            seen.push((item["id"].as_str().unwrap().to_owned(), item.clone()));
        }
        cursor = next_cursor(&page);
        if page.body["more"] == false || pages > 10 {
            break;
        }
    }
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    for id in [
        &*first,
        &*last,
        &*app.client_id(NORTHSIDE_CLIENT),
        &*app.client_id(3),
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let final_state = seen
        .iter()
        .rev()
        .find(|(id, _)| *id == app.client_id(NORTHSIDE_CLIENT))
        .unwrap();
    assert_eq!(final_state.1["record"]["phone"], "0400 000 002");
}

// ---- audit ------------------------------------------------------------------------------

#[actix_web::test]
async fn a_case_in_the_feed_is_audited_with_its_client_and_nested_allocation_fields() {
    let app = spawn_app().await;
    let (leader, north) = (app.login("teamleader").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let case = app.case_id(NORTHSIDE_CLIENT);
    let changed = app
        .patch_current(
            &format!("/api/v1/cases/{case}"),
            &leader,
            json!({"risk_level": "high"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let note = write_note(&app, &leader, NORTHSIDE_CLIENT, "shared").await;

    let page = changes_since(&app, &north, &cursor).await;
    let told = item(&page, "case", &case).unwrap();
    assert_eq!(told["record"]["risk_level"], "high");
    assert!(item(&page, "note", &note).is_some());
    let row = app.audit_row_of(&page);
    assert!(row.client_ids.contains(&app.client_id(NORTHSIDE_CLIENT)));
    for field in [
        "case.risk_level",
        "case.allocations.id",
        "note.body",
        "note.id",
    ] {
        assert!(row.fields.contains(field), "{field}: {}", row.fields);
    }
    // Every field disclosed is named.
    for (kind, record) in [
        ("case", &told["record"]),
        ("note", &item(&page, "note", &note).unwrap()["record"]),
    ] {
        for key in record.as_object().unwrap().keys() {
            let named = format!("\"{kind}.{key}\"");
            assert!(row.fields.contains(&named), "{named}: {}", row.fields);
        }
    }
}

#[actix_web::test]
async fn an_archived_case_comes_as_removals_of_the_case_and_its_client() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let cursor = cursor_now(&app, &north).await;
    let (case, client) = (
        app.case_id(NORTHSIDE_CLIENT),
        app.client_id(NORTHSIDE_CLIENT),
    );
    app.with_db(|conn| {
        conn.transaction(|conn| {
            casebridge::db::retention::archive(
                conn,
                std::slice::from_ref(&case),
                chrono::Utc::now().naive_utc(),
            )
        })
        .unwrap()
    });

    let page = changes_since(&app, &north, &cursor).await;
    for (kind, id) in [("case", &case), ("client", &client)] {
        assert_eq!(
            item(&page, kind, id).unwrap_or_else(|| panic!("{kind}: {}", page.body)),
            &json!({"type": kind, "id": id, "removed": true})
        );
    }
}

/// PostgreSQL only (on SQLite the open transaction holds the database's write lock, so the
/// interleaving cannot happen). `casebridge retention run` archives and disposes in its own
/// transactions on its own connection (`cli::retention_run`). Without the writers' advisory
/// lock its feed entries would take their `seq` when inserted and become visible when it
/// commits, possibly after a later `seq` of the server's, and a reader that passed the later
/// `seq` would never see them. The command takes the lock first, as done here: the server's
/// write then waits for it.
#[actix_web::test]
async fn an_archive_committed_outside_the_writer_is_not_skipped_by_a_reader() {
    if crate::helpers::backend() != "postgres" {
        return;
    }
    let app = spawn_app().await;
    let (worker, north) = (app.login("caseworker").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let case = app.case_id(NORTHSIDE_CLIENT);
    let mut conn = app.db.write_conn().expect("a connection of its own");
    let (archived_tx, archived) = std::sync::mpsc::channel::<()>();
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let archiving = case.clone();
    // As the command does: one transaction per step, on its own connection.
    let kind = app.db.kind();
    let command = std::thread::spawn(move || {
        conn.transaction(|conn| {
            casebridge::db::writer::lock_for_batch(conn, kind)?;
            casebridge::db::retention::archive(conn, &[archiving], chrono::Utc::now().naive_utc())?;
            archived_tx.send(()).unwrap();
            go.recv().unwrap();
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap();
    });
    while archived.try_recv().is_err() {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Meanwhile the server changes another Northside client (it waits for the command's
    // lock, which the command lets go of a moment later), and the CSP polls.
    let let_go = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
        go_tx.send(()).unwrap();
    };
    futures_util::join!(change_phone(&app, &worker, 3, "0400 000 888"), let_go);
    let first = changes_since(&app, &north, &cursor).await;
    command.join().unwrap();
    let second = changes_since(&app, &north, &next_cursor(&first)).await;

    let told = item(&first, "case", &case).or_else(|| item(&second, "case", &case));
    assert!(
        told.is_some_and(|told| told["removed"] == true),
        "the archived case's removal was skipped: first {} then {}",
        first.body,
        second.body
    );
}
