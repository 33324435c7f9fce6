//! When the database is slow, locked or out of reach, requests are answered 503 with
//! `Retry-After` within a bound, never 500 and never left hanging, and a change whose request
//! was answered "nothing was changed" is never applied afterwards.
use std::sync::mpsc;
use std::time::{Duration, Instant};

use casebridge::db::schema::notes;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Response, TestApp, backend, spawn_app, spawn_app_with, test_config};
use crate::writes::assert_problem;

/// Housing Support's client allocated to Northside, whose case the caseworker may write to.
const CLIENT: usize = 3;

/// What another session holds, that the service's writes must wait for.
#[derive(Clone, Copy)]
pub enum Lock {
    /// Every write: SQLite's write lock, or on PostgreSQL the lock each writer batch takes.
    Writes,
    /// Writes to the notes table only (PostgreSQL; on SQLite a write lock is the database's).
    NotesTable,
}

/// Opens a session of its own on the test's database, takes `lock`, and holds it for `held`
/// on another thread; returns once the lock is taken.
pub fn hold(app: &TestApp, lock: Lock, held: Duration) -> std::thread::JoinHandle<()> {
    let url = app.database_url.clone();
    let (taken, is_taken) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let (take, release) = match backend().as_str() {
            "postgres" => match lock {
                Lock::Writes => (
                    format!(
                        "SELECT pg_advisory_lock({})",
                        casebridge::db::writer::BATCH_LOCK_KEY
                    ),
                    format!(
                        "SELECT pg_advisory_unlock({})",
                        casebridge::db::writer::BATCH_LOCK_KEY
                    ),
                ),
                Lock::NotesTable => (
                    "BEGIN; LOCK TABLE notes IN EXCLUSIVE MODE".to_owned(),
                    "COMMIT".to_owned(),
                ),
            },
            _ => ("BEGIN IMMEDIATE".to_owned(), "COMMIT".to_owned()),
        };
        let run = |conn: &mut dyn SimpleConnection| {
            conn.batch_execute(&take).expect("lock taken");
            taken.send(()).unwrap();
            std::thread::sleep(held);
            conn.batch_execute(&release).expect("lock released");
        };
        match backend().as_str() {
            "postgres" => run(&mut PgConnection::establish(&url).unwrap()),
            _ => run(&mut SqliteConnection::establish(&url).unwrap()),
        }
    });
    is_taken
        .recv_timeout(Duration::from_secs(10))
        .expect("the other session takes its lock");
    holder
}

/// The case's notes, counted on a reader connection: SQLite's one writer connection is the
/// writer's while it waits.
/// Waits for `holder` to let go, off the test's own thread (which runs the server).
pub async fn released(holder: std::thread::JoinHandle<()>) {
    actix_web::rt::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
}

fn notes_of(app: &TestApp, case_id: &str) -> i64 {
    notes::table
        .filter(notes::case_id.eq(case_id))
        .count()
        .get_result(&mut *app.db.read_conn().unwrap())
        .unwrap()
}

async fn add_note(app: &TestApp, case_id: &str, token: &str) -> Response {
    app.post(
        &format!("/api/v1/cases/{case_id}/notes"),
        token,
        json!({"note_type": "contact", "body": "Phoned the client."}),
    )
    .await
}

#[track_caller]
fn assert_retry_after(response: &Response) {
    let seconds = response
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(
        seconds.is_some_and(|seconds| seconds >= 1),
        "Retry-After missing: {:?}",
        response.headers
    );
}

#[actix_web::test]
async fn a_write_that_waits_on_another_sessions_lock_answers_503_busy_and_stores_nothing() {
    let app = spawn_app_with(|config| config.limits.db_lock_timeout_ms = 300).await;
    let token = app.login("caseworker").await;
    let case_id = app.case_id(CLIENT);
    let before = notes_of(&app, &case_id);

    let holder = hold(&app, Lock::NotesTable, Duration::from_secs(2));
    let started = Instant::now();
    let refused = add_note(&app, &case_id, &token).await;
    let waited = started.elapsed();
    released(holder).await;

    assert_problem(&refused, StatusCode::SERVICE_UNAVAILABLE, "database_busy");
    assert_retry_after(&refused);
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    assert_eq!(notes_of(&app, &case_id), before);
    let retried = add_note(&app, &case_id, &token).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
}

#[actix_web::test]
async fn a_change_the_writer_did_not_start_in_time_is_never_applied() {
    let app = spawn_app_with(|config| {
        config.limits.db_wait_ms = 300;
        config.limits.db_lock_timeout_ms = 5_000;
    })
    .await;
    let token = app.login("caseworker").await;
    let case_id = app.case_id(CLIENT);
    // The writer's current batch waits for the lock; the change behind it waits in the queue.
    let holder = hold(&app, Lock::Writes, Duration::from_millis(1_500));
    let first = add_note(&app, &case_id, &token);
    let queued = async {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        let before = notes_of(&app, &case_id);
        (before, add_note(&app, &case_id, &token).await)
    };
    let (first, (before_queued, queued)) = futures_util::join!(first, queued);
    released(holder).await;
    // Whatever became of the first, the queued change is answered "not started"...
    assert_problem(
        &queued,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    );
    assert_retry_after(&queued);
    // ...and after the lock is released and the writer runs again, it has not been applied.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let first_created = i64::from(first.status == StatusCode::CREATED);
    assert_eq!(notes_of(&app, &case_id), before_queued + first_created);
}

