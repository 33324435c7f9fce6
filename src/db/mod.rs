//! One codebase over two databases: SQLite (the embedded default) and PostgreSQL, chosen by
//! the URL scheme. Diesel is synchronous, so every query runs on actix's blocking pool.
pub mod access_reviews;
pub mod alerts;
pub mod attestations;
pub mod audit;
pub mod breaches;
pub mod breaker;
pub mod cases;
pub mod changes;
pub mod clients;
pub mod complaints;
pub mod consents;
pub mod directory;
pub mod history;
pub mod idempotency;
pub mod incident_reports;
pub mod legal_holds;
pub mod notes;
pub mod notices;
pub mod oversight;
pub mod policy_documents;
pub mod requests;
pub mod retention;
pub mod schema;
pub mod sealed;
pub mod settings;
pub mod wrap_ups;
pub mod writer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{Connection, PgConnection, QueryResult, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::ServiceLimits;
use crate::error::ApiError;

use self::breaker::{Admission, Breaker};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Backend = MultiBackend;
pub type PooledConn = PooledConnection<ConnectionManager<DbConnection>>;

/// Runs `$body` with `$conn` bound to the concrete connection inside a [`DbConnection`].
///
/// Diesel's multi-backend connection writes a query's SQL out afresh each time it runs it
/// (twice: once to ask whether it may be cached, once with its values), about a quarter of
/// the server's CPU under load (docs/benchmarks.md). On the concrete connection a query whose
/// type is fixed is written and prepared once and afterwards only bound. For the statements
/// every request runs; `$body` is compiled once per backend, so it must not hold anything
/// typed for the multi-backend (a boxed scope predicate).
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($inner) => $body,
            $crate::db::DbConnection::Sqlite($inner) => $body,
        }
    };
}

/// Rows one batch insert stores at most: 1,000 rows of up to 32 columns stay within the
/// 32,766 values SQLite binds to a statement (PostgreSQL: 65,535).
pub const ROWS_PER_INSERT: usize = 1_000;

/// Inserts the slice `$rows` into `$table`, one statement per [`ROWS_PER_INSERT`] rows instead
/// of one per row (bulk loads: `seed-synthetic`), on the concrete connection. The row type
/// must bind absent values as NULL (`treat_none_as_default_value = false`): on SQLite a batch
/// holding a `DEFAULT` falls back to one statement per row.
#[macro_export]
macro_rules! insert_chunks {
    ($conn:expr, $table:expr, $rows:expr) => {
        $crate::on_backend!($conn, |conn| {
            for chunk in $rows.chunks($crate::db::ROWS_PER_INSERT) {
                diesel::insert_into($table).values(chunk).execute(conn)?;
            }
            diesel::QueryResult::Ok(())
        })
    };
}

/// Inserts the slice `$rows` into `$table` as [`insert_chunks`] does, but on PostgreSQL with
/// one binary `COPY`, which spares parsing and binding statements of thousands of parameters
/// (constraints and indexes are checked and kept as for an insert: 50,000 synthetic clients
/// loaded in 96 s instead of 158 s here). The rows must be of a type deriving `Insertable`
/// with `treat_none_as_default_value = false`.
#[macro_export]
macro_rules! insert_batches {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres(conn) => {
                use diesel::prelude::ExecuteCopyFromDsl;
                diesel::copy_from($table)
                    .from_insertable($rows)
                    .execute(conn)
                    .map(drop)
            }
            sqlite => $crate::insert_chunks!(sqlite, $table, $rows),
        }
    };
}

/// Rows a list looked at, and where it stopped: a page of the client or case list looks at
/// no more than a set number of rows past its cursor (`Config::list_scan_rows`, counted among
/// the rows its filters select, before the caller's row scope), so that its work is bounded
/// however few of those rows the caller may see: a CSP holds one case in forty, and a filter
/// may leave none of them.
pub struct Scanned<T> {
    pub rows: Vec<T>,
    /// The last row looked at, when the look stopped short of the end.
    pub scanned_to: Option<String>,
}

