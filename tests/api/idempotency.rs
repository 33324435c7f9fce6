//! A POST sent again with the same `Idempotency-Key` is answered with the first response and
//! never applied twice; the key is the caller's own, bound to its request, and kept for the
//! configured time.
use std::time::Duration;

use casebridge::db::schema::{idempotency_keys, notes};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, spawn_app, spawn_app_with};
use crate::outages::{Lock, hold, released};
use crate::writes::assert_problem;

/// Housing Support's client allocated to Northside, whose case the caseworker may write to.
const CLIENT: usize = 3;
const KEY: &str = "5f0c6f0e-7a43-4c55-9d6b-1f9c2b7e8a10";

fn note() -> Value {
    json!({"note_type": "contact", "body": "Phoned the client about the lease."})
}

impl TestApp {
    async fn post_keyed(&self, path: &str, token: &str, body: Value, key: &str) -> Response {
        self.request(
            Method::POST,
            path,
            Some(token),
            Some(body),
            &[("Idempotency-Key", key)],
        )
        .await
    }

    async fn add_note_keyed(&self, token: &str, body: Value, key: &str) -> Response {
        let path = format!("/api/v1/cases/{}/notes", self.case_id(CLIENT));
        self.post_keyed(&path, token, body, key).await
    }

    /// The case's notes, counted on a reader connection.
    fn notes_of_case(&self) -> i64 {
        notes::table
            .filter(notes::case_id.eq(self.case_id(CLIENT)))
            .count()
            .get_result(&mut *self.db.read_conn().unwrap())
            .unwrap()
    }
}

#[actix_web::test]
async fn a_retry_with_the_same_key_gets_the_first_response_and_applies_nothing() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let before = app.notes_of_case();

    let first = app.add_note_keyed(&token, note(), KEY).await;
    let retried = app.add_note_keyed(&token, note(), KEY).await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body, first.body);
    assert_eq!(retried.headers["location"], first.headers["location"]);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert!(!first.headers.contains_key("idempotent-replayed"));
    assert_eq!(app.notes_of_case(), before + 1);
}

#[actix_web::test]
async fn a_replay_is_audited_with_the_client_and_fields_it_discloses() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let first = app.add_note_keyed(&token, note(), KEY).await;
    let retried = app.add_note_keyed(&token, note(), KEY).await;

    let original = app.audit_row_of(&first);
    let replay = app.audit_row_of(&retried);
    assert_ne!(original.request_id, replay.request_id);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.client_ids, original.client_ids);
    assert!(replay.client_ids.contains(&app.client_id(CLIENT)));
    assert_eq!(replay.fields, original.fields);
    assert_eq!(replay.resource_id, original.resource_id);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_refused_422_and_applies_nothing() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    app.add_note_keyed(&token, note(), KEY).await;
    let before = app.notes_of_case();

    let other = json!({"note_type": "contact", "body": "Another note."});
    let refused = app.add_note_keyed(&token, other, KEY).await;

    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    assert_eq!(app.notes_of_case(), before);
}

#[actix_web::test]
async fn the_same_key_on_another_path_is_refused_422() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    app.add_note_keyed(&token, note(), KEY).await;

    let other_case = "/api/v1/cases/0190e5a4-39b2-7c8a-9d5e-0f6a7b8c9d0e/notes";
    let refused = app.post_keyed(other_case, &token, note(), KEY).await;

    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
}

#[actix_web::test]
async fn keys_are_the_callers_own() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let team_leader = app.login("teamleader").await;
    let before = app.notes_of_case();

    let first = app.add_note_keyed(&caseworker, note(), KEY).await;
    let other_caller = app.add_note_keyed(&team_leader, note(), KEY).await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        other_caller.status,
        StatusCode::CREATED,
        "{}",
        other_caller.body
    );
    assert!(!other_caller.headers.contains_key("idempotent-replayed"));
    assert_ne!(other_caller.body["id"], first.body["id"]);
    assert_eq!(app.notes_of_case(), before + 2);
}

#[actix_web::test]
async fn a_key_outlives_its_session_but_not_its_lifetime() {
    let app = spawn_app_with(|config| config.limits.idempotency_key_hours = 2).await;
    let first = app
        .add_note_keyed(&app.login("caseworker").await, note(), KEY)
        .await;
    let other_session = app.login("caseworker").await;
    let replayed = app.add_note_keyed(&other_session, note(), KEY).await;
    assert_eq!(replayed.body["id"], first.body["id"]);

    app.clock.advance(chrono::Duration::hours(2));
    let token = app.login("caseworker").await;
    let after_expiry = app.add_note_keyed(&token, note(), KEY).await;

    assert_eq!(
        after_expiry.status,
        StatusCode::CREATED,
        "{}",
        after_expiry.body
    );
    assert_ne!(after_expiry.body["id"], first.body["id"]);
}

