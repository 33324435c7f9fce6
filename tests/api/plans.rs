//! Query plans at department scale: a request reads the big tables (clients, cases, notes,
//! allocations, consents, notices given, the audit trail) only through index look-ups whose
//! work is bounded by what it returns, never by the size of the table.
//!
//! The demo database is tiny, so timing proves nothing; the plans do. Each call records the
//! SELECT statements the server runs for it (a diesel instrumentation on every connection of
//! the test's database), then asks the same database for each statement's plan: SQLite's
//! `EXPLAIN QUERY PLAN` (SQLite plans without looking at bound values, so the statement is
//! explained with its parameters unbound) and PostgreSQL's generic plan (`EXPLAIN EXECUTE` of
//! a prepared statement under `plan_cache_mode = force_generic_plan`) with `enable_seqscan =
//! off`, so that the planner, which would rightly scan a table of a few rows, takes an index
//! whenever one can serve the statement. A plan then fails the check when it
//!
//! - scans a big table (SQLite `SCAN t` without an index, PostgreSQL `Seq Scan on t`), or
//!   builds an automatic index over one (SQLite);
//! - walks a whole index of a big table (SQLite `SCAN t USING INDEX`, PostgreSQL an index scan
//!   with no `Index Cond`), except as the outermost loop of the first page of an unfiltered
//!   list, which reads rows in the list's order and stops at the page's limit;
//! - materialises a non-correlated `IN (SELECT ...)` list from a big table (SQLite `LIST
//!   SUBQUERY`): at scale that list is a division's or a CSP's hundreds of thousands of rows,
//!   built again for every request.
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, Once};

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use reqwest::StatusCode;

use crate::helpers::{TestApp, backend, spawn_app};

/// Tables that grow with the number of clients or with time.
const BIG_TABLES: &[&str] = &[
    "clients",
    "cases",
    "notes",
    "allocations",
    "consents",
    "notices_given",
    "audit_events",
    "audit_event_clients",
    "changes",
    "change_audiences",
    "policy_acceptances",
    "incident_reports",
];

/// The purpose of use stated by the roles that need one.
const PURPOSE: &str = "privacy complaint investigation";

/// Statements run on each database being recorded, keyed by its URL as the server connects
/// to it (each test has a database of its own, so parallel tests do not mix).
static RECORDING: LazyLock<Mutex<HashMap<String, Vec<String>>>> = LazyLock::new(Default::default);

/// Remembers which database its connection is to, and records its statements while that
/// database is being recorded.
#[derive(Default)]
struct Recorder {
    url: Option<String>,
}

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.url = Some(url.to_owned());
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                let Some(url) = &self.url else { return };
                let mut recording = RECORDING.lock().unwrap();
                if let Some(statements) = recording.get_mut(url) {
                    let text = query.to_string();
                    // Diesel shows a statement as `<sql> -- binds: [...]`.
                    let sql = text.split(" -- binds: ").next().unwrap_or_default();
                    statements.push(sql.to_owned());
                }
            }
            _ => {}
        }
    }
}

/// A test app whose every connection can be recorded (connections are made when the app
/// starts, so the instrumentation is installed first).
async fn spawn_recorded_app() -> TestApp {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        diesel::connection::set_default_instrumentation(|| Some(Box::new(Recorder::default())))
            .expect("install the statement recorder");
    });
    spawn_app().await
}

/// The SELECT statements the server ran while answering `path` as `token`'s holder.
async fn statements_of(
    app: &TestApp,
    token: &str,
    purpose: Option<&str>,
    path: &str,
) -> Vec<String> {
    RECORDING
        .lock()
        .unwrap()
        .insert(app.database_url.clone(), Vec::new());
    let headers: Vec<(&str, &str)> = purpose
        .map(|purpose| vec![("X-Purpose-Of-Use", purpose)])
        .unwrap_or_default();
    let response = app.get_with(path, token, &headers).await;
    let recorded = RECORDING
        .lock()
        .unwrap()
        .remove(&app.database_url)
        .unwrap_or_default();
    assert_eq!(
        response.status,
        StatusCode::OK,
        "GET {path}: {}",
        response.body
    );
    let mut selects: Vec<String> = recorded
        .into_iter()
        .filter(|sql| sql.trim_start().to_ascii_uppercase().starts_with("SELECT"))
        .collect();
    selects.sort();
    selects.dedup();
    selects
}

