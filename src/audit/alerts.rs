//! Alerts raised as requests happen: a burst of refusals (attempted access violations), a
//! read of a restricted client, a username locked after failed logins, a password reset or
//! access granted under dual control. Each is stored in the
//! transaction of the audit row that raised it, so there is never an alert without its
//! evidence nor a qualifying row without its alert; delivery to a webhook happens later
//! (`oversight::webhook`) and never holds up the request.
use chrono::Duration;
use diesel::QueryResult;

use super::Disclosure;
use super::chain::AuditEvent;
use crate::config::OversightConfig;
use crate::db::DbConnection;
use crate::db::alerts::{self as queries, AlertRow, Subject};

/// What raises an alert, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct AlertRules {
    pub denial_burst: u32,
    pub delivered: bool,
}

impl AlertRules {
    pub fn of(config: &OversightConfig) -> Self {
        Self {
            denial_burst: config.denial_burst,
            delivered: config.alert_webhook_url.is_some(),
        }
    }
}

fn subject(event: &AuditEvent) -> Subject<'_> {
    match (&event.actor_user_id, &event.attempted_username, &event.ip) {
        (Some(user), _, _) => Subject::User(user),
        (None, Some(username), _) => Subject::Username(username),
        (None, None, Some(ip)) => Subject::Address(ip),
        (None, None, None) => Subject::Address("unknown"),
    }
}

fn named(subject: &Subject) -> String {
    match subject {
        Subject::User(id) => format!("user {id}"),
        Subject::Username(name) => format!("username {name:?}"),
        Subject::Address(ip) => format!("address {ip}"),
    }
}

/// Whether `event` could raise an alert: a read of a restricted client, a lockout, a
/// refusal. Other rows are stored without looking.
pub fn may_raise(event: &AuditEvent, disclosure: &Disclosure) -> bool {
    !disclosure.restricted_client_ids.is_empty()
        || disclosure.locked_out
        || disclosure.alert.is_some()
        || event.outcome != "allowed"
}

/// Raises the alerts `event` (just stored) calls for.
pub fn raise(
    conn: &mut DbConnection,
    event: &AuditEvent,
    disclosure: &Disclosure,
    rules: AlertRules,
) -> QueryResult<()> {
    // The gate the writer routes rows by, applied here too: a rule added below that
    // `may_raise` does not admit fails its tests on every path, not only for batched rows.
    if !may_raise(event, disclosure) {
        return Ok(());
    }
    let subject = subject(event);
    if event.outcome == "allowed" && !disclosure.restricted_client_ids.is_empty() {
        let clients: Vec<&str> = disclosure
            .restricted_client_ids
            .iter()
            .map(String::as_str)
            .collect();
        let reason = format!(
            "The {} read restricted client(s) {} with the stated purpose: {}.",
            named(&subject),
            clients.join(", "),
            event.purpose_of_use.as_deref().unwrap_or("none stated")
        );
        store(
            conn,
            "restricted_client_read",
            event,
            &subject,
            reason,
            rules,
        )?;
    }
    if disclosure.locked_out {
        let reason = format!(
            "The {} was locked after repeated failed logins (last from {}).",
            named(&subject),
            event.ip.as_deref().unwrap_or("an unknown address")
        );
        store(conn, "lockout", event, &subject, reason, rules)?;
    }
    if let Some(alert) = &disclosure.alert {
        store(
            conn,
            alert.kind,
            event,
            &subject,
            alert.reason.clone(),
            rules,
        )?;
    }
    if event.outcome == "denied" {
        let since = event.occurred_at - Duration::hours(1);
        let threshold = i64::from(rules.denial_burst);
        let window = (since, event.occurred_at);
        let refused = queries::denials(conn, &subject, window, threshold + 1)?;
        // Raised once, by the refusal that reaches the threshold.
        if refused == threshold {
            let reason = format!(
                "{refused} refused requests within an hour by the {}: an attempted access \
                 violation.",
                named(&subject)
            );
            store(conn, "denial_burst", event, &subject, reason, rules)?;
        }
    }
    Ok(())
}

fn store(
    conn: &mut DbConnection,
    kind: &str,
    event: &AuditEvent,
    subject: &Subject,
    reason: String,
    rules: AlertRules,
) -> QueryResult<()> {
    let subject = match subject {
        Subject::User(text) | Subject::Username(text) | Subject::Address(text) => *text,
    };
    crate::metrics::alert_raised(kind);
    queries::insert(
        conn,
        &AlertRow {
            id: uuid::Uuid::now_v7().to_string(),
            kind: kind.to_owned(),
            actor_user_id: event.actor_user_id.clone(),
            subject: subject.to_owned(),
            reason,
            event_id: event.id.clone(),
            raised_at: event.occurred_at,
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledgement_note: None,
            delivery: if rules.delivered { "pending" } else { "none" }.to_owned(),
            delivery_attempts: 0,
            next_delivery_at: rules.delivered.then_some(event.occurred_at),
            delivered_at: None,
            version: 1,
        },
    )
}
