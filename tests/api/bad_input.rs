//! Bad input: every malformed request is a 4xx problem (never a 500) and stores nothing.
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Response, TestApp, new_client, spawn_app};
use crate::writes::{
    assert_invalid, assert_problem, client_path, client_row, read, stored_rows, today,
};

/// SPEC's Medicare number: 8 digits, their weighted check digit (weights 1,3,7,9,1,3,7,9,
/// mod 10), the issue number, and optionally the individual reference number.
pub fn medicare(first8: &str, reference: Option<u32>) -> String {
    const WEIGHTS: [u32; 8] = [1, 3, 7, 9, 1, 3, 7, 9];
    let check = first8
        .chars()
        .zip(WEIGHTS)
        .map(|(digit, weight)| digit.to_digit(10).unwrap() * weight)
        .sum::<u32>()
        % 10;
    format!(
        "{first8}{check}1{}",
        reference.map(|r| r.to_string()).unwrap_or_default()
    )
}

/// SPEC's tax file number: the first 9-digit number from `start` whose weighted sum
/// (weights 1,4,3,7,5,8,6,9,10) is divisible by 11.
pub fn tax_file_number(start: u32) -> String {
    const WEIGHTS: [u32; 9] = [1, 4, 3, 7, 5, 8, 6, 9, 10];
    (start..)
        .map(|n| format!("{n:09}"))
        .find(|tfn| {
            tfn.chars()
                .zip(WEIGHTS)
                .map(|(digit, weight)| digit.to_digit(10).unwrap() * weight)
                .sum::<u32>()
                % 11
                == 0
        })
        .unwrap()
}

/// `text` with its digit at `position` changed (so a checksum over it fails).
fn with_digit_changed(text: &str, position: usize) -> String {
    text.char_indices()
        .map(|(i, c)| {
            if i == position {
                char::from_digit((c.to_digit(10).unwrap() + 1) % 10, 10).unwrap()
            } else {
                c
            }
        })
        .collect()
}

/// A request with a raw body and content type, for what `TestApp::request` cannot send.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: String,
) -> Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    request = request.header("If-Match", "\"1\"");
    let response = request.send().await.expect("request sent");
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Response {
        status,
        headers,
        body,
    }
}

fn new_client_with(field: &str, value: Value) -> Value {
    let mut body = new_client();
    body[field] = value;
    body
}

/// Sends each body as a new client (POST) and as a change to demo client 0 (PATCH); both
/// must be 422 naming `field`, and nothing may be stored.
async fn rejected_as_invalid(app: &TestApp, token: &str, field: &str, values: &[Value]) {
    let id = app.client_id(0);
    let path = client_path(app, 0);
    let etag = read(app, &path, token).await.etag();
    let (row, rows) = (client_row(app, &id), stored_rows(app));
    for value in values {
        let post = app
            .post(
                "/api/v1/clients",
                token,
                new_client_with(field, value.clone()),
            )
            .await;
        assert_invalid(&post, field);
        let patch = app
            .patch(&path, token, json!({ field: value }), Some(&etag))
            .await;
        assert_invalid(&patch, field);
    }
    assert_eq!(
        client_row(app, &id),
        row,
        "a refused PATCH changed the client"
    );
    assert_eq!(stored_rows(app), rows, "a refused POST stored something");
}

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(0);
    let (row, rows) = (client_row(&app, &id), stored_rows(&app));

    let deeply_nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies = [
        r#"{"given_name": "#,
        r#"{"given_name": "Mira",}"#,
        "not json",
        "",
        r#"{"phone": 1e999}"#,
        &deeply_nested,
    ];
    for body in bodies {
        let post = raw(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&token),
            Some("application/json"),
            body.to_owned(),
        )
        .await;
        assert_problem(&post, StatusCode::BAD_REQUEST, "malformed_json");
        let patch = raw(
            &app,
            Method::PATCH,
            &client_path(&app, 0),
            Some(&token),
            Some("application/json"),
            body.to_owned(),
        )
        .await;
        assert_problem(&patch, StatusCode::BAD_REQUEST, "malformed_json");
    }
    let login = raw(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some("application/json"),
        "{\"username\":".into(),
    )
    .await;
    assert_problem(&login, StatusCode::BAD_REQUEST, "malformed_json");

    assert_eq!(client_row(&app, &id), row);
    assert_eq!(stored_rows(&app), rows);
}

