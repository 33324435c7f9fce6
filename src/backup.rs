//! Backups taken while the service runs, and restores from them (`casebridge backup`,
//! `casebridge restore`; the runbook is docs/operations.md).
//!
//! A backup is a directory: one consistent copy of the database (SQLite: `VACUUM INTO`, a
//! read transaction that writers do not wait for; PostgreSQL: `pg_dump` of a snapshot), the
//! key files of the data directory, and a manifest naming when it was taken, the audit
//! chains' heads and the row counts of the copy, and the copy's SHA-256. A restore checks the
//! copy against its manifest and its audit trail, puts it (and the keys) in place, ends every
//! session, and records itself in the audit trail.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::chain::Verdict;
use crate::config::Config;
use crate::db::{Database, DatabaseKind, DbConnection};

pub const MANIFEST: &str = "manifest.json";
const SQLITE_COPY: &str = "casebridge.db";
const POSTGRES_DUMP: &str = "casebridge.pgdump";
const KEYS: &str = "keys";
/// The data directory's key files (each exists only when its key is not given by the
/// environment).
const KEY_FILES: [&str; 3] = [
    "jwt-secret",
    "disposal-key",
    crate::sealing::keyfile::FILE_NAME,
];
/// The tables whose rows a manifest counts.
const COUNTED: [&str; 9] = [
    "organisations",
    "users",
    "clients",
    "cases",
    "allocations",
    "notes",
    "consents",
    "sessions",
    "audit_events",
];
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// When the copy's snapshot was taken (UTC): changes after it are not in the backup.
    pub taken_at: NaiveDateTime,
    pub casebridge_version: String,
    pub database: String,
    /// The copy's file in the backup directory, and its SHA-256.
    pub file: String,
    pub sha256: String,
    pub chain_heads: Vec<ChainHead>,
    pub row_counts: BTreeMap<String, i64>,
    /// Key files copied into `keys/`.
    pub key_files: Vec<String>,
    /// Keys given by environment variables: not in the backup; keep them with it.
    pub keys_in_environment: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, QueryableByName, PartialEq, Eq)]
pub struct ChainHead {
    #[diesel(sql_type = Text)]
    pub chain_id: String,
    #[diesel(sql_type = BigInt)]
    pub sequence: i64,
    #[diesel(sql_type = Text)]
    pub hash: String,
}

/// Takes a backup of the configured database into `to`, a new directory.
pub fn backup(config: &Config, to: &Path, now: NaiveDateTime) -> anyhow::Result<Manifest> {
    if to.exists() && to.read_dir()?.next().is_some() {
        bail!(
            "{} is not empty: back up into a new directory",
            to.display()
        );
    }
    crate::config::create_private_dir(to)?;
    let url = config.database_url();
    let (file, chain_heads, row_counts) = match DatabaseKind::of_url(&url) {
        DatabaseKind::Sqlite => copy_sqlite(&url, to)?,
        DatabaseKind::Postgres => dump_postgres(&url, to)?,
    };
    let key_files = copy_key_files(&config.data_dir, &to.join(KEYS))?;
    let manifest = Manifest {
        format: FORMAT,
        taken_at: now,
        casebridge_version: env!("CARGO_PKG_VERSION").to_owned(),
        database: format!("{:?}", DatabaseKind::of_url(&url)).to_lowercase(),
        sha256: sha256_of(&to.join(&file))?,
        file,
        chain_heads,
        row_counts,
        key_files,
        keys_in_environment: keys_in_environment(config),
    };
    write_private(
        &to.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(manifest)
}

type Copied = (String, Vec<ChainHead>, BTreeMap<String, i64>);

/// `VACUUM INTO` from a connection of its own: one read transaction, so the copy is the
/// database as of one moment, however many writes the service commits meanwhile.
fn copy_sqlite(url: &str, to: &Path) -> anyhow::Result<Copied> {
    let source = url.strip_prefix("sqlite://").unwrap_or(url);
    ensure!(Path::new(source).exists(), "no SQLite database at {source}");
    let target = to.join(SQLITE_COPY);
    let mut conn = SqliteConnection::establish(source)?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;")?;
    let quoted = target.display().to_string().replace('\'', "''");
    conn.batch_execute(&format!("VACUUM INTO '{quoted}'"))
        .context("copying the database (VACUUM INTO)")?;
    drop(conn);
    let mut copy = SqliteConnection::establish(&target.display().to_string())?;
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        quick_check: String,
    }
    let checked: Check = diesel::sql_query("PRAGMA quick_check").get_result(&mut copy)?;
    ensure!(
        checked.quick_check == "ok",
        "the copy fails SQLite's check: {}",
        checked.quick_check
    );
    let mut copy = DbConnection::Sqlite(copy);
    let (heads, counts) = describe(&mut copy)?;
    Ok((SQLITE_COPY.to_owned(), heads, counts))
}

