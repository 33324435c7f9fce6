//! `GET /api/v1/changes`: incremental sync within the caller's rows and masks, with removals
//! for records that left the caller's reach.
use casebridge::demo::EASTERN;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app};
use crate::writes::{client_path, read, today};

/// Demo client 0's case is allocated to Northside, client 1's to Eastern, client 8's to no one.
pub const NORTHSIDE_CLIENT: usize = 0;
pub const EASTERN_CLIENT: usize = 1;
pub const UNALLOCATED_CLIENT: usize = 8;

/// A demo service, a caseworker to change things, and `reader` holding a cursor for now.
struct Watching {
    app: TestApp,
    worker: String,
    reader: String,
    cursor: String,
}

async fn watching(reader: &str) -> Watching {
    let app = spawn_app().await;
    let (worker, reader) = (app.login("caseworker").await, app.login(reader).await);
    let cursor = cursor_now(&app, &reader).await;
    Watching {
        app,
        worker,
        reader,
        cursor,
    }
}

/// The cursor for now, as a new reader starts.
pub async fn cursor_now(app: &TestApp, token: &str) -> String {
    let start = read(app, "/api/v1/changes", token).await;
    assert_eq!(start.body["items"], json!([]), "{}", start.body);
    assert_eq!(start.body["more"], false);
    start.body["next_cursor"].as_str().unwrap().to_owned()
}

async fn changes_since(app: &TestApp, token: &str, cursor: &str) -> Response {
    read(app, &format!("/api/v1/changes?since={cursor}"), token).await
}

/// The item for `(kind, id)`, if the page holds one.
pub fn item<'a>(page: &'a Response, kind: &str, id: &str) -> Option<&'a Value> {
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == kind && item["id"] == id)
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

async fn change_phone(app: &TestApp, token: &str, index: usize) {
    let path = client_path(app, index);
    let changed = app
        .patch_current(&path, token, json!({"phone": "0400 000 111"}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
}

#[actix_web::test]
async fn a_csp_is_told_of_changes_to_its_clients_as_their_endpoints_show_them() {
    let Watching {
        app,
        worker,
        reader: north,
        cursor,
    } = watching("csp-north").await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT).await;
    let shared = write_note(&app, &worker, NORTHSIDE_CLIENT, "shared").await;

    let page = changes_since(&app, &north, &cursor).await;
    let client_id = app.client_id(NORTHSIDE_CLIENT);
    let client = item(&page, "client", &client_id).expect("the changed client");
    assert_eq!(client["removed"], false);
    let as_read = read(&app, &client_path(&app, NORTHSIDE_CLIENT), &north).await;
    assert_eq!(
        client["record"], as_read.body,
        "masked as GET /clients/{{id}}"
    );
    assert!(
        client["record"].get("tax_file_number").is_none(),
        "a field a CSP may not read is absent"
    );
    let note = item(&page, "note", &shared).expect("the shared note");
    assert_eq!(note["record"]["body"], "Visited today");
    assert_ne!(page.body["next_cursor"], cursor);
}

#[actix_web::test]
async fn a_csp_is_not_told_of_other_csps_clients_or_department_notes() {
    let Watching {
        app,
        worker,
        reader: north,
        cursor,
    } = watching("csp-north").await;
    change_phone(&app, &worker, EASTERN_CLIENT).await;
    change_phone(&app, &worker, UNALLOCATED_CLIENT).await;
    let department_note = write_note(&app, &worker, NORTHSIDE_CLIENT, "department").await;

    let page = changes_since(&app, &north, &cursor).await;
    assert_eq!(
        page.body["items"],
        json!([]),
        "no record, removal or id of what Northside never had"
    );
    assert!(!page.body.to_string().contains(&department_note));
}

#[actix_web::test]
async fn a_record_changed_twice_comes_once_as_it_is_now() {
    let Watching {
        app,
        worker,
        reader: north,
        cursor,
    } = watching("csp-north").await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT).await;
    let path = client_path(&app, NORTHSIDE_CLIENT);
    let changed = app
        .patch_current(&path, &worker, json!({"email": "now@example.org"}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);

    let page = changes_since(&app, &north, &cursor).await;
    let items = page.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", page.body);
    assert_eq!(items[0]["record"]["email"], "now@example.org");
}

#[actix_web::test]
async fn a_new_allocation_brings_its_client_case_and_allocation() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    let cursor = cursor_now(&app, &east).await;
    let case = app.case_id(UNALLOCATED_CLIENT);
    let created = app
        .post(
            &format!("/api/v1/cases/{case}/allocations"),
            &leader,
            json!({"organisation_id": app.organisation_id(EASTERN),
                   "worker_id": app.demo_worker_of(EASTERN),
                   "starts_on": today().to_string(), "service_description": "Outreach visits"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let page = changes_since(&app, &east, &cursor).await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    let allocation = created.body["id"].as_str().unwrap();
    for (kind, id) in [
        ("client", &*client),
        ("case", &*case),
        ("allocation", allocation),
    ] {
        let found = item(&page, kind, id).unwrap_or_else(|| panic!("{kind}: {}", page.body));
        assert_eq!(found["removed"], false);
        assert_eq!(found["record"]["id"], id);
    }
}

#[actix_web::test]
async fn an_ended_allocation_comes_as_removals_with_no_data() {
    let app = spawn_app().await;
    let (leader, north) = (app.login("teamleader").await, app.login("csp-north").await);
    let cursor = cursor_now(&app, &north).await;
    let case = app.case_id(NORTHSIDE_CLIENT);
    let allocations = read(&app, &format!("/api/v1/cases/{case}"), &leader).await;
    let allocation = allocations.body["allocations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/cases/{case}/allocations/{allocation}");
    let yesterday = (today() - Duration::days(1)).to_string();
    let ended = app
        .patch_current(&path, &leader, json!({"ends_on": yesterday}))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);

    let page = changes_since(&app, &north, &cursor).await;
    let client = app.client_id(NORTHSIDE_CLIENT);
    for (kind, id) in [
        ("client", &*client),
        ("case", &*case),
        ("allocation", &*allocation),
    ] {
        let found = item(&page, kind, id).unwrap_or_else(|| panic!("{kind}: {}", page.body));
        assert_eq!(found, &json!({"type": kind, "id": id, "removed": true}));
    }
    let row = app.audit_row_of(&page);
    assert_eq!(row.resource_type.as_deref(), Some("change"));
    assert_eq!(row.client_ids, "[]", "a removal discloses nothing");
}

#[actix_web::test]
async fn reading_the_changes_is_audited_with_the_clients_and_fields_disclosed() {
    let Watching {
        app,
        worker,
        reader: north,
        cursor,
    } = watching("csp-north").await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT).await;

    let page = changes_since(&app, &north, &cursor).await;
    let row = app.audit_row_of(&page);
    assert_eq!(row.resource_type.as_deref(), Some("change"));
    assert!(row.client_ids.contains(&app.client_id(NORTHSIDE_CLIENT)));
    assert!(row.fields.contains("client.phone"), "{}", row.fields);
}

#[actix_web::test]
async fn following_the_cursor_pages_through_every_change_once() {
    let app = spawn_app().await;
    let (worker, north) = (app.login("caseworker").await, app.login("csp-north").await);
    let mut cursor = cursor_now(&app, &north).await;
    let mut written = Vec::new();
    for _ in 0..5 {
        written.push(write_note(&app, &worker, NORTHSIDE_CLIENT, "shared").await);
    }
    let mut seen = Vec::new();
    loop {
        let page = read(
            &app,
            &format!("/api/v1/changes?since={cursor}&limit=2"),
            &north,
        )
        .await;
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
        if page.body["more"] == false {
            break;
        }
    }
    assert_eq!(seen, written);
    let after = changes_since(&app, &north, &cursor).await;
    assert_eq!(after.body["items"], json!([]));
    assert_eq!(after.body["next_cursor"], cursor.as_str());
}

#[actix_web::test]
async fn a_cursor_that_is_not_a_position_is_400() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    for cursor in ["abc", "-1", "99999999999999999999"] {
        let response = app
            .get(&format!("/api/v1/changes?since={cursor}"), &north)
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{cursor}");
        assert_eq!(response.code(), "invalid_cursor");
    }
}

