//! Retention (IPP 4.2): a run archives every closed case past its schedule's archive period,
//! and disposes of every client whose cases are all closed past their dispose period, unless
//! a legal hold, an open complaint or an open access or correction request keeps the file.
//! Disposal deletes the client's personal data and writes a certificate that holds no
//! personal data: the schedules applied, how many records of each kind went, and a keyed hash
//! of each client id (so the department can later show that a given client was disposed of,
//! and nobody can list who was).
//!
//! A run is a read and then many short writes: [`plan`] finds what is due with SQL on a reader
//! (the writer, which every write of the service waits behind, never scans the database), and
//! [`carry_out`] hands the writer jobs of at most [`BATCH`] ids, each re-checking that its own
//! ids are still due and not held before it changes them (something may have changed since the
//! read). Every disposal job completes the run's one certificate in its own transaction, so
//! whatever a run disposed of is certified even if the run stops midway. A dry run is the read
//! alone, with the records counted ([`dry_run`]).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

use chrono::{Months, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::config::Config;
use crate::db::DbConnection;
use crate::db::retention::{self as queries, CHUNK, CertificateRow, Cutoff, ScheduleRow};

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

/// Ids a writer job of a run changes at most: a few milliseconds of the writer's time.
pub const BATCH: usize = 200;

fn years_before(now: NaiveDateTime, years: i32) -> NaiveDateTime {
    now.checked_sub_months(Months::new(12 * years.unsigned_abs()))
        .unwrap_or(NaiveDateTime::MIN)
}

/// The schedules as of a run's `now`: a case is past a period when it is closed and was
/// closed before `now` less its schedule's years (`db::retention::to_archive`, `to_dispose`).
#[derive(Debug, Clone)]
pub struct Cutoffs {
    schedules: HashMap<String, ScheduleRow>,
    archive: Vec<Cutoff>,
    dispose: Vec<Cutoff>,
}

impl Cutoffs {
    pub fn read(conn: &mut DbConnection, now: NaiveDateTime) -> anyhow::Result<Self> {
        let schedules: HashMap<String, ScheduleRow> = queries::schedules(conn)?
            .into_iter()
            .map(|schedule| (schedule.service_type.clone(), schedule))
            .collect();
        let cutoffs = |years: fn(&ScheduleRow) -> i32| {
            schedules
                .values()
                .map(|schedule| Cutoff {
                    service_type: schedule.service_type.clone(),
                    before: years_before(now, years(schedule)),
                })
                .collect()
        };
        Ok(Self {
            archive: cutoffs(|s| s.archive_after_years),
            dispose: cutoffs(|s| s.dispose_after_years),
            schedules,
        })
    }
}

/// What a run as of `now` is to do, as read.
#[derive(Debug, Clone)]
pub struct Plan {
    pub now: NaiveDateTime,
    pub cutoffs: Cutoffs,
    /// Sorted.
    pub archive: Vec<String>,
    /// Sorted.
    pub dispose: Vec<String>,
}

impl Plan {
    /// Whether the run has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.archive.is_empty() && self.dispose.is_empty()
    }
}

/// Finds what a run as of `now` would do. A read: run it on a reader connection.
pub fn plan(conn: &mut DbConnection, now: NaiveDateTime) -> anyhow::Result<Plan> {
    let cutoffs = Cutoffs::read(conn, now)?;
    let archive = queries::to_archive(conn, &cutoffs.archive, None)?;
    let candidates = queries::to_dispose(conn, &cutoffs.dispose, None)?;
    let dispose = not_held(conn, candidates)?;
    Ok(Plan {
        now,
        cutoffs,
        archive,
        dispose,
    })
}

/// `candidates` less those a hold keeps (see `db::retention::held`).
fn not_held(conn: &mut DbConnection, mut candidates: Vec<String>) -> anyhow::Result<Vec<String>> {
    let mut held = BTreeSet::new();
    for chunk in candidates.chunks(CHUNK) {
        held.extend(queries::held(conn, chunk)?);
    }
    candidates.retain(|client| !held.contains(client));
    Ok(candidates)
}

fn add_counts(total: &mut BTreeMap<String, usize>, counts: BTreeMap<&'static str, usize>) {
    for (kind, count) in counts {
        *total.entry(kind.to_owned()).or_default() += count;
    }
}

/// What a run as of `now` would do, with the records it would delete counted from the tables
/// disposal deletes from. A read: it changes nothing.
pub fn dry_run(conn: &mut DbConnection, now: NaiveDateTime) -> anyhow::Result<Outcome> {
    let plan = plan(conn, now)?;
    let mut record_counts = BTreeMap::new();
    for chunk in plan.dispose.chunks(CHUNK) {
        add_counts(&mut record_counts, queries::count(conn, chunk)?);
    }
    Ok(Outcome {
        archived_case_ids: plan.archive,
        disposed_client_ids: plan.dispose,
        record_counts,
        certificate_id: None,
    })
}

/// Who runs a run, and the certificate its disposal jobs complete.
#[derive(Debug, Clone)]
pub struct Run {
    pub authorised_by: String,
    pub key: Vec<u8>,
    pub certificate_id: String,
}