#[actix_web::test]
async fn a_change_beyond_a_full_write_queue_is_refused_at_once() {
    let app = spawn_app_with(|config| {
        config.limits.write_queue = 1;
        config.limits.db_lock_timeout_ms = 5_000;
    })
    .await;
    let token = app.login("caseworker").await;
    let case_id = app.case_id(CLIENT);
    let holder = hold(&app, Lock::Writes, Duration::from_secs(3));
    let responses =
        futures_util::future::join_all((0..6).map(|_| add_note(&app, &case_id, &token))).await;
    released(holder).await;
    let full: Vec<&Response> = responses
        .iter()
        .filter(|response| response.code() == "database_busy")
        .collect();
    assert!(
        !full.is_empty(),
        "no change was refused: {:?}",
        responses.iter().map(Response::code).collect::<Vec<_>>()
    );
    for response in full {
        assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "database_busy");
        assert_retry_after(response);
    }
    assert!(
        responses
            .iter()
            .all(|response| response.status != StatusCode::INTERNAL_SERVER_ERROR)
    );
}

#[actix_web::test]
async fn ready_answers_503_within_a_second_while_writes_cannot_be_stored() {
    let app = spawn_app_with(|config| config.limits.db_lock_timeout_ms = 5_000).await;
    let ready = || async {
        let started = Instant::now();
        let response = app
            .client
            .get(format!("{}/ready", app.address))
            .send()
            .await
            .unwrap();
        (response.status(), started.elapsed())
    };
    assert_eq!(ready().await.0, StatusCode::OK);

    let holder = hold(&app, Lock::Writes, Duration::from_secs(2));
    let (status, waited) = ready().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        waited < Duration::from_millis(1_500),
        "answered after {waited:?}"
    );
    released(holder).await;

    // Once the other session lets go, the service is ready again.
    assert_eq!(ready().await.0, StatusCode::OK);
}

#[actix_web::test]
async fn a_second_service_on_one_sqlite_database_is_refused_at_start() {
    let app = spawn_app().await;
    let config = test_config(app.data_dir.path().to_owned(), app.database_url.clone());
    let state = casebridge::startup::state(config).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();

    let second = casebridge::startup::Application::build(state, listener);

    match backend().as_str() {
        // Instances of one PostgreSQL database take turns (docs/scaling.md).
        "postgres" => assert!(second.is_ok()),
        _ => {
            let error = second.err().expect("refused").to_string();
            assert!(
                error.contains("another casebridge process is serving"),
                "{error}"
            );
        }
    }
    // The service that holds the database keeps serving.
    assert_eq!(
        app.get("/api/v1/me", &app.login("caseworker").await)
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn starting_while_postgresql_cannot_be_reached_gives_up_with_its_reason() {
    let data_dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let mut config = test_config(
        data_dir.path().to_owned(),
        "postgres://postgres@127.0.0.1:1/casebridge".to_owned(),
    );
    config.limits.db_start_wait = 2;
    let started = Instant::now();

    let error = casebridge::startup::state(config)
        .await
        .err()
        .expect("no database, no service")
        .to_string();

    assert!(
        error.contains("PostgreSQL could not be reached within 2 s"),
        "{error}"
    );
    assert!(
        error.contains("refused"),
        "the database's own reason: {error}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "it retried");
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn ready_status(app: &TestApp) -> Response {
    app.request(reqwest::Method::GET, "/ready", None, None, &[])
        .await
}

#[cfg(unix)]
#[actix_web::test]
async fn ready_answers_503_while_the_sqlite_file_is_read_only() {
    use std::os::unix::fs::PermissionsExt;
    if backend() != "sqlite" {
        return; // PostgreSQL's files are the server's.
    }
    let app = spawn_app().await;
    let file = std::path::PathBuf::from(&app.database_url);
    let mode = |bits| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(bits));

    mode(0o444).unwrap();
    let read_only = ready_status(&app).await;
    mode(0o600).unwrap();
    let writable = ready_status(&app).await;

    assert_problem(
        &read_only,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_file_changed",
    );
    assert_eq!(writable.status, StatusCode::OK);
}

#[actix_web::test]
async fn ready_answers_503_once_the_write_ahead_log_is_gone() {
    if backend() != "sqlite" {
        return; // PostgreSQL's files are the server's.
    }
    let app = spawn_app().await;
    assert_eq!(ready_status(&app).await.status, StatusCode::OK);

    std::fs::remove_file(format!("{}-wal", app.database_url)).unwrap();

    assert_problem(
        &ready_status(&app).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_file_changed",
    );
}
