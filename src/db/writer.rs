//! Group commit. One thread owns the writer connection and the instance's audit chain. It
//! takes every job waiting in its queue, runs each change in its own savepoint inside one
//! transaction, stores the audit rows that record no change (most reads) together, commits
//! once, and only then answers each job: a job's result is never seen before it is durable,
//! and one fsync serves the whole batch.
//!
//! Every wait is bounded. The queue holds a set number of jobs; beyond it a job is refused at
//! once. A job the writer has not started within the service's database wait is abandoned and
//! answered 503, and the writer never starts it afterwards: the decision is one atomic step
//! ([`Claim`]), so a request answered "nothing was changed" never changes anything later. On
//! PostgreSQL a batch first takes a transaction-scoped advisory lock, so that the writers of
//! several instances sharing the database take turns instead of deadlocking on rows each
//! other's batches hold (on SQLite, the write lock); a batch that cannot take it within the
//! lock timeout answers its jobs 503 without running any.
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use tokio::sync::oneshot;

use super::{DatabaseKind, DbConnection};
use crate::audit::chain::ChainHead;
use crate::audit::{CLIENTS_PER_BATCH, PendingRow};
use crate::error::ApiError;

/// Jobs committed together at most; more wait for the next batch.
const MAX_BATCH: usize = 512;

/// How long one job may hold the writer before it is logged as a warning: every other write
/// of the service waits behind it, and no write should wait more than this. A job whose work
/// grows with the size of the database shows here first.
const SLOW_JOB: Duration = Duration::from_millis(50);

/// The advisory lock a PostgreSQL batch holds until it commits: one key for every instance.
pub const BATCH_LOCK_KEY: i64 = 0x6361_7365_6272_6964; // "casebrid"

type Outcome = Result<Box<dyn Any + Send>, ApiError>;
type Work = Box<dyn FnOnce(&mut DbConnection, &mut ChainHead) -> Outcome + Send>;

enum Job {
    /// A change and its audit row, in a savepoint of its own.
    Change {
        work: Work,
        claim: Arc<Claim>,
        reply: oneshot::Sender<Outcome>,
    },
    /// An audit row alone, stored with the batch's others in one statement.
    Row {
        row: Box<PendingRow>,
        claim: Arc<Claim>,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
}

impl Job {
    fn refuse(self, error: fn() -> ApiError) {
        match self {
            Job::Change { reply, .. } => drop(reply.send(Err(error()))),
            Job::Row { reply, .. } => drop(reply.send(Err(error()))),
        }
    }
}

/// Whether a job has been started by the writer or abandoned by its request: whichever comes
/// first wins, and the other side learns it lost.
#[derive(Debug, Default)]
struct Claim(AtomicU8);

const WAITING: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

impl Claim {
    fn settle(&self, to: u8) -> bool {
        self.0
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The writer's side: true when the job may run (its request still waits for it).
    fn start(&self) -> bool {
        self.settle(STARTED)
    }

    /// The request's side: true when the job will never run.
    fn abandon(&self) -> bool {
        self.settle(ABANDONED)
    }
}

/// Abandons the job if its request goes away (times out, or the client disconnects) before
/// the writer started it.
struct AbandonOnDrop(Arc<Claim>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// How long the writer's callers wait.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// For the writer to start a job.
    pub to_start: Duration,
    /// For a started job's batch to commit, beyond which the outcome is unknown: the
    /// database's own timeouts end a statement sooner unless the server itself stalls.
    pub to_commit: Duration,
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::SyncSender<Job>,
    waits: Waits,
    /// The end of this instance's chain as last committed (`audit::anchor` writes it out).
    committed: Arc<arc_swap::ArcSwapOption<ChainHead>>,
    /// Jobs in the queue.
    depth: Arc<AtomicUsize>,
}

/// 503 for a job the writer did not start in time: nothing was changed.
pub fn not_started() -> ApiError {
    ApiError::Unavailable {
        code: "database_unavailable",
        detail: "The database did not take the change in time; nothing was changed or disclosed. \
                 Try again after Retry-After."
            .into(),
    }
}

/// 503 for a job refused because the queue is full: nothing was changed.
fn queue_full() -> ApiError {
    ApiError::Unavailable {
        code: "database_busy",
        detail: "Too many changes are waiting to be stored; nothing was changed or disclosed. \
                 Try again after Retry-After."
            .into(),
    }
}

pub fn unavailable() -> ApiError {
    ApiError::Unavailable {
        code: "audit_unavailable",
        detail:
            "The change and its audit record could not be stored; nothing was changed or disclosed."
                .into(),
    }
}

/// For a batch whose COMMIT failed: it may or may not have been stored.
fn outcome_unknown() -> ApiError {
    ApiError::Unavailable {
        code: "audit_unavailable",
        detail:
            "The database did not confirm the change and its audit record; check before retrying."
                .into(),
    }
}

impl Writer {
    /// Starts the writer thread; it ends when the last `Writer` is dropped. At most
    /// `capacity` jobs wait in its queue.
    pub fn start(
        pool: Pool<ConnectionManager<DbConnection>>,
        kind: DatabaseKind,
        capacity: usize,
        waits: Waits,
    ) -> Self {
        let (queue, jobs) = mpsc::sync_channel::<Job>(capacity);
        let committed = Arc::new(arc_swap::ArcSwapOption::empty());
        let depth = Arc::new(AtomicUsize::new(0));
        let (published, taken) = (committed.clone(), depth.clone());
        std::thread::Builder::new()
            .name("casebridge-writer".into())
            .spawn(move || run(pool, kind, jobs, &published, &taken))
            .expect("the writer thread starts");
        Self {
            queue,
            waits,
            committed,
            depth,
        }
    }