/// `pg_dump` of a snapshot this connection exports and holds, so that the manifest describes
/// exactly what the dump holds.
fn dump_postgres(url: &str, to: &Path) -> anyhow::Result<Copied> {
    crate::db::init_postgres_client();
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    #[derive(QueryableByName)]
    struct Snapshot {
        #[diesel(sql_type = Text)]
        snapshot: String,
    }
    let snapshot: Snapshot =
        diesel::sql_query("SELECT pg_export_snapshot() AS snapshot").get_result(&mut conn)?;
    let target = to.join(POSTGRES_DUMP);
    let dumped = Command::new("pg_dump")
        .arg("--format=custom")
        .arg(format!("--snapshot={}", snapshot.snapshot))
        .arg("--no-owner")
        .arg("--file")
        .arg(&target)
        .arg("--dbname")
        .arg(url)
        .output()
        .context("running pg_dump (install PostgreSQL's client programs)")?;
    ensure!(
        dumped.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&dumped.stderr).trim()
    );
    let mut conn = DbConnection::Postgres(conn);
    let described = describe(&mut conn);
    conn.batch_execute("COMMIT")?;
    let (heads, counts) = described?;
    Ok((POSTGRES_DUMP.to_owned(), heads, counts))
}

/// The audit chains' heads and the row counts of `conn`'s database, as it reads it.
fn describe(conn: &mut DbConnection) -> anyhow::Result<(Vec<ChainHead>, BTreeMap<String, i64>)> {
    let heads = diesel::sql_query(
        "SELECT e.chain_id, e.sequence, e.hash FROM audit_events e \
         JOIN (SELECT chain_id, MAX(sequence) AS last FROM audit_events GROUP BY chain_id) h \
           ON h.chain_id = e.chain_id AND h.last = e.sequence \
         ORDER BY e.chain_id",
    )
    .load::<ChainHead>(conn)?;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        rows: i64,
    }
    let mut counts = BTreeMap::new();
    for table in COUNTED {
        // Table names from the list above, never from input.
        let count: Count =
            diesel::sql_query(format!("SELECT COUNT(*) AS rows FROM {table}")).get_result(conn)?;
        counts.insert(table.to_owned(), count.rows);
    }
    Ok((heads, counts))
}

fn copy_key_files(data_dir: &Path, to: &Path) -> anyhow::Result<Vec<String>> {
    crate::config::create_private_dir(to)?;
    let mut copied = Vec::new();
    for name in KEY_FILES {
        let source = data_dir.join(name);
        if source.exists() {
            write_private(&to.join(name), &std::fs::read(&source)?)?;
            copied.push(name.to_owned());
        }
    }
    Ok(copied)
}

fn keys_in_environment(config: &Config) -> Vec<String> {
    [
        ("CASEBRIDGE_JWT_SECRET", config.jwt_secret.is_some()),
        (
            "CASEBRIDGE_DISPOSAL_KEY",
            config.privacy.disposal_key.is_some(),
        ),
        ("CASEBRIDGE_DATA_KEY", config.privacy.data_key.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(name, _)| name.to_owned())
    .collect()
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub events: u64,
    pub sessions_ended: usize,
    /// Where the database and key files that were replaced were moved to.
    pub set_aside: Vec<PathBuf>,
}

/// Restores the backup in `from` into the configured database (SQLite: its file, which no
/// service may be serving; PostgreSQL: an empty database), and its key files into the data
/// directory. `restored_by` is the active user who authorised it (recorded in the trail).
pub fn restore(
    config: &Config,
    from: &Path,
    restored_by: &str,
    now: NaiveDateTime,
) -> anyhow::Result<Restored> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("reading {}", from.join(MANIFEST).display()))?,
    )
    .context("the manifest is not one casebridge wrote")?;
    ensure!(
        manifest.format == FORMAT,
        "backup format {} is not known",
        manifest.format
    );
    let copy = from.join(&manifest.file);
    ensure!(
        sha256_of(&copy)? == manifest.sha256,
        "{} does not match its manifest's SHA-256: the backup is damaged",
        copy.display()
    );
    let url = config.database_url();
    let stamp = now.format("%Y%m%dT%H%M%S").to_string();
    let mut set_aside = Vec::new();
    match DatabaseKind::of_url(&url) {
        DatabaseKind::Sqlite => {
            ensure!(manifest.database == "sqlite", "this is a PostgreSQL backup");
            let target = PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(&url));
            let _alone = crate::db::sole_use(&target)?;
            set_aside.extend(put_sqlite_copy(&copy, &target, &stamp)?);
        }
        DatabaseKind::Postgres => {
            ensure!(manifest.database == "postgres", "this is a SQLite backup");
            restore_postgres(&url, &copy)?;
        }
    }
    set_aside.extend(put_key_files(&from.join(KEYS), &config.data_dir, &stamp)?);
    let db = Database::connect(&url, &config.limits)?;
    db.migrate()?;
    let mut conn = db.write_conn()?;
    let events = match crate::audit::chain::verify(&mut conn)? {
        Verdict::Intact { events, .. } => events,
        Verdict::Broken {
            chain_id,
            sequence,
            problem,
            ..
        } => bail!(
            "the restored audit trail is broken (chain {chain_id}, sequence {sequence}): {problem}"
        ),
    };
    let (heads, _) = describe(&mut conn)?;
    for head in &manifest.chain_heads {
        ensure!(
            heads.contains(head),
            "the restored trail lacks the head of chain {} that the manifest names",
            head.chain_id
        );
    }
    let sessions_ended = end_sessions_and_record(&mut conn, restored_by, &manifest, now)?;
    Ok(Restored {
        manifest,
        events,
        sessions_ended,
        set_aside,
    })
}