/// One node of a plan: its line and the lines that describe it.
#[derive(Debug)]
struct Node {
    depth: usize,
    parent: i64,
    text: String,
    details: Vec<String>,
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    parent: i64,
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

fn sqlite_plan(url: &str, sql: &str) -> Vec<Node> {
    let mut conn = SqliteConnection::establish(url).expect("open the SQLite database");
    let rows: Vec<SqlitePlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"));
    // A row's depth is its parent's plus one; parents come before their children.
    let mut depths = HashMap::from([(0, 0)]);
    rows.into_iter()
        .map(|row| {
            let depth = depths.get(&row.parent).copied().unwrap_or(0) + 1;
            depths.insert(row.id, depth);
            Node {
                depth,
                parent: row.parent,
                text: row.detail,
                details: Vec::new(),
            }
        })
        .collect()
}

fn postgres_plan(url: &str, sql: &str) -> Vec<Node> {
    casebridge::db::init_postgres_client();
    let mut conn = PgConnection::establish(url).expect("open the PostgreSQL database");
    let parameters = (1..)
        .take_while(|n| sql.contains(&format!("${n}")))
        .map(|_| "NULL")
        .collect::<Vec<_>>();
    for setting in [
        "SET plan_cache_mode = force_generic_plan",
        "SET enable_seqscan = off",
    ] {
        diesel::sql_query(setting).execute(&mut conn).unwrap();
    }
    // PostgreSQL plans from the statistics of the demo's few rows, for which walking a whole
    // table is the right choice. Tell it each big table holds a million rows (the planner
    // scales `reltuples` by the table's actual pages), with autovacuum kept from measuring
    // them again, so that it plans as it would at department scale.
    for table in BIG_TABLES {
        conn.batch_execute(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false); \
             UPDATE pg_class SET reltuples = 1000000, relpages = 1 \
             WHERE oid = '{table}'::regclass"
        ))
        .unwrap();
    }
    diesel::sql_query(format!("PREPARE plan_check AS {sql}"))
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("PREPARE {sql}: {e}"));
    let execute = if parameters.is_empty() {
        "EXPLAIN EXECUTE plan_check".to_owned()
    } else {
        format!("EXPLAIN EXECUTE plan_check({})", parameters.join(", "))
    };
    let lines: Vec<PgPlanLine> = diesel::sql_query(execute)
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
    let mut nodes: Vec<Node> = Vec::new();
    for PgPlanLine { line } in lines {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if nodes.is_empty() || trimmed.starts_with("->") {
            nodes.push(Node {
                depth: indent,
                parent: 0,
                text: trimmed.trim_start_matches("->").trim().to_owned(),
                details: Vec::new(),
            });
        } else if let Some(node) = nodes.last_mut() {
            node.details.push(trimmed.to_owned());
        }
    }
    nodes
}

/// The big table a plan node reads, and whether it reads it whole (by index or not).
fn sqlite_walk(node: &Node) -> Option<(&str, bool)> {
    let rest = node.text.strip_prefix("SCAN ")?;
    let table = rest.split_whitespace().next()?;
    let indexed = rest.contains(" USING ");
    BIG_TABLES.contains(&table).then_some((table, indexed))
}

