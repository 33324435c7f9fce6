//! Retention (IPP 4.2): a run archives every closed case past its schedule's archive period,
//! and disposes of every client whose cases are all closed past their dispose period, and of
//! every client who never had a case and whose file has had no activity for the period of the
//! schedule for clients without cases, unless a legal hold, an open complaint or an open
//! access or correction request keeps the file.
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

/// What a schedule governs: the cases of one service type, or the clients who never had a
/// case (one such schedule at most, with no service type and no archive period).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    #[default]
    Cases,
    ClientsWithoutCases,
}

/// A schedule as a certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ToSchema)]
pub struct ScheduleApplied {
    /// Absent from certificates written before schedules for clients without cases.
    #[serde(default)]
    pub applies_to: AppliesTo,
    /// Null for the schedule for clients without cases.
    pub service_type: Option<String>,
    /// Null for the schedule for clients without cases.
    pub archive_after_years: Option<i32>,
    pub dispose_after_years: i32,
}

impl From<&ScheduleRow> for ScheduleApplied {
    fn from(row: &ScheduleRow) -> Self {
        Self {
            applies_to: applies_to(row),
            service_type: row.service_type.clone(),
            archive_after_years: row.archive_after_years,
            dispose_after_years: row.dispose_after_years,
        }
    }
}

/// What `row` governs: a schedule without a service type is the one for clients without cases.
pub fn applies_to(row: &ScheduleRow) -> AppliesTo {
    match row.service_type {
        Some(_) => AppliesTo::Cases,
        None => AppliesTo::ClientsWithoutCases,
    }
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
/// closed before `now` less its schedule's years (`db::retention::to_archive`, `to_dispose`);
/// a client who never had a case is past the period of the schedule for clients without cases
/// when their file has had no activity since `now` less its years
/// (`db::retention::to_dispose_without_cases`).
#[derive(Debug, Clone)]
pub struct Cutoffs {
    schedules: HashMap<String, ScheduleApplied>,
    archive: Vec<Cutoff>,
    dispose: Vec<Cutoff>,
    /// The schedule for clients without cases, and the activity before which a file is past it.
    without_cases: Option<(ScheduleApplied, NaiveDateTime)>,
}

impl Cutoffs {
    pub fn read(conn: &mut DbConnection, now: NaiveDateTime) -> anyhow::Result<Self> {
        let mut cutoffs = Self {
            schedules: HashMap::new(),
            archive: Vec::new(),
            dispose: Vec::new(),
            without_cases: None,
        };
        for row in queries::schedules(conn)? {
            let applied = ScheduleApplied::from(&row);
            let dispose_before = years_before(now, row.dispose_after_years);
            let (Some(service_type), Some(archive_after_years)) =
                (row.service_type, row.archive_after_years)
            else {
                cutoffs.without_cases = Some((applied, dispose_before));
                continue;
            };
            let cutoff = |before| Cutoff {
                service_type: service_type.clone(),
                before,
            };
            cutoffs
                .archive
                .push(cutoff(years_before(now, archive_after_years)));
            cutoffs.dispose.push(cutoff(dispose_before));
            cutoffs.schedules.insert(service_type, applied);
        }
        Ok(cutoffs)
    }

    /// The clients due for disposal as of these cutoffs, holds aside, sorted: those whose
    /// cases are all past, and those without cases past theirs. Of `among` only, when given.
    fn due_for_disposal(
        &self,
        conn: &mut DbConnection,
        among: Option<&[String]>,
    ) -> anyhow::Result<Due> {
        let with_cases = queries::to_dispose(conn, &self.dispose, among)?;
        let without_cases = match &self.without_cases {
            Some((_, before)) => queries::to_dispose_without_cases(conn, *before, among)?,
            None => Vec::new(),
        };
        Ok(Due {
            with_cases,
            without_cases,
        })
    }
}

/// Clients due for disposal, by the rule that makes them due.
#[derive(Debug, Default)]
struct Due {
    with_cases: Vec<String>,
    without_cases: Vec<String>,
}

impl Due {
    /// Both lists in one, sorted (no client is in both: one has cases, the other none).
    fn all(self) -> Vec<String> {
        let mut all = self.with_cases;
        all.extend(self.without_cases);
        all.sort_unstable();
        all
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
    let candidates = cutoffs.due_for_disposal(conn, None)?.all();
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
                let due = self.cutoffs.due_for_disposal(conn, Some(&ids))?;
                let without_cases = due.without_cases.clone();
                let due = not_held(conn, due.all())?;
                if due.is_empty() {
                    return Ok(Done::default());
                }
                let mut applied: BTreeSet<ScheduleApplied> = queries::service_types(conn, &due)?
                    .iter()
                    .filter_map(|service_type| self.cutoffs.schedules.get(service_type))
                    .cloned()
                    .collect();
                if without_cases.iter().any(|client| due.contains(client)) {
                    applied.extend(self.cutoffs.without_cases.iter().map(|(s, _)| s.clone()));
                }
                let record_counts = queries::dispose(conn, &due, self.now)?;
                certify(conn, &self.run, self.now, applied, &due, &record_counts)?;
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
    schedules: BTreeSet<ScheduleApplied>,
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
    applied.extend(schedules);
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