#[actix_web::test]
async fn a_limit_out_of_range_is_422() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    for limit in [0, 501] {
        let response = app
            .get(&format!("/api/v1/changes?since=0&limit={limit}"), &north)
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{limit}");
    }
}

#[actix_web::test]
async fn a_caller_who_may_read_none_of_the_records_is_refused() {
    let app = spawn_app().await;
    let searcher = app.login("searcher").await;
    let response = app.get("/api/v1/changes", &searcher).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN, "{}", response.body);
}

#[actix_web::test]
async fn a_disposed_file_leaves_one_removal_and_nothing_else_of_the_client() {
    use casebridge::db::schema::changes;
    use diesel::prelude::*;
    let Watching {
        app,
        worker,
        reader: north,
        cursor,
    } = watching("csp-north").await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT).await;
    let disposed = crate::retention::three_files_due(&app).await;
    let records = app.login("records").await;
    let run = app
        .post(
            "/api/v1/retention/runs",
            &records,
            json!({"dry_run": false}),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);

    let page = changes_since(&app, &north, &cursor).await;
    let removals: Vec<Value> = disposed
        .iter()
        .map(|id| json!({"type": "client", "id": id, "removed": true}))
        .collect();
    let mut items = page.body["items"].as_array().unwrap().clone();
    items.sort_by_key(|item| item["id"].as_str().unwrap().to_owned());
    let mut expected = removals;
    expected.sort_by_key(|item| item["id"].as_str().unwrap().to_owned());
    assert_eq!(items, expected);
    for id in &disposed {
        let kept: i64 = app.with_db(|conn| {
            changes::table
                .filter(changes::client_id.eq(id))
                .count()
                .get_result(conn)
                .unwrap()
        });
        assert_eq!(kept, 1, "the removal alone is kept");
    }
}

