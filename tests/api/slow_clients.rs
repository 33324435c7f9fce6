//! Clients that open connections and stop sending: their bodies time out, the server holds no
//! more connections than its cap, and everyone else keeps being served.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app_with};

/// Sends a login whose body stops after a few bytes, and waits for the answer: how long it
/// took, and the answer's text. On a thread of the blocking pool: the test's own thread runs
/// the server.
fn stalled_login(app: &TestApp) -> actix_web::rt::task::JoinHandle<(Duration, String)> {
    let address = app.address.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: casebridge\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\"",
            )
            .unwrap();
        let mut answer = Vec::new();
        // The server closes the connection after answering: the body was never read whole.
        let _ = stream.read_to_end(&mut answer);
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    })
}

#[actix_web::test]
async fn a_body_that_stops_arriving_is_answered_408_and_recorded() {
    let app = spawn_app_with(|config| config.limits.body_read_timeout = 1).await;

    let (waited, answer) = stalled_login(&app).await.unwrap();

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    let rows = app.audit_rows("/api/v1/auth/login");
    assert_eq!(rows.last().map(|row| row.status), Some(408));
}

#[actix_web::test]
async fn stalled_bodies_beyond_the_connection_cap_wait_their_turn_and_others_are_served() {
    let app = spawn_app_with(|config| {
        config.limits.body_read_timeout = 1;
        config.limits.max_connections = 4;
    })
    .await;

    let stalled: Vec<_> = (0..12).map(|_| stalled_login(&app)).collect();
    let health = app
        .client
        .get(format!("{}/health", app.address))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("/health answers while the stalled connections wait");
    assert_eq!(health.status(), StatusCode::OK);
    let answers: Vec<(Duration, String)> =
        futures_util::future::try_join_all(stalled).await.unwrap();
    for (_, answer) in &answers {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    // Four at a time, each holding its connection for the body timeout and the close after
    // it (about 2 s here): only the first four were answered in the first round (all twelve
    // at once without the cap).
    let first_round = answers
        .iter()
        .filter(|(waited, _)| *waited < Duration::from_secs(3))
        .count();
    assert!(
        first_round <= 4,
        "{first_round} answered in the first round"
    );
}
