//! Finding 12: names that dodge matching. Look-alike letters of other scripts and widths are
//! the same name to duplicate detection, the common-client search and the client list
//! filter; names with control, invisible formatting or bidirectional characters, and blank
//! names, are refused with a 422 naming the field and not quoting the value. See
//! docs/security/names.md.
use casebridge::db::schema::clients;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Response, TestApp, demo_client, new_client, spawn_app};
use crate::writes::{assert_problem, count};

/// Demo client 0, Alex Nguyen, in disguise: a Cyrillic `А` and full-width letters.
const DISGUISED_GIVEN: &str = "\u{0410}lex";
const DISGUISED_FAMILY: &str = "\u{FF2E}\u{FF47}\u{FF55}\u{FF59}\u{FF45}\u{FF4E}";

fn ids(page: &Response) -> Vec<String> {
    page.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {}", page.body))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A 422 that names `field` and does not quote `value`.
fn assert_refused_without_echo(response: &Response, field: &str, value: &str) {
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        response.body["errors"][0]["field"], field,
        "{}",
        response.body
    );
    let visible: String = value.chars().filter(|c| c.is_alphanumeric()).collect();
    assert!(
        !response.body.to_string().contains(&visible),
        "the problem quotes the value: {}",
        response.body
    );
}

async fn create(app: &TestApp, body: Value) -> Response {
    let caseworker = app.login("caseworker").await;
    app.post("/api/v1/clients", &caseworker, body).await
}

#[actix_web::test]
async fn a_look_alike_name_is_caught_as_a_possible_duplicate() {
    let app = spawn_app().await;
    assert_eq!(demo_client(0), ("Alex".into(), "Nguyen".into()));
    let mut body = app.new_client_like(0);
    body["given_name"] = json!(DISGUISED_GIVEN);
    body["family_name"] = json!(DISGUISED_FAMILY);

    let refused = create(&app, body).await;

    assert_problem(&refused, StatusCode::CONFLICT, "possible_duplicate");
    assert_eq!(refused.body["candidates"], json!([app.client_id(0)]));
}

#[actix_web::test]
async fn the_common_client_search_finds_a_client_by_a_look_alike_name() {
    let app = spawn_app().await;
    let searcher = app.login("searcher").await;

    let found = app
        .get(
            &format!(
                "/api/v1/profiles?family_name={DISGUISED_FAMILY}&given_name={DISGUISED_GIVEN}"
            ),
            &searcher,
        )
        .await;

    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(ids(&found).first(), Some(&app.client_id(0)));
}

#[actix_web::test]
async fn the_client_list_filter_matches_look_alike_names() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;

    let found = app
        .get(
            &format!("/api/v1/clients?family_name={DISGUISED_FAMILY}&given_name={DISGUISED_GIVEN}"),
            &caseworker,
        )
        .await;

    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(ids(&found), [app.client_id(0)]);
}

#[actix_web::test]
async fn a_renamed_client_is_found_by_its_new_name() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let id = app.client_id(0);
    let path = format!("/api/v1/clients/{id}");
    let renamed = app
        .patch_current(&path, &caseworker, json!({"family_name": "Tran"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);

    let found = app
        .get(
            "/api/v1/clients?family_name=TRAN&given_name=alex",
            &caseworker,
        )
        .await;

    assert_eq!(ids(&found), [id]);
}

#[actix_web::test]
async fn a_client_stored_before_the_keys_existed_is_found_after_migrating() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    app.with_db(|conn| {
        diesel::update(clients::table)
            .set((
                clients::given_name_key.eq(None::<String>),
                clients::family_name_key.eq(None::<String>),
            ))
            .execute(conn)
            .unwrap();
    });

    app.db.migrate().expect("migrate");

    let found = app
        .get(
            &format!("/api/v1/clients?family_name={DISGUISED_FAMILY}"),
            &caseworker,
        )
        .await;
    assert!(ids(&found).contains(&app.client_id(0)), "{}", found.body);
}

#[actix_web::test]
async fn a_client_name_with_control_or_bidirectional_characters_is_refused() {
    let app = spawn_app().await;
    let stored = count!(app, clients::table);
    for field in ["given_name", "family_name", "preferred_name"] {
        for value in [
            "Castellano\u{202E}onallets",
            "Caste\u{2066}llano",
            "Castellano\n",
        ] {
            let mut body = new_client();
            body[field] = json!(value);

            let refused = create(&app, body).await;

            assert_refused_without_echo(&refused, field, value);
        }
    }
    assert_eq!(count!(app, clients::table), stored, "nothing stored");
}

#[actix_web::test]
async fn a_blank_client_name_is_refused() {
    let app = spawn_app().await;
    for field in ["given_name", "family_name", "preferred_name"] {
        for value in ["   ", "\u{3000}", "\u{200B}"] {
            let mut body = new_client();
            body[field] = json!(value);

            let refused = create(&app, body).await;

            assert_problem(
                &refused,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.body
            );
        }
    }
}

#[actix_web::test]
async fn an_update_to_a_client_name_follows_the_same_rule() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let path = format!("/api/v1/clients/{}", app.client_id(0));

    let refused = app
        .patch_current(&path, &caseworker, json!({"family_name": "Nguyen\u{202E}"}))
        .await;

    assert_refused_without_echo(&refused, "family_name", "Nguyen");
}

#[actix_web::test]
async fn a_user_display_name_with_a_bidirectional_override_is_refused() {
    let app = spawn_app().await;
    let manager = app.login("csp-north-manager").await;
    let mut body = json!({
        "username": "north.spoof", "display_name": "Northside\u{202E}nimda",
        "email": "spoof@example.org",
        "organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE),
        "roles": ["csp_worker"], "clearance": "OFFICIAL",
    });

    let refused = app.post("/api/v1/users", &manager, body.clone()).await;

    assert_refused_without_echo(&refused, "display_name", "Northside");
    body["display_name"] = json!(" ");
    let blank = app.post("/api/v1/users", &manager, body).await;
    assert_problem(
        &blank,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[actix_web::test]
async fn an_organisation_name_with_a_bidirectional_override_is_refused() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;

    let refused = app
        .post(
            "/api/v1/organisations",
            &admin,
            json!({"name": "Northside Community Care\u{202E}", "kind": "csp",
                   "contact_email": "x@y.example"}),
        )
        .await;

    assert_refused_without_echo(&refused, "name", "Northside");
}
