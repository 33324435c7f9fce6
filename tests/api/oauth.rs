//! OAuth 2.0 as CSP systems' libraries expect it: authorisation-server metadata (RFC 8414),
//! revocation (RFC 7009) and introspection (RFC 7662) of a client's own tokens, and no MFA
//! asked of a system. The token endpoint itself is tested in `access`.
use reqwest::{Method, StatusCode};

use crate::helpers::{
    TestApp, client_token, oauth_request, register_client, register_client_named, spawn_app,
    spawn_app_with, token_request,
};
use crate::writes::assert_problem;

const GRANT: [(&str, &str); 1] = [("grant_type", "client_credentials")];

/// A registered system and a token it was issued.
struct System {
    id: String,
    secret: String,
    token: String,
}

async fn system(app: &TestApp, admin: &str, name: &str) -> System {
    let (id, secret) = register_client_named(app, admin, name, &["csp_worker"]).await;
    let token = client_token(&token_request(app, &GRANT, Some((&id, &secret))).await);
    System { id, secret, token }
}

impl System {
    fn basic(&self) -> Option<(&str, &str)> {
        Some((self.id.as_str(), self.secret.as_str()))
    }
}

#[actix_web::test]
async fn the_metadata_names_the_endpoints_under_the_public_url() {
    let app = spawn_app_with(|config| {
        config.public_url = Some("https://casebridge.example.gov.au".into());
    })
    .await;
    let metadata = app
        .request(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(metadata.status, StatusCode::OK, "{}", metadata.body);
    let base = "https://casebridge.example.gov.au";
    assert_eq!(metadata.body["issuer"], base);
    assert_eq!(
        metadata.body["token_endpoint"],
        format!("{base}/api/v1/oauth/token")
    );
    assert_eq!(
        metadata.body["revocation_endpoint"],
        format!("{base}/api/v1/oauth/revoke")
    );
    assert_eq!(
        metadata.body["introspection_endpoint"],
        format!("{base}/api/v1/oauth/introspect")
    );
    assert_eq!(
        metadata.body["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
}

#[actix_web::test]
async fn without_a_public_url_there_is_no_metadata_whatever_the_host_header_says() {
    let app = spawn_app().await;
    let metadata = app
        .request(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
            &[("Host", "attacker.example")],
        )
        .await;
    assert_problem(&metadata, StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn a_system_revokes_its_own_token_and_it_is_refused_from_the_next_request() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    assert_eq!(
        app.get("/api/v1/me", &system.token).await.status,
        StatusCode::OK
    );

    let revoked = oauth_request(
        &app,
        "/api/v1/oauth/revoke",
        &[
            ("token", &system.token),
            ("token_type_hint", "access_token"),
        ],
        system.basic(),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let row = app.audit_row_of(&revoked);
    assert_eq!(
        (row.route.as_str(), row.actor_user_id.as_deref()),
        ("/api/v1/oauth/revoke", Some(system.id.as_str()))
    );
    assert_problem(
        &app.get("/api/v1/me", &system.token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    let again = oauth_request(
        &app,
        "/api/v1/oauth/revoke",
        &[("token", &system.token)],
        system.basic(),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "revoking twice, or a dead token, is not an error"
    );
}

#[actix_web::test]
async fn a_system_cannot_revoke_or_inspect_another_systems_token() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let first = system(&app, &admin, "Northside case system").await;
    let other = system(&app, &admin, "Northside billing system").await;

    let revoked = oauth_request(
        &app,
        "/api/v1/oauth/revoke",
        &[("token", &first.token)],
        other.basic(),
    )
    .await;
    assert_eq!(
        revoked.status,
        StatusCode::OK,
        "the answer does not say whose the token is"
    );
    assert_eq!(
        app.get("/api/v1/me", &first.token).await.status,
        StatusCode::OK
    );

    let inspected = oauth_request(
        &app,
        "/api/v1/oauth/introspect",
        &[("token", &first.token)],
        other.basic(),
    )
    .await;
    assert_eq!(inspected.status, StatusCode::OK);
    assert_eq!(inspected.body, serde_json::json!({"active": false}));
}

#[actix_web::test]
async fn revocation_and_introspection_need_the_clients_credentials_and_a_token() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    for path in ["/api/v1/oauth/revoke", "/api/v1/oauth/introspect"] {
        let stranger = oauth_request(&app, path, &[("token", &system.token)], None).await;
        assert_eq!(stranger.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(stranger.body["error"], "invalid_client", "{path}");
        let wrong = oauth_request(
            &app,
            path,
            &[("token", &system.token)],
            Some((&system.id, "not the secret")),
        )
        .await;
        assert_eq!(wrong.body["error"], "invalid_client", "{path}");
        let no_token = oauth_request(&app, path, &[], system.basic()).await;
        assert_eq!(no_token.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(no_token.body["error"], "invalid_request", "{path}");
    }
    assert_eq!(
        app.get("/api/v1/me", &system.token).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn introspection_says_until_when_an_own_token_is_live_and_nothing_of_a_dead_one() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    let live = oauth_request(
        &app,
        "/api/v1/oauth/introspect",
        &[("token", &system.token)],
        system.basic(),
    )
    .await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.body);
    assert_eq!(live.body["active"], true);
    assert_eq!(live.body["client_id"], system.id);
    assert_eq!(live.body["scope"], "csp_worker");
    assert_eq!(live.body["token_type"], "Bearer");
    let (issued, expires) = (
        live.body["iat"].as_i64().unwrap(),
        live.body["exp"].as_i64().unwrap(),
    );
    assert_eq!(expires - issued, 900);

    oauth_request(
        &app,
        "/api/v1/oauth/revoke",
        &[("token", &system.token)],
        system.basic(),
    )
    .await;
    for dead in [system.token.as_str(), "not.a.token", ""] {
        let answer = oauth_request(
            &app,
            "/api/v1/oauth/introspect",
            &[("token", dead)],
            system.basic(),
        )
        .await;
        assert_eq!(answer.body, serde_json::json!({"active": false}), "{dead}");
    }
}

#[actix_web::test]
async fn a_systems_me_never_asks_it_to_enrol_in_mfa() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let (id, secret) = register_client(&app, &admin).await;
    let token = client_token(&token_request(&app, &GRANT, Some((&id, &secret))).await);
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["mfa"]["required"], false);
    assert_eq!(me.body["mfa"]["enrolment_only_session"], false);

    // The demo's people are exempt from MFA; a worker held to the policy is asked.
    app.with_db(|conn| {
        use casebridge::db::schema::users;
        use diesel::prelude::*;
        diesel::update(users::table.filter(users::username.eq("csp-north")))
            .set(users::mfa_exempt.eq(false))
            .execute(conn)
            .unwrap()
    });
    let worker = app.login("csp-north").await;
    assert_eq!(
        app.get("/api/v1/me", &worker).await.body["mfa"]["required"],
        true,
        "a person in the same role is asked"
    );
}

async fn rotate(app: &TestApp, admin: &str, system: &System, query: &str) -> String {
    let rotated = app
        .act(
            &format!("/api/v1/api-clients/{}/rotate-secret{query}", system.id),
            admin,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    rotated.body["client_secret"].as_str().unwrap().to_owned()
}

async fn token_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    token_request(app, &GRANT, Some((id, secret))).await.status
}

#[actix_web::test]
async fn a_rotated_secret_keeps_working_beside_the_new_one_for_the_overlap_then_stops() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    let new_secret = rotate(&app, &admin, &system, "").await;

    assert_eq!(
        app.get("/api/v1/me", &system.token).await.status,
        StatusCode::OK,
        "tokens live on"
    );
    assert_eq!(
        token_status(&app, &system.id, &system.secret).await,
        StatusCode::OK
    );
    assert_eq!(
        token_status(&app, &system.id, &new_secret).await,
        StatusCode::OK
    );

    app.clock.advance(chrono::Duration::hours(24));
    assert_eq!(
        token_status(&app, &system.id, &system.secret).await,
        StatusCode::UNAUTHORIZED,
        "the overlap is over"
    );
    assert_eq!(
        token_status(&app, &system.id, &new_secret).await,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_second_rotation_leaves_only_the_secret_it_replaced_beside_the_new_one() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    let second = rotate(&app, &admin, &system, "").await;
    let third = rotate(&app, &admin, &system, "").await;
    assert_eq!(
        token_status(&app, &system.id, &system.secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_status(&app, &system.id, &second).await,
        StatusCode::OK
    );
    assert_eq!(token_status(&app, &system.id, &third).await, StatusCode::OK);
}

#[actix_web::test]
async fn revoking_a_client_ends_its_previous_secret_as_well_as_its_current_one() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    let new_secret = rotate(&app, &admin, &system, "").await;
    let revoked = app
        .act(&format!("/api/v1/api-clients/{}/revoke", system.id), &admin)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    for secret in [&system.secret, &new_secret] {
        assert_eq!(
            token_status(&app, &system.id, secret).await,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[actix_web::test]
async fn a_rotation_with_an_unknown_option_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let system = system(&app, &admin, "Northside case system").await;
    let refused = app
        .act(
            &format!(
                "/api/v1/api-clients/{}/rotate-secret?previous_secret=later",
                system.id
            ),
            &admin,
        )
        .await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(refused.body.get("client_secret").is_none());
    assert_eq!(
        token_status(&app, &system.id, &system.secret).await,
        StatusCode::OK
    );
    assert_eq!(app.alert_reasons("secret_rotated").len(), 0);
}

#[actix_web::test]
async fn a_token_asked_for_fewer_roles_carries_only_those() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let roles = ["csp_manager", "csp_worker"];
    let (id, secret) = register_client_named(&app, &admin, "Northside case system", &roles).await;
    let answer = token_request(
        &app,
        &[GRANT[0], ("scope", "csp_worker")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(answer.body["scope"], "csp_worker", "{}", answer.body);
    let narrowed = client_token(&answer);
    let me = app.get("/api/v1/me", &narrowed).await;
    assert_eq!(
        me.body["roles"],
        serde_json::json!(["csp_worker"]),
        "{}",
        me.body
    );
    let inspected = oauth_request(
        &app,
        "/api/v1/oauth/introspect",
        &[("token", &narrowed)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(inspected.body["scope"], "csp_worker");

    let full = token_request(&app, &GRANT, Some((&id, &secret))).await;
    assert_eq!(full.body["scope"], "csp_manager csp_worker");
    let me = app.get("/api/v1/me", &client_token(&full)).await;
    assert_eq!(me.body["roles"], serde_json::json!(roles));
}

#[actix_web::test]
async fn a_scope_naming_a_role_the_client_does_not_hold_gets_no_token() {
    let app = spawn_app().await;
    let admin = app.login("admin").await;
    let (id, secret) = register_client(&app, &admin).await;
    for scope in ["dept_admin", "csp_worker dept_admin", " "] {
        let refused =
            token_request(&app, &[GRANT[0], ("scope", scope)], Some((&id, &secret))).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{scope:?}");
        assert_eq!(refused.body["error"], "invalid_scope", "{scope:?}");
        assert!(refused.body.get("access_token").is_none());
    }
    let sessions: i64 = app.with_db(|conn| {
        use casebridge::db::schema::sessions;
        use diesel::prelude::*;
        sessions::table
            .filter(sessions::user_id.eq(&id))
            .count()
            .get_result(conn)
            .unwrap()
    });
    assert_eq!(sessions, 0, "no session was opened");
}
