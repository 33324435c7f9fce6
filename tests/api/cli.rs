//! The commands an operator runs, against the real binary on a fresh SQLite file.
use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_casebridge");

/// Runs the binary with `data_dir` as its data directory and none of the developer's own
/// settings that would change what it does.
pub fn casebridge(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BINARY)
        .args(args)
        .env("CASEBRIDGE_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("CASEBRIDGE_DATA_KEY")
        .env_remove("CASEBRIDGE_DEMO_PASSWORD")
        .env_remove("CASEBRIDGE_ADMIN_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .expect("run casebridge")
}

#[test]
fn seed_demo_fills_an_empty_database_once_and_refuses_weak_passwords() {
    let data = tempfile::tempdir().unwrap();
    let migrate = casebridge(data.path(), &["migrate"], &[]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let weak = casebridge(data.path(), &["seed-demo", "--demo-password", "short"], &[]);
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    let seeded = casebridge(
        data.path(),
        &["seed-demo"],
        &[("CASEBRIDGE_DEMO_PASSWORD", "a demo password")],
    );
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let again = casebridge(
        data.path(),
        &["seed-demo"],
        &[("CASEBRIDGE_DEMO_PASSWORD", "a demo password")],
    );
    assert!(
        !again.status.success(),
        "a database with data is never seeded over"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[actix_web::test]
async fn create_admin_makes_an_administrator_who_can_log_in() {
    let app = crate::helpers::spawn_app().await;
    let database = app.database_url.clone();
    let created = casebridge(
        app.data_dir.path(),
        &[
            "create-admin",
            "--username",
            "root-admin",
            "--display-name",
            "Root Admin",
            "--email",
            "root@department.example",
            "--division",
            "Housing Support",
        ],
        &[
            ("DATABASE_URL", &database),
            ("CASEBRIDGE_ADMIN_PASSWORD", "a long admin password"),
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let login = app
        .login_response("root-admin", "a long admin password")
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let token = login.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(me.body["roles"], json!(["dept_admin"]));
    assert_eq!(me.body["organisation"]["name"], "Housing Support");

    let weak = casebridge(
        app.data_dir.path(),
        &[
            "create-admin",
            "--username",
            "weak",
            "--display-name",
            "W",
            "--email",
            "w@d.example",
            "--division",
            "Housing Support",
        ],
        &[
            ("DATABASE_URL", &database),
            ("CASEBRIDGE_ADMIN_PASSWORD", "weak"),
        ],
    );
    assert!(!weak.status.success());
}

#[actix_web::test]
async fn access_reviews_close_due_applies_every_overdue_review() {
    use casebridge::db::schema::access_reviews;
    use diesel::prelude::*;
    let app = crate::helpers::spawn_app().await;
    let admin = app.login("admin").await;
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    let today = app.clock.today();
    let opened = app
        .post(
            "/api/v1/access-reviews",
            &admin,
            json!({"organisation_id": eastern, "due_on": today}),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let id = opened.body["id"].as_str().unwrap().to_owned();
    let run = || {
        casebridge(
            app.data_dir.path(),
            &[
                "--database-url",
                &app.database_url,
                "access-reviews",
                "close-due",
            ],
            &[],
        )
    };
    // Due today: not yet overdue.
    let output = run();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("closed 0"));

    app.with_db(|conn| {
        diesel::update(access_reviews::table.filter(access_reviews::id.eq(&id)))
            .set(access_reviews::due_on.eq(today - chrono::Duration::days(1)))
            .execute(conn)
            .unwrap()
    });
    let output = run();
    assert!(String::from_utf8_lossy(&output.stdout).contains("closed 1"));
    let review = app
        .get(&format!("/api/v1/access-reviews/{id}"), &admin)
        .await;
    assert_eq!(review.body["status"], "closed", "{}", review.body);
    assert!(review.body["closed_by"].is_null());
    let login = app
        .login_response("csp-east", crate::helpers::PASSWORD)
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn retention_run_lists_or_disposes_as_the_api_does() {
    use casebridge::db::schema::{cases, clients};
    use diesel::prelude::*;
    let app = crate::helpers::spawn_app().await;
    let records = app.login("records").await;
    let schedule = json!({"service_type": "tenancy support", "archive_after_years": 1, "dispose_after_years": 5});
    let created = app
        .post("/api/v1/retention-schedules", &records, schedule)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let client = app.client_id(0);
    let closed_at = chrono::Utc::now().naive_utc() - chrono::Duration::days(6 * 366);
    app.with_db(|conn| {
        diesel::update(cases::table.filter(cases::client_id.eq(&client)))
            .set((cases::status.eq("closed"), cases::closed_at.eq(closed_at)))
            .execute(conn)
            .unwrap()
    });
    let run = |extra: &[&str]| {
        let mut args = vec!["--database-url", &app.database_url, "retention", "run"];
        args.extend_from_slice(extra);
        casebridge(app.data_dir.path(), &args, &[])
    };
    let exists = || {
        app.with_db(|conn| {
            clients::table
                .filter(clients::id.eq(&client))
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
    };
    let unknown = run(&["--dry-run", "--authorised-by", "nobody"]);
    assert!(!unknown.status.success());
    let dry = run(&["--dry-run", "--authorised-by", "records"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("1 client file(s) would be disposed of"),
        "{stdout}"
    );
    assert!(stdout.contains(&client), "{stdout}");
    assert_eq!(exists(), 1);
    let real = run(&["--authorised-by", "records"]);
    let stdout = String::from_utf8_lossy(&real.stdout);
    assert!(stdout.contains("disposal certificate"), "{stdout}");
    assert_eq!(exists(), 0);

    // Both runs are in the audit trail, by whom they were authorised, naming the clients.
    let rows = app.audit_rows("casebridge retention run");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row.method, "CLI");
        assert_eq!(
            row.actor_user_id.as_deref(),
            Some(app.user_id("records").as_str())
        );
        assert!(row.client_ids.contains(&client), "{}", row.client_ids);
    }
    assert!(rows[0].path.ends_with("--dry-run --authorised-by records"));
    assert_eq!(
        rows[1].path,
        "casebridge retention run --authorised-by records"
    );
    let verdict = app.with_db(|conn| casebridge::audit::chain::verify(conn).unwrap());
    assert!(
        matches!(verdict, casebridge::audit::chain::Verdict::Intact { .. }),
        "{verdict:?}"
    );
}

#[actix_web::test]
async fn retention_run_disposes_of_a_client_without_cases_as_the_api_does() {
    let app = crate::helpers::spawn_app().await;
    crate::retention::schedule_for_clients_without_cases(&app).await;
    let idle = crate::retention::client_without_cases_idle_for(&app, 8).await;

    let run = casebridge(
        app.data_dir.path(),
        &[
            "--database-url",
            &app.database_url,
            "retention",
            "run",
            "--authorised-by",
            "records",
        ],
        &[],
    );

    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("1 client file(s) were disposed of"),
        "{stdout}"
    );
    assert!(stdout.contains(&idle), "{stdout}");
    let left: i64 = app.with_db(|conn| {
        use casebridge::db::schema::clients;
        use diesel::prelude::*;
        clients::table
            .filter(clients::id.eq(&idle))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(left, 0);
}

#[actix_web::test]
async fn ready_check_exits_0_for_a_ready_service_and_1_otherwise() {
    let app = crate::helpers::spawn_app().await;
    let data = tempfile::tempdir().unwrap();
    let check = |url: String| {
        let dir = data.path().to_owned();
        actix_web::rt::task::spawn_blocking(move || {
            casebridge(&dir, &["ready-check", "--url", &url], &[])
        })
    };

    let ready = check(format!("{}/ready", app.address)).await.unwrap();
    let nothing_there = check("http://127.0.0.1:1/ready".to_owned()).await.unwrap();

    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    assert!(!nothing_there.status.success());
    assert!(String::from_utf8_lossy(&nothing_there.stderr).contains("not ready"));
}