#[actix_web::test]
async fn a_department_wide_reader_is_told_of_every_reachable_change() {
    let app = spawn_app().await;
    let (worker, privacy) = (app.login("caseworker").await, app.login("privacy").await);
    let purpose = [("X-Purpose-Of-Use", "privacy complaint investigation")];
    let start = app.get_with("/api/v1/changes", &privacy, &purpose).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let cursor = start.body["next_cursor"].as_str().unwrap().to_owned();
    change_phone(&app, &worker, EASTERN_CLIENT).await;
    change_phone(&app, &worker, UNALLOCATED_CLIENT).await;

    let page = app
        .get_with(
            &format!("/api/v1/changes?since={cursor}"),
            &privacy,
            &purpose,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for index in [EASTERN_CLIENT, UNALLOCATED_CLIENT] {
        let found = item(&page, "client", &app.client_id(index)).expect("every division's client");
        assert_eq!(found["removed"], false);
    }
}

#[actix_web::test]
async fn a_cursor_older_than_the_kept_changes_is_410_and_a_new_cursor_starts_again() {
    use casebridge::db::changes::prune;
    let app = spawn_app().await;
    let (worker, north) = (app.login("caseworker").await, app.login("csp-north").await);
    let old = cursor_now(&app, &north).await;
    change_phone(&app, &worker, NORTHSIDE_CLIENT).await;
    let now = chrono::Utc::now().naive_utc();
    let kept = app.with_db(|conn| prune(conn, now - Duration::days(1), 10_000).unwrap());
    assert_eq!(kept, 0, "nothing older than a day");
    let pruned = app.with_db(|conn| prune(conn, now + Duration::days(1), 10_000).unwrap());
    assert!(pruned > 0);

    let expired = app
        .get(&format!("/api/v1/changes?since={old}"), &north)
        .await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);
    assert_eq!(expired.code(), "cursor_expired");
    let fresh = cursor_now(&app, &north).await;
    let page = changes_since(&app, &north, &fresh).await;
    assert_eq!(page.body["items"], json!([]));
}

/// Runs the feed's announcement of allocations that start or end by date, as the server does
/// every few minutes, up to the service's today.
pub fn announce_dated_changes(app: &TestApp) {
    use casebridge::db::changes::announce_dated_changes;
    let now = app.clock.now();
    app.with_db(|conn| while announce_dated_changes(conn, now).unwrap() {});
}

#[actix_web::test]
async fn an_allocation_that_starts_later_is_told_on_the_day_it_starts_and_not_before() {
    let app = spawn_app().await;
    let (leader, east) = (app.login("teamleader").await, app.login("csp-east").await);
    announce_dated_changes(&app);
    let cursor = cursor_now(&app, &east).await;
    let case = app.case_id(UNALLOCATED_CLIENT);
    let created = app
        .post(
            &format!("/api/v1/cases/{case}/allocations"),
            &leader,
            json!({"organisation_id": app.organisation_id(EASTERN),
                   "worker_id": app.demo_worker_of(EASTERN),
                   "starts_on": (today() + Duration::days(1)).to_string(),
                   "service_description": "Outreach visits"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let before = changes_since(&app, &east, &cursor).await;
    assert_eq!(before.body["items"], json!([]), "no id before the day");

    app.clock.advance(Duration::days(1));
    announce_dated_changes(&app);
    let east = app.login("csp-east").await;
    let on_the_day = changes_since(&app, &east, &cursor).await;
    let client = app.client_id(UNALLOCATED_CLIENT);
    for (kind, id) in [("client", &*client), ("case", &*case)] {
        let found =
            item(&on_the_day, kind, id).unwrap_or_else(|| panic!("{kind}: {}", on_the_day.body));
        assert_eq!(found["removed"], false);
    }
}

#[actix_web::test]
async fn an_allocation_that_ends_by_date_comes_as_removals_the_day_after() {
    let app = spawn_app().await;
    let (leader, north) = (app.login("teamleader").await, app.login("csp-north").await);
    announce_dated_changes(&app);
    let case = app.case_id(NORTHSIDE_CLIENT);
    let read_case = read(&app, &format!("/api/v1/cases/{case}"), &leader).await;
    let allocation = read_case.body["allocations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = app
        .patch_current(
            &format!("/api/v1/cases/{case}/allocations/{allocation}"),
            &leader,
            json!({"ends_on": today().to_string()}),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    let cursor = cursor_now(&app, &north).await;

    app.clock.advance(Duration::days(1));
    announce_dated_changes(&app);
    let north = app.login("csp-north").await;
    let page = changes_since(&app, &north, &cursor).await;
    let client = app.client_id(NORTHSIDE_CLIENT);
    for (kind, id) in [
        ("client", &*client),
        ("case", &*case),
        ("allocation", &*allocation),
    ] {
        let found = item(&page, kind, id).unwrap_or_else(|| panic!("{kind}: {}", page.body));
        assert_eq!(found, &json!({"type": kind, "id": id, "removed": true}));
    }
}