fn postgres_walk(node: &Node) -> Option<(&str, bool)> {
    let text = node.text.split("  (").next().unwrap_or_default();
    let table_after_on = |text: &str| {
        text.split(" on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    let (table, indexed) = if text.starts_with("Seq Scan") {
        (table_after_on(text)?, false)
    } else if text.starts_with("Index Scan") || text.starts_with("Index Only Scan") {
        if node.details.iter().any(|d| d.starts_with("Index Cond:")) {
            return None;
        }
        (table_after_on(text)?, true)
    } else {
        return None;
    };
    let table = BIG_TABLES.iter().find(|big| **big == table)?;
    Some((table, indexed))
}

/// Whether SQLite node `index` searches a big table inside a correlated subquery by a key
/// other than the enclosing row's record (its client, case, event, policy document or id):
/// the look-up then reads, for every row, all of a division's cases or a CSP's allocations.
fn per_row_lookup_misses_its_row(nodes: &[Node], index: usize) -> bool {
    let node = &nodes[index];
    let Some(rest) = node.text.strip_prefix("SEARCH ") else {
        return false;
    };
    let big = rest
        .split_whitespace()
        .next()
        .is_some_and(|table| BIG_TABLES.contains(&table));
    let correlated = nodes[..index]
        .iter()
        .rev()
        .find(|outer| outer.depth < node.depth)
        .is_some_and(|outer| outer.text.starts_with("CORRELATED"));
    big && correlated && !keyed_by_row(rest)
}

/// Whether a SQLite search's key is one record's (its client, case, event, policy document or
/// id, alone or after a broad key's equality): the rows it finds are few however large the
/// tables grow.
fn keyed_by_row(search: &str) -> bool {
    [
        "(id=",
        " id=",
        "client_id=",
        "case_id=",
        "event_id=",
        "document_id=",
    ]
    .iter()
    .any(|key| search.contains(key))
}

/// Whether SQLite node `node`, a page's outermost loop, searches a big table by a broad key
/// (a division, a CSP, a status): with a sort after it, every row of that key is read and
/// sorted for one page.
fn broad_search(node: &Node) -> bool {
    node.text.strip_prefix("SEARCH ").is_some_and(|rest| {
        rest.split_whitespace()
            .next()
            .is_some_and(|table| BIG_TABLES.contains(&table))
            && !keyed_by_row(rest)
    })
}

/// What is wrong with one statement's plan, followed by the plan when something is;
/// `first_page`: the call is the first page of an unfiltered list, which may walk its table
/// in the list's order up to the page's limit.
fn faults(url: &str, sql: &str, first_page: bool) -> Vec<String> {
    let postgres = backend() == "postgres";
    let nodes = if postgres {
        postgres_plan(url, sql)
    } else {
        sqlite_plan(url, sql)
    };
    let limited = sql.contains(" LIMIT ");
    let sorts = nodes.iter().any(|node| {
        node.text.starts_with("USE TEMP B-TREE FOR ORDER BY") || node.text.starts_with("Sort ")
    });
    // The outermost loop: SQLite's first top-level scan, PostgreSQL's first scan node.
    let outermost = nodes.iter().position(|node| {
        if postgres {
            node.text.contains(" Scan ")
        } else {
            node.parent == 0 && (node.text.starts_with("SCAN ") || node.text.starts_with("SEARCH "))
        }
    });
    // The statement binds the keys of its records (a client's cases, a case's notes, a writer
    // job's re-check of its own ids; SQLite quotes names with backticks).
    let names_a_record = [
        "`client_id` = ?",
        "`case_id` = ?",
        "`id` IN (",
        "`client_id` IN (",
        "`case_id` IN (",
    ]
    .iter()
    .any(|key| sql.contains(key));
    let mut found = Vec::new();
    if let Some(outer) = outermost.map(|index| &nodes[index])
        && !postgres
        && broad_search(outer)
    {
        if limited && sorts {
            found.push(format!(
                "reads and sorts every row of a broad key for a page: {}",
                outer.text
            ));
        }
        if names_a_record {
            found.push(format!(
                "walks a broad key though the statement names its records: {}",
                outer.text
            ));
        }
    }
    for (index, node) in nodes.iter().enumerate() {
        let walk = if postgres {
            postgres_walk(node)
        } else {
            sqlite_walk(node)
        };
        if let Some((table, indexed)) = walk {
            let in_order_page = first_page && indexed && limited && !sorts;
            if !(in_order_page && Some(index) == outermost) {
                found.push(format!("reads all of {table}: {}", node.text));
            }
        }
        if !postgres && per_row_lookup_misses_its_row(&nodes, index) {
            found.push(format!(
                "looks up by a broad key for each row: {}",
                node.text
            ));
        }
        if !postgres && node.text.contains("AUTOMATIC") {
            found.push(format!("builds an index per query: {}", node.text));
        }
        if !postgres && node.text.starts_with("LIST SUBQUERY") {
            let inside = nodes[index + 1..]
                .iter()
                .take_while(|inner| inner.depth > node.depth)
                .find(|inner| {
                    inner
                        .text
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|table| BIG_TABLES.contains(&table))
                });
            if let Some(inner) = inside {
                found.push(format!(
                    "materialises a list per query: {} ({})",
                    node.text, inner.text
                ));
            }
        }
    }
    if !found.is_empty() {
        found.push("plan:".to_owned());
        found.extend(nodes.iter().map(|node| {
            let indent = " ".repeat(node.depth.min(40));
            format!("{indent}{} {}", node.text, node.details.join("; "))
        }));
    }
    found
}