#[actix_web::test]
async fn wrong_types_are_422_naming_the_field() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    rejected_as_invalid(
        &app,
        &token,
        "given_name",
        &[json!(42), json!(["Mira"]), json!({"first": "Mira"})],
    )
    .await;
    rejected_as_invalid(&app, &token, "phone", &[json!(400000000), json!(true)]).await;
    rejected_as_invalid(
        &app,
        &token,
        "safety_alerts",
        &[json!("Dog at property"), json!([1, 2])],
    )
    .await;
    rejected_as_invalid(&app, &token, "date_of_birth", &[json!(19840309)]).await;

    let login = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "caseworker", "password": true})),
            &[],
        )
        .await;
    assert_invalid(&login, "password");
}

/// The fields a 422 names, in its order.
fn invalid_fields(response: &Response) -> Vec<&str> {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn a_422_lists_every_invalid_field_at_once() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let rows = stored_rows(&app);
    let mut body = new_client();
    body.as_object_mut().unwrap().remove("family_name");
    body.as_object_mut().unwrap().remove("date_of_birth");
    body["phone"] = json!(400000000);
    body["safety_alerts"] = json!("Dog at property");
    body["nickname"] = json!("Mimi");
    let created = app.post("/api/v1/clients", &token, body).await;
    let fields = invalid_fields(&created);
    assert_eq!(
        fields,
        [
            "date_of_birth",
            "family_name",
            "nickname",
            "phone",
            "safety_alerts"
        ],
        "{}",
        created.body
    );
    assert_eq!(stored_rows(&app), rows, "a refused POST stored something");
}

#[actix_web::test]
async fn a_422_lists_type_and_rule_failures_together() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let mut body = new_client();
    body["phone"] = json!(true);
    body["address"] = json!({"postcode": "26000", "state": "XYZ"});
    let created = app.post("/api/v1/clients", &token, body).await;
    let fields = invalid_fields(&created);
    assert_eq!(
        fields,
        ["address.postcode", "address.state", "phone"],
        "{}",
        created.body
    );
}

#[actix_web::test]
async fn a_json_array_body_is_422() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(0);
    let (row, rows) = (client_row(&app, &id), stored_rows(&app));
    let array = json!([new_client()]);

    assert_invalid(
        &app.post("/api/v1/clients", &token, array.clone()).await,
        "body",
    );
    assert_invalid(
        &app.patch(
            &client_path(&app, 0),
            &token,
            json!([{"phone": "0400000009"}]),
            Some("\"1\""),
        )
        .await,
        "body",
    );
    let notes = format!("/api/v1/cases/{}/notes", app.case_id(0));
    assert_invalid(
        &app.post(&notes, &token, json!(["contact", "body"])).await,
        "body",
    );
    assert_invalid(
        &app.post("/api/v1/cases", &token, json!(null)).await,
        "body",
    );

    assert_eq!(client_row(&app, &id), row);
    assert_eq!(stored_rows(&app), rows);
}

/// serde's derived struct deserialisers accept a sequence of the fields in order, so without a
/// check `["caseworker", "<password>"]` would log in.
#[actix_web::test]
async fn a_json_array_body_is_422_for_login() {
    let app = spawn_app().await;
    let login = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!(["caseworker", PASSWORD])),
            &[],
        )
        .await;
    assert_invalid(&login, "body");
    assert!(login.body.get("access_token").is_none());
}

/// As above: `["<current>", "<new>"]` must not change a password.
#[actix_web::test]
async fn a_json_array_body_is_422_for_a_password_change() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let path = format!("/api/v1/users/{}/password", app.user_id("caseworker"));
    let change = app
        .post(&path, &token, json!([PASSWORD, "a brand new passphrase"]))
        .await;
    assert_invalid(&change, "body");
    assert_eq!(
        app.login_response("caseworker", PASSWORD).await.status,
        StatusCode::OK,
        "the password is unchanged"
    );
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(0);
    let (row, rows) = (client_row(&app, &id), stored_rows(&app));
    let body = new_client().to_string();

    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let post = raw(
            &app,
            Method::POST,
            "/api/v1/clients",
            Some(&token),
            content_type,
            body.clone(),
        )
        .await;
        assert_problem(
            &post,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        let patch = raw(
            &app,
            Method::PATCH,
            &client_path(&app, 0),
            Some(&token),
            content_type,
            r#"{"phone":"0400000010"}"#.into(),
        )
        .await;
        assert_problem(
            &patch,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
    }
    assert_eq!(client_row(&app, &id), row);
    assert_eq!(stored_rows(&app), rows);
}

