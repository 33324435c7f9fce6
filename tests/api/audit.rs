//! The audit trail: one durable row per request, written with the change it records, the
//! response withheld when it cannot be written, and a chain that shows tampering.
use casebridge::audit::chain::{self, Verdict};
use casebridge::db::schema::{audit_event_clients, audit_events, clients};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Response, TestApp, spawn_app};

const NORTHSIDE_CLIENT: usize = 0;

fn request_id(response: &Response) -> String {
    response.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The rows stored for one request, as JSON objects.
fn rows_of(app: &TestApp, request_id: &str) -> Vec<Value> {
    app.with_db(|conn| {
        audit_events::table
            .filter(audit_events::request_id.eq(request_id))
            .select(chain::AuditEvent::as_select())
            .load::<chain::AuditEvent>(conn)
            .unwrap()
    })
    .into_iter()
    .map(|event| serde_json::to_value(event).unwrap())
    .collect()
}

fn the_row_of(app: &TestApp, response: &Response) -> Value {
    let rows = rows_of(app, &request_id(response));
    assert_eq!(rows.len(), 1, "exactly one row per request: {rows:?}");
    rows.into_iter().next().unwrap()
}

fn list(row: &Value, field: &str) -> Vec<String> {
    serde_json::from_str(row[field].as_str().unwrap()).unwrap()
}

#[actix_web::test]
async fn every_request_leaves_exactly_one_row_naming_actor_outcome_clients_and_fields() {
    let app = spawn_app().await;
    let failed = app
        .login_response("caseworker", "not the password at all")
        .await;
    let row = the_row_of(&app, &failed);
    assert_eq!(
        (row["status"].as_i64(), row["outcome"].as_str()),
        (Some(401), Some("denied"))
    );
    assert_eq!(row["attempted_username"], "caseworker");
    assert_eq!(row["reason"], "invalid_credentials");

    let login = app.login_response("csp-north", PASSWORD).await;
    let row = the_row_of(&app, &login);
    assert_eq!(row["actor_user_id"], app.user_id("csp-north"));
    let token = login.body["access_token"].as_str().unwrap().to_owned();

    let client_id = app.client_id(NORTHSIDE_CLIENT);
    let read = app
        .get(&format!("/api/v1/clients/{client_id}"), &token)
        .await;
    let row = the_row_of(&app, &read);
    assert_eq!(row["outcome"], "allowed");
    assert_eq!(row["actor_kind"], "user");
    assert_eq!(
        row["actor_organisation_id"],
        app.organisation_id(casebridge::demo::NORTHSIDE)
    );
    assert_eq!(list(&row, "actor_roles"), ["csp_worker"]);
    assert_eq!(row["route"], "/api/v1/clients/{id}");
    assert_eq!(list(&row, "client_ids"), std::slice::from_ref(&client_id));
    let mut shown: Vec<String> = read.body.as_object().unwrap().keys().cloned().collect();
    shown.sort();
    assert_eq!(
        list(&row, "fields"),
        shown,
        "the fields disclosed are the fields sent"
    );

    let page = app.get("/api/v1/clients?limit=5", &token).await;
    let row = the_row_of(&app, &page);
    let listed: Vec<String> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let mut recorded = list(&row, "client_ids");
    recorded.sort();
    let mut expected = listed.clone();
    expected.sort();
    assert_eq!(recorded, expected, "every client of a list is recorded");

    let out_of_scope = app
        .get(&format!("/api/v1/clients/{}", app.client_id(8)), &token)
        .await;
    let row = the_row_of(&app, &out_of_scope);
    assert_eq!(
        (
            row["status"].as_i64(),
            row["outcome"].as_str(),
            row["reason"].as_str()
        ),
        (Some(404), Some("denied"), Some("not_found"))
    );
    assert_eq!(
        list(&row, "client_ids"),
        Vec::<String>::new(),
        "a denial discloses nothing"
    );
    assert_eq!(
        (row["resource_type"].as_str(), row["resource_id"].as_str()),
        (Some("client"), Some(app.client_id(8).as_str())),
        "a denial names what was asked for"
    );
    let case_denied = app
        .get(
            &format!(
                "/api/v1/cases/{}/allocations/no-such-allocation",
                "any-case"
            ),
            &token,
        )
        .await;
    let row = the_row_of(&app, &case_denied);
    assert_eq!(row["outcome"], "denied");
    assert_eq!(
        (row["resource_type"].as_str(), row["resource_id"].as_str()),
        (Some("allocation"), Some("no-such-allocation")),
        "the last parameter of the path names the resource"
    );

    let anonymous = app
        .request(Method::GET, "/api/v1/clients", None, None, &[])
        .await;
    assert_eq!(the_row_of(&app, &anonymous)["actor_kind"], "anonymous");
    let unknown = app.get("/api/v1/no-such-thing", &token).await;
    assert_eq!(the_row_of(&app, &unknown)["status"], 404);

    // Secrets never reach the trail.
    let everything: Vec<chain::AuditEvent> = app.with_db(|conn| {
        audit_events::table
            .select(chain::AuditEvent::as_select())
            .load(conn)
            .unwrap()
    });
    let text = serde_json::to_string(&everything).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("not the password at all"));
    assert!(!text.contains(&token));
}

