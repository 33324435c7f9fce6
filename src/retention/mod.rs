//! Retention (IPP 4.2): a run archives every closed case past its schedule's archive period,
//! and disposes of every client whose cases are all closed past their dispose period, unless
//! a legal hold, an open complaint or an open access or correction request keeps the file. Disposal deletes the client's personal
//! data in one transaction and writes a certificate that holds no personal data: the
//! schedules applied, how many records of each kind went, and a keyed hash of each client id
//! (so the department can later show that a given client was disposed of, and nobody can
//! list who was). A dry run does the same inside a transaction it rolls back, so what it
//! reports is exactly what a run would do.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Months, NaiveDateTime};
use diesel::Connection;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::config::Config;
use crate::db::DbConnection;
use crate::db::retention::{self as queries, CaseLife, CertificateRow, ScheduleRow};
use crate::domain::{CaseStatus, StoredAsText};

/// The disposal key: configured, or generated on first use and kept in the data directory.
pub fn disposal_key(config: &Config) -> anyhow::Result<Vec<u8>> {
    crate::auth::keys::load_or_create(
        config.privacy.disposal_key.as_deref(),
        &config.data_dir,
        "disposal-key",
    )
}

/// The keyed hash a disposal certificate holds for a client id.
pub fn client_id_hash(key: &[u8], client_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(client_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A schedule as a certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ToSchema)]
pub struct ScheduleApplied {
    pub service_type: String,
    pub archive_after_years: i32,
    pub dispose_after_years: i32,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default)]
pub struct Outcome {
    pub archived_case_ids: Vec<String>,
    pub disposed_client_ids: Vec<String>,
    pub record_counts: BTreeMap<String, usize>,
    pub certificate_id: Option<String>,
}

/// Ids per statement: well under either database's limit on bound parameters.
const CHUNK: usize = 500;

fn years_before(now: NaiveDateTime, years: i32) -> NaiveDateTime {
    now.checked_sub_months(Months::new(12 * years.unsigned_abs()))
        .unwrap_or(NaiveDateTime::MIN)
}

/// Whether `case` was closed more than `years(schedule)` years before `now`.
fn closed_past(
    case: &CaseLife,
    schedules: &HashMap<String, ScheduleRow>,
    now: NaiveDateTime,
    years: fn(&ScheduleRow) -> i32,
) -> bool {
    case.status == CaseStatus::Closed.as_str()
        && case.closed_at.is_some_and(|closed| {
            schedules
                .get(&case.service_type)
                .is_some_and(|schedule| closed < years_before(now, years(schedule)))
        })
}

/// Runs retention as of `now`, authorised by user `authorised_by`. Call it inside the
/// transaction that records who asked; a dry run changes nothing.
pub fn run(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    dry_run: bool,
    authorised_by: &str,
    key: &[u8],
) -> anyhow::Result<Outcome> {
    let schedules: HashMap<String, ScheduleRow> = queries::schedules(conn)?
        .into_iter()
        .map(|schedule| (schedule.service_type.clone(), schedule))
        .collect();
    let lives = queries::case_lives(conn)?;
    let archived_case_ids: Vec<String> = lives
        .iter()
        .filter(|case| case.archived_at.is_none())
        .filter(|case| closed_past(case, &schedules, now, |s| s.archive_after_years))
        .map(|case| case.id.clone())
        .collect();
    let mut by_client: BTreeMap<&str, Vec<&CaseLife>> = BTreeMap::new();
    for case in &lives {
        by_client.entry(&case.client_id).or_default().push(case);
    }
    let candidates: Vec<String> = by_client
        .iter()
        .filter(|(_, cases)| {
            cases
                .iter()
                .all(|case| closed_past(case, &schedules, now, |s| s.dispose_after_years))
        })
        .map(|(client, _)| (*client).to_owned())
        .collect();
    let mut held = BTreeSet::new();
    for chunk in candidates.chunks(CHUNK) {
        held.extend(queries::held(conn, chunk)?);
    }
    let disposed_client_ids: Vec<String> = candidates
        .into_iter()
        .filter(|client| !held.contains(client))
        .collect();
    let applied: BTreeSet<ScheduleApplied> = disposed_client_ids
        .iter()
        .flat_map(|client| &by_client[client.as_str()])
        .filter_map(|case| schedules.get(&case.service_type))
        .map(|schedule| ScheduleApplied {
            service_type: schedule.service_type.clone(),
            archive_after_years: schedule.archive_after_years,
            dispose_after_years: schedule.dispose_after_years,
        })
        .collect();

    let mut outcome = Outcome {
        archived_case_ids,
        disposed_client_ids,
        ..Outcome::default()
    };
    let applied_changes = conn.transaction::<_, anyhow::Error, _>(|conn| {
        for chunk in outcome.archived_case_ids.chunks(CHUNK) {
            queries::archive(conn, chunk, now)?;
        }
        if !outcome.disposed_client_ids.is_empty() {
            for chunk in outcome.disposed_client_ids.chunks(CHUNK) {
                for (kind, count) in queries::dispose(conn, chunk)? {
                    *outcome.record_counts.entry(kind.to_owned()).or_default() += count;
                }
            }
            let mut hashes: Vec<String> = outcome
                .disposed_client_ids
                .iter()
                .map(|client| client_id_hash(key, client))
                .collect();
            hashes.sort_unstable();
            let certificate = CertificateRow {
                id: uuid::Uuid::now_v7().to_string(),
                disposed_at: now,
                authorised_by: authorised_by.to_owned(),
                schedules: serde_json::to_string(&applied)?,
                record_counts: serde_json::to_string(&outcome.record_counts)?,
                client_id_hashes: serde_json::to_string(&hashes)?,
            };
            queries::insert_certificate(conn, &certificate)?;
            outcome.certificate_id = Some(certificate.id);
        }
        if dry_run {
            // Counted, then undone: nothing of a dry run stays.
            return Err(DryRun.into());
        }
        Ok(())
    });
    match applied_changes {
        Ok(()) => Ok(outcome),
        Err(error) if error.is::<DryRun>() => {
            outcome.certificate_id = None;
            Ok(outcome)
        }
        Err(error) => Err(error),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("dry run: rolled back")]
struct DryRun;
