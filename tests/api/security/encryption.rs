//! Encryption at rest (issue 16): a copy of the database, the SQLite files or a `pg_dump`,
//! does not reveal Medicare numbers, tax file numbers or TOTP secrets, nor the copies of them
//! that correction requests and client statements keep; the API still shows them to the roles
//! that may read them. A rotation re-seals every value while the service runs, and a sealed
//! value moved to another row does not open.
use std::collections::BTreeSet;

use casebridge::auth::totp;
use casebridge::db::schema::clients;
use casebridge::sealing::{SealedColumn, key_id};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::bad_input::{medicare, tax_file_number};
use crate::cli::casebridge;
use crate::helpers::{
    PASSWORD, TestApp, backend, new_client, spawn_app, spawn_app_with, test_config,
};
use crate::writes::assert_problem;

const PURPOSE: (&str, &str) = ("X-Purpose-Of-Use", "encryption at rest check");

/// What a test stored through the API, in every place such values are kept.
struct Planted {
    client_id: String,
    /// Given when the client was created, then replaced by a correction.
    first_medicare: String,
    /// The client's Medicare number after the correction (also a correction's requested value).
    medicare: String,
    /// The client's tax file number.
    tax_file_number: String,
    /// Asked for by a refused correction, and quoted in the statement kept with the field.
    requested_tax_file_number: String,
    refused_correction_id: String,
    /// The caseworker's confirmed TOTP secret (base32, as the authenticator shows it).
    totp_secret: String,
}

impl Planted {
    fn values(&self) -> [(&'static str, &str); 5] {
        [
            ("the first Medicare number", &self.first_medicare),
            ("the corrected Medicare number", &self.medicare),
            ("the tax file number", &self.tax_file_number),
            (
                "the tax file number a correction asked for",
                &self.requested_tax_file_number,
            ),
            ("the TOTP secret", &self.totp_secret),
        ]
    }

    fn statement(&self) -> String {
        statement_quoting(&self.requested_tax_file_number)
    }
}

/// The statement a client asks to be kept with a tax file number whose correction was refused.
fn statement_quoting(tax_file_number: &str) -> String {
    format!("My tax file number is {tax_file_number}")
}

/// Stores a client with a Medicare and a tax file number, corrects the Medicare number,
/// refuses a correction of the tax file number keeping the client's statement, and enrols
/// the caseworker in TOTP: every path by which these values reach the database.
async fn plant(app: &TestApp) -> Planted {
    let (leader, privacy) = (app.login("teamleader").await, app.login("privacy").await);
    let first_medicare = medicare("53917264", Some(4));
    let client_tax_file_number = tax_file_number(987_650_000);
    let mut body = new_client();
    body["medicare_number"] = json!(first_medicare);
    body["tax_file_number"] = json!(client_tax_file_number);
    let created = app.post("/api/v1/clients", &leader, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["medicare_number"], first_medicare.as_str());
    let client_id = created.body["id"].as_str().unwrap().to_owned();

    let corrected_medicare = medicare("47281935", None);
    let correction = correction_request(
        app,
        &privacy,
        &client_id,
        "medicare_number",
        &corrected_medicare,
    )
    .await;
    let corrected = app
        .request(
            Method::POST,
            &format!("/api/v1/correction-requests/{correction}/decision"),
            Some(&privacy),
            Some(json!({"decision": "correct"})),
            &[("If-Match", created.etag().as_str())],
        )
        .await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);

    let requested_tax_file_number = tax_file_number(412_345_000);
    let refused_correction_id = correction_request(
        app,
        &privacy,
        &client_id,
        "tax_file_number",
        &requested_tax_file_number,
    )
    .await;
    let refused = app
        .post(
            &format!("/api/v1/correction-requests/{refused_correction_id}/decision"),
            &privacy,
            json!({"decision": "refuse", "refusal_reason": "The ATO confirms the number held", "statement": statement_quoting(&requested_tax_file_number)}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::OK, "{}", refused.body);

    let caseworker = app.login("caseworker").await;
    let enrolment = app.act("/api/v1/me/mfa/totp", &caseworker).await;
    assert_eq!(enrolment.status, StatusCode::CREATED, "{}", enrolment.body);
    let totp_secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    let code = totp::code_at(&totp_secret, app.clock.now()).unwrap();
    let confirmed = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &caseworker,
            json!({"code": code}),
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );

