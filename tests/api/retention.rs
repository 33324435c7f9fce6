//! Retention (issue 5): schedules, archiving (read-only, out of every CSP's reach, read by
//! the department with a purpose of use), disposal of files past their schedule unless held
//! (legal hold, open complaint, open access or correction request),
//! with a certificate that holds no personal data; dry runs change nothing.
use casebridge::db::schema::{audit_event_clients, cases, clients, legal_holds, notes};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Response, TestApp, spawn_app};
use crate::writes::assert_problem;

/// Closes demo client `index`'s case `years` years ago.
pub fn close_case_years_ago(app: &TestApp, index: usize, years: i64) {
    let client = app.client_id(index);
    let closed_at = Utc::now().naive_utc() - Duration::days(365 * years + 10);
    app.with_db(|conn| {
        diesel::update(cases::table.filter(cases::client_id.eq(&client)))
            .set((cases::status.eq("closed"), cases::closed_at.eq(closed_at)))
            .execute(conn)
            .unwrap()
    });
}

fn client_exists(app: &TestApp, id: &str) -> bool {
    app.with_db(|conn| {
        clients::table
            .filter(clients::id.eq(id))
            .count()
            .get_result::<i64>(conn)
            .unwrap()
            == 1
    })
}

fn archived(app: &TestApp, index: usize) -> bool {
    let case = app.case_id(index);
    app.with_db(|conn| {
        cases::table
            .filter(cases::id.eq(&case))
            .select(cases::archived_at)
            .first::<Option<chrono::NaiveDateTime>>(conn)
            .unwrap()
            .is_some()
    })
}

/// The certificate of `run` (a retention run's response) as `token`'s holder reads it.
async fn certificate_of(app: &TestApp, run: &Response, token: &str) -> Response {
    let id = run.body["certificate_id"].as_str().unwrap();
    app.get(&format!("/api/v1/disposal-certificates/{id}"), token)
        .await
}

/// The hashes a certificate holds for `clients`, in its order.
fn hashes_of(app: &TestApp, clients: &[&str]) -> serde_json::Value {
    let key =
        casebridge::auth::keys::load_or_create(None, app.data_dir.path(), "disposal-key").unwrap();
    let mut hashes: Vec<String> = clients
        .iter()
        .map(|client| casebridge::retention::client_id_hash(&key, client))
        .collect();
    hashes.sort_unstable();
    json!(hashes)
}