#[actix_web::test]
async fn a_body_over_the_size_limit_is_413() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let id = app.client_id(0);
    let (row, rows) = (client_row(&app, &id), stored_rows(&app));
    let padding = "x".repeat(64 * 1024);

    let post = app
        .post(
            "/api/v1/clients",
            &token,
            new_client_with("gp_details", json!(padding)),
        )
        .await;
    assert_problem(&post, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let patch = app
        .patch(
            &client_path(&app, 0),
            &token,
            json!({"gp_details": padding}),
            Some("\"1\""),
        )
        .await;
    assert_problem(&patch, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    assert_eq!(client_row(&app, &id), row);
    assert_eq!(stored_rows(&app), rows);
}

#[actix_web::test]
async fn invalid_dates_are_422() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let tomorrow = (today() + Duration::days(1)).to_string();
    let dates = [
        "2023-02-30",
        "yesterday",
        "09/03/1984",
        "1984-03-09T00:00:00Z",
        "1850-01-01",
        &tomorrow,
    ];
    let values: Vec<Value> = dates.iter().map(|date| json!(date)).collect();
    rejected_as_invalid(&app, &token, "date_of_birth", &values).await;

    let leader = app.login("teamleader").await;
    let rows = stored_rows(&app);
    let allocations = format!("/api/v1/cases/{}/allocations", app.case_id(8));
    let eastern = app.organisation_id(casebridge::demo::EASTERN);
    for starts_on in ["2023-02-30", "yesterday"] {
        let body = json!({"organisation_id": eastern, "starts_on": starts_on, "service_description": "Visits"});
        assert_invalid(&app.post(&allocations, &leader, body).await, "starts_on");
    }
    assert_eq!(stored_rows(&app), rows);

    let query = app
        .get("/api/v1/clients?date_of_birth=2023-02-30", &token)
        .await;
    assert_problem(
        &query,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[actix_web::test]
async fn invalid_medicare_numbers_are_422() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let valid = medicare("23456789", None);
    let invalid = [
        with_digit_changed(&valid, 8),                  // bad check digit
        valid[..9].to_owned(),                          // 9 digits
        format!("{}12", medicare("23456789", Some(1))), // 13 digits
        format!("{}a", &valid[..9]),                    // a letter
        "ABCDEFGHIJ".to_owned(),
        format!("{} {}", &valid[..4], &valid[4..]), // spaces
    ];
    let values: Vec<Value> = invalid.iter().map(|number| json!(number)).collect();
    rejected_as_invalid(&app, &token, "medicare_number", &values).await;
    rejected_as_invalid(
        &app,
        &token,
        "medicare_number",
        &[json!(valid.parse::<u64>().unwrap())],
    )
    .await;
}

#[actix_web::test]
async fn invalid_tax_file_numbers_are_422() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let valid = tax_file_number(876_543_000);
    let invalid = [
        with_digit_changed(&valid, 8),
        with_digit_changed(&valid, 0),
        valid[..8].to_owned(),
        format!("{valid}0"),
        "12345678x".to_owned(),
    ];
    let values: Vec<Value> = invalid.iter().map(|number| json!(number)).collect();
    rejected_as_invalid(&app, &leader, "tax_file_number", &values).await;
}