    Planted {
        client_id,
        first_medicare,
        medicare: corrected_medicare,
        tax_file_number: client_tax_file_number,
        requested_tax_file_number,
        refused_correction_id,
        totp_secret,
    }
}

async fn correction_request(
    app: &TestApp,
    privacy: &str,
    client_id: &str,
    field: &str,
    value: &str,
) -> String {
    let request = app
        .post(
            "/api/v1/correction-requests",
            privacy,
            json!({"client_id": client_id, "field": field, "requested_value": value, "reason": "The client says so"}),
        )
        .await;
    assert_eq!(request.status, StatusCode::CREATED, "{}", request.body);
    assert_eq!(request.body["requested_value"], value);
    request.body["id"].as_str().unwrap().to_owned()
}

/// What a copy of the test's database shows: the SQLite file with its write-ahead log, or a
/// `pg_dump` of the PostgreSQL database.
fn database_copy(app: &TestApp) -> Vec<u8> {
    if backend() == "postgres" {
        let dump = std::process::Command::new("pg_dump")
            .arg(&app.database_url)
            .output()
            .expect("pg_dump runs");
        assert!(
            dump.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        return dump.stdout;
    }
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::read(format!("{}{suffix}", app.database_url)).ok())
        .flatten()
        .collect()
}

fn holds(copy: &[u8], text: &str) -> bool {
    copy.windows(text.len())
        .any(|window| window == text.as_bytes())
}

fn assert_copy_reveals_none_of(app: &TestApp, planted: &Planted) {
    let copy = database_copy(app);
    assert!(
        holds(&copy, "Castellano"),
        "the copy shows the client's unsealed family name, so the search reads real data"
    );
    for (what, value) in planted.values() {
        assert!(!holds(&copy, value), "{what} is in a copy of the database");
    }
}

/// Logs the caseworker in with a current code of `secret` (so the service opened the stored
/// secret), and answers the access token.
async fn log_in_with_code(app: &TestApp, secret: &str) -> String {
    // Each code is accepted once: the next one is a time step later.
    app.clock.advance(chrono::Duration::seconds(30));
    let code = totp::code_at(secret, app.clock.now()).unwrap();
    let login = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "caseworker", "password": PASSWORD, "totp_code": code})),
            &[],
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    login.body["access_token"].as_str().unwrap().to_owned()
}

/// Every role that may read the planted values gets them; the others do not.
async fn assert_reads_return(app: &TestApp, planted: &Planted) {
    let path = format!("/api/v1/clients/{}", planted.client_id);
    let leader = app.get(&path, &app.login("teamleader").await).await;
    assert_eq!(leader.status, StatusCode::OK, "{}", leader.body);
    assert_eq!(leader.body["medicare_number"], planted.medicare.as_str());
    assert_eq!(
        leader.body["tax_file_number"],
        planted.tax_file_number.as_str()
    );
    assert_eq!(
        leader.body["statements"]["tax_file_number"][0]["statement"],
        planted.statement().as_str()
    );
    let officer = app
        .get_with(&path, &app.login("privacy").await, &[PURPOSE])
        .await;
    assert_eq!(officer.body["medicare_number"], planted.medicare.as_str());
    assert_eq!(
        officer.body["tax_file_number"],
        planted.tax_file_number.as_str()
    );
    let correction = app
        .get(
            &format!(
                "/api/v1/correction-requests/{}",
                planted.refused_correction_id
            ),
            &app.login("privacy").await,
        )
        .await;
    assert_eq!(
        correction.body["requested_value"],
        planted.requested_tax_file_number.as_str()
    );
    // A caseworker reads the Medicare number, not the tax file number (SPEC).
    let caseworker = log_in_with_code(app, &planted.totp_secret).await;
    let read = app.get(&path, &caseworker).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["medicare_number"], planted.medicare.as_str());
    assert!(read.body.get("tax_file_number").is_none(), "{}", read.body);
}