/// The part of a statement after its select list (which says nothing about the plan).
fn from_clause(sql: &str) -> &str {
    let mut depth = 0i32;
    for (at, c) in sql.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ' ' if depth == 0 && sql[at..].starts_with(" FROM ") => return &sql[at..],
            _ => {}
        }
    }
    sql
}

/// Calls each path as `user` (stating `purpose` if given) and fails with every statement
/// whose plan reads a big table whole.
async fn assert_indexed(app: &TestApp, user: &str, purpose: Option<&str>, paths: &[&str]) {
    let token = app.login(user).await;
    let mut report = Vec::new();
    for path in paths {
        let first_page = !path.contains('?');
        for sql in statements_of(app, &token, purpose, path).await {
            let found = faults(&app.database_url, &sql, first_page);
            if !found.is_empty() {
                report.push(format!(
                    "GET {path} as {user}\n  SELECT ...{}\n  {}",
                    from_clause(&sql),
                    found.join("\n  ")
                ));
            }
        }
    }
    assert!(
        report.is_empty(),
        "plans that read a big table whole:\n{}",
        report.join("\n\n")
    );
}

#[actix_web::test]
async fn client_lists_and_filters_use_indexes() {
    let app = spawn_recorded_app().await;
    let cursor = app.client_id(3);
    // csp-north reaches its assigned allocations, csp-north-manager the CSP's whole caseload.
    for user in ["caseworker", "teamleader", "csp-north", "csp-north-manager"] {
        assert_indexed(
            &app,
            user,
            None,
            &[
                "/api/v1/clients",
                "/api/v1/clients?date_of_birth=1984-03-09",
                "/api/v1/clients?family_name=Nguyen",
                "/api/v1/clients?family_name=Nguyen&given_name=Alex",
                &format!("/api/v1/clients?cursor={cursor}"),
            ],
        )
        .await;
    }
}

#[actix_web::test]
async fn name_searches_use_the_name_index() {
    let app = spawn_recorded_app().await;
    for user in ["searcher", "caseworker", "teamleader"] {
        assert_indexed(
            &app,
            user,
            None,
            &[
                "/api/v1/profiles?family_name=Nguyen&given_name=Alex",
                "/api/v1/profiles?family_name=Ngyuen&date_of_birth=1984-03-09",
                "/api/v1/profiles?family_name=Alex&given_name=Nguyen&date_of_birth=1984-03-09",
            ],
        )
        .await;
    }
}

#[actix_web::test]
async fn case_lists_and_filters_use_indexes() {
    let app = spawn_recorded_app().await;
    let client = app.client_id(0);
    let cursor = app.case_id(3);
    for user in ["caseworker", "teamleader", "csp-north", "csp-north-manager"] {
        assert_indexed(
            &app,
            user,
            None,
            &[
                "/api/v1/cases",
                "/api/v1/cases?status=open",
                "/api/v1/cases?status=closed",
                &format!("/api/v1/cases?cursor={cursor}"),
                &format!("/api/v1/clients/{client}/cases"),
                &format!("/api/v1/clients/{client}/cases?status=open"),
            ],
        )
        .await;
    }
}

