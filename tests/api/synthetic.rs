//! `casebridge seed-synthetic`: the department at scale that benchmarks run on, added to the
//! test's demo database (SQLite or PostgreSQL, as the suite runs) by the real binary.
use std::collections::BTreeSet;

use casebridge::db::schema::{
    cases, client_name_keys, clients, consents, notes, organisations, users,
};
use casebridge::domain::names::{match_key, stored_pair_keys};
use chrono::NaiveDate;
use diesel::prelude::*;

use crate::cli::casebridge;
use crate::helpers::{TestApp, spawn_app};

const CLIENTS: usize = 50;

/// Runs seed-synthetic on `app`'s database with `args` after the defaults; answers its
/// output.
fn seed(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut all = vec!["seed-synthetic", "--users", "150"];
    all.extend_from_slice(args);
    casebridge(
        app.data_dir.path(),
        &all,
        &[
            ("DATABASE_URL", &app.database_url),
            ("CASEBRIDGE_DEMO_PASSWORD", "a synthetic password"),
        ],
    )
}

fn succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn count(app: &TestApp, table: &str) -> i64 {
    app.with_db(|conn| match table {
        "clients" => clients::table.count().get_result(conn),
        "cases" => cases::table.count().get_result(conn),
        "notes" => notes::table.count().get_result(conn),
        "consents" => consents::table.count().get_result(conn),
        "organisations" => organisations::table.count().get_result(conn),
        "users" => users::table.count().get_result(conn),
        other => panic!("no count for {other}"),
    })
    .unwrap()
}

type Identity = (String, String, String, NaiveDate);

fn identities(app: &TestApp) -> BTreeSet<Identity> {
    app.with_db(|conn| {
        clients::table
            .select((
                clients::id,
                clients::given_name,
                clients::family_name,
                clients::date_of_birth,
            ))
            .load::<Identity>(conn)
    })
    .unwrap()
    .into_iter()
    .collect()
}

#[actix_web::test]
async fn fifty_clients_come_with_cases_notes_consents_staff_and_providers_in_proportion() {
    let app = spawn_app().await;
    let before = [
        "clients",
        "cases",
        "notes",
        "consents",
        "organisations",
        "users",
    ]
    .map(|table| count(&app, table));
    succeeded(&seed(&app, &["--clients", "50", "--seed", "3"]));
    let added = [
        "clients",
        "cases",
        "notes",
        "consents",
        "organisations",
        "users",
    ]
    .iter()
    .zip(before)
    .map(|(table, before)| count(&app, table) - before)
    .collect::<Vec<_>>();
    let [clients, cases, notes, consents, organisations, users] = added[..] else {
        unreachable!()
    };
    assert_eq!(clients, CLIENTS as i64);
    assert!(
        (100..=150).contains(&cases),
        "two or three cases each: {cases}"
    );
    assert!(
        (5 * cases..=15 * cases).contains(&notes),
        "five to fifteen notes per case: {notes} for {cases}"
    );
    assert!(
        (15..=45).contains(&consents),
        "about 60 % have consented: {consents} of 50"
    );
    assert_eq!(organisations, 40, "forty providers");
    assert_eq!(users, 150);
}

#[actix_web::test]
async fn synthetic_clients_get_the_name_keys_the_search_finds_them_by() {
    let app = spawn_app().await;
    let before = identities(&app);
    succeeded(&seed(&app, &["--clients", "50", "--seed", "5"]));
    let added: Vec<Identity> = identities(&app).difference(&before).cloned().collect();
    assert_eq!(added.len(), CLIENTS);
    for (id, given_name, family_name, _) in added {
        let (given_name_key, family_name_key, index_keys) = app
            .with_db(|conn| {
                let stored: (Option<String>, Option<String>) = clients::table
                    .find(&id)
                    .select((clients::given_name_key, clients::family_name_key))
                    .first(conn)?;
                let index_keys: Vec<String> = client_name_keys::table
                    .filter(client_name_keys::client_id.eq(&id))
                    .select(client_name_keys::name_key)
                    .load(conn)?;
                Ok::<_, diesel::result::Error>((stored.0, stored.1, index_keys))
            })
            .unwrap();
        assert_eq!(given_name_key, Some(match_key(&given_name)));
        assert_eq!(family_name_key, Some(match_key(&family_name)));
        assert_eq!(
            index_keys.into_iter().collect::<BTreeSet<_>>(),
            stored_pair_keys(&given_name, &family_name),
            "the index keys of {given_name} {family_name}"
        );
    }
}

#[actix_web::test]
async fn the_same_seed_adds_the_same_clients_to_two_demo_databases() {
    let (first, second) = (spawn_app().await, spawn_app().await);
    succeeded(&seed(&first, &["--clients", "50", "--seed", "11"]));
    succeeded(&seed(&second, &["--clients", "50", "--seed", "11"]));
    // The demo's own clients have ids of their own in each database; the synthetic ones
    // (ids, names and dates of birth) are the same.
    let (a, b) = (identities(&first), identities(&second));
    assert_eq!(a.intersection(&b).count(), CLIENTS);
}

#[actix_web::test]
async fn another_seed_adds_other_clients() {
    let (first, second) = (spawn_app().await, spawn_app().await);
    succeeded(&seed(&first, &["--clients", "50", "--seed", "11"]));
    succeeded(&seed(&second, &["--clients", "50", "--seed", "12"]));
    assert_eq!(
        identities(&first)
            .intersection(&identities(&second))
            .count(),
        0
    );
}

#[test]
fn seed_synthetic_refuses_a_database_without_the_demo() {
    let data = tempfile::tempdir().unwrap();
    let output = casebridge(
        data.path(),
        &["seed-synthetic", "--clients", "10", "--users", "100"],
        &[("CASEBRIDGE_DEMO_PASSWORD", "a synthetic password")],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("run `casebridge seed-demo` first"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[actix_web::test]
async fn seed_synthetic_refuses_a_database_that_already_holds_a_synthetic_department() {
    let app = spawn_app().await;
    succeeded(&seed(&app, &["--clients", "5"]));
    let again = seed(&app, &["--clients", "5"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a synthetic department")
    );
}

#[test]
fn seed_synthetic_rejects_zero_clients_naming_the_argument() {
    let data = tempfile::tempdir().unwrap();
    let output = casebridge(data.path(), &["seed-synthetic", "--clients", "0"], &[]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--clients"), "{stderr}");
}

#[actix_web::test]
async fn the_synthetic_audit_trail_is_chained_and_verifies() {
    let app = spawn_app().await;
    succeeded(&seed(&app, &["--clients", "20", "--audit-rows", "500"]));
    let verified = casebridge(
        app.data_dir.path(),
        &["audit", "verify"],
        &[("DATABASE_URL", &app.database_url)],
    );
    succeeded(&verified);
    let synthetic: i64 = app.with_db(|conn| {
        use casebridge::db::schema::audit_events;
        audit_events::table
            .filter(audit_events::user_agent.like("%-portal"))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(synthetic, 500);
}
