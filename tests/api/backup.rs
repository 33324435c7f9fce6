//! `casebridge backup` under write load and `casebridge restore`, on the test's backend: the
//! restored database holds every write acknowledged before the backup began, its audit trail
//! verifies, every session has ended, and a service starts on it.
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use casebridge::db::schema::{notes, sessions};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;

use crate::cli::casebridge;
use crate::helpers::{
    TestApp, backend, drop_postgres_database, fresh_database, spawn_app, test_config,
};

/// Housing Support's client allocated to Northside, whose case the caseworker may write to.
const CLIENT: usize = 3;

/// Runs the binary against `database_url` off the test's thread (which serves the app).
async fn run(data_dir: &Path, database_url: &str, args: &[&str]) -> Output {
    let data_dir = data_dir.to_owned();
    let mut all = vec!["--database-url".to_owned(), database_url.to_owned()];
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    actix_web::rt::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        casebridge(&data_dir, &args, &[])
    })
    .await
    .unwrap()
}

/// `casebridge restore --from backup --restored-by admin` into `database_url`.
async fn restore(data_dir: &Path, database_url: &str, backup: &Path) -> Output {
    let from = backup.to_str().unwrap();
    let args = ["restore", "--from", from, "--restored-by", "admin"];
    run(data_dir, database_url, &args).await
}

/// `casebridge backup --to backup` of `app`'s database, which must succeed.
async fn back_up(app: &TestApp, backup: &Path) -> String {
    let to = backup.to_str().unwrap();
    assert_success(
        &run(
            app.data_dir.path(),
            &app.database_url,
            &["backup", "--to", to],
        )
        .await,
    )
}

#[track_caller]
fn assert_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Notes created while `writing` is set; answers the ids acknowledged.
async fn write_notes(app: &TestApp, token: &str, writing: &AtomicBool) -> Vec<String> {
    let path = format!("/api/v1/cases/{}/notes", app.case_id(CLIENT));
    let mut acknowledged = Vec::new();
    while writing.load(Ordering::SeqCst) {
        let note = json!({"note_type": "contact", "body": "Written during the backup."});
        let created = app.post(&path, token, note).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        acknowledged.push(created.body["id"].as_str().unwrap().to_owned());
    }
    acknowledged
}

#[actix_web::test]
async fn a_backup_under_write_load_restores_every_acknowledged_write_with_an_intact_trail() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = format!("/api/v1/cases/{}/notes", app.case_id(CLIENT));
    let mut before = Vec::new();
    for _ in 0..5 {
        let note = json!({"note_type": "contact", "body": "Written before the backup."});
        before.push(app.post(&path, &token, note).await.body["id"].clone());
    }
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("backup");

    // Writers keep writing while the backup is taken.
    let writing = Arc::new(AtomicBool::new(true));
    let load = write_notes(&app, &token, &writing);
    let taken = async {
        let report = back_up(&app, &backup).await;
        writing.store(false, Ordering::SeqCst);
        report
    };
    let (during, report) = futures_util::join!(load, taken);
    assert!(report.contains("backup taken at"), "{report}");
    assert!(!during.is_empty(), "writes went on during the backup");

    // Restored elsewhere: a new data directory and database.
    let restored_dir = tempfile::tempdir().unwrap();
    let (restored_url, restored_name) = fresh_database(restored_dir.path());
    let restored = restore(restored_dir.path(), &restored_url, &backup).await;
    let report = assert_success(&restored);
    assert!(report.contains("audit trail intact"), "{report}");
    let verified = run(restored_dir.path(), &restored_url, &["audit", "verify"]).await;
    assert!(assert_success(&verified).contains("audit trail intact"));

    let config = test_config(restored_dir.path().to_owned(), restored_url.clone());
    let state = casebridge::startup::state(config)
        .await
        .expect("a service starts on it");
    let mut conn = state.db.read_conn().unwrap();
    let restored_notes: Vec<String> = notes::table.select(notes::id).load(&mut conn).unwrap();
    for id in &before {
        assert!(restored_notes.contains(&id.as_str().unwrap().to_owned()));
    }
    let live_sessions: i64 = sessions::table
        .filter(sessions::ended_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(live_sessions, 0, "every session ended by the restore");
    drop(conn);
    drop(state);
    if let Some(name) = restored_name {
        drop_postgres_database(&name);
    }
}

#[actix_web::test]
async fn a_damaged_backup_is_refused_and_nothing_is_replaced() {
    let app = spawn_app().await;
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("backup");
    back_up(&app, &backup).await;
    let copy = std::fs::read_dir(&backup)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_stem().is_some_and(|stem| stem == "casebridge"))
        .expect("the copy");
    let mut bytes = std::fs::read(&copy).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&copy, bytes).unwrap();

    let restored_dir = tempfile::tempdir().unwrap();
    let (restored_url, restored_name) = fresh_database(restored_dir.path());
    let refused = restore(restored_dir.path(), &restored_url, &backup).await;

    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the backup is damaged"));
    assert!(
        !restored_dir.path().join("data-keys").exists(),
        "no key file restored"
    );
    if let Some(name) = restored_name {
        drop_postgres_database(&name);
    }
}

#[actix_web::test]
async fn a_restore_over_a_served_sqlite_database_is_refused() {
    if backend() != "sqlite" {
        // PostgreSQL restores into an empty database only (tested above).
        return;
    }
    let app = spawn_app().await;
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("backup");
    back_up(&app, &backup).await;

    let refused = restore(app.data_dir.path(), &app.database_url, &backup).await;

    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another casebridge process is serving")
    );
    let token = app.login("caseworker").await;
    assert_eq!(app.get("/api/v1/me", &token).await.status, StatusCode::OK);
}