#[actix_web::test]
async fn a_write_and_its_row_commit_together() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = format!("/api/v1/clients/{}", app.client_id(NORTHSIDE_CLIENT));
    let etag = app.get(&path, &token).await.etag();
    let changed = app
        .patch(&path, &token, json!({"phone": "0400111222"}), Some(&etag))
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    let row = the_row_of(&app, &changed);
    assert_eq!(
        (row["method"].as_str(), row["status"].as_i64()),
        (Some("PATCH"), Some(200))
    );
    assert_eq!(row["resource_id"], app.client_id(NORTHSIDE_CLIENT));
    assert!(list(&row, "fields").contains(&"phone".to_owned()));

    let stale = app
        .patch(&path, &token, json!({"phone": "0400999999"}), Some(&etag))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let row = the_row_of(&app, &stale);
    assert_eq!(
        (row["outcome"].as_str(), row["reason"].as_str()),
        (Some("denied"), Some("version_mismatch"))
    );
    assert_eq!(app.get(&path, &token).await.body["phone"], "0400111222");
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CALLERS_REQUEST_ID: &str = "5f0c6f0e-7a43-4c55-9d6b-1f9c2b7e8a10";

#[actix_web::test]
async fn a_callers_trace_and_request_ids_are_kept_in_the_row_and_the_chain_verifies() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = format!("/api/v1/clients/{}", app.client_id(NORTHSIDE_CLIENT));
    let read = app
        .get_with(
            &path,
            &token,
            &[
                ("traceparent", TRACEPARENT),
                ("x-request-id", CALLERS_REQUEST_ID),
            ],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_ne!(
        request_id(&read),
        CALLERS_REQUEST_ID,
        "the service names its own"
    );
    let row = the_row_of(&app, &read);
    assert_eq!(row["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(row["caller_request_id"], CALLERS_REQUEST_ID);
    assert!(matches!(verdict(&app), Verdict::Intact { .. }));

    let auditor = app.login("auditor").await;
    let trail = app.get("/api/v1/audit/events?limit=5", &auditor).await;
    let served = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["request_id"] == request_id(&read).as_str())
        .expect("the read's row is among the newest");
    assert_eq!(served["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(served["caller_request_id"], CALLERS_REQUEST_ID);
}

#[actix_web::test]
async fn ids_a_caller_sends_that_are_not_well_formed_are_not_kept() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = format!("/api/v1/clients/{}", app.client_id(NORTHSIDE_CLIENT));
    let read = app
        .get_with(
            &path,
            &token,
            &[
                ("traceparent", "00-jane.citizen-00f067aa0ba902b7-01"),
                ("x-request-id", "876543217"),
            ],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let row = the_row_of(&app, &read);
    assert_eq!(
        (&row["trace_id"], &row["caller_request_id"]),
        (&Value::Null, &Value::Null)
    );
    let stored = serde_json::to_string(&row).unwrap();
    assert!(!stored.contains("876543217") && !stored.contains("jane.citizen"));
}

#[actix_web::test]
async fn a_read_naming_more_clients_than_a_batch_takes_stores_a_row_for_each() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    app.get("/api/v1/clients", &token).await;
    // A read's row as the service made it, naming more clients than one writer batch stores.
    let mut event = app
        .audit_rows("/api/v1/clients")
        .pop()
        .expect("the list's row");
    event.id = uuid::Uuid::now_v7().to_string();
    let named = 3 * casebridge::audit::CLIENTS_PER_BATCH + 7;
    let client_ids: std::collections::BTreeSet<String> = (0..named)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    event.client_ids = serde_json::to_string(&client_ids).unwrap();
    let event_id = event.id.clone();
    app.db
        .record(casebridge::audit::PendingRow::new(
            event,
            client_ids.clone(),
        ))
        .await
        .expect("stored");

    let stored: std::collections::BTreeSet<String> = app.with_db(|conn| {
        audit_event_clients::table
            .filter(audit_event_clients::event_id.eq(&event_id))
            .filter(audit_event_clients::disclosed)
            .select(audit_event_clients::client_id)
            .load::<String>(conn)
            .unwrap()
            .into_iter()
            .collect()
    });
    assert_eq!(stored, client_ids);
    assert!(matches!(verdict(&app), Verdict::Intact { .. }));
}

#[actix_web::test]
async fn when_the_audit_row_cannot_be_stored_nothing_is_disclosed_or_changed() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let client_id = app.client_id(NORTHSIDE_CLIENT);
    let path = format!("/api/v1/clients/{client_id}");
    let etag = app.get(&path, &token).await.etag();
    let phone_before = app.with_db(|conn| {
        clients::table
            .find(&client_id)
            .select(clients::phone)
            .first::<Option<String>>(conn)
            .unwrap()
    });

    // Injected failure: the trail's table is gone.
    app.with_db(|conn| {
        diesel::sql_query("ALTER TABLE audit_events RENAME TO audit_events_away")
            .execute(conn)
            .unwrap()
    });
    let read = app.get(&path, &token).await;
    assert_eq!(read.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(read.code(), "audit_unavailable");
    assert!(
        read.body.get("given_name").is_none() && read.body.get("medicare_number").is_none(),
        "{}",
        read.body
    );
    let write = app
        .patch(&path, &token, json!({"phone": "0400000001"}), Some(&etag))
        .await;
    assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(write.code(), "audit_unavailable");
    let phone_after = app.with_db(|conn| {
        clients::table
            .find(&client_id)
            .select(clients::phone)
            .first::<Option<String>>(conn)
            .unwrap()
    });
    assert_eq!(
        phone_after, phone_before,
        "the change was taken back with its row"
    );

    app.with_db(|conn| {
        diesel::sql_query("ALTER TABLE audit_events_away RENAME TO audit_events")
            .execute(conn)
            .unwrap()
    });
    assert_eq!(
        app.get(&path, &token).await.status,
        StatusCode::OK,
        "the service recovers"
    );
}

fn verdict(app: &TestApp) -> Verdict {
    app.with_db(|conn| chain::verify(conn).unwrap())
}

fn event_at(app: &TestApp, sequence: i64) -> String {
    app.with_db(|conn| {
        audit_events::table
            .filter(audit_events::sequence.eq(sequence))
            .select(audit_events::id)
            .first(conn)
            .unwrap()
    })
}

fn expect_broken(app: &TestApp, sequence: i64, problem: &str) {
    match verdict(app) {
        Verdict::Broken {
            sequence: found,
            event_id,
            problem: said,
            ..
        } => {
            assert_eq!(found, sequence, "{said}");
            assert_eq!(event_id, event_at(app, sequence));
            assert!(said.contains(problem), "{said}");
        }
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

fn sql(app: &TestApp, statement: &str) {
    app.with_db(|conn| diesel::sql_query(statement).execute(conn).unwrap());
}

#[actix_web::test]
async fn verify_names_the_row_that_was_altered_moved_or_deleted() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    for _ in 0..5 {
        app.get("/api/v1/clients?limit=2", &token).await;
    }
    assert!(
        matches!(
            verdict(&app),
            Verdict::Intact {
                chains: 1,
                events: 6
            }
        ),
        "{:?}",
        verdict(&app)
    );

    sql(
        &app,
        "UPDATE audit_events SET status = 500 WHERE sequence = 3",
    );
    expect_broken(&app, 3, "altered");
    sql(
        &app,
        "UPDATE audit_events SET status = 200 WHERE sequence = 3",
    );
    assert!(matches!(verdict(&app), Verdict::Intact { .. }));

    // Rows 2 and 3 swap places.
    sql(
        &app,
        "UPDATE audit_events SET sequence = -2 WHERE sequence = 2",
    );
    sql(
        &app,
        "UPDATE audit_events SET sequence = 2 WHERE sequence = 3",
    );
    sql(
        &app,
        "UPDATE audit_events SET sequence = 3 WHERE sequence = -2",
    );
    expect_broken(&app, 2, "moved");
    sql(
        &app,
        "UPDATE audit_events SET sequence = -2 WHERE sequence = 2",
    );
    sql(
        &app,
        "UPDATE audit_events SET sequence = 2 WHERE sequence = 3",
    );
    sql(
        &app,
        "UPDATE audit_events SET sequence = 3 WHERE sequence = -2",
    );
    assert!(matches!(verdict(&app), Verdict::Intact { .. }));

    let gone = event_at(&app, 4);
    sql(
        &app,
        &format!("DELETE FROM audit_event_clients WHERE event_id = '{gone}'"),
    );
    sql(
        &app,
        &format!("DELETE FROM audit_events WHERE id = '{gone}'"),
    );
    expect_broken(&app, 5, "deleted");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.database_url)
        .env("CASEBRIDGE_DATA_DIR", app.data_dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(&event_at(&app, 5)) && said.contains("sequence 5"),
        "{said}"
    );
}

#[actix_web::test]
async fn auditors_read_the_trail_newest_first_with_filters_and_others_may_not() {
    let app = spawn_app().await;
    let north = app.login("csp-north").await;
    let client_id = app.client_id(NORTHSIDE_CLIENT);
    for _ in 0..3 {
        app.get(&format!("/api/v1/clients/{client_id}"), &north)
            .await;
    }
    app.get(&format!("/api/v1/clients/{}", app.client_id(8)), &north)
        .await;
    let auditor = app.login("auditor").await;

    let mine = app
        .get(
            &format!(
                "/api/v1/audit/events?actor_user_id={}&limit=2",
                app.user_id("csp-north")
            ),
            &auditor,
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    let first: Vec<Value> = mine.body["items"].as_array().unwrap().clone();
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .all(|event| event["actor_user_id"] == app.user_id("csp-north"))
    );
    assert_eq!(
        first[0]["status"], 404,
        "newest first: the denied read came last"
    );
    let cursor = mine.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!(
                "/api/v1/audit/events?actor_user_id={}&cursor={cursor}",
                app.user_id("csp-north")
            ),
            &auditor,
        )
        .await;
    let rest: Vec<Value> = rest.body["items"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 3, "two more reads and the login");
    assert!(
        rest.iter()
            .all(|event| !first.iter().any(|seen| seen["id"] == event["id"]))
    );

    let about_client = app
        .get(
            &format!("/api/v1/audit/events?client_id={client_id}"),
            &auditor,
        )
        .await;
    let events = about_client.body["items"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|event| event["client_ids"] == json!([client_id]))
    );
    let denied = app
        .get("/api/v1/audit/events?outcome=denied", &auditor)
        .await;
    assert!(
        denied.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|event| event["outcome"] == "denied")
    );

    for role in ["caseworker", "csp-north", "privacy", "admin"] {
        let token = app.login(role).await;
        assert_eq!(
            app.get("/api/v1/audit/events", &token).await.status,
            StatusCode::FORBIDDEN,
            "{role}"
        );
    }
}

