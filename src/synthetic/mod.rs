//! `casebridge seed-synthetic`: a department at scale, added to a demo database, to measure
//! the service at the size it will run at (issue 17).
//!
//! Every row is written through the same `db::*` functions the service writes with, so the
//! indexes and derived tables they maintain (the clients' name keys) are kept exactly as in
//! production. The data is deterministic for a seed: the random draws come from one ChaCha
//! stream, the ids from those draws and a load clock that starts at a base date derived from
//! the seed (never from the wall clock). Only the optional audit trail is placed in the year
//! before now, since its reports are asked about "the last month".
//!
//! Ids are UUID v7 whose time is the moment the record was *loaded* (the base date plus one
//! millisecond per record), as after a migration from an older system: the ids come in
//! ascending order, which keeps every primary-key index append-only, while `created_at`,
//! `opened_at` and the notes' times spread over the years before the base date.
mod audit;
mod content;
mod names;

use std::collections::BTreeMap;
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use diesel::prelude::*;
use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::authz::scope::SHARE_PROFILE_PURPOSE;
use crate::clock::Clock;
use crate::db::cases::{AllocationRow, CaseRow};
use crate::db::clients::ClientRow;
use crate::db::consents::ConsentRow;
use crate::db::directory::{OrganisationRow, UserRow};
use crate::db::notes::NoteRow;
use crate::db::notices::{NoticeGivenRow, NoticeRow};
use crate::db::schema::organisations;
use crate::db::{Database, DatabaseKind, DbConnection};
use crate::demo;
use crate::domain::{OrganisationKind, PrincipalKind, ProtectiveMarking, StoredAsText, UserStatus};

pub use self::names::pick;

/// Clients written per transaction: large enough that the commits cost nothing, small enough
/// that a transaction's rows (about 35 per client) stay well inside memory and the WAL.
const CLIENTS_PER_TRANSACTION: usize = 10_000;
/// The `settings` key that records the seed of the department added.
const SETTING: &str = "synthetic_seed";
/// The collection notice the department issued before the demo's current one: the clients
/// never given the current one show in the outdated-notices report.
const OLD_NOTICE_VERSION: &str = "2018-1";

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub clients: usize,
    pub seed: u64,
    pub users: usize,
    pub audit_rows: usize,
}

/// How many rows of each kind were written, and how long it took.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub organisations: usize,
    pub users: usize,
    pub clients: usize,
    pub cases: usize,
    pub allocations: usize,
    pub notes: usize,
    pub consents: usize,
    pub notices_given: usize,
    pub audit_rows: usize,
    pub seconds: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "synthetic department added in {:.1} s: {} CSP organisations, {} users, {} clients, \
             {} cases, {} allocations, {} notes, {} consents, {} notices given, {} audit rows",
            self.seconds,
            self.organisations,
            self.users,
            self.clients,
            self.cases,
            self.allocations,
            self.notes,
            self.consents,
            self.notices_given,
            self.audit_rows
        )
    }
}

/// The ids of what the demo seeded, which the department is added to.
struct Demo {
    divisions: [String; 2],
    /// Northside and Eastern Outreach: their demo accounts see a caseload at scale.
    csps: [String; 2],
    current_notice: NoticeRow,
}

fn demo_context(conn: &mut DbConnection) -> anyhow::Result<Demo> {
    anyhow::ensure!(
        demo::is_demo(conn)?,
        "seed-synthetic adds to a demo database: run `casebridge seed-demo` first"
    );
    if let Some(seed) = crate::db::settings::get(conn, SETTING)? {
        anyhow::bail!(
            "this database already holds a synthetic department (seed {seed}); start again from \
             a fresh demo database"
        );
    }
    let mut organisation = |name: &str| -> anyhow::Result<String> {
        organisations::table
            .filter(organisations::name.eq(name))
            .select(organisations::id)
            .first(conn)
            .with_context(|| format!("the demo organisation {name} is missing"))
    };
    let divisions = [
        organisation(demo::HOUSING_SUPPORT)?,
        organisation(demo::FAMILY_SERVICES)?,
    ];
    let csps = [organisation(demo::NORTHSIDE)?, organisation(demo::EASTERN)?];
    let current_notice = crate::db::notices::by_version(conn, demo::NOTICE_VERSION)?
        .context("the demo collection notice is missing")?;
    Ok(Demo {
        divisions,
        csps,
        current_notice,
    })
}

