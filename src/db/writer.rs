//! Group commit. One thread owns the writer connection and the instance's audit chain. It
//! takes every job waiting in its queue, runs each change in its own savepoint inside one
//! transaction, stores the audit rows that record no change (most reads) together, commits
//! once, and only then answers each job: a job's result is never seen before it is durable,
//! and one fsync serves the whole batch.
use std::any::Any;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::r2d2::{ConnectionManager, Pool};
use tokio::sync::oneshot;

use super::DbConnection;
use crate::audit::chain::ChainHead;
use crate::audit::{CLIENTS_PER_BATCH, PendingRow};
use crate::error::ApiError;

/// Jobs committed together at most; more wait for the next batch.
const MAX_BATCH: usize = 512;

/// How long one job may hold the writer before it is logged as a warning: every other write
/// of the service waits behind it, and no write should wait more than this. A job whose work
/// grows with the size of the database shows here first.
const SLOW_JOB: Duration = Duration::from_millis(50);

type Outcome = Result<Box<dyn Any + Send>, ApiError>;
type Work = Box<dyn FnOnce(&mut DbConnection, &mut ChainHead) -> Outcome + Send>;

enum Job {
    /// A change and its audit row, in a savepoint of its own.
    Change {
        work: Work,
        reply: oneshot::Sender<Outcome>,
    },
    /// An audit row alone, stored with the batch's others in one statement.
    Row {
        row: Box<PendingRow>,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
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
    /// Starts the writer thread; it ends when the last `Writer` is dropped.
    pub fn start(pool: Pool<ConnectionManager<DbConnection>>) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("casebridge-writer".into())
            .spawn(move || run(pool, jobs))
            .expect("the writer thread starts");
        Self { queue }
    }

    /// Runs `work` in the next batch and answers once the batch is committed.
    pub async fn submit<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &mut ChainHead) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |conn, head| {
            work(conn, head).map(|value| Box::new(value) as Box<dyn Any + Send>)
        });
        self.queue
            .send(Job::Change { work, reply })
            .map_err(|_| unavailable())?;
        let value = answer.await.map_err(|_| unavailable())??;
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
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Row {
                row: Box::new(row),
                reply,
            })
            .map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }
}

fn run(pool: Pool<ConnectionManager<DbConnection>>, jobs: mpsc::Receiver<Job>) {
    let mut head = ChainHead::start();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&pool, &mut head, batch);
    }
}

fn commit(pool: &Pool<ConnectionManager<DbConnection>>, head: &mut ChainHead, batch: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, "no writer connection; refusing the batch");
            for job in batch {
                match job {
                    Job::Change { reply, .. } => drop(reply.send(Err(unavailable()))),
                    Job::Row { reply, .. } => drop(reply.send(Err(unavailable()))),
                }
            }
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
    let committed = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for job in batch {
            match job {
                Job::Change { work, reply } => {
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
                Job::Row { row, reply } => {
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