#[actix_web::test]
async fn a_clients_access_log_shows_who_saw_what_and_reading_it_is_recorded() {
    let app = spawn_app().await;
    let client_id = app.client_id(NORTHSIDE_CLIENT);
    let north = app.login("csp-north").await;
    app.get(&format!("/api/v1/clients/{client_id}"), &north)
        .await;
    let log_path = format!("/api/v1/clients/{client_id}/access-log");

    let auditor = app.login("auditor").await;
    let log = app.get(&log_path, &auditor).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let entry = &log.body["items"][0];
    assert_eq!(entry["actor_user_id"], app.user_id("csp-north"));
    assert_eq!(
        entry["actor_organisation_id"],
        app.organisation_id(casebridge::demo::NORTHSIDE)
    );
    assert!(
        entry["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("phone"))
    );
    assert!(
        !entry["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("medicare_number"))
    );
    let row = the_row_of(&app, &log);
    assert_eq!(row["route"], "/api/v1/clients/{id}/access-log");
    assert_eq!(
        list(&row, "client_ids"),
        std::slice::from_ref(&client_id),
        "reading the log is itself logged"
    );

    let privacy = app.login("privacy").await;
    let without = app.get(&log_path, &privacy).await;
    assert_eq!(
        (without.status, without.code()),
        (StatusCode::FORBIDDEN, "purpose_of_use_required")
    );
    let with = app
        .get_with(
            &log_path,
            &privacy,
            &[("X-Purpose-Of-Use", "access request AR-12")],
        )
        .await;
    assert_eq!(with.status, StatusCode::OK);
    assert_eq!(
        the_row_of(&app, &with)["purpose_of_use"],
        "access request AR-12"
    );
    for role in ["caseworker", "csp-north", "admin"] {
        let token = app.login(role).await;
        assert_eq!(
            app.get(&log_path, &token).await.status,
            StatusCode::FORBIDDEN,
            "{role}"
        );
    }
}

#[actix_web::test]
async fn the_export_streams_every_event_of_the_period_as_ndjson() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    for _ in 0..4 {
        app.get("/api/v1/clients?limit=1", &token).await;
    }
    let auditor = app.login("auditor").await;
    let stored: i64 = app.with_db(|conn| audit_events::table.count().get_result(conn).unwrap());
    let (from, to) = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
    let response = app
        .client
        .get(format!(
            "{}/api/v1/audit/events/export?from={from}&to={to}",
            app.address
        ))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines.len() as i64,
        stored + 1,
        "every event before the export, and its own"
    );
    assert_eq!(
        lines[0]["route"], "/api/v1/audit/events/export",
        "its own row is durable before any line leaves"
    );
    assert!(
        lines
            .iter()
            .all(|event| event["request_id"].is_string() && event["hash"].is_null())
    );

    let backwards = app
        .get(
            &format!("/api/v1/audit/events/export?from={to}&to={from}"),
            &auditor,
        )
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(
            &format!("/api/v1/audit/events/export?from={from}&to={to}"),
            &token
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn two_instances_on_one_database_each_keep_a_chain_that_verifies() {
    // Only PostgreSQL serves several instances; a second on SQLite is refused (see
    // `outages::a_second_service_on_one_sqlite_database_is_refused_at_start`).
    if crate::helpers::backend() != "postgres" {
        return;
    }
    let app = spawn_app().await;
    // A second service instance over the same database, as behind a load balancer.
    let config =
        crate::helpers::test_config(app.data_dir.path().to_owned(), app.database_url.clone());
    let state = casebridge::startup::state(config).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = casebridge::startup::Application::build(state, listener).unwrap();
    let second_address = format!("http://127.0.0.1:{}", second.port());
    let handle = second.handle();
    actix_web::rt::spawn(second.run());

    let token = app.login("caseworker").await;
    let reads = (0..20).map(|i| {
        let url = format!(
            "{}/api/v1/clients?limit=1",
            if i % 2 == 0 {
                &app.address
            } else {
                &second_address
            }
        );
        app.client.get(url).bearer_auth(&token).send()
    });
    for response in futures_util::future::join_all(reads).await {
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    match verdict(&app) {
        Verdict::Intact { chains, events } => {
            assert_eq!(chains, 2, "one chain per instance");
            assert_eq!(events, 21, "the login and twenty reads");
        }
        broken => panic!("{broken:?}"),
    }
    handle.stop(false).await;
}

#[actix_web::test]
async fn concurrent_reads_and_writes_each_keep_their_row_in_one_chain() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let client_id = app.client_id(NORTHSIDE_CLIENT);
    let path = format!("/api/v1/clients/{client_id}");
    let notes = format!("/api/v1/cases/{}/notes", app.case_id(NORTHSIDE_CLIENT));
    let note = json!({"note_type": "contact", "body": "met at the office"});
    // Reads (stored together by the writer) and writes (each in its own savepoint) arrive at
    // once, so that they share batches.
    let reads = (0..24).map(|_| app.get(&path, &token));
    let writes = (0..6).map(|_| app.post(&notes, &token, note.clone()));
    let (reads, writes) = futures_util::future::join(
        futures_util::future::join_all(reads),
        futures_util::future::join_all(writes),
    )
    .await;

    for read in &reads {
        assert_eq!(read.status, StatusCode::OK);
        let row = the_row_of(&app, read);
        assert_eq!(list(&row, "client_ids"), vec![client_id.clone()]);
        let named: i64 = app.with_db(|conn| {
            audit_event_clients::table
                .filter(audit_event_clients::event_id.eq(row["id"].as_str().unwrap()))
                .filter(audit_event_clients::client_id.eq(&client_id))
                .count()
                .get_result(conn)
                .unwrap()
        });
        assert_eq!(named, 1, "the read names its client in the access log");
    }
    for write in &writes {
        assert_eq!(write.status, StatusCode::CREATED, "{:?}", write.body);
        assert_eq!(the_row_of(&app, write)["status"], 201);
    }
    match verdict(&app) {
        Verdict::Intact { chains, events } => {
            assert_eq!(chains, 1);
            // The login, 24 reads and 6 notes.
            assert_eq!(events, 31);
        }
        broken => panic!("{broken:?}"),
    }
}

/// The anchor file's last line: (chain, sequence).
fn last_anchor(app: &TestApp) -> (String, i64) {
    let anchors = std::fs::read_to_string(app.data_dir.path().join("audit-anchors.jsonl")).unwrap();
    let last: Value = serde_json::from_str(anchors.lines().last().unwrap()).unwrap();
    (
        last["chain_id"].as_str().unwrap().to_owned(),
        last["sequence"].as_i64().unwrap(),
    )
}

async fn verify_with_anchors(app: &TestApp) -> std::process::Output {
    let anchors = app.data_dir.path().join("audit-anchors.jsonl");
    let (url, data_dir) = (app.database_url.clone(), app.data_dir.path().to_owned());
    actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_casebridge"))
            .args(["audit", "verify", "--anchors", anchors.to_str().unwrap()])
            .env("DATABASE_URL", url)
            .env("CASEBRIDGE_DATA_DIR", data_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Requests, then long enough for the instance to anchor its chain.
async fn anchored_app() -> TestApp {
    let app = crate::helpers::spawn_app_with(|config| config.oversight.anchor_every = 1).await;
    let token = app.login("caseworker").await;
    for _ in 0..3 {
        app.get("/api/v1/me", &token).await;
    }
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2_500)).await;
    app
}

#[actix_web::test]
async fn each_instance_anchors_its_chain_head_outside_the_database() {
    let app = anchored_app().await;

    let (chain_id, sequence) = last_anchor(&app);
    let hash: String = app.with_db(|conn| {
        audit_events::table
            .filter(audit_events::chain_id.eq(&chain_id))
            .filter(audit_events::sequence.eq(sequence))
            .select(audit_events::hash)
            .first(conn)
            .unwrap()
    });
    assert!(sequence >= 4, "the login and three reads: {sequence}");
    assert!(!hash.is_empty());
    let verified = verify_with_anchors(&app).await;
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("anchors reached"),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[actix_web::test]
async fn verify_with_anchors_finds_rows_lost_from_a_chains_end() {
    let app = anchored_app().await;
    let (chain_id, sequence) = last_anchor(&app);

    // As a lost write-ahead log would: the chain's last rows are gone, and what is left
    // still verifies as a chain.
    let lost = format!("chain_id = '{chain_id}' AND sequence >= {}", sequence - 1);
    sql(
        &app,
        &format!(
            "DELETE FROM audit_event_clients WHERE event_id IN \
             (SELECT id FROM audit_events WHERE {lost})"
        ),
    );
    sql(&app, &format!("DELETE FROM audit_events WHERE {lost}"));
    assert!(matches!(verdict(&app), Verdict::Intact { .. }));
    let verified = verify_with_anchors(&app).await;

    assert!(!verified.status.success());
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(
        said.contains("audit rows missing")
            && said.contains(&chain_id)
            && said.contains(&format!("sequence {sequence}")),
        "{said}"
    );
}