#[actix_web::test]
async fn an_attempt_that_applied_nothing_leaves_the_key_to_its_retry() {
    let app = spawn_app_with(|config| config.limits.db_lock_timeout_ms = 300).await;
    let token = app.login("caseworker").await;
    let before = app.notes_of_case();

    let holder = hold(&app, Lock::NotesTable, Duration::from_millis(1_500));
    let refused = app.add_note_keyed(&token, note(), KEY).await;
    released(holder).await;
    let retried = app.add_note_keyed(&token, note(), KEY).await;

    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert!(!retried.headers.contains_key("idempotent-replayed"));
    assert_eq!(app.notes_of_case(), before + 1);
}

#[actix_web::test]
async fn a_refused_attempt_leaves_the_key_to_its_corrected_retry() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let invalid = json!({"note_type": "no such type", "body": "Phoned."});

    let refused = app.add_note_keyed(&token, invalid, KEY).await;
    let corrected = app.add_note_keyed(&token, note(), KEY).await;

    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(corrected.status, StatusCode::CREATED, "{}", corrected.body);
}

#[actix_web::test]
async fn concurrent_attempts_with_one_key_apply_once() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let before = app.notes_of_case();

    let attempts = (0..8).map(|_| app.add_note_keyed(&token, note(), KEY));
    let responses = futures_util::future::join_all(attempts).await;

    assert_eq!(app.notes_of_case(), before + 1);
    let ids: std::collections::BTreeSet<String> = responses
        .iter()
        .filter(|response| response.status == StatusCode::CREATED)
        .map(|response| response.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "{:?}",
        responses.iter().map(Response::code).collect::<Vec<_>>()
    );
    for response in &responses {
        if response.status != StatusCode::CREATED {
            assert_problem(response, StatusCode::CONFLICT, "idempotency_key_in_use");
        }
    }
}

#[actix_web::test]
async fn an_applied_change_whose_response_was_not_kept_is_refused_409_not_applied_again() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    app.add_note_keyed(&token, note(), KEY).await;
    let before = app.notes_of_case();
    // As if the service stopped between committing the change and keeping its response.
    app.with_db(|conn| {
        diesel::update(idempotency_keys::table)
            .set(idempotency_keys::response_body.eq(None::<String>))
            .execute(conn)
            .unwrap()
    });

    let retried = app.add_note_keyed(&token, note(), KEY).await;

    assert_problem(&retried, StatusCode::CONFLICT, "idempotency_key_in_use");
    assert_eq!(app.notes_of_case(), before);
}

#[actix_web::test]
async fn the_kept_response_is_sealed() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    app.add_note_keyed(&token, note(), KEY).await;

    let kept: Vec<(String, String)> = app.with_db(|conn| {
        idempotency_keys::table
            .select((
                idempotency_keys::key_hash,
                idempotency_keys::response_body.assume_not_null(),
            ))
            .load(conn)
            .unwrap()
    });

    assert_eq!(kept.len(), 1);
    let (key_hash, body) = &kept[0];
    assert!(!key_hash.contains(KEY));
    assert!(body.starts_with("enc1:"), "not sealed");
    assert!(!body.contains("lease"));
}

#[actix_web::test]
async fn a_malformed_key_is_refused_422_and_applies_nothing() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let before = app.notes_of_case();

    for key in ["two words", &"k".repeat(256)] {
        let refused = app.add_note_keyed(&token, note(), key).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    assert_eq!(app.notes_of_case(), before);
}

#[actix_web::test]
async fn expired_keys_are_forgotten_in_bounded_batches() {
    let app = spawn_app_with(|config| config.limits.idempotency_key_hours = 1).await;
    let token = app.login("caseworker").await;
    for key in ["k-1", "k-2", "k-3"] {
        app.add_note_keyed(&token, note(), key).await;
    }
    let kept = |app: &TestApp| -> i64 {
        app.with_db(|conn| idempotency_keys::table.count().get_result(conn).unwrap())
    };
    let forget = |app: &TestApp, now| {
        app.with_db(|conn| casebridge::db::idempotency::forget_expired(conn, now, 2).unwrap())
    };

    let not_yet = forget(&app, app.clock.now());
    let later = app.clock.now() + chrono::Duration::hours(1);
    let (first, second) = (forget(&app, later), forget(&app, later));

    assert_eq!((not_yet, first, second), (0, 2, 1));
    assert_eq!(kept(&app), 0);
}