#[actix_web::test]
async fn retention_archives_then_disposes_of_files_past_their_schedule_unless_held() {
    let app = spawn_app().await;
    let records = app.login("records").await;
    let caseworker = app.login("caseworker").await;
    let schedules = "/api/v1/retention-schedules";
    let schedule = json!({"service_type": "tenancy support", "archive_after_years": 2, "dispose_after_years": 7});
    for body in [
        json!({"service_type": "tenancy support", "archive_after_years": 7, "dispose_after_years": 2}),
        json!({"service_type": "tenancy support", "archive_after_years": -1, "dispose_after_years": 2}),
        json!({"service_type": "", "archive_after_years": 1, "dispose_after_years": 2}),
    ] {
        assert_problem(
            &app.post(schedules, &records, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    assert_problem(
        &app.post(schedules, &caseworker, schedule.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let created = app.post(schedules, &records, schedule.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_problem(
        &app.post(schedules, &records, schedule).await,
        StatusCode::CONFLICT,
        "schedule_exists",
    );

    // Tenancy support cases (demo clients 0, 3, 6, 9, ...): 0 closed 8 years ago goes; 3
    // closed 3 years ago is archived only; 6 and 9 closed 8 years ago are kept by a legal hold
    // and an open complaint.
    close_case_years_ago(&app, 0, 8);
    close_case_years_ago(&app, 3, 3);
    close_case_years_ago(&app, 6, 8);
    close_case_years_ago(&app, 9, 8);
    let hold = app
        .post(
            &format!("/api/v1/clients/{}/legal-holds", app.client_id(6)),
            &records,
            json!({"reason": "Coronial inquest"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let privacy = app.login("privacy").await;
    let complaint = app
        .post(
            "/api/v1/complaints",
            &privacy,
            json!({"client_id": app.client_id(9), "received_on": Utc::now().date_naive(), "channel": "letter", "summary": "Wants to see their file"}),
        )
        .await;
    assert_eq!(complaint.status, StatusCode::CREATED, "{}", complaint.body);
    // 12 and 15, closed 8 years ago, are kept by an open access request and an open correction
    // request; 0's refused access request goes with its file.
    close_case_years_ago(&app, 12, 8);
    close_case_years_ago(&app, 15, 8);
    let access = |index: usize| json!({"client_id": app.client_id(index), "received_on": Utc::now().date_naive(), "requester": "The client", "identity_verified": true});
    let open_access = app
        .post("/api/v1/access-requests", &privacy, access(12))
        .await;
    assert_eq!(
        open_access.status,
        StatusCode::CREATED,
        "{}",
        open_access.body
    );
    let open_correction = app
        .post(
            "/api/v1/correction-requests",
            &privacy,
            json!({"client_id": app.client_id(15), "field": "gender", "requested_value": "non-binary", "reason": "Changed"}),
        )
        .await;
    assert_eq!(
        open_correction.status,
        StatusCode::CREATED,
        "{}",
        open_correction.body
    );
    let closed_access = app
        .post("/api/v1/access-requests", &privacy, access(0))
        .await;
    let refused = app
        .patch(
            &format!(
                "/api/v1/access-requests/{}",
                closed_access.body["id"].as_str().unwrap()
            ),
            &privacy,
            json!({"status": "refused", "reason": "Withdrawn by the client"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);
    let (gone, archived_only) = (app.client_id(0), [3, 6, 9].map(|index| app.case_id(index)));

    let read_before = app
        .get(&format!("/api/v1/clients/{gone}"), &caseworker)
        .await;
    assert_eq!(read_before.status, StatusCode::OK);
    let csp = app.login("csp-north").await;
    let allocated_case = format!("/api/v1/cases/{}", app.case_id(3));
    assert_eq!(app.get(&allocated_case, &csp).await.status, StatusCode::OK);

    let runs = "/api/v1/retention/runs";
    assert_problem(
        &app.post(runs, &caseworker, json!({"dry_run": true})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &app.post(runs, &records, json!({"dry_run": "yes"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let dry = app.post(runs, &records, json!({"dry_run": true})).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(dry.body["disposed_client_ids"], json!([gone]));
    let archived_ids: Vec<String> =
        serde_json::from_value(dry.body["archived_case_ids"].clone()).unwrap();
    for case in archived_only.iter().chain([&app.case_id(0)]) {
        assert!(archived_ids.contains(case), "{case} in {archived_ids:?}");
    }
    assert_eq!(dry.body["record_counts"]["clients"], 1);
    assert_eq!(dry.body["record_counts"]["cases"], 1);
    assert_eq!(dry.body["record_counts"]["notes"], 2);
    assert_eq!(dry.body["record_counts"]["consents"], 1);
    assert_eq!(dry.body["record_counts"]["access_requests"], 1);
    assert_eq!(dry.body["certificate_id"], json!(null));
    assert!(client_exists(&app, &gone), "a dry run changes nothing");
    assert!(!archived(&app, 3));

    let run = app.post(runs, &records, json!({"dry_run": false})).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert_eq!(run.body["disposed_client_ids"], json!([gone]));
    assert!(!client_exists(&app, &gone));
    let notes_left: i64 = app.with_db(|conn| {
        notes::table
            .inner_join(cases::table)
            .filter(cases::client_id.eq(&gone))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(notes_left, 0);
    let audit_rows: i64 = app.with_db(|conn| {
        audit_event_clients::table
            .filter(audit_event_clients::client_id.eq(&gone))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert!(audit_rows > 0, "the audit trail keeps the ids");
    let run_row = app
        .audit_rows("/api/v1/retention/runs")
        .into_iter()
        .rfind(|row| row.status == 200)
        .unwrap();
    assert!(
        run_row.client_ids.contains(&gone),
        "the run's row names the clients it disposed of: {}",
        run_row.client_ids
    );
    for index in [12, 15] {
        assert!(client_exists(&app, &app.client_id(index)));
    }
    for index in [3, 6, 9] {
        assert!(client_exists(&app, &app.client_id(index)));
        assert!(archived(&app, index));
    }

    let certificate = certificate_of(&app, &run, &records).await;
    assert_eq!(certificate.status, StatusCode::OK, "{}", certificate.body);
    assert_eq!(
        certificate.body["client_id_hashes"],
        hashes_of(&app, &[&gone])
    );
    assert_eq!(certificate.body["record_counts"]["clients"], 1);
    assert_eq!(
        certificate.body["schedules"][0]["service_type"],
        "tenancy support"
    );
    assert_eq!(certificate.body["authorised_by"], app.user_id("records"));
    assert!(
        !certificate.body.to_string().contains(&gone),
        "no client id in plain"
    );
    let auditor = app.login("auditor").await;
    assert_eq!(
        certificate_of(&app, &run, &auditor).await.status,
        StatusCode::OK
    );
    assert_problem(
        &certificate_of(&app, &run, &caseworker).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Archived: out of the CSP's reach, read by the department with a purpose, read-only.
    assert_eq!(
        app.get(&allocated_case, &csp).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&allocated_case, &caseworker).await.status,
        StatusCode::NOT_FOUND
    );
    let purpose = [("X-Purpose-Of-Use", "Records request R-7")];
    let read = app.get_with(&allocated_case, &caseworker, &purpose).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(read.body["archived_at"].is_string(), "{}", read.body);
    let change = app
        .request(
            reqwest::Method::PATCH,
            &allocated_case,
            Some(&caseworker),
            Some(json!({"summary": "Reopened"})),
            &[purpose[0], ("If-Match", &read.etag())],
        )
        .await;
    assert_eq!(change.status, StatusCode::NOT_FOUND, "{}", change.body);
    let note = app
        .request(
            reqwest::Method::POST,
            &format!("{allocated_case}/notes"),
            Some(&caseworker),
            Some(json!({"note_type": "contact", "visibility": "shared", "body": "Called"})),
            &purpose,
        )
        .await;
    assert_eq!(note.status, StatusCode::NOT_FOUND, "{}", note.body);

    let again = app.post(runs, &records, json!({"dry_run": false})).await;
    assert_eq!(again.body["disposed_client_ids"], json!([]));
    assert_eq!(again.body["certificate_id"], json!(null));
}

/// A tenancy support schedule (archive after 2 years, dispose after 7) and demo clients 0, 3
/// and 6 (tenancy support) with their cases closed 8 years ago: three files due.
pub async fn three_files_due(app: &TestApp) -> [String; 3] {
    let records = app.login("records").await;
    let schedule = json!({"service_type": "tenancy support", "archive_after_years": 2, "dispose_after_years": 7});
    let created = app
        .post("/api/v1/retention-schedules", &records, schedule)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    [0, 3, 6].map(|index| {
        close_case_years_ago(app, index, 8);
        app.client_id(index)
    })
}

/// Reads what a run is due to do, lets `meanwhile` change the database, then carries the run
/// out in jobs of `batch` ids each; answers the outcome and how many jobs it took.
async fn run_in_batches(
    app: &TestApp,
    batch: usize,
    meanwhile: impl FnOnce(&mut casebridge::db::DbConnection),
) -> (casebridge::retention::Outcome, usize) {
    let now = Utc::now().naive_utc();
    let plan = app.with_db(|conn| casebridge::retention::plan(conn, now).unwrap());
    app.with_db(meanwhile);
    let run = casebridge::retention::Run::new(&app.user_id("records"), b"test key");
    let mut jobs = 0;
    let outcome = casebridge::retention::carry_out(run, plan, batch, |step| {
        jobs += 1;
        std::future::ready(app.with_db(|conn| conn.transaction(|conn| step.apply(conn))))
    })
    .await
    .unwrap();
    (outcome, jobs)
}

/// Client ids in the order a run lists them.
fn sorted<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().cloned().collect();
    ids.sort_unstable();
    ids
}

fn certificate_hashes(app: &TestApp, outcome: &casebridge::retention::Outcome) -> usize {
    let id = outcome.certificate_id.as_deref().unwrap();
    let row = app.with_db(|conn| {
        casebridge::db::retention::certificate(conn, id)
            .unwrap()
            .unwrap()
    });
    serde_json::from_str::<Vec<String>>(&row.client_id_hashes)
        .unwrap()
        .len()
}

#[actix_web::test]
async fn a_run_with_more_due_than_a_batch_holds_takes_a_writer_job_per_batch_and_certifies_all_in_one_certificate()
 {
    let app = spawn_app().await;
    let due = three_files_due(&app).await;
    let (outcome, jobs) = run_in_batches(&app, 1, |_| {}).await;
    assert_eq!(outcome.disposed_client_ids, sorted(&due));
    // One job per archived case and one per disposed client.
    assert_eq!(jobs, outcome.archived_case_ids.len() + 3);
    assert_eq!(outcome.record_counts["clients"], 3);
    assert_eq!(certificate_hashes(&app, &outcome), 3);
    assert!(due.iter().all(|client| !client_exists(&app, client)));
}

#[actix_web::test]
async fn a_client_held_after_the_read_is_not_disposed_of_by_its_batch() {
    let app = spawn_app().await;
    let due = three_files_due(&app).await;
    let (held, placed_by) = (due[1].clone(), app.user_id("records"));
    let (outcome, _) = run_in_batches(&app, 1, |conn| {
        diesel::insert_into(legal_holds::table)
            .values((
                legal_holds::id.eq(uuid::Uuid::now_v7().to_string()),
                legal_holds::client_id.eq(&held),
                legal_holds::reason.eq("Subpoena"),
                legal_holds::placed_by.eq(&placed_by),
                legal_holds::placed_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
    assert_eq!(outcome.disposed_client_ids, sorted([&due[0], &due[2]]));
    assert!(client_exists(&app, &due[1]));
    assert_eq!(certificate_hashes(&app, &outcome), 2);
}

#[actix_web::test]
async fn a_client_whose_case_reopened_after_the_read_is_not_disposed_of_by_its_batch() {
    let app = spawn_app().await;
    let due = three_files_due(&app).await;
    let reopened = due[2].clone();
    let (outcome, _) = run_in_batches(&app, 1, |conn| {
        diesel::update(cases::table.filter(cases::client_id.eq(&reopened)))
            .set((
                cases::status.eq("open"),
                cases::closed_at.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
    assert_eq!(outcome.disposed_client_ids, sorted([&due[0], &due[1]]));
    assert!(client_exists(&app, &due[2]));
}

#[actix_web::test]
async fn a_dry_run_reports_the_record_counts_the_run_then_deletes() {
    let app = spawn_app().await;
    three_files_due(&app).await;
    let records = app.login("records").await;
    let runs = "/api/v1/retention/runs";
    let dry = app.post(runs, &records, json!({"dry_run": true})).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    let run = app.post(runs, &records, json!({"dry_run": false})).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert_eq!(dry.body["record_counts"], run.body["record_counts"]);
    assert_eq!(
        dry.body["disposed_client_ids"],
        run.body["disposed_client_ids"]
    );
    assert_eq!(dry.body["archived_case_ids"], run.body["archived_case_ids"]);
}

#[actix_web::test]
async fn a_disposal_deletes_the_responses_kept_for_retries_that_name_the_client() {
    use casebridge::db::schema::{idempotency_key_clients, idempotency_keys};
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let kept = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/cases/{}/notes", app.case_id(3)),
            Some(&caseworker),
            Some(json!({"note_type": "contact", "body": "Called"})),
            &[("Idempotency-Key", "0b6f3c52-5d7e-4a43-9c1b-2f3e4d5a6b7c")],
        )
        .await;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.body);
    let kept_rows = |app: &TestApp| {
        app.with_db(|conn| {
            let keys: i64 = idempotency_keys::table.count().get_result(conn).unwrap();
            let links: i64 = idempotency_key_clients::table
                .count()
                .get_result(conn)
                .unwrap();
            (keys, links)
        })
    };
    assert_eq!(kept_rows(&app), (1, 1));

    let [_, named, _] = three_files_due(&app).await;
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
        run.body["disposed_client_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(named))
    );
    assert_eq!(run.body["record_counts"]["kept_responses"], 1);
    assert_eq!(kept_rows(&app), (0, 0));
}

// ---- Clients who never had a case (issue 21) ---------------------------------------------

/// The schedule for clients without cases: a file with no activity for 7 years is due.
pub async fn schedule_for_clients_without_cases(app: &TestApp) {
    let records = app.login("records").await;
    let schedule = json!({"applies_to": "clients_without_cases", "dispose_after_years": 7});
    let created = app
        .post("/api/v1/retention-schedules", &records, schedule)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

/// Dates client `id`'s file, as the rule for clients without cases reads it (the client
/// record, the collection notices given and the consents recorded), `years` years ago.
fn date_file_back(app: &TestApp, id: &str, years: i64) {
    use casebridge::db::schema::{consents, notices_given};
    let then = Utc::now().naive_utc() - Duration::days(365 * years + 10);
    app.with_db(|conn| {
        diesel::update(clients::table.filter(clients::id.eq(id)))
            .set((clients::created_at.eq(then), clients::updated_at.eq(then)))
            .execute(conn)
            .unwrap();
        diesel::update(notices_given::table.filter(notices_given::client_id.eq(id)))
            .set(notices_given::recorded_at.eq(then))
            .execute(conn)
            .unwrap();
        diesel::update(consents::table.filter(consents::client_id.eq(id)))
            .set(consents::recorded_at.eq(then))
            .execute(conn)
            .unwrap();
    });
}

/// A new Housing Support client who never had a case, with their file dated `years` years
/// ago ([`date_file_back`]).
pub async fn client_without_cases_idle_for(app: &TestApp, years: i64) -> String {
    let caseworker = app.login("caseworker").await;
    let created = app
        .post("/api/v1/clients", &caseworker, crate::helpers::new_client())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    date_file_back(app, &id, years);
    id
}

async fn run_retention(app: &TestApp, dry_run: bool) -> Response {
    let records = app.login("records").await;
    let run = app
        .post(
            "/api/v1/retention/runs",
            &records,
            json!({"dry_run": dry_run}),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    run
}

#[actix_web::test]
async fn a_client_without_cases_idle_past_the_schedule_is_disposed_of_as_any_file_is() {
    use casebridge::db::schema::{changes, client_name_keys};
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    let idle = client_without_cases_idle_for(&app, 8).await;

    let run = run_retention(&app, false).await;

    assert_eq!(run.body["disposed_client_ids"], json!([idle]));
    assert!(!client_exists(&app, &idle));
    let records = app.login("records").await;
    let certificate = certificate_of(&app, &run, &records).await;
    assert_eq!(certificate.status, StatusCode::OK, "{}", certificate.body);
    assert_eq!(
        certificate.body["client_id_hashes"],
        hashes_of(&app, &[&idle])
    );
    assert_eq!(certificate.body["record_counts"]["clients"], 1);
    assert_eq!(certificate.body["record_counts"]["notices_given"], 1);
    assert_eq!(
        certificate.body["schedules"],
        json!([{"applies_to": "clients_without_cases", "service_type": null, "archive_after_years": null, "dispose_after_years": 7}])
    );
    let (feed_entries, name_keys): (i64, i64) = app.with_db(|conn| {
        (
            changes::table
                .filter(changes::client_id.eq(&idle))
                .count()
                .get_result(conn)
                .unwrap(),
            client_name_keys::table
                .filter(client_name_keys::client_id.eq(&idle))
                .count()
                .get_result(conn)
                .unwrap(),
        )
    });
    assert_eq!(feed_entries, 1, "the removal alone is kept");
    assert_eq!(name_keys, 0);
}

#[actix_web::test]
async fn a_client_without_cases_idle_for_less_than_the_schedule_is_kept() {
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    let recent = client_without_cases_idle_for(&app, 6).await;

    let run = run_retention(&app, false).await;

    assert_eq!(run.body["disposed_client_ids"], json!([]));
    assert!(client_exists(&app, &recent));
}

#[actix_web::test]
async fn a_consent_recorded_within_the_schedule_keeps_a_client_without_cases() {
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    let idle = client_without_cases_idle_for(&app, 8).await;
    let caseworker = app.login("caseworker").await;
    let consent = app
        .post(
            &format!("/api/v1/clients/{idle}/consents"),
            &caseworker,
            json!({"purpose": "share_basic_profile_with_divisions", "given_on": Utc::now().date_naive(), "method": "verbal"}),
        )
        .await;
    assert_eq!(consent.status, StatusCode::CREATED, "{}", consent.body);
    app.with_db(|conn| {
        // The consent alone is recent: the client record stays as old as the rest.
        diesel::update(clients::table.filter(clients::id.eq(&idle)))
            .set(clients::updated_at.eq(Utc::now().naive_utc() - Duration::days(365 * 8)))
            .execute(conn)
            .unwrap()
    });

    let run = run_retention(&app, false).await;

    assert_eq!(run.body["disposed_client_ids"], json!([]));
    assert!(client_exists(&app, &idle));
}

#[actix_web::test]
async fn a_client_with_a_case_open_closed_or_archived_is_not_disposed_of_by_the_rule_for_clients_without_cases()
 {
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    // Demo client 0's case closed and archived 8 years ago, client 1's case open; both files
    // otherwise untouched for 8 years. No schedule governs their cases' service types.
    close_case_years_ago(&app, 0, 8);
    let (closed, open) = (app.client_id(0), app.client_id(1));
    app.with_db(|conn| {
        diesel::update(cases::table.filter(cases::client_id.eq(&closed)))
            .set(cases::archived_at.eq(Utc::now().naive_utc()))
            .execute(conn)
            .unwrap();
    });
    for client in [&closed, &open] {
        date_file_back(&app, client, 8);
    }

    let run = run_retention(&app, false).await;

    assert_eq!(run.body["disposed_client_ids"], json!([]));
    assert!(client_exists(&app, &closed) && client_exists(&app, &open));
}

#[actix_web::test]
async fn a_legal_hold_keeps_a_client_without_cases_past_the_schedule() {
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    let held = client_without_cases_idle_for(&app, 8).await;
    let records = app.login("records").await;
    let hold = app
        .post(
            &format!("/api/v1/clients/{held}/legal-holds"),
            &records,
            json!({"reason": "Coronial inquest"}),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);

    let run = run_retention(&app, false).await;

    assert_eq!(run.body["disposed_client_ids"], json!([]));
    assert!(client_exists(&app, &held));
}

#[actix_web::test]
async fn a_dry_run_lists_a_client_without_cases_past_the_schedule_and_changes_nothing() {
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    let idle = client_without_cases_idle_for(&app, 8).await;

    let dry = run_retention(&app, true).await;

    assert_eq!(dry.body["disposed_client_ids"], json!([idle]));
    assert_eq!(dry.body["record_counts"]["clients"], 1);
    assert_eq!(dry.body["certificate_id"], json!(null));
    assert!(client_exists(&app, &idle));
}

fn schedules_stored(app: &TestApp) -> i64 {
    use casebridge::db::schema::retention_schedules;
    app.with_db(|conn| retention_schedules::table.count().get_result(conn).unwrap())
}

#[actix_web::test]
async fn a_schedule_for_clients_without_cases_that_does_not_fit_is_422_and_stores_nothing() {
    let app = spawn_app().await;
    let records = app.login("records").await;
    for (body, field) in [
        (
            json!({"applies_to": "clients_without_cases", "service_type": "tenancy support", "dispose_after_years": 7}),
            "service_type",
        ),
        (
            json!({"applies_to": "clients_without_cases", "archive_after_years": 2, "dispose_after_years": 7}),
            "archive_after_years",
        ),
        (
            json!({"applies_to": "clients_without_cases", "dispose_after_years": -1}),
            "dispose_after_years",
        ),
        (
            json!({"applies_to": "clients_without_cases"}),
            "dispose_after_years",
        ),
        (
            json!({"applies_to": "everyone", "dispose_after_years": 7}),
            "applies_to",
        ),
        (json!({"dispose_after_years": 7}), "service_type"),
    ] {
        let refused = app
            .post("/api/v1/retention-schedules", &records, body.clone())
            .await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            refused.body.to_string().contains(field),
            "{body} names {field}: {}",
            refused.body
        );
    }
    assert_eq!(schedules_stored(&app), 0);
}

#[actix_web::test]
async fn a_second_schedule_for_clients_without_cases_is_409() {
    let app = spawn_app().await;
    schedule_for_clients_without_cases(&app).await;
    let records = app.login("records").await;
    let again = app
        .post(
            "/api/v1/retention-schedules",
            &records,
            json!({"applies_to": "clients_without_cases", "dispose_after_years": 3}),
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "schedule_exists");
    assert_eq!(schedules_stored(&app), 1);
}

#[actix_web::test]
async fn roles_other_than_the_records_manager_may_not_create_a_schedule_for_clients_without_cases()
{
    let app = spawn_app().await;
    for user in ["caseworker", "privacy", "auditor"] {
        let token = app.login(user).await;
        let refused = app
            .post(
                "/api/v1/retention-schedules",
                &token,
                json!({"applies_to": "clients_without_cases", "dispose_after_years": 7}),
            )
            .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(schedules_stored(&app), 0);
}