/// Runs `query`, a [`Scanned`] page's, with PostgreSQL planning it for its own values. Its
/// range of ids is narrow (a scan's worth), but a generic plan cannot see that: after five
/// executions PostgreSQL switched csp-north's client list to a plan driven by all of the
/// CSP's allocations, sorted (200 to 400 ms at 100,000 clients, against 12 ms planned for the
/// values). Planning these few statements each time is the cheaper side.
pub fn planned_for_values<T>(
    conn: &mut DbConnection,
    query: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    match conn {
        DbConnection::Postgres(_) => conn.transaction(|conn| {
            conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan;")?;
            query(conn)
        }),
        DbConnection::Sqlite(_) => query(conn),
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else {
            DatabaseKind::Sqlite
        }
    }
}

/// Reader connections (on SQLite at least one per server worker, see [`Database::read`]).
/// Each worker runs blocking work on at most this many threads: more would only wait for a
/// connection, and every extra thread costs memory and switches.
pub const READ_CONNECTIONS: u32 = 8;

/// Writer connections on PostgreSQL (SQLite has one).
pub const POSTGRES_WRITE_CONNECTIONS: u32 = 8;

/// SQLite settings every connection needs: WAL so readers never block the writer, FULL
/// synchronous so a commit is on disk when it returns, foreign keys enforced, and a lock
/// another process holds waited for no longer than the lock timeout.
/// The memory mapping of the file is [`ServiceLimits::sqlite_mmap_mb`]'s.
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout: Duration,
    mmap_bytes: u64,
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = {};",
            self.busy_timeout.as_millis(),
            self.mmap_bytes
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// PostgreSQL settings every connection needs:
/// - no JIT compilation. The service's statements are short look-ups and pages, but
///   PostgreSQL compiles any statement whose estimated cost passes `jit_above_cost`, every
///   time it runs: at 1,000,000 clients the common-name search's candidates (estimated
///   106,000, 25 ms of work) spent another 32 ms compiling.
/// - a bound on each statement (`statement_timeout`) and on each wait for a lock another
///   session holds (`lock_timeout`): without them a table locked by an administrator's
///   session made every request hang.
#[derive(Debug)]
struct PostgresSettings {
    statement_timeout: Duration,
    lock_timeout: Duration,
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for PostgresSettings {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "SET jit = off; SET statement_timeout = {}; SET lock_timeout = {};",
            self.statement_timeout.as_millis(),
            self.lock_timeout.as_millis()
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How long [`Database`]'s callers wait for it (from [`ServiceLimits`]).
#[derive(Debug, Clone, Copy)]
struct Waits {
    /// For a connection, and for a short read's answer.
    short: Duration,
    /// For a long read's answer: the statement timeout, and the connection's wait.
    long: Duration,
    /// PostgreSQL's `statement_timeout` on every connection.
    statement: Duration,
}

/// Readers and a writer. SQLite allows one writer at a time, so its write pool holds one
/// connection and writers queue here rather than failing with SQLITE_BUSY.
#[derive(Clone)]
pub struct Database {
    kind: DatabaseKind,
    read: Pool<ConnectionManager<DbConnection>>,
    write: Pool<ConnectionManager<DbConnection>>,
    writer: writer::Writer,
    breaker: Arc<Breaker>,
    waits: Waits,
    /// A SQLite database's file, or None on PostgreSQL.
    file: Option<std::path::PathBuf>,
    /// Held while this service serves a SQLite database alone ([`Database::serve_alone`]).
    served: Arc<std::sync::Mutex<Option<Served>>>,
}

/// A SQLite database a service serves: the lock that keeps other processes from serving it,
/// and the file's identity (device, inode) when it started.
struct Served {
    _lock: std::fs::File,
    identity: (u64, u64),
}

/// A file's device and inode: another file at the same path has another.
fn file_identity(file: &std::path::Path) -> anyhow::Result<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(file)?;
        Ok((metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok((0, 0))
    }
}

/// The lock that one process at a time holds on the SQLite database `file` (on
/// `<file>.lock`), for as long as it keeps the answer open.
pub fn sole_use(file: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut lock_path = file.to_owned().into_os_string();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another casebridge process is serving the SQLite database {} (it holds {}): stop \
             it first, or run more instances on PostgreSQL",
            file.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("locking {}", lock_path.display()))
        }
    }
}

