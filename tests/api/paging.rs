//! Pages of the client and case lists look at a bounded number of rows (issue 17): a caller
//! whose rows are sparse among all of them gets short pages, or empty ones, with a cursor
//! that goes on. Walking the cursors still gives exactly the rows in scope, and a cursor
//! that holds a row the caller may not see is sealed.
use std::collections::BTreeSet;

use casebridge::db::schema::{cases, clients};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::{TestApp, demo_client, spawn_app_with};
use crate::writes::assert_problem;

/// Rows a page looks at in these tests: a few of the demo's.
const SCAN: i64 = 3;
const LIMIT: usize = 2;

async fn narrow_app() -> TestApp {
    spawn_app_with(|config| config.list_scan_rows = SCAN).await
}

/// What following a list's cursors to the end gave.
struct Walk {
    ids: BTreeSet<String>,
    sizes: Vec<usize>,
    cursors: Vec<String>,
}

impl Walk {
    /// Whether a page before the last held fewer items than the limit.
    fn had_short_page(&self) -> bool {
        let before_last = &self.sizes[..self.sizes.len() - 1];
        before_last.iter().any(|size| *size < LIMIT)
    }
}

async fn walk(app: &TestApp, path: &str, token: &str) -> Walk {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut walk = Walk {
        ids: BTreeSet::new(),
        sizes: Vec::new(),
        cursors: Vec::new(),
    };
    loop {
        let url = match walk.cursors.last() {
            Some(cursor) => format!("{path}{separator}limit={LIMIT}&cursor={cursor}"),
            None => format!("{path}{separator}limit={LIMIT}"),
        };
        let response = app.get(&url, token).await;
        assert_eq!(response.status, StatusCode::OK, "{url}: {}", response.body);
        let items = response.body["items"].as_array().expect("items");
        assert!(items.len() <= LIMIT, "{url}: no more than the limit");
        for item in items {
            let id = item["id"].as_str().expect("an id").to_owned();
            assert!(walk.ids.insert(id), "{url}: no record twice");
        }
        walk.sizes.push(items.len());
        match response.body["next_cursor"].as_str() {
            Some(next) => walk.cursors.push(next.to_owned()),
            None => return walk,
        }
        assert!(walk.sizes.len() < 500, "{path}: the walk ends");
    }
}

/// The ids among `all` that `GET {resource}/{id}` answers with 200 for the caller: the rows a
/// list must give it (a restricted client's, which need a purpose of use, are 403).
async fn readable(
    app: &TestApp,
    resource: &str,
    all: Vec<String>,
    token: &str,
) -> BTreeSet<String> {
    let mut readable = BTreeSet::new();
    for id in all {
        if app
            .get(&format!("/api/v1/{resource}/{id}"), token)
            .await
            .status
            == StatusCode::OK
        {
            readable.insert(id);
        }
    }
    readable
}

fn all_case_ids(app: &TestApp) -> Vec<String> {
    app.with_db(|conn| cases::table.select(cases::id).load(conn).unwrap())
}

fn all_client_ids(app: &TestApp) -> Vec<String> {
    app.with_db(|conn| clients::table.select(clients::id).load(conn).unwrap())
}

/// csp-north walks `resource`'s list in pages that stop after SCAN rows, and gets exactly the
/// records among `all` it can read, with at least one short page on the way.
async fn assert_csp_walks_exactly_its(resource: &str, all: fn(&TestApp) -> Vec<String>) {
    let app = narrow_app().await;
    let token = app.login("csp-north").await;
    let walk = walk(&app, &format!("/api/v1/{resource}"), &token).await;
    let expected = readable(&app, resource, all(&app), &token).await;
    assert!(!expected.is_empty());
    assert_eq!(walk.ids, expected);
    assert!(
        walk.had_short_page(),
        "pages stop after {SCAN} rows: {:?}",
        walk.sizes
    );
}

#[actix_web::test]
async fn a_csp_walks_exactly_its_cases_in_short_pages() {
    assert_csp_walks_exactly_its("cases", all_case_ids).await;
}

#[actix_web::test]
async fn a_csp_walks_exactly_its_clients_in_short_pages() {
    assert_csp_walks_exactly_its("clients", all_client_ids).await;
}

#[actix_web::test]
async fn a_filter_that_leaves_none_of_the_callers_rows_gives_empty_pages_that_end() {
    let app = narrow_app().await;
    let token = app.login("csp-north").await;
    let walk = walk(&app, "/api/v1/cases?status=closed", &token).await;
    assert!(walk.ids.is_empty());
    let closed = app.with_db(|conn| {
        cases::table
            .filter(cases::status.eq("closed"))
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    });
    // Each page looked at SCAN closed cases (of every organisation) and went on.
    assert_eq!(
        walk.sizes.len() as i64,
        closed / SCAN + 1,
        "{:?}",
        walk.sizes
    );
}

#[actix_web::test]
async fn a_name_filter_counts_its_scan_among_the_namesakes() {
    let app = narrow_app().await;
    let token = app.login("caseworker").await;
    let (given, family) = demo_client(0);
    let response = app
        .get(
            &format!("/api/v1/clients?family_name={family}&given_name={given}"),
            &token,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let items = response.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "found on the first page: {}", response.body);
    assert_eq!(items[0]["id"], app.client_id(0));
}

#[actix_web::test]
async fn a_cursor_where_a_page_stopped_hides_the_row_and_opens_in_its_own_list_only() {
    let app = narrow_app().await;
    let token = app.login("csp-north").await;
    let walk = walk(&app, "/api/v1/cases", &token).await;
    let sealed = walk
        .cursors
        .iter()
        .find(|cursor| !walk.ids.contains(*cursor))
        .expect("a page stopped at a case the caller does not see");
    for id in all_case_ids(&app).iter().chain(&all_client_ids(&app)) {
        assert!(
            !sealed.contains(id.as_str()),
            "the cursor holds no id in clear"
        );
    }
    let again = app
        .get(
            &format!("/api/v1/cases?limit={LIMIT}&cursor={sealed}"),
            &token,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);

    let elsewhere = app
        .get(&format!("/api/v1/clients?cursor={sealed}"), &token)
        .await;
    assert_problem(&elsewhere, StatusCode::BAD_REQUEST, "invalid_cursor");
    // One character of the sealed bytes changed: it no longer authenticates.
    let mut altered: Vec<char> = sealed.chars().collect();
    let middle = altered.len() - 12;
    altered[middle] = if altered[middle] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    let altered = app
        .get(&format!("/api/v1/cases?cursor={altered}"), &token)
        .await;
    assert_problem(&altered, StatusCode::BAD_REQUEST, "invalid_cursor");
}