/// The ids of the data keys that the database's sealed values were sealed under.
fn key_ids_in_use(app: &TestApp) -> BTreeSet<String> {
    app.with_db(|conn| {
        SealedColumn::ALL
            .into_iter()
            .flat_map(|column| casebridge::db::sealed::key_ids_in_use(conn, column).unwrap())
            .collect()
    })
}

#[actix_web::test]
async fn planted_identifiers_and_totp_secrets_never_reach_a_copy_of_the_database() {
    let app = spawn_app().await;
    let planted = plant(&app).await;
    assert_copy_reveals_none_of(&app, &planted);
    assert_reads_return(&app, &planted).await;
}

#[actix_web::test]
async fn a_rotation_re_seals_every_value_under_a_new_key_while_the_service_reads_on() {
    let app = spawn_app().await;
    let planted = plant(&app).await;
    let before = key_ids_in_use(&app);
    assert_eq!(before.len(), 1, "{before:?}");

    let rotation = casebridge(
        app.data_dir.path(),
        &[
            "--database-url",
            &app.database_url,
            "keys",
            "rotate-data-key",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&rotation.stdout);
    assert!(
        rotation.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&rotation.stderr)
    );
    let medicare_numbers: i64 = app.with_db(|conn| {
        clients::table
            .filter(clients::medicare_number.is_not_null())
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert!(
        stdout.contains(&format!(
            "clients.medicare_number: {medicare_numbers} value(s)"
        )),
        "{stdout}"
    );
    let after = key_ids_in_use(&app);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        after.is_disjoint(&before),
        "no value is left under the old key"
    );
    for (what, value) in planted.values() {
        assert!(!stdout.contains(value), "the rotation printed {what}");
    }

    // The running service was started with the old key alone: it reads the new key file when
    // it meets the new key, and seals new values under it.
    assert_reads_return(&app, &planted).await;
    let leader = app.login("teamleader").await;
    let path = format!("/api/v1/clients/{}", planted.client_id);
    let etag = app.get(&path, &leader).await.etag();
    let newer = medicare("61234987", None);
    let updated = app
        .patch(
            &path,
            &leader,
            json!({"medicare_number": newer}),
            Some(&etag),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["medicare_number"], newer.as_str());
    assert_eq!(key_ids_in_use(&app), after);
    assert_copy_reveals_none_of(&app, &planted);
    assert!(!holds(&database_copy(&app), &newer));
}

#[actix_web::test]
async fn a_sealed_value_moved_to_another_row_or_column_fails_rather_than_opening() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let (first, second) = (app.client_id(0), app.client_id(1));
    let first_path = format!("/api/v1/clients/{first}");
    let second_path = format!("/api/v1/clients/{second}");
    let first_medicare = app.get(&first_path, &leader).await.body["medicare_number"].clone();
    assert!(first_medicare.is_string());

    // An attacker with write access to the database copies one client's sealed number over
    // another's.
    app.with_db(|conn| {
        let sealed: Option<String> = clients::table
            .find(&first)
            .select(clients::medicare_number)
            .first(conn)
            .unwrap();
        diesel::update(clients::table.find(&second))
            .set(clients::medicare_number.eq(sealed))
            .execute(conn)
            .unwrap()
    });
    let moved = app.get(&second_path, &leader).await;
    assert_problem(&moved, StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    assert!(
        !moved
            .body
            .to_string()
            .contains(first_medicare.as_str().unwrap()),
        "the moved value is never shown"
    );
    let listed = app.get("/api/v1/clients?limit=200", &leader).await;
    assert_eq!(
        listed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a list fails with it"
    );
    assert_eq!(
        app.get(&first_path, &leader).await.body["medicare_number"],
        first_medicare,
        "the row it belongs to still opens"
    );

    // Into another column of its own row.
    app.with_db(|conn| {
        diesel::update(clients::table.find(&first))
            .set(clients::tax_file_number.eq(clients::medicare_number))
            .execute(conn)
            .unwrap()
    });
    assert_problem(
        &app.get(&first_path, &leader).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    );
    let row = app
        .audit_rows("/api/v1/clients/{id}")
        .into_iter()
        .rfind(|row| row.status == 500)
        .expect("the failure is audited");
    assert_eq!(row.outcome, "error");
}

#[actix_web::test]
async fn plaintext_from_before_sealing_is_refused_then_sealed_when_the_service_starts() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let client = app.client_id(0);
    let path = format!("/api/v1/clients/{client}");
    let (old_medicare, old_tax_file_number) =
        (medicare("38415926", Some(2)), tax_file_number(876_123_000));
    // A database from before this change held them as plaintext.
    app.with_db(|conn| {
        diesel::update(clients::table.find(&client))
            .set((
                clients::medicare_number.eq(&old_medicare),
                clients::tax_file_number.eq(&old_tax_file_number),
            ))
            .execute(conn)
            .unwrap()
    });
    assert!(
        holds(&database_copy(&app), &old_medicare),
        "planted as plaintext"
    );
    assert_problem(
        &app.get(&path, &leader).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    );

    // The next start (another instance over the same database and data directory) seals them.
    let config = test_config(app.data_dir.path().to_owned(), app.database_url.clone());
    casebridge::startup::state(config).await.expect("starts");
    let copy = database_copy(&app);
    assert!(
        !holds(&copy, &old_medicare),
        "the plaintext is gone from the copy"
    );
    assert!(!holds(&copy, &old_tax_file_number));
    let read = app.get(&path, &leader).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["medicare_number"], old_medicare.as_str());
    assert_eq!(read.body["tax_file_number"], old_tax_file_number.as_str());
}

