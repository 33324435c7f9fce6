//! The tolerant name search through the name index (issue 17): what it finds, and that the
//! index follows every path that writes or removes a name.
use std::collections::BTreeSet;

use casebridge::db::schema::{client_name_keys, clients, settings};
use casebridge::domain::names::stored_pair_keys;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, demo_client, new_client, spawn_app};
use crate::privacy::profile_search;
use crate::retention::close_case_years_ago;
use crate::writes::assert_problem;

/// The ids a profile search by the searcher finds, best first.
async fn searched(app: &TestApp, family_name: &str, given_name: &str) -> Vec<String> {
    let searcher = app.login("searcher").await;
    let query = format!("family_name={family_name}&given_name={given_name}");
    profile_search(app, &searcher, &query).await
}

/// The keys the index holds for client `id`.
fn stored_keys(app: &TestApp, id: &str) -> BTreeSet<String> {
    app.with_db(|conn| {
        client_name_keys::table
            .filter(client_name_keys::client_id.eq(id))
            .select(client_name_keys::name_key)
            .load::<String>(conn)
            .unwrap()
            .into_iter()
            .collect()
    })
}

/// The keys client `id` should have for its names as stored.
fn expected_keys(app: &TestApp, id: &str) -> BTreeSet<String> {
    let (given, family): (String, String) = app.with_db(|conn| {
        clients::table
            .filter(clients::id.eq(id))
            .select((clients::given_name, clients::family_name))
            .first(conn)
            .unwrap()
    });
    stored_pair_keys(&given, &family)
}

fn assert_indexed_by_its_names(app: &TestApp, id: &str) {
    let stored = stored_keys(app, id);
    assert!(!stored.is_empty(), "the client has index keys");
    assert_eq!(stored, expected_keys(app, id));
}

#[actix_web::test]
async fn a_transposed_pair_of_letters_finds_the_client() {
    let app = spawn_app().await;
    assert_eq!(demo_client(0), ("Alex".into(), "Nguyen".into()));

    let found = searched(&app, "Ngyuen", "Alex").await;

    assert_eq!(found.first(), Some(&app.client_id(0)), "{found:?}");
}

#[actix_web::test]
async fn a_name_with_a_letter_missing_finds_the_client() {
    let app = spawn_app().await;

    let found = searched(&app, "Nguyn", "Alx").await;

    assert_eq!(found.first(), Some(&app.client_id(0)), "{found:?}");
}

#[actix_web::test]
async fn given_and_family_names_swapped_find_the_client() {
    let app = spawn_app().await;

    let found = searched(&app, "Alex", "Nguyen").await;

    assert_eq!(found.first(), Some(&app.client_id(0)), "{found:?}");
}

#[actix_web::test]
async fn one_part_of_a_hyphenated_name_finds_the_client() {
    let app = spawn_app().await;
    assert_eq!(demo_client(12), ("Alex".into(), "Nguyen-Lee".into()));

    let found = searched(&app, "Lee", "Alex").await;

    assert_eq!(found, [app.client_id(12)]);
}

#[actix_web::test]
async fn a_name_two_letters_off_finds_no_one() {
    let app = spawn_app().await;

    let found = searched(&app, "Ngiyan", "Alex").await;

    assert!(found.is_empty(), "{found:?}");
}

#[actix_web::test]
async fn every_demo_client_is_indexed_by_its_names() {
    let app = spawn_app().await;
    let ids: Vec<String> =
        app.with_db(|conn| clients::table.select(clients::id).load(conn).unwrap());

    assert!(!ids.is_empty());
    for id in ids {
        assert_indexed_by_its_names(&app, &id);
    }
}

