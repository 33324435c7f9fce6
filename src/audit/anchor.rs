//! Anchors: each instance writes the head of its audit chain (chain, sequence, hash) outside
//! the database, to an append-only file and to the log, every few seconds while the chain
//! grows and at shutdown. The chains prove that no stored row was altered or removed from
//! their middle; an anchor proves how far a chain had got, so that rows lost from its end (a
//! deleted write-ahead log, a restore from an old copy) are found too
//! (`casebridge audit verify --anchors FILE`).
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::chain::ChainHead;
use crate::config::Config;
use crate::db::schema::audit_events;
use crate::db::{Database, DbConnection};

/// One line of the anchor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub at: NaiveDateTime,
    pub chain_id: String,
    pub sequence: i64,
    pub hash: String,
}

/// The configured anchor file.
pub fn file_of(config: &Config) -> PathBuf {
    config
        .oversight
        .anchor_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("audit-anchors.jsonl"))
}

/// Writes an instance's anchors.
pub struct Anchorer {
    path: PathBuf,
    /// The head last written, so that an unchanged chain adds no line.
    last: Mutex<Option<ChainHead>>,
}

impl Anchorer {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            last: Mutex::new(None),
        }
    }

    /// Appends `db`'s committed head to the file (and the log) if the chain has grown since
    /// the last anchor.
    pub fn anchor(&self, db: &Database, at: NaiveDateTime) -> anyhow::Result<()> {
        let Some(head) = db.committed_head() else {
            return Ok(());
        };
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.as_ref() == Some(&head) {
            return Ok(());
        }
        let anchor = Anchor {
            at,
            chain_id: head.chain_id.clone(),
            sequence: head.sequence,
            hash: head.hash.clone(),
        };
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.path)
            .with_context(|| format!("opening the anchor file {}", self.path.display()))?;
        let mut line = serde_json::to_string(&anchor)?;
        line.push('\n');
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        tracing::info!(
            chain_id = %anchor.chain_id,
            sequence = anchor.sequence,
            hash = %anchor.hash,
            "audit chain anchor"
        );
        *last = Some(head);
        Ok(())
    }
}

/// What the anchors say of the database's trail.
#[derive(Debug, PartialEq, Eq)]
pub enum AnchorVerdict {
    /// Every chain reaches at least its last anchor, with the anchored hash there.
    Reached {
        chains: usize,
        unreadable_lines: usize,
    },
    /// Rows after `present` of the chain are gone: it was anchored at `anchored`.
    Missing {
        chain_id: String,
        anchored: i64,
        present: i64,
        anchored_at: NaiveDateTime,
    },
    /// The row at the anchored sequence is not the row that was anchored.
    Replaced { chain_id: String, sequence: i64 },
}

/// Checks the trail in `conn` against the last anchor of each chain in `path`. A line that
/// cannot be read (the last, cut short by a crash) is counted and skipped.
pub fn check(conn: &mut DbConnection, path: &Path) -> anyhow::Result<AnchorVerdict> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening the anchor file {}", path.display()))?;
    let mut last: BTreeMap<String, Anchor> = BTreeMap::new();
    let mut unreadable_lines = 0;
    for line in std::io::BufReader::new(file).lines() {
        let Ok(anchor) = serde_json::from_str::<Anchor>(&line?) else {
            unreadable_lines += 1;
            continue;
        };
        match last.get(&anchor.chain_id) {
            Some(known) if known.sequence >= anchor.sequence => {}
            _ => {
                last.insert(anchor.chain_id.clone(), anchor);
            }
        }
    }
    for anchor in last.values() {
        let stored: Option<String> = audit_events::table
            .filter(audit_events::chain_id.eq(&anchor.chain_id))
            .filter(audit_events::sequence.eq(anchor.sequence))
            .select(audit_events::hash)
            .first(conn)
            .optional()?;
        match stored {
            Some(hash) if hash == anchor.hash => {}
            Some(_) => {
                return Ok(AnchorVerdict::Replaced {
                    chain_id: anchor.chain_id.clone(),
                    sequence: anchor.sequence,
                });
            }
            None => {
                let present: Option<i64> = audit_events::table
                    .filter(audit_events::chain_id.eq(&anchor.chain_id))
                    .select(diesel::dsl::max(audit_events::sequence))
                    .first(conn)?;
                return Ok(AnchorVerdict::Missing {
                    chain_id: anchor.chain_id.clone(),
                    anchored: anchor.sequence,
                    present: present.unwrap_or(0),
                    anchored_at: anchor.at,
                });
            }
        }
    }
    Ok(AnchorVerdict::Reached {
        chains: last.len(),
        unreadable_lines,
    })
}