impl Run {
    pub fn new(authorised_by: &str, key: &[u8]) -> Self {
        Self {
            authorised_by: authorised_by.to_owned(),
            key: key.to_vec(),
            certificate_id: uuid::Uuid::now_v7().to_string(),
        }
    }
}

/// One writer job of a run.
#[derive(Debug, Clone)]
pub struct Step {
    run: Run,
    now: NaiveDateTime,
    cutoffs: Cutoffs,
    batch: Batch,
}

#[derive(Debug, Clone)]
enum Batch {
    Archive(Vec<String>),
    Dispose(Vec<String>),
}

/// What one job did.
#[derive(Debug, Default)]
pub struct Done {
    pub archived: Vec<String>,
    pub disposed: Vec<String>,
    pub record_counts: BTreeMap<&'static str, usize>,
}

impl Step {
    /// Carries out the job on the writer, in one transaction: only the ids still due and not
    /// held as of now are changed.
    pub fn apply(self, conn: &mut DbConnection) -> anyhow::Result<Done> {
        match self.batch {
            Batch::Archive(ids) => {
                let due = queries::to_archive(conn, &self.cutoffs.archive, Some(&ids))?;
                queries::archive(conn, &due, self.now)?;
                Ok(Done {
                    archived: due,
                    ..Done::default()
                })
            }
            Batch::Dispose(ids) => {
                let due = queries::to_dispose(conn, &self.cutoffs.dispose, Some(&ids))?;
                let due = not_held(conn, due)?;
                if due.is_empty() {
                    return Ok(Done::default());
                }
                let service_types = queries::service_types(conn, &due)?;
                let record_counts = queries::dispose(conn, &due, self.now)?;
                certify(
                    conn,
                    &self.run,
                    self.now,
                    &self.cutoffs,
                    &service_types,
                    &due,
                    &record_counts,
                )?;
                Ok(Done {
                    disposed: due,
                    record_counts,
                    ..Done::default()
                })
            }
        }
    }
}

/// Adds a disposal job's clients to the run's certificate (creating it with the first), in
/// the job's transaction: the certificate lists exactly what has been disposed of.
fn certify(
    conn: &mut DbConnection,
    run: &Run,
    now: NaiveDateTime,
    cutoffs: &Cutoffs,
    service_types: &[String],
    disposed: &[String],
    counts: &BTreeMap<&'static str, usize>,
) -> anyhow::Result<()> {
    let existing = queries::certificate(conn, &run.certificate_id)?;
    let (mut applied, mut record_counts, mut hashes): (
        BTreeSet<ScheduleApplied>,
        BTreeMap<String, usize>,
        Vec<String>,
    ) = match &existing {
        Some(row) => (
            serde_json::from_str(&row.schedules)?,
            serde_json::from_str(&row.record_counts)?,
            serde_json::from_str(&row.client_id_hashes)?,
        ),
        None => Default::default(),
    };
    applied.extend(
        service_types
            .iter()
            .filter_map(|service_type| cutoffs.schedules.get(service_type))
            .map(|schedule| ScheduleApplied {
                service_type: schedule.service_type.clone(),
                archive_after_years: schedule.archive_after_years,
                dispose_after_years: schedule.dispose_after_years,
            }),
    );
    add_counts(&mut record_counts, counts.clone());
    hashes.extend(
        disposed
            .iter()
            .map(|client| client_id_hash(&run.key, client)),
    );
    hashes.sort_unstable();
    let row = CertificateRow {
        id: run.certificate_id.clone(),
        disposed_at: now,
        authorised_by: run.authorised_by.clone(),
        schedules: serde_json::to_string(&applied)?,
        record_counts: serde_json::to_string(&record_counts)?,
        client_id_hashes: serde_json::to_string(&hashes)?,
    };
    match existing {
        Some(_) => queries::update_certificate(conn, &row)?,
        None => queries::insert_certificate(conn, &row)?,
    }
    Ok(())
}

/// Carries out `plan` as `run`: archiving, then disposal, in jobs of at most `batch` ids that
/// `job` runs each in a writer transaction of its own (`Step::apply`), one after another.
pub async fn carry_out<E, F, Fut>(
    run: Run,
    plan: Plan,
    batch: usize,
    mut job: F,
) -> Result<Outcome, E>
where
    F: FnMut(Step) -> Fut,
    Fut: Future<Output = Result<Done, E>>,
{
    let steps = plan
        .archive
        .chunks(batch)
        .map(|ids| Batch::Archive(ids.to_vec()))
        .chain(
            plan.dispose
                .chunks(batch)
                .map(|ids| Batch::Dispose(ids.to_vec())),
        );
    let mut outcome = Outcome::default();
    let mut record_counts = BTreeMap::new();
    for batch in steps {
        let step = Step {
            run: run.clone(),
            now: plan.now,
            cutoffs: plan.cutoffs.clone(),
            batch,
        };
        let done = job(step).await?;
        outcome.archived_case_ids.extend(done.archived);
        outcome.disposed_client_ids.extend(done.disposed);
        add_counts(&mut record_counts, done.record_counts);
    }
    outcome.record_counts = record_counts;
    if !outcome.disposed_client_ids.is_empty() {
        outcome.certificate_id = Some(run.certificate_id);
    }
    Ok(outcome)
}