async fn create(app: &TestApp, body: Value) -> String {
    let caseworker = app.login("caseworker").await;
    let created = app.post("/api/v1/clients", &caseworker, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_created_client_is_indexed_and_found_by_its_names() {
    let app = spawn_app().await;

    let id = create(&app, new_client()).await;

    assert_indexed_by_its_names(&app, &id);
    let caseworker = app.login("caseworker").await;
    let found = app
        .get(
            "/api/v1/profiles?family_name=Castelano&given_name=Mira",
            &caseworker,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["items"][0]["id"], id.as_str());
}

#[actix_web::test]
async fn a_renamed_client_is_indexed_by_its_new_names_only() {
    let app = spawn_app().await;
    let caseworker = app.login("caseworker").await;
    let id = app.client_id(0);
    let path = format!("/api/v1/clients/{id}");

    let renamed = app
        .patch_current(&path, &caseworker, json!({"family_name": "Tran"}))
        .await;

    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_indexed_by_its_names(&app, &id);
    assert!(
        !stored_keys(&app, &id).contains("nguyen|al"),
        "the old name is gone"
    );
    assert_eq!(
        searched(&app, "Tran", "Alex").await,
        std::slice::from_ref(&id)
    );
    assert!(!searched(&app, "Nguyen", "Alex").await.contains(&id));
}

#[actix_web::test]
async fn a_name_corrected_on_request_is_indexed() {
    let app = spawn_app().await;
    let privacy = app.login("privacy").await;
    let id = app.client_id(0);
    let requested = app
        .post(
            "/api/v1/correction-requests",
            &privacy,
            json!({"client_id": id, "field": "family_name", "requested_value": "Tranh", "reason": "Misspelt at intake"}),
        )
        .await;
    assert_eq!(requested.status, StatusCode::CREATED, "{}", requested.body);
    let caseworker = app.login("caseworker").await;
    let etag = app
        .get(&format!("/api/v1/clients/{id}"), &caseworker)
        .await
        .etag();

    let corrected = app
        .request(
            reqwest::Method::POST,
            &format!(
                "/api/v1/correction-requests/{}/decision",
                requested.body["id"].as_str().unwrap()
            ),
            Some(&privacy),
            Some(json!({"decision": "correct"})),
            &[("If-Match", etag.as_str())],
        )
        .await;

    assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
    assert_indexed_by_its_names(&app, &id);
    assert_eq!(searched(&app, "Tranh", "Alex").await, [id]);
}

#[actix_web::test]
async fn a_disposed_client_leaves_no_name_keys() {
    let app = spawn_app().await;
    let records = app.login("records").await;
    let schedule = json!({"service_type": "tenancy support", "archive_after_years": 2, "dispose_after_years": 7});
    let created = app
        .post("/api/v1/retention-schedules", &records, schedule)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    close_case_years_ago(&app, 0, 8);
    let id = app.client_id(0);
    assert!(!stored_keys(&app, &id).is_empty());

    let run = app
        .post(
            "/api/v1/retention/runs",
            &records,
            json!({"dry_run": false}),
        )
        .await;

    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert!(stored_keys(&app, &id).is_empty());
}

#[actix_web::test]
async fn a_new_client_with_the_names_of_another_swapped_is_a_possible_duplicate() {
    let app = spawn_app().await;
    let mut body = app.new_client_like(0);
    body["given_name"] = json!("Nguyen");
    body["family_name"] = json!("Alex");
    let caseworker = app.login("caseworker").await;

    let refused = app.post("/api/v1/clients", &caseworker, body).await;

    assert_problem(&refused, StatusCode::CONFLICT, "possible_duplicate");
    assert_eq!(refused.body["candidates"], json!([app.client_id(0)]));
}

#[actix_web::test]
async fn clients_stored_before_the_index_existed_are_indexed_when_migrating() {
    let app = spawn_app().await;
    app.with_db(|conn| {
        diesel::delete(client_name_keys::table)
            .execute(conn)
            .unwrap();
        diesel::delete(settings::table.filter(settings::key.eq("name_match_key_version")))
            .execute(conn)
            .unwrap();
    });
    assert!(searched(&app, "Nguyen", "Alex").await.is_empty());

    app.db.migrate().expect("migrate");

    assert_indexed_by_its_names(&app, &app.client_id(0));
    assert_eq!(
        searched(&app, "Nguyen", "Alex").await.first(),
        Some(&app.client_id(0))
    );
}