    /// Jobs waiting in the queue now.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// The end of this instance's audit chain as last committed; None before its first row.
    pub fn committed_head(&self) -> Option<ChainHead> {
        self.committed.load_full().map(|head| (*head).clone())
    }

    /// Queues `job`, made with the claim, and waits for its answer: 503 when the queue is
    /// full, or when the writer has not started it within the wait (it then never will).
    async fn enqueue<T>(
        &self,
        job: impl FnOnce(Arc<Claim>, oneshot::Sender<Result<T, ApiError>>) -> Job,
    ) -> Result<T, ApiError> {
        let claim = Arc::new(Claim::default());
        let _abandon_if_dropped = AbandonOnDrop(claim.clone());
        let (reply, mut answer) = oneshot::channel();
        // Counted before it is sent, so that the writer's count down never goes below zero.
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.queue
            .try_send(job(claim.clone(), reply))
            .map_err(|error| {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                match error {
                    mpsc::TrySendError::Full(_) => queue_full(),
                    mpsc::TrySendError::Disconnected(_) => unavailable(),
                }
            })?;
        let answered = match actix_web::rt::time::timeout(self.waits.to_start, &mut answer).await {
            Ok(answered) => answered,
            Err(_) if claim.abandon() => return Err(not_started()),
            Err(_) => actix_web::rt::time::timeout(self.waits.to_commit, answer)
                .await
                .map_err(|_| outcome_unknown())?,
        };
        answered.map_err(|_| unavailable())?
    }

    /// Runs `work` in the next batch and answers once the batch is committed.
    pub async fn submit<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &mut ChainHead) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let work: Work = Box::new(move |conn, head| {
            work(conn, head).map(|value| Box::new(value) as Box<dyn Any + Send>)
        });
        let value = self
            .enqueue(|claim, reply| Job::Change { work, claim, reply })
            .await?;
        Ok(*value
            .downcast::<T>()
            .expect("a job answers with its own type"))
    }

    /// Stores `row` in the next batch and answers once the batch is committed. A row naming
    /// thousands of clients names the first of them there and the others in the batches after
    /// it, each committed before the next is sent, so that no batch holds the writer long; it
    /// answers after the last.
    pub async fn record(&self, mut row: PendingRow) -> Result<(), ApiError> {
        let more_clients = row.split_clients(CLIENTS_PER_BATCH);
        self.record_row(row).await?;
        for clients in more_clients {
            self.submit(move |conn, _| Ok(clients.store(conn)?)).await?;
        }
        Ok(())
    }

    async fn record_row(&self, row: PendingRow) -> Result<(), ApiError> {
        let row = Box::new(row);
        self.enqueue(|claim, reply| Job::Row { row, claim, reply })
            .await
    }
}

fn run(
    pool: Pool<ConnectionManager<DbConnection>>,
    kind: DatabaseKind,
    jobs: mpsc::Receiver<Job>,
    committed: &arc_swap::ArcSwapOption<ChainHead>,
    depth: &AtomicUsize,
) {
    let mut head = ChainHead::start();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        depth.fetch_sub(batch.len(), Ordering::Relaxed);
        crate::metrics::writer_batch(batch.len());
        commit(&pool, kind, &mut head, batch);
        // Only rows that were committed are published; a failed commit starts a new chain
        // whose sequence 0 has no row.
        if head.sequence > 0 {
            committed.store(Some(Arc::new(head.clone())));
        }
    }
}

/// Takes what lets a batch run alone, before any of its jobs starts, waiting at most the lock
/// timeout: on PostgreSQL the advisory lock every instance's writer takes; on SQLite the
/// database's write lock, which a write statement takes when it begins, whether or not it
/// changes a row. Taken later, by a job's first write after a read, SQLite would refuse at
/// once rather than wait (a read snapshot cannot wait for a lock).
pub fn lock_for_batch(conn: &mut DbConnection, kind: DatabaseKind) -> diesel::QueryResult<()> {
    match kind {
        DatabaseKind::Postgres => {
            conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({BATCH_LOCK_KEY})"))
        }
        DatabaseKind::Sqlite => conn.batch_execute("UPDATE settings SET key = key WHERE 0"),
    }
}

