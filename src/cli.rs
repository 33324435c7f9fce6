//! The `casebridge` command line.
use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use clap::{Parser, Subcommand};
use diesel::prelude::*;
use rand::RngCore;

use crate::audit::chain::Verdict;
use crate::authz::{PolicySource, PolicyStore, catalogue, policy};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::schema::{organisations, users};
use crate::db::{Database, sealed};
use crate::domain::names::DisplayName;
use crate::domain::{OrganisationKind, ProtectiveMarking, StoredAsText, UserStatus};
use crate::sealing::Keyring;
use crate::startup::{self, Application};
use crate::{auth, demo};

#[derive(Debug, Parser)]
#[command(
    name = "casebridge",
    version,
    about = "Client and case management API shared by a department and its CSPs"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrates the database first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CASEBRIDGE_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// Seed the demo data first when the database is empty.
        #[arg(long)]
        demo: bool,
        /// Password of every demo account. Default: a random one, printed at start.
        #[arg(long, env = "CASEBRIDGE_DEMO_PASSWORD", hide_env_values = true)]
        demo_password: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Fill an empty database with the demo organisations, accounts and clients.
    SeedDemo {
        #[arg(long, env = "CASEBRIDGE_DEMO_PASSWORD", hide_env_values = true)]
        demo_password: String,
    },
    /// Add a synthetic department at scale to a demo database, for benchmarks: clients with
    /// realistic names, 2-3 cases each, allocations to 42 providers, about ten notes per case,
    /// consents, staff and optionally an audit trail (docs/scaling.md). Offline: the service
    /// must not run on the database meanwhile.
    SeedSynthetic {
        /// Clients to add.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        clients: u64,
        /// The seed of the draws: the same seed adds the same department.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Department and CSP staff accounts to add.
        #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
        users: u64,
        /// Audit rows to add over the twelve months before now.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000_000))]
        audit_rows: u64,
        /// Password of every synthetic account. Default: a random one, printed at the end.
        #[arg(long, env = "CASEBRIDGE_DEMO_PASSWORD", hide_env_values = true)]
        demo_password: Option<String>,
    },
    /// Check the policy files and print the effective matrix.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Create a department administrator (password from CASEBRIDGE_ADMIN_PASSWORD or stdin).
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        email: String,
        /// The division the administrator belongs to; created when it does not exist.
        #[arg(long)]
        division: String,
    },
    /// Print the OpenAPI document generated from the code.
    Openapi,
    /// Exit 0 when a running service answers its readiness URL with 2xx within 2 s, else 1
    /// (a container's HEALTHCHECK: the image has no curl).
    ReadyCheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/ready")]
        url: String,
    },
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work with access reviews.
    AccessReviews {
        #[command(subcommand)]
        command: AccessReviewCommand,
    },
    /// Retention: archiving and disposal.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Back up the database while the service runs: a consistent copy, the data directory's
    /// key files and a manifest (time, audit chain heads, row counts, SHA-256) in a new
    /// directory. PostgreSQL needs `pg_dump` (docs/operations.md).
    Backup {
        /// A new (or empty) directory to write the backup to; keep it encrypted and off-site.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup made by `casebridge backup`: checks it, moves the current SQLite
    /// database and key files aside (PostgreSQL: restores into an empty database with
    /// `pg_restore`), verifies the audit trail, ends every session and records the restore.
    /// The service must be stopped.
    Restore {
        #[arg(long)]
        from: PathBuf,
        /// The username of the administrator who authorised the restore (recorded).
        #[arg(long)]
        restored_by: String,
    },
    /// The data keys that seal Medicare numbers, tax file numbers and TOTP secrets.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new data key to `<data dir>/data-keys`, which seals new values from then on, and
    /// re-seal every stored value under it, a small batch per transaction, while the service
    /// runs (it reads the changed key file by itself). With CASEBRIDGE_DATA_KEY, add the new
    /// key at the end of the variable and restart the instances first: the command then adds
    /// no key and re-seals under the last one.
    RotateDataKey,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Archive closed cases past their schedule and dispose of client files past theirs (as
    /// `POST /api/v1/retention/runs`), printing what was (or would be) done.
    Run {
        /// List what would go and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The username of the records manager who authorised the run (named on the
        /// disposal certificate).
        #[arg(long)]
        authorised_by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessReviewCommand {
    /// Close every open access review whose due date has passed, applying it: subjects
    /// without a confirmed `keep` are suspended. Run it daily (the API also closes an overdue
    /// review whenever a request touches it).
    CloseDue,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk every hash chain and name the first row that was altered, deleted or moved.
    Verify {
        /// Also check each chain reaches its last anchor in this file (the service's
        /// CASEBRIDGE_ANCHOR_FILE): rows lost from a chain's end are found too.
        #[arg(long)]
        anchors: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate `model.conf` and `policy.csv` against the resources and fields the code knows.
    Check {
        /// Directory holding the files (default: the configured policy directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command {
        Command::Serve {
            bind,
            demo,
            demo_password,
        } => serve(config, &bind, demo, demo_password).await,
        Command::Migrate => {
            Database::connect(&config.database_url(), &config.limits)?.migrate()?;
            println!("migrations applied");
            Ok(())
        }
        Command::SeedDemo { demo_password } => {
            let db = Database::connect(&config.database_url(), &config.limits)?;
            db.migrate()?;
            demo::seed(&db, &*Keyring::of(&config)?, &demo_password)?;
            println!("demo data seeded");
            Ok(())
        }
        Command::SeedSynthetic {
            clients,
            seed,
            users,
            audit_rows,
            demo_password,
        } => {
            let options = crate::synthetic::Options {
                clients: usize::try_from(clients)?,
                seed,
                users: usize::try_from(users)?,
                audit_rows: usize::try_from(audit_rows)?,
            };
            seed_synthetic(&config, &options, demo_password)
        }
        Command::Policy {
            command: PolicyCommand::Check { dir },
        } => {
            let source = PolicySource::choose(dir.as_deref().or(config.policy_dir.as_deref()));
            let compiled = policy::compile(&source).await?;
            // Written, not printed: `policy check | head` must not panic on a closed pipe.
            let mut out = std::io::stdout().lock();
            let checklist = compiled.checklist();
            let written = write!(out, "{}", compiled.matrix())
                .and_then(|()| {
                    writeln!(
                        out,
                        "attestation checklist {}: {} question(s), overdue {} day(s) after a year",
                        checklist.version,
                        checklist.questions.len(),
                        checklist.grace_days
                    )
                })
                .and_then(|()| writeln!(out, "policy OK: {source}"));
            match written {
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(error.into());
                }
                _ => {}
            }
            Ok(())
        }
        Command::CreateAdmin {
            username,
            display_name,
            email,
            division,
        } => create_admin(&config, &username, &display_name, &email, &division),
        Command::Audit {
            command: AuditCommand::Verify { anchors },
        } => {
            let db = Database::connect(&config.database_url(), &config.limits)?;
            match crate::audit::chain::verify(&mut *db.read_conn()?)? {
                Verdict::Intact { chains, events } => {
                    println!("audit trail intact: {events} events in {chains} chain(s)");
                    match anchors {
                        Some(anchors) => verify_anchors(&db, &anchors),
                        None => Ok(()),
                    }
                }
                Verdict::Broken {
                    chain_id,
                    sequence,
                    event_id,
                    problem,
                } => {
                    anyhow::bail!(
                        "audit trail broken at event {event_id} (chain {chain_id}, sequence {sequence}): {problem}"
                    )
                }
            }
        }
        Command::AccessReviews {
            command: AccessReviewCommand::CloseDue,
        } => {
            let db = Database::connect(&config.database_url(), &config.limits)?;
            db.migrate()?;
            let now = Clock::default().now();
            let closed = db.write_conn()?.transaction(|conn| {
                let every_review = Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 1"));
                crate::db::access_reviews::close_due(conn, every_review, now.date(), now)
            })?;
            println!("closed {closed} overdue access review(s)");
            Ok(())
        }
        Command::Retention {
            command:
                RetentionCommand::Run {
                    dry_run,
                    authorised_by,
                },
        } => retention_run(&config, dry_run, &authorised_by),
        Command::ReadyCheck { url } => {
            let agent = ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(2))
                .build();
            match agent.get(&url).call() {
                Ok(response) => {
                    println!("ready ({})", response.status());
                    Ok(())
                }
                Err(ureq::Error::Status(status, _)) => anyhow::bail!("not ready ({status})"),
                Err(error) => anyhow::bail!("not ready: {error}"),
            }
        }
        Command::Openapi => {
            println!("{}", startup::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::RotateDataKey,
        } => rotate_data_key(&config),
        Command::Backup { to } => {
            let manifest = crate::backup::backup(&config, &to, Clock::default().now())?;
            println!(
                "backup taken at {} UTC in {}: {} audit chain(s), {} audit events, {} clients",
                manifest.taken_at.format("%Y-%m-%d %H:%M:%S"),
                to.display(),
                manifest.chain_heads.len(),
                manifest.row_counts.get("audit_events").unwrap_or(&0),
                manifest.row_counts.get("clients").unwrap_or(&0),
            );
            for variable in &manifest.keys_in_environment {
                println!("{variable} is not in the backup: keep it with the backup");
            }
            Ok(())
        }
        Command::Restore { from, restored_by } => {
            let restored =
                crate::backup::restore(&config, &from, &restored_by, Clock::default().now())?;
            println!(
                "restored the backup taken at {} UTC: audit trail intact ({} events); {} \
                 session(s) ended",
                restored.manifest.taken_at.format("%Y-%m-%d %H:%M:%S"),
                restored.events,
                restored.sessions_ended,
            );
            for path in &restored.set_aside {
                println!("moved aside: {}", path.display());
            }
            println!(
                "Everything changed after the backup was taken is gone: re-apply the access \
                 revocations and suspensions made since (docs/operations.md, \"Restore\")."
            );
            Ok(())
        }
    }
}

fn verify_anchors(db: &Database, anchors: &std::path::Path) -> anyhow::Result<()> {
    use crate::audit::anchor::AnchorVerdict;
    match crate::audit::anchor::check(&mut *db.read_conn()?, anchors)? {
        AnchorVerdict::Reached {
            chains,
            unreadable_lines,
        } => {
            println!(
                "anchors reached: every one of {chains} anchored chain(s) holds its last anchor"
            );
            if unreadable_lines > 0 {
                println!("{unreadable_lines} unreadable line(s) of the anchor file were skipped");
            }
            Ok(())
        }
        AnchorVerdict::Missing {
            chain_id,
            anchored,
            present,
            anchored_at,
        } => anyhow::bail!(
            "audit rows missing: chain {chain_id} was anchored at sequence {anchored} \
             ({anchored_at} UTC) but the database holds it only up to sequence {present}"
        ),
        AnchorVerdict::Replaced { chain_id, sequence } => anyhow::bail!(
            "audit row replaced: chain {chain_id} at sequence {sequence} is not the row that \
             was anchored"
        ),
    }
}

fn seed_synthetic(
    config: &Config,
    options: &crate::synthetic::Options,
    password: Option<String>,
) -> anyhow::Result<()> {
    let generated = password.is_none();
    let password = password.unwrap_or_else(random_password);
    if let Some(problem) = auth::password::weakness(&password, "") {
        anyhow::bail!("the password {problem}");
    }
    let db = Database::connect(&config.database_url(), &config.limits)?;
    db.migrate()?;
    // One hash for every synthetic account: argon2 is slow on purpose.
    let hash = auth::password::hash(&password)?;
    let summary = crate::synthetic::seed(&db, &crate::clock::Clock::default(), options, &hash)?;
    println!("{summary}");
    if generated {
        println!("Synthetic accounts' password: {password}");
    }
    Ok(())
}

fn rotate_data_key(config: &Config) -> anyhow::Result<()> {
    let db = Database::connect(&config.database_url(), &config.limits)?;
    db.migrate()?;
    let keyring = Keyring::of(config)?;
    let older = keyring.key_ids();
    // Held until the re-sealing ends: one rotation at a time.
    let lock = (!keyring.is_configured())
        .then(|| keyring.lock_rotation())
        .transpose()?;
    let current = match &lock {
        Some(lock) => {
            let current = keyring.add_key(lock)?;
            println!("added data key {current}: it seals new values from now on");
            current
        }
        None => {
            let current = keyring.current_id();
            println!(
                "the data keys come from CASEBRIDGE_DATA_KEY: re-sealing under its last key, {current}"
            );
            current
        }
    };
    let resealed = sealed::reseal(&db, &keyring, &sealed::Stale::NotUnder(current.clone()))?;
    for (column, count) in &resealed.0 {
        println!("  {column}: {count} value(s) re-sealed");
    }
    println!("every sealed value is under data key {current}");
    let older: Vec<String> = older.into_iter().filter(|id| *id != current).collect();
    if !older.is_empty() {
        let kept_in = if keyring.is_configured() {
            "CASEBRIDGE_DATA_KEY (drop them at a restart once no backup needs them)"
        } else {
            "the key file, to open older backups"
        };
        println!(
            "older keys, still in {kept_in}: {} (see docs/security/encryption.md)",
            older.join(", ")
        );
    }
    Ok(())
}

fn retention_run(config: &Config, dry_run: bool, authorised_by: &str) -> anyhow::Result<()> {
    let db = Database::connect(&config.database_url(), &config.limits)?;
    db.migrate()?;
    let key = crate::retention::disposal_key(config)?;
    let (started, now) = (std::time::Instant::now(), Clock::default().now());
    let mut conn = db.write_conn()?;
    let actor = crate::audit::CommandActor::active(&mut conn, authorised_by)?
        .with_context(|| format!("no active user named {authorised_by}"))?;
    let arguments = format!(
        "casebridge retention run{} --authorised-by {authorised_by}",
        if dry_run { " --dry-run" } else { "" }
    );
    // A read, then (unless dry) short transactions of at most a batch each, so that a
    // server sharing the database is never held for long; the audit row follows the run.
    let outcome = if dry_run {
        crate::retention::dry_run(&mut conn, now)?
    } else {
        let plan = crate::retention::plan(&mut conn, now)?;
        let run = crate::retention::Run::new(&actor.user_id, &key);
        let (conn, kind) = (&mut *conn, db.kind());
        // Each step holds the servers' writer lock, as their writers do, so that its change
        // feed entries commit in their order (db::changes).
        let carried = crate::retention::carry_out(run, plan, crate::retention::BATCH, |step| {
            std::future::ready(conn.transaction(|conn| {
                crate::db::writer::lock_for_batch(conn, kind)?;
                step.apply(conn)
            }))
        });
        futures_util::FutureExt::now_or_never(carried)
            .context("a run over one connection never waits")??
    };
    let disclosure = crate::audit::Disclosure {
        resource_type: Some(crate::authz::Resource::RetentionRun.name()),
        resource_id: outcome.certificate_id.clone(),
        client_ids: outcome.disposed_client_ids.iter().cloned().collect(),
        ..crate::audit::Disclosure::default()
    };
    crate::audit::record_command(
        &mut conn,
        &actor,
        "casebridge retention run",
        arguments,
        started,
        &disclosure,
    )?;
    let verb = if dry_run { "would be" } else { "were" };
    println!(
        "{} case(s) {verb} archived",
        outcome.archived_case_ids.len()
    );
    println!(
        "{} client file(s) {verb} disposed of",
        outcome.disposed_client_ids.len()
    );
    for client in &outcome.disposed_client_ids {
        println!("  {client}");
    }
    for (kind, count) in &outcome.record_counts {
        println!("  {kind}: {count}");
    }
    if let Some(certificate) = &outcome.certificate_id {
        println!("disposal certificate {certificate}");
    }
    Ok(())
}

async fn serve(
    config: Config,
    bind: &str,
    demo: bool,
    demo_password: Option<String>,
) -> anyhow::Result<()> {
    // A build with `bench-unaudited` discloses reads without audit rows: it serves only a
    // benchmark that says so explicitly.
    #[cfg(feature = "bench-unaudited")]
    {
        eprintln!(
            "WARNING: THIS BUILD HAS THE `bench-unaudited` FEATURE: READ REQUESTS LEAVE NO AUDIT ROW.\n\
             WARNING: IT IS FOR BENCHMARKS ONLY AND MUST NEVER SERVE REAL DATA."
        );
        if std::env::var("CASEBRIDGE_BENCHMARK_ONLY").as_deref() != Ok("1") {
            anyhow::bail!(
                "refusing to serve: this build has the `bench-unaudited` feature; set \
                 CASEBRIDGE_BENCHMARK_ONLY=1 only to run a benchmark"
            );
        }
    }
    let scheme = if config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    let state = startup::state(config).await?;
    let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    // The address bound, not the one asked for: `--bind 127.0.0.1:0` picks a free port.
    let bound = listener.local_addr()?;
    let empty = organisations::table
        .count()
        .get_result::<i64>(&mut *state.db.read_conn()?)?
        == 0;
    if demo && empty {
        let password = demo_password.unwrap_or_else(random_password);
        demo::seed(&state.db, &state.keyring, &password)?;
        println!("Demo data seeded. Log in as any demo account, for example:");
        println!(
            "  curl -s -X POST http://{bound}/api/v1/auth/login -H 'content-type: application/json' \
             -d '{{\"username\":\"csp-north\",\"password\":\"{password}\"}}'"
        );
        println!(
            "Accounts: {}",
            demo::ACCOUNTS
                .iter()
                .map(|a| a.0)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let demo_database = demo::is_demo(&mut *state.db.read_conn()?)?;
    if demo_database {
        println!(
            "NOTE: this is a demo database. Demo accounts log in with a password alone; no multi-factor step applies to them."
        );
    }
    let policy = state.policy.clone();
    let app = Application::build(state, listener)?;
    tokio::spawn(reload_policy_on_sighup(policy));
    println!("casebridge listening on {scheme}://{bound} (API docs at {scheme}://{bound}/docs/)");
    app.run().await?;
    Ok(())
}

async fn reload_policy_on_sighup(policy: std::sync::Arc<PolicyStore>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot listen for SIGHUP; the policy will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match policy.reload().await {
                Ok(()) => tracing::info!(source = %policy.source(), "policy reloaded"),
                Err(error) => {
                    tracing::error!(%error, "policy reload refused; the previous policy stays in force")
                }
            }
        }
    }
}

fn random_password() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn create_admin(
    config: &Config,
    username: &str,
    display_name: &str,
    email: &str,
    division: &str,
) -> anyhow::Result<()> {
    let password = match std::env::var("CASEBRIDGE_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            eprintln!("Password for {username} (one line on stdin):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if let Some(problem) = auth::password::weakness(&password, username) {
        anyhow::bail!("the password {problem}");
    }
    let display_name = String::from(
        DisplayName::try_from(display_name.to_owned())
            .map_err(|problem| anyhow::anyhow!("the display name {problem}"))?,
    );
    let hash = auth::password::hash(&password)?;
    let db = Database::connect(&config.database_url(), &config.limits)?;
    db.migrate()?;
    let mut conn = db.write_conn()?;
    let now = Clock::default().now();
    let role = catalogue::role("dept_admin").expect("dept_admin is catalogued");
    debug_assert_eq!(role.organisation_kind, OrganisationKind::DepartmentDivision);
    conn.transaction(|conn| -> anyhow::Result<()> {
        let existing: Option<(String, String)> = organisations::table
            .filter(organisations::name.eq(division))
            .select((organisations::id, organisations::kind))
            .first(conn)
            .optional()?;
        let organisation_id = match existing {
            Some((id, kind)) => {
                anyhow::ensure!(
                    kind == OrganisationKind::DepartmentDivision.as_str(),
                    "{division} is not a department division"
                );
                id
            }
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                diesel::insert_into(organisations::table)
                    .values((
                        organisations::id.eq(&id),
                        organisations::name.eq(division),
                        organisations::kind.eq(OrganisationKind::DepartmentDivision.as_str()),
                        organisations::contact_email.eq(email),
                        organisations::created_at.eq(now),
                        organisations::updated_at.eq(now),
                        organisations::version.eq(1),
                    ))
                    .execute(conn)?;
                id
            }
        };
        anyhow::ensure!(
            !crate::db::directory::username_taken(conn, username, None, None)?,
            "an account named {username} exists"
        );
        diesel::insert_into(users::table)
            .values((
                users::id.eq(uuid::Uuid::now_v7().to_string()),
                users::username.eq(username),
                users::display_name.eq(&display_name),
                users::email.eq(email),
                users::organisation_id.eq(organisation_id),
                users::roles.eq(serde_json::json!([role.name]).to_string()),
                users::status.eq(UserStatus::Active.as_str()),
                users::clearance.eq(ProtectiveMarking::OfficialSensitive.rank()),
                users::password_hash.eq(hash),
                users::created_at.eq(now),
                users::updated_at.eq(now),
                users::activated_at.eq(now),
                users::version.eq(1),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    println!("administrator {username} created");
    Ok(())
}