/// Adds the department to the demo database `db`. Every synthetic account gets
/// `password_hash` (one argon2 hash, made once by the caller).
pub fn seed(
    db: &Database,
    clock: &Clock,
    options: &Options,
    password_hash: &str,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut conn = db.write_conn()?;
    let conn = &mut *conn;
    let demo = demo_context(conn)?;
    if db.kind() == DatabaseKind::Sqlite {
        // An offline load on its own connection: a large page cache (4 GiB at most) keeps the
        // indexes being added to in memory. At a million clients the name index alone, about
        // 37 keys a client at random places, outgrows 512 MiB, and every batch then re-read
        // its pages. Nor does the load wait for each commit to reach the disk, or copy the
        // log into the database every 4 MiB: a load cut short is generated again, never
        // served. These settings stay on this pooled connection: only `seed-synthetic` calls
        // this, and its process ends with the load; a server's connections never see them.
        diesel::sql_query("PRAGMA cache_size = -4194304").execute(conn)?;
        diesel::sql_query("PRAGMA synchronous = OFF").execute(conn)?;
        diesel::sql_query("PRAGMA wal_autocheckpoint = 262144").execute(conn)?;
    }
    let mut generator = Generator::new(options, demo);
    let mut summary = Summary::default();
    conn.transaction(|conn| -> anyhow::Result<()> {
        crate::db::settings::insert(conn, SETTING, &options.seed.to_string())?;
        generator.organisations(conn, &mut summary)?;
        generator.users(conn, password_hash, &mut summary)?;
        generator.old_notice(conn)?;
        Ok(())
    })?;
    eprintln!(
        "seed-synthetic: {} organisations and {} users in {:.1} s",
        summary.organisations,
        summary.users,
        started.elapsed().as_secs_f64()
    );
    let directory = write_clients(db, conn, generator, options, &mut summary, started)?;
    if options.audit_rows > 0 {
        summary.audit_rows = audit::generate(conn, &directory, options, clock.now(), started)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Generates the clients on a thread of their own and writes them, a transaction per
/// [`CLIENTS_PER_TRANSACTION`]: generation and the database's work overlap on two cores. On
/// PostgreSQL, whose server does most of the work (checking the foreign keys of every row,
/// about 70 a client with the name keys), as many connections as cores write batches side
/// by side; a batch refers to no other batch's rows, so the order in which they commit does
/// not matter.
fn write_clients(
    db: &Database,
    conn: &mut DbConnection,
    generator: Generator,
    options: &Options,
    summary: &mut Summary,
    started: Instant,
) -> anyhow::Result<Directory> {
    let (batches, received) = mpsc::sync_channel::<Batch>(2);
    let total = options.clients;
    let producer = std::thread::spawn(move || generator.clients(total, batches));
    let received = Mutex::new(received);
    let progress = Mutex::new(std::mem::take(summary));
    let loaders = match db.kind() {
        // No more than the write pool holds: a loader waiting for a connection would fail.
        DatabaseKind::Postgres => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(crate::db::POSTGRES_WRITE_CONNECTIONS as usize),
        DatabaseKind::Sqlite => 1,
    };
    let loaded = std::thread::scope(|scope| -> anyhow::Result<()> {
        let others = (1..loaders)
            .map(|_| {
                let mut own = db.write_conn()?;
                let (received, progress) = (&received, &progress);
                Ok(scope.spawn(move || load(&mut own, received, progress, total, started)))
            })
            .collect::<anyhow::Result<Vec<_>>>();
        let mine = load(conn, &received, &progress, total, started);
        for other in others? {
            other
                .join()
                .map_err(|_| anyhow::anyhow!("a loader thread panicked"))??;
        }
        mine
    });
    // Dropping the receiver stops the generator if a loader failed.
    drop(received);
    let directory = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    loaded?;
    *summary = progress.into_inner().expect("no loader panicked");
    Ok(directory)
}

/// Writes the batches `received` until there are no more, each in a transaction of its own.
fn load(
    conn: &mut DbConnection,
    received: &Mutex<mpsc::Receiver<Batch>>,
    progress: &Mutex<Summary>,
    total: usize,
    started: Instant,
) -> anyhow::Result<()> {
    loop {
        let Ok(batch) = received.lock().expect("no loader panicked").recv() else {
            return Ok(());
        };
        conn.transaction(|conn| -> QueryResult<()> {
            crate::db::clients::insert_many(conn, &batch.clients)?;
            crate::db::cases::insert_many(conn, &batch.cases)?;
            crate::db::cases::insert_allocations(conn, &batch.allocations)?;
            crate::db::notes::insert_many(conn, &batch.notes)?;
            crate::db::consents::insert_many(conn, &batch.consents)?;
            crate::db::notices::insert_given_many(conn, &batch.notices_given)
        })
        .context("writing a batch of synthetic clients")?;
        let mut summary = progress.lock().expect("no loader panicked");
        summary.clients += batch.clients.len();
        summary.cases += batch.cases.len();
        summary.allocations += batch.allocations.len();
        summary.notes += batch.notes.len();
        summary.consents += batch.consents.len();
        summary.notices_given += batch.notices_given.len();
        eprintln!(
            "seed-synthetic: {}/{} clients ({} cases, {} notes) in {:.1} s",
            summary.clients,
            total,
            summary.cases,
            summary.notes,
            started.elapsed().as_secs_f64()
        );
    }
}

/// One transaction's rows.
#[derive(Default)]
struct Batch {
    clients: Vec<ClientRow>,
    cases: Vec<CaseRow>,
    allocations: Vec<AllocationRow>,
    notes: Vec<NoteRow>,
    consents: Vec<ConsentRow>,
    notices_given: Vec<NoticeGivenRow>,
}

/// A staff member, as the audit generator needs them.
#[derive(Debug, Clone)]
pub(crate) struct Staff {
    pub id: String,
    pub username: String,
    pub organisation: usize,
    pub role: &'static str,
}

/// What the audit generator needs of the clients: compact, since it holds a million.
#[derive(Default)]
pub(crate) struct Directory {
    /// Organisations: the two divisions first, then the CSPs (the two of the demo first).
    pub organisations: Vec<String>,
    pub staff: Vec<Staff>,
    pub clients: Vec<uuid::Uuid>,
    /// Per client: index of its lead division (0 or 1).
    pub client_division: Vec<u8>,
    /// Per client: its cases, `cases[first_case .. first_case + count]`.
    pub client_cases: Vec<(u32, u8)>,
    pub cases: Vec<uuid::Uuid>,
    /// Per organisation: the clients with an active allocation to it (CSPs only).
    pub allocated: Vec<Vec<u32>>,
    /// Per division: its clients.
    pub division_clients: [Vec<u32>; 2],
}

const DIVISIONS: usize = 2;
/// CSPs generated, besides the demo's two.
const NEW_CSPS: usize = 40;

struct Generator {
    rng: ChaCha8Rng,
    names: names::Names,
    /// The load clock of the ids, in milliseconds since the epoch.
    tick: i64,
    /// The dates generated lie before this day.
    base: NaiveDate,
    demo: Demo,
    users: usize,
    old_notice_id: String,
    directory: Directory,
    /// Per organisation, ids of its active staff able to write case notes.
    writers: Vec<Vec<String>>,
    /// Per division, its active caseworkers (lead workers of cases).
    caseworkers: [Vec<String>; DIVISIONS],
    /// The CSP an allocation goes to: a few large providers, many small ones.
    csp_draw: WeightedIndex<f64>,
}

impl Generator {
    fn new(options: &Options, demo: Demo) -> Self {
        // The base date moves with the seed, within the year before issue 17 was written,
        // so that two seeds do not share every date.
        let base = NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date")
            - Duration::days((options.seed % 300) as i64);
        let tick = base.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
        let mut organisations = demo.divisions.to_vec();
        organisations.extend(demo.csps.iter().cloned());
        let csps = 2 + NEW_CSPS;
        Self {
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            names: names::Names::default(),
            tick,
            base,
            users: options.users,
            old_notice_id: String::new(),
            directory: Directory {
                organisations,
                allocated: vec![Vec::new(); DIVISIONS + csps],
                ..Directory::default()
            },
            writers: vec![Vec::new(); DIVISIONS + csps],
            caseworkers: Default::default(),
            // Northside (the demo's csp-north) is the third largest provider: its demo
            // accounts see a caseload at scale.
            csp_draw: WeightedIndex::new((0..csps).map(|i| {
                let rank = match i {
                    0 => 2,
                    1 => 20,
                    i if i <= 2 => i - 2,
                    i if i <= 20 => i - 1,
                    i => i,
                };
                1.0 / (rank as f64 + 1.0).powf(0.8)
            }))
            .expect("weights are positive"),
            demo,
        }
    }

    /// A fresh UUID v7 on the load clock.
    fn id(&mut self) -> String {
        self.uuid().to_string()
    }

    fn uuid(&mut self) -> uuid::Uuid {
        self.tick += 1;
        let random: [u8; 10] = self.rng.r#gen();
        uuid::Builder::from_unix_timestamp_millis(self.tick as u64, &random).into_uuid()
    }

    fn load_time(&self) -> NaiveDateTime {
        chrono::DateTime::from_timestamp_millis(self.tick)
            .expect("a time")
            .naive_utc()
    }

    /// A moment of a working day `days_before` the base date.
    fn working_time(&mut self, day: NaiveDate) -> NaiveDateTime {
        day.and_time(NaiveTime::MIN) + Duration::seconds(self.rng.gen_range(8 * 3600..18 * 3600))
    }

    fn organisations(
        &mut self,
        conn: &mut DbConnection,
        summary: &mut Summary,
    ) -> anyhow::Result<()> {
        for index in 0..NEW_CSPS {
            let name = content::csp_name(index);
            let id = self.id();
            let now = self.load_time();
            let row = OrganisationRow {
                contact_email: format!("intake@{}.example", content::slug(&name)),
                name,
                kind: OrganisationKind::Csp.as_str().to_owned(),
                contract_starts_on: Some(self.base - Duration::days(365 * 4)),
                contract_ends_on: Some(self.base + Duration::days(365 * 10)),
                created_at: now,
                updated_at: now,
                version: 1,
                status: "active".to_owned(),
                id: id.clone(),
            };
            crate::db::directory::insert_organisation(conn, &row)?;
            self.directory.organisations.push(id);
            summary.organisations += 1;
        }
        Ok(())
    }

    /// Department staff (a quarter) over the two divisions, CSP staff over the providers in
    /// proportion to their caseloads; about one in twelve suspended or deactivated.
    fn users(
        &mut self,
        conn: &mut DbConnection,
        password_hash: &str,
        summary: &mut Summary,
    ) -> anyhow::Result<()> {
        const DEPARTMENT_ROLES: &[(&str, f64)] = &[
            ("dept_caseworker", 70.0),
            ("dept_team_leader", 10.0),
            ("division_searcher", 12.0),
            ("dept_admin", 1.5),
            ("auditor", 2.0),
            ("privacy_officer", 1.5),
            ("records_manager", 1.5),
        ];
        let department_roles =
            WeightedIndex::new(DEPARTMENT_ROLES.iter().map(|r| r.1)).expect("weights");
        let csps = self.directory.organisations.len() - DIVISIONS;
        for index in 0..self.users {
            // The first of each kind are placed in turn, so that even a small department has
            // a caseworker in each division and a worker at each provider.
            let (organisation, role) = if index < DIVISIONS {
                (index, "dept_caseworker")
            } else if index < DIVISIONS + csps {
                (index, "csp_worker")
            } else if self.rng.gen_bool(0.25) {
                let role = DEPARTMENT_ROLES[department_roles.sample(&mut self.rng)].0;
                (usize::from(self.rng.gen_bool(0.45)), role)
            } else {
                let role = if self.rng.gen_bool(0.1) {
                    "csp_manager"
                } else {
                    "csp_worker"
                };
                (DIVISIONS + self.csp_draw.sample(&mut self.rng), role)
            };
            let (given, family) = self.names.staff(&mut self.rng);
            let username = format!(
                "{}.{}.{index}",
                content::slug(&given),
                content::slug(&family)
            );
            let status = match self.rng.gen_range(0..100) {
                0..8 if index >= DIVISIONS + csps => {
                    if self.rng.gen_bool(0.25) {
                        UserStatus::Suspended
                    } else {
                        UserStatus::Deactivated
                    }
                }
                _ => UserStatus::Active,
            };
            let id = self.id();
            let now = self.load_time();
            let joined = self.base - Duration::days(self.rng.gen_range(30..3650));
            let csp = organisation >= DIVISIONS;
            let clearance = if role == "dept_team_leader" || role == "privacy_officer" {
                ProtectiveMarking::Protected
            } else {
                ProtectiveMarking::OfficialSensitive
            };
            let row = UserRow {
                id: id.clone(),
                email: format!(
                    "{username}@{}.example",
                    if csp { "csp" } else { "department" }
                ),
                username: username.clone(),
                display_name: format!("{given} {family}"),
                organisation_id: self.directory.organisations[organisation].clone(),
                roles: serde_json::json!([role]).to_string(),
                status: status.as_str().to_owned(),
                clearance: clearance.rank(),
                activated_at: Some(now),
                approved_at: csp.then_some(now),
                // Renewed within the last training period (365 days by default), so that the
                // synthetic staff can use the service.
                training_completed_on: csp
                    .then(|| self.base - Duration::days((self.base - joined).num_days() % 330)),
                security_check_completed_on: csp.then_some(joined),
                security_check_reference: csp.then(|| format!("SC-{}", 100_000 + index)),
                acceptable_use_accepted_on: csp.then_some(joined),
                status_reason: (status != UserStatus::Active)
                    .then(|| "left the organisation".to_owned()),
                ..UserRow::new(PrincipalKind::Person, now)
            };
            crate::db::directory::insert_user(conn, &row, Some(password_hash))?;
            summary.users += 1;
            if status != UserStatus::Active {
                continue;
            }
            if matches!(
                role,
                "dept_caseworker" | "dept_team_leader" | "csp_worker" | "csp_manager"
            ) {
                self.writers[organisation].push(id.clone());
            }
            if role == "dept_caseworker" {
                self.caseworkers[organisation].push(id.clone());
            }
            self.directory.staff.push(Staff {
                id,
                username,
                organisation,
                role,
            });
        }
        Ok(())
    }

    /// The notice the department gave before the demo's current one.
    fn old_notice(&mut self, conn: &mut DbConnection) -> anyhow::Result<()> {
        let privacy = self
            .directory
            .staff
            .iter()
            .find(|s| s.role == "privacy_officer")
            .map(|s| s.id.clone())
            .unwrap_or_else(|| self.caseworkers[0][0].clone());
        self.old_notice_id = self.id();
        let row = NoticeRow {
            id: self.old_notice_id.clone(),
            version: OLD_NOTICE_VERSION.to_owned(),
            text: content::OLD_NOTICE_TEXT.to_owned(),
            effective_from: self.base - Duration::days(365 * 8),
            created_by: privacy,
            created_at: self.load_time(),
        };
        crate::db::notices::insert(conn, &row)?;
        Ok(())
    }

    /// Generates `total` clients and sends them a transaction's worth at a time; answers
    /// what the audit generator needs of them.
    fn clients(mut self, total: usize, batches: mpsc::SyncSender<Batch>) -> Directory {
        let mut batch = Batch::default();
        for _ in 0..total {
            self.client(&mut batch);
            if batch.clients.len() == CLIENTS_PER_TRANSACTION
                && batches.send(std::mem::take(&mut batch)).is_err()
            {
                // The writer stopped (it failed): its error is the one to report.
                return self.directory;
            }
        }
        if !batch.clients.is_empty() {
            let _ = batches.send(batch);
        }
        self.directory
    }

    fn client(&mut self, batch: &mut Batch) {
        let person = self.names.person(&mut self.rng);
        // Ages at the base date: many children and working-age adults, fewer elderly.
        const AGE_BANDS: [(i64, i64, f64); 5] = [
            (0, 18, 0.22),
            (18, 25, 0.12),
            (25, 45, 0.30),
            (45, 65, 0.22),
            (65, 96, 0.14),
        ];
        let band = WeightedIndex::new(AGE_BANDS.iter().map(|b| b.2))
            .expect("weights")
            .sample(&mut self.rng);
        let age_days = self
            .rng
            .gen_range(AGE_BANDS[band].0 * 365..AGE_BANDS[band].1 * 365);
        let mut date_of_birth = self.base - Duration::days(age_days);
        if person.first_of_january {
            date_of_birth = NaiveDate::from_ymd_opt(date_of_birth.year(), 1, 1).expect("1 January");
        }
        // The file was opened after the birth, within the last ten years.
        let known_days = (self.base - date_of_birth).num_days().clamp(1, 3650);
        let created_on = self.base - Duration::days(self.rng.gen_range(0..known_days));
        let created_at = self.working_time(created_on);
        let division = usize::from(self.rng.gen_bool(0.4));
        let marking = match self.rng.gen_range(0..100) {
            0..15 => ProtectiveMarking::Official,
            15..95 => ProtectiveMarking::OfficialSensitive,
            _ => ProtectiveMarking::Protected,
        };
        let id = self.uuid();
        let client_index = self.directory.clients.len() as u32;
        let contact = content::contact(&mut self.rng, &person);
        let row = ClientRow {
            id: id.to_string(),
            preferred_name: self
                .rng
                .gen_bool(0.08)
                .then(|| pick(&mut self.rng, content::PREFERRED_NAMES).to_string()),
            date_of_birth,
            gender: person.gender.map(str::to_owned),
            phone: contact.phone,
            email: contact.email,
            address_line1: contact.address.as_ref().map(|a| a.line1.clone()),
            address_line2: contact.address.as_ref().and_then(|a| a.line2.clone()),
            address_suburb: contact.address.as_ref().map(|a| a.suburb.to_owned()),
            address_state: contact.address.as_ref().map(|a| a.state.to_owned()),
            address_postcode: contact.address.as_ref().map(|a| a.postcode.to_owned()),
            interpreter_language: person.interpreter_language.map(str::to_owned),
            // Sealing costs a key derivation per value: a synthetic department has no
            // Medicare or tax file numbers.
            medicare_number: None,
            tax_file_number: None,
            gp_details: self.rng.gen_bool(0.4).then(|| content::gp(&mut self.rng)),
            safety_alerts: if self.rng.gen_bool(0.04) {
                serde_json::json!([pick(&mut self.rng, content::SAFETY_ALERTS)]).to_string()
            } else {
                "[]".to_owned()
            },
            protective_marking: marking.rank(),
            restricted: self.rng.gen_bool(0.005),
            lead_division_id: self.directory.organisations[division].clone(),
            created_at,
            updated_at: created_at,
            version: 1,
            given_name: person.given_name,
            family_name: person.family_name,
        };
        let first_case = self.directory.cases.len() as u32;
        let case_count = self.rng.gen_range(2..=3u8);
        let mut opened = created_at;
        for number in 0..case_count {
            let case_division = if number == 0 || self.rng.gen_bool(0.7) {
                division
            } else {
                1 - division
            };
            let last = number + 1 == case_count;
            // Each later case opens after the one before, before the base date.
            let room = (self.base.and_time(NaiveTime::MIN) - opened)
                .num_days()
                .max(1);
            opened += Duration::days(self.rng.gen_range(0..room.min(900)));
            self.case(
                batch,
                &row,
                client_index,
                case_division,
                opened,
                marking,
                last,
            );
        }
        if self.rng.gen_bool(0.6) {
            let given_on = created_on + Duration::days(self.rng.gen_range(0..14));
            let recorded_by = self.caseworker(division);
            batch.consents.push(ConsentRow {
                id: self.id(),
                client_id: row.id.clone(),
                purpose: SHARE_PROFILE_PURPOSE.to_owned(),
                given_on,
                method: pick(&mut self.rng, &["written", "verbal", "electronic"]).to_string(),
                expires_on: None,
                withdrawn_on: None,
                withdrawal_method: None,
                recorded_by,
                recorded_at: self.working_time(given_on),
                withdrawal_recorded_by: None,
                withdrawal_recorded_at: None,
            });
        }
        // Every file got the notice in effect when it was opened; seven in ten were given the
        // current one since, the others show as outdated.
        let recorded_by = self.caseworker(division);
        batch.notices_given.push(NoticeGivenRow {
            id: self.id(),
            client_id: row.id.clone(),
            notice_id: self.old_notice_id.clone(),
            given_on: created_on,
            method: "written".to_owned(),
            recorded_by: recorded_by.clone(),
            recorded_at: created_at,
            given_by_organisation_id: row.lead_division_id.clone(),
        });
        if self.rng.gen_bool(0.7) {
            let given_on = self.demo.current_notice.effective_from;
            batch.notices_given.push(NoticeGivenRow {
                id: self.id(),
                client_id: row.id.clone(),
                notice_id: self.demo.current_notice.id.clone(),
                given_on,
                method: "electronic".to_owned(),
                recorded_by,
                recorded_at: given_on.and_time(NaiveTime::MIN),
                given_by_organisation_id: row.lead_division_id.clone(),
            });
        }
        self.directory.clients.push(id);
        self.directory.client_division.push(division as u8);
        self.directory.client_cases.push((first_case, case_count));
        self.directory.division_clients[division].push(client_index);
        batch.clients.push(row);
    }

    fn caseworker(&mut self, division: usize) -> String {
        pick(&mut self.rng, &self.caseworkers[division]).clone()
    }

    #[allow(clippy::too_many_arguments)]
    fn case(
        &mut self,
        batch: &mut Batch,
        client: &ClientRow,
        client_index: u32,
        division: usize,
        opened_at: NaiveDateTime,
        marking: ProtectiveMarking,
        last: bool,
    ) {
        let base = self.base.and_time(NaiveTime::MIN);
        let open = self.rng.gen_bool(if last { 0.6 } else { 0.3 });
        let closed_at = (!open)
            .then(|| opened_at + Duration::days(self.rng.gen_range(30..720)))
            .filter(|closed| *closed < base);
        let service_type = pick(&mut self.rng, content::SERVICE_TYPES[division]).to_string();
        let lead_worker_id = self.rng.gen_bool(0.8).then(|| self.caseworker(division));
        let id = self.uuid();
        let case = CaseRow {
            id: id.to_string(),
            client_id: client.id.clone(),
            division_id: self.directory.organisations[division].clone(),
            summary: content::case_summary(&mut self.rng, &service_type),
            service_type,
            status: if closed_at.is_some() {
                "closed"
            } else {
                "open"
            }
            .to_owned(),
            opened_at,
            closed_at,
            archived_at: None,
            lead_worker_id,
            risk_level: pick(&mut self.rng, &["low", "low", "medium", "medium", "high"])
                .to_string(),
            protective_marking: marking.rank(),
            created_at: opened_at,
            updated_at: closed_at.unwrap_or(opened_at),
            version: 1,
        };
        let allocation = self
            .rng
            .gen_bool(0.55)
            .then(|| self.allocation(batch, &case, client_index));
        let until = closed_at.unwrap_or(base);
        self.notes(batch, &case, division, allocation, until);
        self.directory.cases.push(id);
        batch.cases.push(case);
    }

    /// Allocates `case` to a CSP; answers the CSP's index.
    fn allocation(&mut self, batch: &mut Batch, case: &CaseRow, client_index: u32) -> usize {
        let organisation = DIVISIONS + self.csp_draw.sample(&mut self.rng);
        let starts_on = case.opened_at.date() + Duration::days(self.rng.gen_range(0..30));
        let ends_on = match case.closed_at {
            Some(closed) => Some(closed.date()),
            // One in five open cases' allocations ended early (the service changed hands).
            None if self.rng.gen_bool(0.2) => {
                Some((starts_on + Duration::days(self.rng.gen_range(30..365))).min(self.base))
            }
            None => None,
        };
        let worker_id = (self.rng.gen_bool(0.6) && !self.writers[organisation].is_empty())
            .then(|| pick(&mut self.rng, &self.writers[organisation]).clone());
        if ends_on.is_none() {
            self.directory.allocated[organisation].push(client_index);
        }
        batch.allocations.push(AllocationRow {
            id: self.id(),
            case_id: case.id.clone(),
            organisation_id: self.directory.organisations[organisation].clone(),
            worker_id,
            starts_on,
            ends_on,
            service_description: content::service_description(&case.service_type),
            created_at: case.opened_at,
            updated_at: case.opened_at,
            version: 1,
        });
        organisation
    }

    /// Five to fifteen notes over the case's life; a third by the allocated CSP's staff
    /// (always shared), the others by the division's staff, about half kept within the
    /// department; now and then an amendment of an earlier note.
    fn notes(
        &mut self,
        batch: &mut Batch,
        case: &CaseRow,
        division: usize,
        csp: Option<usize>,
        until: NaiveDateTime,
    ) {
        let count = self.rng.gen_range(5..=15);
        let span = (until - case.opened_at).num_minutes().max(1);
        let mut times: Vec<i64> = (0..count).map(|_| self.rng.gen_range(0..span)).collect();
        times.sort_unstable();
        let first = batch.notes.len();
        for minutes in times {
            let author_organisation = match csp {
                Some(csp) if self.rng.gen_bool(0.35) && !self.writers[csp].is_empty() => csp,
                _ if self.writers[division].is_empty() => continue,
                _ => division,
            };
            let author_id = pick(&mut self.rng, &self.writers[author_organisation]).clone();
            let visibility = if author_organisation >= DIVISIONS || self.rng.gen_bool(0.55) {
                "shared"
            } else {
                "department"
            };
            let amends = (batch.notes.len() > first && self.rng.gen_bool(0.02)).then(|| {
                batch.notes[self.rng.gen_range(first..batch.notes.len())]
                    .id
                    .clone()
            });
            let note_type = pick(
                &mut self.rng,
                &[
                    "contact",
                    "contact",
                    "contact",
                    "contact",
                    "assessment",
                    "assessment",
                    "case_conference",
                    "other",
                ],
            )
            .to_string();
            let body = content::note_body(&mut self.rng, &note_type, amends.is_some());
            batch.notes.push(NoteRow {
                id: self.id(),
                case_id: case.id.clone(),
                author_id,
                author_organisation_id: self.directory.organisations[author_organisation].clone(),
                created_at: case.opened_at + Duration::minutes(minutes),
                note_type,
                visibility: visibility.to_owned(),
                protective_marking: case.protective_marking,
                body,
                amends_note_id: amends,
            });
        }
    }
}

/// Counts of the rows per table a test or the summary compares: `(table, rows)`.
pub fn counts(conn: &mut DbConnection) -> QueryResult<BTreeMap<&'static str, i64>> {
    use crate::db::schema::{
        allocations, audit_events, cases, clients, consents, notes, notices_given, users,
    };
    Ok(BTreeMap::from([
        ("allocations", allocations::table.count().get_result(conn)?),
        (
            "audit_events",
            audit_events::table.count().get_result(conn)?,
        ),
        ("cases", cases::table.count().get_result(conn)?),
        ("clients", clients::table.count().get_result(conn)?),
        ("consents", consents::table.count().get_result(conn)?),
        ("notes", notes::table.count().get_result(conn)?),
        (
            "notices_given",
            notices_given::table.count().get_result(conn)?,
        ),
        (
            "organisations",
            organisations::table.count().get_result(conn)?,
        ),
        ("users", users::table.count().get_result(conn)?),
    ]))
}