fn commit(
    pool: &Pool<ConnectionManager<DbConnection>>,
    kind: DatabaseKind,
    head: &mut ChainHead,
    batch: Vec<Job>,
) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, "no writer connection; refusing the batch");
            batch.into_iter().for_each(|job| job.refuse(unavailable));
            return;
        }
    };
    let head_before = head.clone();
    let started = Instant::now();
    let mut slowest_job = Duration::ZERO;
    let mut change_replies = Vec::with_capacity(batch.len());
    let mut rows = Vec::new();
    let mut row_replies = Vec::new();
    let mut rows_stored = Ok(());
    let mut refused = false;
    let committed = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        if let Err(error) = lock_for_batch(conn, kind) {
            // No job has run: each may be tried again.
            let refusal = match crate::error::DatabaseTrouble::of(&error) {
                Some(crate::error::DatabaseTrouble::Contention) => ApiError::database_busy,
                _ => unavailable,
            };
            tracing::warn!(error = %error, "the batch could not take the writers' lock; refusing it");
            batch.into_iter().for_each(|job| job.refuse(refusal));
            refused = true;
            return Err(error);
        }
        for job in batch {
            match job {
                Job::Change { claim, .. } | Job::Row { claim, .. } if !claim.start() => {
                    // Its request was answered 503 or went away: it never runs.
                }
                Job::Change { work, reply, .. } => {
                    let before = head.clone();
                    let job_started = Instant::now();
                    // A nested transaction is a savepoint: a failing job takes back only its
                    // own work.
                    let outcome = conn.transaction::<_, ApiError, _>(|conn| work(conn, head));
                    let held = job_started.elapsed();
                    if held > SLOW_JOB {
                        tracing::warn!(
                            held_ms = held.as_millis() as u64,
                            limit_ms = SLOW_JOB.as_millis() as u64,
                            "a write job held the writer longer than a write may wait"
                        );
                    }
                    slowest_job = slowest_job.max(held);
                    if outcome.is_err() {
                        *head = before;
                    }
                    change_replies.push((reply, outcome));
                }
                Job::Row { row, reply, .. } => {
                    rows.push(*row);
                    row_replies.push(reply);
                }
            }
        }
        if !rows.is_empty() {
            let before = head.clone();
            // One savepoint for them all: if they cannot be stored, the changes still can.
            rows_stored = conn.transaction(|conn| crate::audit::append_all(conn, head, rows));
            if let Err(error) = &rows_stored {
                tracing::error!(%error, "the batch's audit rows could not be stored");
                *head = before;
            }
        }
        Ok(())
    });
    if refused {
        return;
    }
    // What `bench/scale.sh` reads (at debug level) for the writer's worst hold: a batch holds
    // every write that arrives meanwhile until it commits.
    let (jobs, held) = (change_replies.len() + row_replies.len(), started.elapsed());
    tracing::debug!(
        jobs,
        held_us = held.as_micros() as u64,
        slowest_job_us = slowest_job.as_micros() as u64,
        "writer batch"
    );
    if held > SLOW_JOB && slowest_job <= SLOW_JOB {
        // No job was slow, so the rows (a read naming thousands of clients) or the commit were.
        tracing::warn!(
            jobs,
            held_ms = held.as_millis() as u64,
            limit_ms = SLOW_JOB.as_millis() as u64,
            "a batch held the writer longer than a write may wait"
        );
    }
    match committed {
        Ok(()) => {
            change_replies
                .into_iter()
                .for_each(|(reply, outcome)| drop(reply.send(outcome)));
            let stored = rows_stored.is_ok();
            row_replies.into_iter().for_each(|reply| {
                drop(reply.send(if stored { Ok(()) } else { Err(unavailable()) }))
            });
        }
        Err(error) => {
            // A failed COMMIT may still have committed (a connection lost mid-commit), so the
            // chain cannot be trusted to end where it did before the batch: a new chain never
            // reuses a sequence number, and the callers are told the outcome is unknown.
            *head = ChainHead::start();
            tracing::error!(%error, old_chain = %head_before.chain_id, new_chain = %head.chain_id,
                "the batch's commit failed; its outcome is unknown and a new audit chain starts");
            change_replies
                .into_iter()
                .for_each(|(reply, _)| drop(reply.send(Err(outcome_unknown()))));
            row_replies
                .into_iter()
                .for_each(|reply| drop(reply.send(Err(outcome_unknown()))));
        }
    }
}