/// Waits, retrying, for PostgreSQL to accept a connection, so that a service started before
/// its database (or while it restarts) comes up when the database does; says why meanwhile.
/// Gives up after `wait` with the database's own reason, which diesel's connection pool would
/// otherwise hide behind "Invalid connection url for multiconnection".
fn await_postgres(url: &str, wait: Duration) -> anyhow::Result<()> {
    const ATTEMPT: Duration = Duration::from_secs(5);
    const LONGEST_PAUSE: Duration = Duration::from_secs(5);
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let reason = match postgres_answers(url, ATTEMPT) {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
        if started.elapsed() + pause >= wait {
            anyhow::bail!(
                "PostgreSQL could not be reached within {} s ({reason}): check DATABASE_URL and \
                 that the server is running (CASEBRIDGE_DB_START_WAIT sets how long to wait)",
                wait.as_secs()
            );
        }
        tracing::warn!(
            %reason,
            retry_in_ms = pause.as_millis() as u64,
            "PostgreSQL cannot be reached yet; retrying"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// One connection attempt, given up after `timeout` (a host that drops packets would
/// otherwise hold it for minutes). The reason is PostgreSQL's or the network's: it names the
/// server and the user, never the password.
fn postgres_answers(url: &str, timeout: Duration) -> Result<(), String> {
    let (answered, answer) = std::sync::mpsc::channel();
    let url = url.to_owned();
    std::thread::spawn(move || {
        let outcome = PgConnection::establish(&url).map(drop);
        let _ = answered.send(outcome.map_err(|error| error.to_string().trim().to_owned()));
    });
    answer
        .recv_timeout(timeout)
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
}

/// Call before the first PostgreSQL connection of the process.
///
/// libpq encrypts with OpenSSL, which by default frees its global state in an `atexit`
/// handler. A connection still closing on another thread as the process exits (the writer's,
/// a pool's) then works on freed memory, and a process that has finished its work crashes:
/// SIGSEGV or a heap-corruption abort after the PostgreSQL test run had passed. Initialised
/// here first, OpenSSL registers no such handler and the operating system reclaims its memory.
pub fn init_postgres_client() {
    openssl_sys::init();
}

impl Database {
    pub fn connect(url: &str, limits: &ServiceLimits) -> anyhow::Result<Self> {
        let kind = DatabaseKind::of_url(url);
        let connection_url = match kind {
            DatabaseKind::Postgres => {
                init_postgres_client();
                await_postgres(url, limits.db_start_wait())?;
                url.to_owned()
            }
            DatabaseKind::Sqlite => {
                let path = url.strip_prefix("sqlite://").unwrap_or(url);
                if let Some(parent) = std::path::Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    crate::config::create_private_dir(parent)?;
                }
                path.to_owned()
            }
        };
        let pool = |size: u32| {
            let builder = Pool::builder()
                .max_size(size)
                .connection_timeout(limits.db_wait());
            let builder = match kind {
                DatabaseKind::Sqlite => builder.connection_customizer(Box::new(SqlitePragmas {
                    busy_timeout: limits.db_lock_timeout(),
                    mmap_bytes: limits.sqlite_mmap_mb * 1024 * 1024,
                })),
                DatabaseKind::Postgres => {
                    builder.connection_customizer(Box::new(PostgresSettings {
                        statement_timeout: limits.db_statement_timeout(),
                        lock_timeout: limits.db_lock_timeout(),
                    }))
                }
            };
            // `establish` would try each backend in turn and SQLite accepts any string, so the
            // variant is chosen here from the scheme.
            builder
                .build(ConnectionManager::<DbConnection>::new(
                    connection_url.clone(),
                ))
                .with_context(|| format!("connecting to the {kind:?} database"))
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let (readers, writers) = match kind {
            DatabaseKind::Sqlite => (READ_CONNECTIONS.max(workers), 1),
            DatabaseKind::Postgres => (READ_CONNECTIONS, POSTGRES_WRITE_CONNECTIONS),
        };
        let write = pool(writers)?;
        let read = pool(readers)?;
        let waits = Waits {
            short: limits.db_wait(),
            long: limits.db_statement_timeout() + limits.db_wait(),
            statement: limits.db_statement_timeout(),
        };
        let writer = writer::Writer::start(
            write.clone(),
            kind,
            limits.write_queue as usize,
            writer::Waits {
                to_start: waits.short,
                to_commit: waits.long,
            },
        );
        Ok(Self {
            kind,
            read,
            write,
            writer,
            breaker: Arc::default(),
            waits,
            file: (kind == DatabaseKind::Sqlite).then(|| connection_url.clone().into()),
            served: Arc::default(),
        })
    }

    /// A SQLite database's file; None on PostgreSQL.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// For a service: on SQLite, makes sure no other process serves the same database file,
    /// and keeps it so while this `Database` lives. Each process's writer believes it is the
    /// only one; a second would make every write of both wait for the other's lock (and
    /// answer 503), and its audit chain would fork. The lock is the operating system's on
    /// `<file>.lock`, so a process that dies lets go of it. Commands (`audit verify`,
    /// `keys rotate-data-key`) may still open the database while a service runs.
    pub fn serve_alone(&self) -> anyhow::Result<()> {
        if let Some(file) = &self.file {
            let served = Served {
                _lock: sole_use(file)?,
                identity: file_identity(file)?,
            };
            *self.served_lock() = Some(served);
        }
        Ok(())
    }

    /// Lets another process serve the database (the service has stopped).
    pub fn stop_serving(&self) {
        self.served_lock().take();
    }

    fn served_lock(&self) -> std::sync::MutexGuard<'_, Option<Served>> {
        self.served
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What is wrong with a served SQLite database's files, if anything: the file replaced,
    /// removed or made read-only, or its write-ahead log gone (SQLite would then write
    /// committed changes to a log no one can find after a crash).
    pub fn file_trouble(&self) -> Option<&'static str> {
        let file = self.file.as_ref()?;
        let served = self.served_lock().as_ref()?.identity;
        let Ok(metadata) = std::fs::metadata(file) else {
            return Some("the database file is gone");
        };
        if file_identity(file).ok() != Some(served) {
            return Some("the database file was replaced");
        }
        if metadata.permissions().readonly() {
            return Some("the database file is read-only");
        }
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        if !std::path::Path::new(&wal).exists() {
            return Some("the database's write-ahead log is gone");
        }
        None
    }

    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.write.get()?;
        let migrations = match self.kind {
            DatabaseKind::Sqlite => SQLITE_MIGRATIONS,
            DatabaseKind::Postgres => POSTGRES_MIGRATIONS,
        };
        // A migration may build an index over millions of rows: no statement timeout for it.
        let bounded = self.kind == DatabaseKind::Postgres;
        if bounded {
            conn.batch_execute("SET statement_timeout = 0")?;
        }
        conn.run_pending_migrations(migrations)
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        let refreshed = clients::refresh_name_keys(&mut conn)?;
        if bounded {
            conn.batch_execute(&format!(
                "SET statement_timeout = {}",
                self.waits.statement.as_millis()
            ))?;
        }
        if refreshed > 0 {
            tracing::info!(
                clients = refreshed,
                "made the name match keys of existing clients"
            );
        }
        Ok(())
    }

    pub fn read_conn(&self) -> anyhow::Result<PooledConn> {
        Ok(self.read.get()?)
    }

    pub fn write_conn(&self) -> anyhow::Result<PooledConn> {
        Ok(self.write.get()?)
    }

    /// Runs `work` on a reader connection; 503 when none is free within the wait, or its
    /// answer takes longer.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.read.clone();
        self.guarded(async move {
            match self.kind {
                // A SQLite read is CPU work on pages already in memory, tens of microseconds:
                // handing it to another thread and back cost more than the read itself
                // (docs/benchmarks.md). The worker never waits for a connection: it holds at
                // most one at a time, and there are at least as many as workers.
                DatabaseKind::Sqlite => work(&mut *pool.get().map_err(no_connection)?),
                // A PostgreSQL read waits on the network.
                DatabaseKind::Postgres => {
                    self.on_blocking_pool(
                        self.waits.short,
                        ApiError::database_unavailable,
                        move || work(&mut *pool.get().map_err(no_connection)?),
                    )
                    .await
                }
            }
        })
        .await
    }

    /// Runs a long read (a report over the audit trail) on the blocking pool whatever the
    /// backend, so that the server worker keeps answering other requests meanwhile.
    pub async fn read_long<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.read.clone();
        // PostgreSQL's statement timeout ends a long read before this wait does, so a read
        // still unanswered then means the server is not answering. SQLite has no statement
        // timeout: a read that outlasts the wait is slow (a cold file cache), not a database
        // out of reach, and answering it as one would open the circuit breaker and refuse
        // every other request.
        let overdue = match self.kind {
            DatabaseKind::Sqlite => ApiError::database_busy,
            DatabaseKind::Postgres => ApiError::database_unavailable,
        };
        self.guarded(self.on_blocking_pool(self.waits.long, overdue, move || {
            work(&mut *pool.get().map_err(no_connection)?)
        }))
        .await
    }

    /// Runs `work` in its own savepoint of the writer's next batch and answers once the batch
    /// is durable (see [`writer`]). `work` gets the instance's audit chain, to append the
    /// audit row in the same transaction as the change it records.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection, &mut crate::audit::chain::ChainHead) -> Result<T, ApiError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        self.guarded(self.writer.submit(work)).await
    }

    /// Stores an audit row that records no change with the writer's next batch, and answers
    /// once the batch is durable.
    pub async fn record(&self, row: crate::audit::PendingRow) -> Result<(), ApiError> {
        self.guarded(self.writer.record(row)).await
    }

    /// The gauges the metrics read when scraped: the writer's queue and the pools.
    pub fn metrics_now(&self) -> crate::metrics::Now {
        let pool = |name, pool: &Pool<ConnectionManager<DbConnection>>| {
            let state = pool.state();
            (name, state.connections, state.idle_connections)
        };
        crate::metrics::Now {
            queue_depth: self.writer.queue_depth(),
            pools: vec![pool("read", &self.read), pool("write", &self.write)],
        }
    }

    /// The end of this instance's audit chain as last committed.
    pub fn committed_head(&self) -> Option<crate::audit::chain::ChainHead> {
        self.writer.committed_head()
    }

    /// Whether the database answered the last requests (the circuit breaker is closed).
    pub fn is_reachable(&self) -> bool {
        self.breaker.is_closed()
    }

    /// Runs `use_database` unless the circuit breaker is open, and tells the breaker whether
    /// the database answered.
    async fn guarded<T>(
        &self,
        use_database: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        if self.breaker.admit(Instant::now()) == Admission::Refused {
            return Err(ApiError::database_unavailable());
        }
        let result = use_database.await;
        match &result {
            Err(ApiError::Unavailable {
                code: "database_unavailable",
                ..
            }) => self.breaker.failed(Instant::now()),
            _ => self.breaker.succeeded(),
        }
        result
    }

    /// Runs `work` on the blocking pool and waits at most `wait` for it, then answers
    /// `overdue()`. A read still running goes on to its end (on PostgreSQL bounded by the
    /// statement timeout; on SQLite holding one of the bounded reader connections meanwhile),
    /// but its request is answered.
    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        wait: Duration,
        overdue: fn() -> ApiError,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        match actix_web::rt::time::timeout(wait, actix_web::web::block(work)).await {
            Ok(done) => done.map_err(ApiError::internal)?,
            Err(_) => {
                tracing::warn!(
                    wait_ms = wait.as_millis() as u64,
                    "a read took longer than its wait"
                );
                Err(overdue())
            }
        }
    }
}