#[actix_web::test]
async fn single_records_and_a_cases_notes_use_indexes() {
    let app = spawn_recorded_app().await;
    let client = app.client_id(0);
    let case = app.case_id(0);
    let note = app.note_id(0, "shared");
    for user in ["caseworker", "csp-north"] {
        assert_indexed(
            &app,
            user,
            None,
            &[
                &format!("/api/v1/clients/{client}"),
                &format!("/api/v1/cases/{case}"),
                &format!("/api/v1/cases/{case}/notes"),
                &format!("/api/v1/cases/{case}/notes?cursor={note}"),
                &format!("/api/v1/notes/{note}"),
            ],
        )
        .await;
    }
}

/// The allocation scope's check (an open case of the client, within clearance, with an active
/// allocation to the caller's CSP) runs on every request a CSP makes. At a million clients
/// each case or allocation row it reads is one more B-tree descent, after every write has
/// emptied the reader's page cache: reading them lowered the throughput of `GET /clients/{id}`
/// at 64 connections by 5 to 18 % (docs/benchmarks.md). So the check reads `cases_client` and
/// `allocations_case_organisation` alone (SQLite `SEARCH t ... USING COVERING INDEX`).
///
/// SQLite only: PostgreSQL reads an index alone only where its visibility map says the pages
/// are all visible, and it plans by statistics the demo database does not have, so its plan
/// here says nothing about one at scale.
#[actix_web::test]
async fn a_csps_reach_to_a_client_is_checked_from_indexes_alone() {
    if backend() == "postgres" {
        return;
    }
    let app = spawn_recorded_app().await;
    let client = app.client_id(0);
    let token = app.login("csp-north").await;
    let scope_checks: Vec<String> =
        statements_of(&app, &token, None, &format!("/api/v1/clients/{client}"))
            .await
            .into_iter()
            .filter(|sql| sql.contains("FROM `allocations`"))
            .collect();
    assert!(
        !scope_checks.is_empty(),
        "no statement checked the allocations"
    );
    for sql in scope_checks {
        let plan: Vec<String> = sqlite_plan(&app.database_url, &sql)
            .into_iter()
            .map(|node| node.text)
            .collect();
        for table in ["cases", "allocations"] {
            let reads: Vec<&String> = plan
                .iter()
                .filter(|line| line.starts_with(&format!("SEARCH {table} ")))
                .collect();
            assert!(!reads.is_empty(), "{table} not searched: {plan:#?}");
            assert!(
                reads
                    .iter()
                    .all(|line| line.contains(" USING COVERING INDEX ")),
                "the scope check reads {table} rows: {plan:#?}"
            );
        }
    }
}

#[actix_web::test]
async fn a_clients_privacy_records_use_indexes() {
    let app = spawn_recorded_app().await;
    let client = app.client_id(0);
    assert_indexed(
        &app,
        "privacy",
        Some(PURPOSE),
        &[
            &format!("/api/v1/clients/{client}/consents"),
            &format!("/api/v1/clients/{client}/legal-holds"),
            &format!("/api/v1/clients/{client}/collection-notices"),
            &format!("/api/v1/complaints?client_id={client}"),
            &format!("/api/v1/access-requests?client_id={client}"),
            &format!("/api/v1/correction-requests?client_id={client}"),
        ],
    )
    .await;
}

#[actix_web::test]
async fn privacy_registers_and_reports_use_indexes() {
    let app = spawn_recorded_app().await;
    assert_indexed(
        &app,
        "privacy",
        Some(PURPOSE),
        &[
            "/api/v1/complaints",
            "/api/v1/complaints?status=received",
            "/api/v1/complaints?overdue=true",
            "/api/v1/access-requests?overdue=true",
            "/api/v1/correction-requests?overdue=true",
            "/api/v1/reports/requests-overdue",
            // Not /reports/collection-notices-outdated: a page of it walks the client base
            // until it finds clients without the current notice, a report over the whole
            // department by design (docs/scaling.md).
            "/api/v1/breaches",
            "/api/v1/reports/breaches-overdue",
        ],
    )
    .await;
}