#[actix_web::test]
async fn an_instance_without_the_key_its_data_was_sealed_with_refuses_to_start() {
    let app = spawn_app().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let error = casebridge::startup::state(test_config(
        elsewhere.path().to_owned(),
        app.database_url.clone(),
    ))
    .await
    .err()
    .expect("a new key file cannot open the sealed values");
    assert!(error.to_string().contains("does not hold"), "{error:#}");
}

#[actix_web::test]
async fn keys_given_in_the_environment_seal_and_are_rotated_by_extending_the_variable() {
    use base64::Engine;
    let encode = |key: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(key);
    let (old, new) = ([11u8; 32], [22u8; 32]);
    let app = spawn_app_with(|config| config.privacy.data_key = Some(encode(&old))).await;
    assert!(
        !app.data_dir.path().join("data-keys").exists(),
        "no key file with CASEBRIDGE_DATA_KEY"
    );
    assert_eq!(key_ids_in_use(&app), BTreeSet::from([key_id(&old)]));

    let both = format!("{},{}", encode(&old), encode(&new));
    let rotation = casebridge(
        app.data_dir.path(),
        &[
            "--database-url",
            &app.database_url,
            "keys",
            "rotate-data-key",
        ],
        &[("CASEBRIDGE_DATA_KEY", &both)],
    );
    assert!(
        rotation.status.success(),
        "{}",
        String::from_utf8_lossy(&rotation.stderr)
    );
    assert!(String::from_utf8_lossy(&rotation.stdout).contains("CASEBRIDGE_DATA_KEY"));
    assert!(
        !app.data_dir.path().join("data-keys").exists(),
        "no key file is made"
    );
    assert_eq!(key_ids_in_use(&app), BTreeSet::from([key_id(&new)]));

    // Restarted with both keys (the procedure): it serves; with the old one alone it refuses.
    let config = |keys: String| {
        let mut config = test_config(app.data_dir.path().to_owned(), app.database_url.clone());
        config.privacy.data_key = Some(keys);
        config
    };
    assert!(
        casebridge::startup::state(config(encode(&old)))
            .await
            .is_err()
    );
    casebridge::startup::state(config(both))
        .await
        .expect("starts with both keys");
}