#[actix_web::test]
async fn valid_identifiers_are_accepted_from_a_team_leader() {
    let app = spawn_app().await;
    let leader = app.login("teamleader").await;
    let (medicare10, medicare11, tfn) = (
        medicare("39876543", None),
        medicare("41234567", Some(3)),
        tax_file_number(456_789_000),
    );
    assert_eq!((medicare10.len(), medicare11.len()), (10, 11));

    let mut body = new_client_with("medicare_number", json!(medicare11));
    body["tax_file_number"] = json!(tfn);
    let created = app.post("/api/v1/clients", &leader, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        (
            &created.body["medicare_number"],
            &created.body["tax_file_number"]
        ),
        (&json!(medicare11), &json!(tfn))
    );

    let path = client_path(&app, 1);
    let etag = read(&app, &path, &leader).await.etag();
    let other_tfn = tax_file_number(111_222_000);
    let updated = app
        .patch(
            &path,
            &leader,
            json!({"medicare_number": medicare10, "tax_file_number": other_tfn}),
            Some(&etag),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let stored = read(&app, &path, &leader).await;
    assert_eq!(
        (
            &stored.body["medicare_number"],
            &stored.body["tax_file_number"]
        ),
        (&json!(medicare10), &json!(other_tfn))
    );
}

#[actix_web::test]
async fn out_of_range_limits_are_422() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let notes = format!("/api/v1/cases/{}/notes", app.case_id(0));
    for list in ["/api/v1/clients", "/api/v1/cases", notes.as_str()] {
        for limit in ["10000", "0", "-1", "201", "ten", "99999999999999999999"] {
            let response = app.get(&format!("{list}?limit={limit}"), &token).await;
            assert_problem(
                &response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
        }
        read(&app, &format!("{list}?limit=200"), &token).await;
    }
}

#[actix_web::test]
async fn a_garbage_cursor_is_400() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let admin = app.login("admin").await;
    let not_a_uuid = base64_url("not-a-uuid");
    for cursor in ["garbage!!", "%ff", not_a_uuid.as_str(), "AAAA"] {
        for (list, token) in [
            ("/api/v1/clients", &token),
            ("/api/v1/cases", &token),
            ("/api/v1/users", &admin),
        ] {
            let response = app.get(&format!("{list}?cursor={cursor}"), token).await;
            assert_problem(&response, StatusCode::BAD_REQUEST, "invalid_cursor");
        }
    }
    // A NUL character anywhere in a query is refused before the cursor is looked at.
    let response = app.get("/api/v1/clients?cursor=%00%ff", &token).await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[actix_web::test]
async fn a_path_id_that_is_not_a_uuid_is_404() {
    let app = spawn_app().await;
    let token = app.login("teamleader").await;
    let admin = app.login("admin").await;
    let case = format!("/api/v1/cases/{}", app.case_id(0));
    for path in [
        "/api/v1/clients/123",
        "/api/v1/cases/not-a-uuid",
        "/api/v1/notes/%27%20OR%201=1",
        "/api/v1/clients/x/cases",
    ] {
        assert_problem(
            &app.get(path, &token).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let rows = stored_rows(&app);
    let patch = app
        .patch(
            "/api/v1/clients/123",
            &token,
            json!({"phone": "0400000011"}),
            Some("\"1\""),
        )
        .await;
    assert_problem(&patch, StatusCode::NOT_FOUND, "not_found");
    let allocation = app
        .patch(
            &format!("{case}/allocations/nope"),
            &token,
            json!({"ends_on": null}),
            Some("\"1\""),
        )
        .await;
    assert_problem(&allocation, StatusCode::NOT_FOUND, "not_found");
    let note = app
        .post(
            "/api/v1/cases/nope/notes",
            &token,
            json!({"note_type": "contact", "body": "x"}),
        )
        .await;
    assert_problem(&note, StatusCode::NOT_FOUND, "not_found");
    for path in ["/api/v1/users/nope", "/api/v1/organisations/nope"] {
        assert_problem(
            &app.get(path, &admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(stored_rows(&app), rows);
}

#[actix_web::test]
async fn an_overlong_purpose_of_use_is_422() {
    let app = spawn_app().await;
    let token = app.login("privacy").await;
    let reason = "r".repeat(501);
    let response = app
        .get_with(
            &client_path(&app, 0),
            &token,
            &[("X-Purpose-Of-Use", &reason)],
        )
        .await;
    assert_invalid(&response, "X-Purpose-Of-Use");
    let fitting = "r".repeat(500);
    let response = app
        .get_with(
            &client_path(&app, 0),
            &token,
            &[("X-Purpose-Of-Use", &fitting)],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

#[actix_web::test]
async fn an_unknown_query_parameter_is_422() {
    let app = spawn_app().await;
    let token = app.login("caseworker").await;
    let admin = app.login("admin").await;
    for (path, token) in [
        ("/api/v1/clients?colour=blue", &token),
        ("/api/v1/clients?limit=5&sort=family_name", &token),
        ("/api/v1/cases?tax_file_number=123456782", &token),
        ("/api/v1/users?role=dept_admin", &admin),
        ("/api/v1/organisations?kind=csp", &admin),
    ] {
        assert_problem(
            &app.get(path, token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    // A mistyped status is refused too, not ignored.
    assert_problem(
        &app.get("/api/v1/cases?status=archived", &token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}