/// Moves the current database (with its write-ahead log) aside and puts the copy in its place.
fn put_sqlite_copy(copy: &Path, target: &Path, stamp: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut set_aside = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let current = PathBuf::from(format!("{}{suffix}", target.display()));
        if current.exists() {
            let aside = PathBuf::from(format!(
                "{}.before-restore-{stamp}{suffix}",
                target.display()
            ));
            std::fs::rename(&current, &aside)
                .with_context(|| format!("moving {} aside", current.display()))?;
            set_aside.push(aside);
        }
    }
    if let Some(parent) = target
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        crate::config::create_private_dir(parent)?;
    }
    let incoming = PathBuf::from(format!("{}.restoring", target.display()));
    std::fs::copy(copy, &incoming)?;
    std::fs::File::open(&incoming)?.sync_all()?;
    std::fs::rename(&incoming, target)?;
    Ok(set_aside)
}

fn restore_postgres(url: &str, dump: &Path) -> anyhow::Result<()> {
    crate::db::init_postgres_client();
    let mut conn = PgConnection::establish(url)?;
    #[derive(QueryableByName)]
    struct Tables {
        #[diesel(sql_type = BigInt)]
        tables: i64,
    }
    let found: Tables = diesel::sql_query(
        "SELECT COUNT(*) AS tables FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .get_result(&mut conn)?;
    ensure!(
        found.tables == 0,
        "the PostgreSQL database is not empty: restore into a new database (createdb), then \
         point DATABASE_URL at it"
    );
    let restored = Command::new("pg_restore")
        .args([
            "--exit-on-error",
            "--no-owner",
            "--single-transaction",
            "--dbname",
        ])
        .arg(url)
        .arg(dump)
        .output()
        .context("running pg_restore (install PostgreSQL's client programs)")?;
    ensure!(
        restored.status.success(),
        "pg_restore failed: {}",
        String::from_utf8_lossy(&restored.stderr).trim()
    );
    Ok(())
}

/// Puts the backup's key files in the data directory; a different file already there is
/// moved aside first.
fn put_key_files(keys: &Path, data_dir: &Path, stamp: &str) -> anyhow::Result<Vec<PathBuf>> {
    crate::config::create_private_dir(data_dir)?;
    let mut set_aside = Vec::new();
    for name in KEY_FILES {
        let kept = keys.join(name);
        if !kept.exists() {
            continue;
        }
        let key = std::fs::read(&kept)?;
        let current = data_dir.join(name);
        if current.exists() {
            if std::fs::read(&current)? == key {
                continue;
            }
            let aside = data_dir.join(format!("{name}.before-restore-{stamp}"));
            std::fs::rename(&current, &aside)?;
            set_aside.push(aside);
        }
        write_private(&current, &key)?;
    }
    Ok(set_aside)
}

/// Ends every session (a restored database would otherwise revive sessions ended after the
/// backup) and records the restore in the trail, in one transaction.
fn end_sessions_and_record(
    conn: &mut DbConnection,
    restored_by: &str,
    manifest: &Manifest,
    now: NaiveDateTime,
) -> anyhow::Result<usize> {
    use crate::db::schema::sessions;
    let started = std::time::Instant::now();
    let actor = crate::audit::CommandActor::active(conn, restored_by)?
        .with_context(|| format!("no active user named {restored_by} in the backup"))?;
    let arguments = format!(
        "casebridge restore (backup taken at {} UTC) --restored-by {restored_by}",
        manifest.taken_at.format("%Y-%m-%d %H:%M:%S")
    );
    Ok(conn.transaction(|conn| {
        let ended = diesel::update(sessions::table.filter(sessions::ended_at.is_null()))
            .set((
                sessions::ended_at.eq(now),
                sessions::ended_reason.eq("restored_from_backup"),
            ))
            .execute(conn)?;
        crate::audit::record_command(
            conn,
            &actor,
            "restore",
            arguments,
            started,
            &crate::audit::Disclosure::default(),
        )?;
        QueryResult::Ok(ended)
    })?)
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hash.finalize()));
        }
        hash.update(&buffer[..read]);
    }
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}
