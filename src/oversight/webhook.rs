//! Delivers alerts to the configured webhook: each as a JSON POST signed with HMAC-SHA256
//! (`X-Casebridge-Signature: sha256=<hex of the body's MAC>`), retried with exponential backoff
//! (1 s, 2 s, 4 s, ... at most an hour apart, 12 attempts), on its own thread so that no request
//! ever waits for it.
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::Clock;
use crate::config::Webhook;
use crate::db::Database;
use crate::db::alerts::{self as queries, AlertRow};

const SIGNATURE_HEADER: &str = "X-Casebridge-Signature";
const MAX_ATTEMPTS: i32 = 12;
const POLL: StdDuration = StdDuration::from_millis(250);

/// Starts delivering: the thread runs for as long as the process does.
pub fn start(db: Database, clock: Arc<Clock>, webhook: Webhook) -> anyhow::Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout(StdDuration::from_secs(10))
        .redirects(0)
        .build();
    std::thread::Builder::new()
        .name("alert-webhook".into())
        .spawn(move || {
            loop {
                if let Err(error) = deliver_due(&db, &clock, &agent, &webhook) {
                    tracing::warn!(%error, "alert delivery round failed");
                }
                std::thread::sleep(POLL);
            }
        })?;
    Ok(())
}

/// The MAC of `body` under `secret`, as the header carries it.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn payload(alert: &AlertRow) -> String {
    serde_json::json!({
        "id": alert.id,
        "kind": alert.kind,
        "actor_user_id": alert.actor_user_id,
        "subject": alert.subject,
        "reason": alert.reason,
        "event_id": alert.event_id,
        "raised_at": alert.raised_at.and_utc(),
    })
    .to_string()
}

/// When the next attempt after `attempts` failed ones is due, or None to give up.
fn next_attempt(attempts: i32, now: NaiveDateTime) -> Option<NaiveDateTime> {
    (attempts < MAX_ATTEMPTS).then(|| {
        let seconds = 1_i64 << (attempts - 1).clamp(0, 12);
        now + Duration::seconds(seconds.min(3600))
    })
}

fn deliver_due(
    db: &Database,
    clock: &Clock,
    agent: &ureq::Agent,
    webhook: &Webhook,
) -> anyhow::Result<()> {
    let due = queries::due_for_delivery(&mut *db.read_conn()?, clock.now(), 20)?;
    for alert in due {
        let body = payload(&alert);
        let sent = agent
            .post(&webhook.url)
            .set("Content-Type", "application/json")
            .set(
                SIGNATURE_HEADER,
                &signature(&webhook.secret, body.as_bytes()),
            )
            .send_string(&body);
        let now = clock.now();
        let (delivered, next) = match sent {
            Ok(_) => (Some(now), None),
            Err(error) => {
                let attempts = alert.delivery_attempts + 1;
                tracing::warn!(alert = %alert.id, attempts, error = %error, "alert delivery failed");
                (None, next_attempt(attempts, now))
            }
        };
        queries::record_delivery(&mut *db.write_conn()?, &alert.id, delivered, next)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_give_up() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert_eq!(next_attempt(1, now), Some(now + Duration::seconds(1)));
        assert_eq!(next_attempt(3, now), Some(now + Duration::seconds(4)));
        assert_eq!(next_attempt(11, now), Some(now + Duration::seconds(1024)));
        assert_eq!(next_attempt(12, now), None);
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