fn no_connection(error: diesel::r2d2::PoolError) -> ApiError {
    tracing::error!(%error, "no database connection");
    ApiError::database_unavailable()
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;

    use super::*;

    #[derive(QueryableByName)]
    struct MmapSize {
        #[diesel(sql_type = BigInt)]
        mmap_size: i64,
    }

    fn mmap_size(conn: &mut DbConnection) -> i64 {
        diesel::sql_query("PRAGMA mmap_size")
            .get_result::<MmapSize>(conn)
            .expect("SQLite answers")
            .mmap_size
    }

    #[actix_web::test]
    async fn a_slow_long_sqlite_read_is_busy_and_leaves_the_database_reachable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("slow.db").to_string_lossy().into_owned();
        let limits = ServiceLimits {
            db_statement_timeout: 0,
            db_wait_ms: 50,
            ..Default::default()
        };
        let db = Database::connect(&url, &limits).expect("SQLite opens");
        let slow = db
            .read_long(|_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await;
        assert_eq!(
            slow.expect_err("the wait ends first").code(),
            "database_busy"
        );
        assert!(db.is_reachable());
        db.read(|_| Ok(())).await.expect("other reads go on");
    }

    #[test]
    fn sqlite_connections_map_as_much_of_the_file_as_configured() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("mapped.db").to_string_lossy().into_owned();
        let limits = ServiceLimits {
            sqlite_mmap_mb: 1024,
            ..Default::default()
        };
        let db = Database::connect(&url, &limits).expect("SQLite opens");
        let expected = 1024 * 1024 * 1024;
        assert_eq!(mmap_size(&mut db.read_conn().expect("a reader")), expected);
        assert_eq!(
            mmap_size(&mut db.write_conn().expect("the writer")),
            expected
        );
    }
}