#[actix_web::test]
async fn a_retry_while_the_first_attempt_holds_the_key_is_409_until_its_lease_is_over() {
    use casebridge::api::idempotency::ATTEMPT_LEASE;
    use casebridge::db::idempotency::{Attempt, Lookup, reserve};
    let app = spawn_app().await;
    let started = app.clock.now();
    let attempt = |token: &'static str, at: chrono::NaiveDateTime| {
        app.with_db(|conn| {
            let attempt = Attempt {
                principal_id: "someone",
                key_hash: "key",
                request_hash: "request",
                token,
                now: at,
                expires_at: at + chrono::Duration::hours(24),
                lease: ATTEMPT_LEASE,
            };
            reserve(conn, &attempt).unwrap()
        })
    };
    assert!(matches!(attempt("first", started), Lookup::Reserved(_)));
    let during = started + ATTEMPT_LEASE - chrono::Duration::seconds(1);
    assert!(matches!(attempt("second", during), Lookup::InProgress));
    let after = started + ATTEMPT_LEASE;
    assert!(
        matches!(attempt("third", after), Lookup::Reserved(_)),
        "a key whose attempt died with its process is free again"
    );
}

/// The caseworker's note on the client's case, then a change to what they may see, then the
/// retry: refused, and nothing applied twice.
async fn retry_after(
    app: &TestApp,
    change: impl FnOnce(&mut casebridge::db::DbConnection),
) -> Response {
    let token = app.login("caseworker").await;
    let first = app.add_note_keyed(&token, note(), KEY).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let before = app.notes_of_case();
    app.with_db(change);
    let retried = app.add_note_keyed(&token, note(), KEY).await;
    assert_eq!(app.notes_of_case(), before, "nothing applied twice");
    retried
}

#[actix_web::test]
async fn a_replay_is_withheld_once_the_callers_clearance_changes() {
    use casebridge::db::schema::users;
    let app = spawn_app().await;
    let retried = retry_after(&app, |conn| {
        diesel::update(users::table.filter(users::username.eq("caseworker")))
            .set(users::clearance.eq(casebridge::domain::ProtectiveMarking::Official.rank()))
            .execute(conn)
            .unwrap();
    })
    .await;
    assert_problem(
        &retried,
        StatusCode::CONFLICT,
        "idempotent_response_withheld",
    );
    assert!(retried.body.get("body").is_none(), "{}", retried.body);
}

#[actix_web::test]
async fn a_replay_naming_a_client_made_restricted_since_needs_a_purpose_of_use() {
    use casebridge::db::schema::clients;
    let app = spawn_app().await;
    let client_id = app.client_id(CLIENT);
    let withheld = retry_after(&app, |conn| {
        diesel::update(clients::table.filter(clients::id.eq(&client_id)))
            .set(clients::restricted.eq(true))
            .execute(conn)
            .unwrap();
    })
    .await;
    assert_problem(
        &withheld,
        StatusCode::CONFLICT,
        "idempotent_response_withheld",
    );

    let token = app.login("caseworker").await;
    let path = format!("/api/v1/cases/{}/notes", app.case_id(CLIENT));
    let with_purpose = app
        .request(
            Method::POST,
            &path,
            Some(&token),
            Some(note()),
            &[
                ("Idempotency-Key", KEY),
                ("X-Purpose-Of-Use", "follow-up on referral"),
            ],
        )
        .await;
    assert_eq!(
        with_purpose.status,
        StatusCode::CREATED,
        "{}",
        with_purpose.body
    );
    assert_eq!(with_purpose.headers["idempotent-replayed"], "true");
}

#[actix_web::test]
async fn keys_and_requests_are_kept_as_keyed_hashes_only() {
    use sha2::{Digest, Sha256};
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    app.add_note_keyed(&token, note(), KEY).await;
    let (key_hash, request_hash): (String, String) = app.with_db(|conn| {
        idempotency_keys::table
            .select((idempotency_keys::key_hash, idempotency_keys::request_hash))
            .first(conn)
            .unwrap()
    });
    assert_ne!(key_hash, hex::encode(Sha256::digest(KEY.as_bytes())));
    assert_eq!((key_hash.len(), request_hash.len()), (64, 64));
}
