//! The tamper-evident chain. Each row's `hash` is the SHA-256 of its content, which includes
//! its chain, its sequence number and the previous row's hash; `verify` walks every chain and
//! names the first row that was altered, deleted or moved.
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::db::schema::audit_events;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub chain_id: String,
    pub sequence: i64,
    pub occurred_at: NaiveDateTime,
    pub request_id: String,
    pub actor_user_id: Option<String>,
    pub actor_organisation_id: Option<String>,
    pub actor_roles: String,
    pub actor_kind: String,
    pub method: String,
    pub route: String,
    pub path: String,
    pub status: i32,
    pub outcome: String,
    pub reason: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub client_ids: String,
    pub fields: String,
    pub purpose_of_use: Option<String>,
    pub attempted_username: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub duration_ms: i64,
    /// The client a refused or failed request aimed at, without disclosing their data. Left
    /// out of the hashed content when absent, so rows stored before the column existed keep
    /// their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempted_client_id: Option<String>,
    /// Anonymous requests from the same address refused since its previous refusal row,
    /// counted rather than recorded one by one (absent: none, likewise left out of the hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub also_refused: Option<i64>,
    /// The caller's W3C trace id and its own request id (`correlation`), when it sent valid
    /// ones (absent: none, likewise left out of the hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_request_id: Option<String>,
    /// The fields a write changed (a JSON list; `api::history`), absent when it changed none
    /// (likewise left out of the hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_fields: Option<String>,
    pub previous_hash: String,
    #[serde(skip)]
    pub hash: String,
}

impl AuditEvent {
    /// The digest of everything in the row except `hash` itself.
    pub fn content_hash(&self) -> String {
        let content = serde_json::to_vec(self).expect("an audit event serialises");
        hex::encode(Sha256::digest(content))
    }
}

/// The end of one instance's chain: where the next row attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub chain_id: String,
    pub sequence: i64,
    pub hash: String,
}

impl ChainHead {
    /// A new chain for a starting instance. Chains are never continued across restarts, so
    /// two instances (or an old and a new process) never write to the same chain.
    pub fn start() -> Self {
        Self {
            chain_id: uuid::Uuid::now_v7().to_string(),
            sequence: 0,
            hash: GENESIS.to_owned(),
        }
    }

    /// Places `event` at the end of the chain and computes its hash.
    pub fn seal(&mut self, event: &mut AuditEvent) {
        event.chain_id = self.chain_id.clone();
        event.sequence = self.sequence + 1;
        event.previous_hash = self.hash.clone();
        event.hash = event.content_hash();
        self.sequence = event.sequence;
        self.hash = event.hash.clone();
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        chains: usize,
        events: u64,
    },
    Broken {
        chain_id: String,
        sequence: i64,
        event_id: String,
        problem: String,
    },
}

const PAGE: i64 = 10_000;

/// Walks every chain in sequence order, a page at a time.
pub fn verify(conn: &mut DbConnection) -> QueryResult<Verdict> {
    let chains: Vec<String> = audit_events::table
        .select(audit_events::chain_id)
        .distinct()
        .order(audit_events::chain_id)
        .load(conn)?;
    let mut events = 0u64;
    for chain_id in &chains {
        let mut expected = ChainHead {
            chain_id: chain_id.clone(),
            sequence: 0,
            hash: GENESIS.to_owned(),
        };
        loop {
            let page: Vec<AuditEvent> = audit_events::table
                .filter(audit_events::chain_id.eq(chain_id))
                .filter(audit_events::sequence.gt(expected.sequence))
                .order(audit_events::sequence)
                .limit(PAGE)
                .select(AuditEvent::as_select())
                .load(conn)?;
            for event in &page {
                let problem = if event.sequence != expected.sequence + 1 {
                    Some(format!(
                        "sequence {} follows {}: the row(s) between were deleted",
                        event.sequence, expected.sequence
                    ))
                } else if event.previous_hash != expected.hash {
                    Some("its previous_hash does not match the row before it: rows were moved or replaced".to_owned())
                } else if event.content_hash() != event.hash {
                    Some("its content does not match its hash: the row was altered".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Ok(Verdict::Broken {
                        chain_id: chain_id.clone(),
                        sequence: event.sequence,
                        event_id: event.id.clone(),
                        problem,
                    });
                }
                expected.sequence = event.sequence;
                expected.hash = event.hash.clone();
                events += 1;
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
    }
    Ok(Verdict::Intact {
        chains: chains.len(),
        events,
    })
}