/// The outdated-notices report for one CSP reads that CSP's allocations
/// (`allocations_organisation`), each case and client by its key and each client's notices by
/// `notices_given_client`: never the client base (issue 20, part 1).
#[actix_web::test]
async fn outdated_notices_of_a_csp_read_its_allocations_by_index() {
    let app = spawn_recorded_app().await;
    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let cursor = app.client_id(0);
    let paths = [
        format!("/api/v1/reports/collection-notices-outdated?csp_id={northside}"),
        format!("/api/v1/reports/collection-notices-outdated?csp_id={northside}&cursor={cursor}"),
    ];
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_indexed(&app, "caseworker", None, &paths).await;
    assert_indexed(&app, "privacy", Some(PURPOSE), &paths).await;
}

/// The CSP access report's summary counts the CSP's active allocations by index. Only its own
/// statements (those reading `allocations`) are checked: the report's unusual-usage look-ups
/// read `clients` whole (`WHERE restricted = ?`), which predates the summary.
#[actix_web::test]
async fn the_csp_access_summary_counts_by_index() {
    let app = spawn_recorded_app().await;
    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let now = chrono::Utc::now();
    let at = |time: chrono::DateTime<chrono::Utc>| {
        time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let path = format!(
        "/api/v1/reports/csp-access?organisation_id={northside}&from={}&to={}",
        at(now - chrono::Duration::hours(1)),
        at(now + chrono::Duration::minutes(5))
    );
    let token = app.login("auditor").await;
    let counts: Vec<String> = statements_of(&app, &token, None, &path)
        .await
        .into_iter()
        .filter(|sql| from_clause(sql).contains("allocations"))
        .collect();
    assert_eq!(counts.len(), 2, "{counts:?}");
    for sql in counts {
        let found = faults(&app.database_url, &sql, false);
        assert!(found.is_empty(), "{sql}\n{}", found.join("\n"));
    }
}

/// A reporter's own incident reports come from the reporter's index, the privacy officer's
/// filter from the status index, never from a walk of every report.
#[actix_web::test]
async fn incident_report_lists_use_indexes() {
    let app = spawn_recorded_app().await;
    let token = app.login("csp-north").await;
    let body = serde_json::json!({"kind": "other", "description": "A stranger asked for a file."});
    let reported = app.post("/api/v1/incident-reports", &token, body).await;
    assert_eq!(reported.status, StatusCode::CREATED, "{}", reported.body);
    let id = reported.body["id"].as_str().unwrap().to_owned();
    let own = [
        "/api/v1/incident-reports?limit=50".to_owned(),
        format!("/api/v1/incident-reports/{id}"),
    ];
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    assert_indexed(&app, "csp-north", None, &own).await;
    assert_indexed(
        &app,
        "privacy",
        None,
        &[
            "/api/v1/incident-reports?status=received",
            &format!("/api/v1/incident-reports?cursor={id}"),
        ],
    )
    .await;
}

#[actix_web::test]
async fn audit_trail_filters_use_indexes() {
    let app = spawn_recorded_app().await;
    let client = app.client_id(0);
    let caseworker = app.user_id("caseworker");
    let division = app.organisation_id(casebridge::demo::HOUSING_SUPPORT);
    let period = "from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";
    assert_indexed(
        &app,
        "auditor",
        None,
        &[
            "/api/v1/audit/events",
            &format!("/api/v1/audit/events?actor_user_id={caseworker}&{period}"),
            &format!("/api/v1/audit/events?actor_user_id={caseworker}"),
            &format!("/api/v1/audit/events?actor_organisation_id={division}"),
            &format!("/api/v1/audit/events?client_id={client}"),
            &format!("/api/v1/audit/events?{period}"),
            "/api/v1/audit/events?outcome=denied",
            "/api/v1/audit/events?route=/api/v1/clients",
            &format!("/api/v1/clients/{client}/access-log"),
            &format!("/api/v1/clients/{client}/access-log?{period}"),
        ],
    )
    .await;
}

#[actix_web::test]
async fn the_change_feed_reads_by_index() {
    let app = spawn_recorded_app().await;
    // A client, a case (through its new allocation) and a note changed, so that each kind's
    // look-up runs.
    let leader = app.login("teamleader").await;
    let case = app.case_id(8);
    let allocated = app
        .post(
            &format!("/api/v1/cases/{case}/allocations"),
            &leader,
            serde_json::json!({"organisation_id": app.organisation_id(casebridge::demo::NORTHSIDE),
                "starts_on": "2026-01-01", "service_description": "Visits"}),
        )
        .await;
    assert_eq!(allocated.status, StatusCode::CREATED, "{}", allocated.body);
    let note = app
        .post(
            &format!("/api/v1/cases/{case}/notes"),
            &leader,
            serde_json::json!({"note_type": "contact", "visibility": "shared", "body": "Seen"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let paths = ["/api/v1/changes", "/api/v1/changes?since=0&limit=500"];
    // csp-north reads the entries addressed to them, csp-north-manager its CSP's.
    for user in ["caseworker", "csp-north", "csp-north-manager"] {
        assert_indexed(&app, user, None, &paths).await;
    }
    assert_indexed(&app, "privacy", Some(PURPOSE), &paths).await;
}

#[actix_web::test]
async fn change_histories_read_by_index() {
    let app = spawn_recorded_app().await;
    let leader = app.login("teamleader").await;
    let client = format!("/api/v1/clients/{}", app.client_id(0));
    let changed = app
        .patch_current(
            &client,
            &leader,
            serde_json::json!({"phone": "0400 111 222"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let paths = [
        format!("{client}/history"),
        format!("/api/v1/cases/{}/history", app.case_id(0)),
    ];
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    for user in ["caseworker", "csp-north", "auditor"] {
        assert_indexed(&app, user, None, &paths).await;
    }
}

/// The faults (see [`faults`]) of the SELECT statements `work` runs on the app's database,
/// which must run at least `statements` of them.
fn plan_faults_of(
    app: &TestApp,
    statements: usize,
    work: impl FnOnce(&mut casebridge::db::DbConnection),
) -> Vec<String> {
    RECORDING
        .lock()
        .unwrap()
        .insert(app.database_url.clone(), Vec::new());
    app.with_db(work);
    let recorded = RECORDING
        .lock()
        .unwrap()
        .remove(&app.database_url)
        .unwrap_or_default();
    let selects: Vec<&String> = recorded
        .iter()
        .filter(|sql| sql.trim_start().to_ascii_uppercase().starts_with("SELECT"))
        .collect();
    assert!(selects.len() >= statements, "{recorded:?}");
    selects
        .into_iter()
        .filter_map(|sql| {
            let found = faults(&app.database_url, sql, false);
            (!found.is_empty())
                .then(|| format!("SELECT ...{}\n  {}", from_clause(sql), found.join("\n  ")))
        })
        .collect()
}

#[actix_web::test]
async fn retention_finds_clients_without_cases_by_index() {
    let app = spawn_recorded_app().await;
    let before = chrono::Utc::now().naive_utc();
    let some = [app.client_id(0), app.client_id(1)];
    // The run's read, then a writer job's re-check of its own ids.
    let report = plan_faults_of(&app, 2, |conn| {
        for among in [None, Some(&some[..])] {
            casebridge::db::retention::to_dispose_without_cases(conn, before, among).unwrap();
        }
    });
    assert!(
        report.is_empty(),
        "plans that read a big table whole:\n{}",
        report.join("\n\n")
    );
}

/// A run's cutoffs, one for each of two service types the demo's cases have.
fn demo_cutoffs() -> Vec<casebridge::db::retention::Cutoff> {
    ["tenancy support", "homelessness prevention"]
        .into_iter()
        .map(|service_type| casebridge::db::retention::Cutoff {
            service_type: service_type.to_owned(),
            before: chrono::Utc::now().naive_utc(),
        })
        .collect()
}

#[actix_web::test]
async fn a_retention_run_finds_what_is_due_by_one_range_a_schedule() {
    let app = spawn_recorded_app().await;
    let cutoffs = demo_cutoffs();
    let report = plan_faults_of(&app, 4, |conn| {
        casebridge::db::retention::to_archive(conn, &cutoffs, None).unwrap();
        casebridge::db::retention::to_dispose(conn, &cutoffs, None).unwrap();
    });
    assert!(report.is_empty(), "{}", report.join("\n\n"));
}

#[actix_web::test]
async fn a_retention_jobs_recheck_looks_up_its_own_cases_and_clients() {
    let app = spawn_recorded_app().await;
    let cutoffs = demo_cutoffs();
    let (cases, clients) = (
        [app.case_id(0), app.case_id(1)],
        [app.client_id(0), app.client_id(1)],
    );
    let report = plan_faults_of(&app, 2, |conn| {
        casebridge::db::retention::to_archive(conn, &cutoffs, Some(&cases)).unwrap();
        casebridge::db::retention::to_dispose(conn, &cutoffs, Some(&clients)).unwrap();
    });
    assert!(report.is_empty(), "{}", report.join("\n\n"));
}

/// Every request of a person reads the policy documents in force they have not accepted (by
/// the caller's primary key in the acceptances); the report of who has not accepted looks up
/// each person's acceptance the same way.
#[actix_web::test]
async fn the_terms_gate_and_report_read_acceptances_by_index() {
    let app = spawn_recorded_app().await;
    let published = app
        .post(
            "/api/v1/policy-documents",
            &app.login("admin").await,
            serde_json::json!({
                "kind": "acceptable_use", "version": "1", "title": "Acceptable use",
                "text": "Use client information only for the service you deliver.",
                "applies_to_roles": ["csp_worker", "csp_manager"],
            }),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    assert_indexed(&app, "csp-north", None, &["/api/v1/me"]).await;
    assert_indexed(
        &app,
        "auditor",
        None,
        &[
            "/api/v1/reports/terms-not-accepted",
            "/api/v1/reports/access-register",
        ],
    )
    .await;
}

#[actix_web::test]
async fn attestations_and_wrap_ups_read_by_index() {
    let app = spawn_recorded_app().await;
    let northside = app.organisation_id(casebridge::demo::NORTHSIDE);
    let admin = app.login("admin").await;
    let opened = app
        .act(
            &format!("/api/v1/organisations/{northside}/wrap-up"),
            &admin,
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let cursor = app.client_id(0);
    let paths = [
        format!("/api/v1/organisations/{northside}/attestations"),
        "/api/v1/reports/attestations-overdue".to_owned(),
        format!("/api/v1/organisations/{northside}/wrap-up"),
        // The annex looks up each client of the page in the audit trail's client index.
        format!("/api/v1/organisations/{northside}/wrap-up/annex"),
        format!("/api/v1/organisations/{northside}/wrap-up/annex?cursor={cursor}"),
        "/api/v1/reports/wrap-ups-outstanding".to_owned(),
    ];
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_indexed(&app, "admin", None, &paths).await;
}

/// The register of CSPs: a few look-ups per CSP of the page on its own keys; its latest access
/// audit run by one look-up in the partial index of allowed runs.
#[actix_web::test]
async fn the_csp_register_reads_by_index() {
    let app = spawn_recorded_app().await;
    let auditor = app.login("auditor").await;
    let run =
        crate::csp_register::run_csp_access(&app, &auditor, casebridge::demo::NORTHSIDE).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    assert_indexed(
        &app,
        "admin",
        None,
        &[
            "/api/v1/reports/csp-register",
            "/api/v1/reports/csp-register?status=active&in_good_standing=false",
        ],
    )
    .await;
    // Each CSP's latest run is read from the partial index of allowed runs, not from the
    // route's index (every run of every CSP).
    let admin = app.login("admin").await;
    let statements = statements_of(&app, &admin, None, "/api/v1/reports/csp-register").await;
    let runs: Vec<&String> = statements
        .iter()
        .filter(|sql| sql.contains("audit_events"))
        .collect();
    // One statement (the recording keeps each once), run for each CSP of the page.
    assert_eq!(runs.len(), 1, "{statements:?}");
    for sql in runs {
        let nodes = if backend() == "postgres" {
            postgres_plan(&app.database_url, sql)
        } else {
            sqlite_plan(&app.database_url, sql)
        };
        assert!(
            nodes
                .iter()
                .any(|node| node.text.contains("audit_events_csp_access_runs")),
            "{sql}: {:?}",
            nodes.iter().map(|node| &node.text).collect::<Vec<_>>()
        );
    }
}
