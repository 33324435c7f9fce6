//! `casebridge seed-demo`: SPEC's demo organisations, accounts and clients, on an empty
//! database. The data is deterministic (names, allocations, markings) so that a walk-through
//! and the tests can name what they expect; only ids and timestamps differ between runs.
use anyhow::Context;
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;

use crate::auth::password;
use crate::authz::scope::SHARE_PROFILE_PURPOSE;
use crate::clock::Clock;
use crate::db::clients::ClientRow;
use crate::db::schema::{
    allocations, cases, collection_notices, consents, notes, notices_given, organisations,
    settings, users,
};
use crate::db::{Database, DbConnection};
use crate::domain::{ProtectiveMarking, StoredAsText, UserStatus, Visibility};
use crate::sealing::{Keyring, SealedColumn};

pub const HOUSING_SUPPORT: &str = "Housing Support";
pub const FAMILY_SERVICES: &str = "Family Services";
pub const NORTHSIDE: &str = "Northside Community Care";
pub const EASTERN: &str = "Eastern Outreach";

/// (username, display name, organisation, role, clearance)
pub const ACCOUNTS: &[(&str, &str, &str, &str, ProtectiveMarking)] = &[
    (
        "admin",
        "Ada Admin",
        HOUSING_SUPPORT,
        "dept_admin",
        ProtectiveMarking::OfficialSensitive,
    ),
    // Dual control: access to client content is granted by one administrator and approved
    // by another.
    (
        "admin2",
        "Ari Approver",
        HOUSING_SUPPORT,
        "dept_admin",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "caseworker",
        "Casey Worker",
        HOUSING_SUPPORT,
        "dept_caseworker",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "teamleader",
        "Terry Leader",
        HOUSING_SUPPORT,
        "dept_team_leader",
        ProtectiveMarking::Protected,
    ),
    (
        "searcher",
        "Sam Searcher",
        FAMILY_SERVICES,
        "division_searcher",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "csp-north",
        "Nora North",
        NORTHSIDE,
        "csp_worker",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "csp-north-manager",
        "Ned North",
        NORTHSIDE,
        "csp_manager",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "csp-east",
        "Eve East",
        EASTERN,
        "csp_worker",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "auditor",
        "Audrey Auditor",
        HOUSING_SUPPORT,
        "auditor",
        ProtectiveMarking::OfficialSensitive,
    ),
    (
        "privacy",
        "Pat Privacy",
        HOUSING_SUPPORT,
        "privacy_officer",
        ProtectiveMarking::Protected,
    ),
    (
        "records",
        "Rory Records",
        HOUSING_SUPPORT,
        "records_manager",
        ProtectiveMarking::OfficialSensitive,
    ),
];

const GIVEN: [&str; 12] = [
    "Alex", "Bianca", "Chen", "Deepa", "Eli", "Fatima", "George", "Hana", "Isaac", "Jade", "Kofi",
    "Leila",
];
const FAMILY: [&str; 12] = [
    "Nguyen", "Smith", "Okafor", "Patel", "Rossi", "Haddad", "Kowalski", "Tanaka", "Murphy",
    "Singh", "Mensah", "Ahmadi",
];

/// Housing Support's demo clients. Client `i` has an open case allocated to Northside (assigned
/// to csp-north) when `i % 3 == 0`, to Eastern Outreach (assigned to csp-east) when
/// `i % 3 == 1`, to no one when `i % 3 == 2`.
pub const HOUSING_CLIENTS: usize = 24;
/// Restricted (reads need a purpose of use); allocated to no one.
pub const RESTRICTED_CLIENT: usize = 2;
/// Marked PROTECTED; allocated to no one.
pub const PROTECTED_CLIENT: usize = 5;
/// Northside's allocation of this client ended yesterday.
pub const ENDED_ALLOCATION_CLIENT: usize = 9;
/// Has not consented to other divisions finding their basic profile.
pub const NO_SHARING_CLIENT: usize = 7;
/// The collection notice in effect, given to every demo client.
pub const NOTICE_VERSION: &str = "2026-1";
const NOTICE_TEXT: &str = "The department collects your information to provide and coordinate \
    the services you asked for. It shares what each service needs with the service providers \
    it funds, and your basic details with its other divisions if you agree. You can ask to see \
    or correct your information, withdraw your consent, or complain to our privacy officer.";

pub fn demo_client_name(index: usize) -> (String, String) {
    const SUFFIXES: [&str; 10] = [
        "", "-Lee", "-Park", "-Brown", "-Ng", "-Fox", "-Hall", "-Reid", "-Wood", "-Cole",
    ];
    let family = format!(
        "{}{}",
        FAMILY[index % FAMILY.len()],
        SUFFIXES[(index / FAMILY.len()) % SUFFIXES.len()]
    );
    (GIVEN[index % GIVEN.len()].to_owned(), family)
}

/// A valid Medicare number derived from `seed` (check digit per SPEC).
fn medicare(seed: usize) -> String {
    let first8 = format!("{}{:07}", 2 + seed % 5, 1_000_000 + seed * 7919 % 9_000_000);
    let weights = [1, 3, 7, 9, 1, 3, 7, 9];
    let check: u32 = first8
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum::<u32>()
        % 10;
    format!("{first8}{check}1")
}

/// A valid tax file number derived from `seed`.
fn tax_file_number(seed: usize) -> String {
    let weights = [1, 4, 3, 7, 5, 8, 6, 9, 10];
    (0..1000)
        .map(|n| format!("{:09}", 123_000_000 + seed * 1000 + n))
        .find(|tfn| {
            tfn.chars()
                .zip(weights)
                .map(|(c, w)| c.to_digit(10).unwrap() * w)
                .sum::<u32>()
                % 11
                == 0
        })
        .expect("one in eleven numbers is a valid TFN")
}

fn insert_organisation(
    conn: &mut DbConnection,
    name: &str,
    kind: &str,
    email: &str,
    contract: bool,
) -> QueryResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = Clock::default().now();
    let today = Clock::default().today();
    diesel::insert_into(organisations::table)
        .values((
            organisations::id.eq(&id),
            organisations::name.eq(name),
            organisations::kind.eq(kind),
            organisations::contact_email.eq(email),
            organisations::contract_starts_on.eq(contract.then(|| today - Duration::days(365))),
            organisations::contract_ends_on.eq(contract.then(|| today + Duration::days(730))),
            organisations::created_at.eq(now),
            organisations::updated_at.eq(now),
            organisations::version.eq(1),
        ))
        .execute(conn)?;
    Ok(id)
}

/// How long before seeding the demo accounts completed their training.
pub const DEMO_TRAINING_AGE_DAYS: i64 = 30;

pub fn is_demo(conn: &mut DbConnection) -> QueryResult<bool> {
    Ok(settings::table
        .filter(settings::key.eq("demo"))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Seeds the demo data, its identifiers sealed with `keyring`; refuses a database that
/// already has organisations.
pub fn seed(db: &Database, keyring: &Keyring, demo_password: &str) -> anyhow::Result<()> {
    if let Some(problem) = password::weakness(demo_password, "") {
        anyhow::bail!("the demo password {problem}");
    }
    let mut conn = db.write_conn()?;
    let existing: i64 = organisations::table.count().get_result(&mut *conn)?;
    anyhow::ensure!(
        existing == 0,
        "the database is not empty; seed-demo only fills an empty database"
    );
    let hashes = ACCOUNTS
        .iter()
        .map(|_| password::hash(demo_password))
        .collect::<anyhow::Result<Vec<_>>>()?;
    conn.transaction(|conn| seed_rows(conn, keyring, &hashes))
        .context("writing the demo data")?;
    Ok(())
}

fn seed_rows(conn: &mut DbConnection, keyring: &Keyring, hashes: &[String]) -> anyhow::Result<()> {
    let now = Clock::default().now();
    let today = Clock::default().today();
    diesel::insert_into(settings::table)
        .values((settings::key.eq("demo"), settings::value.eq("true")))
        .execute(conn)?;
    let housing = insert_organisation(
        conn,
        HOUSING_SUPPORT,
        "department_division",
        "housing.support@department.example",
        false,
    )?;
    let family = insert_organisation(
        conn,
        FAMILY_SERVICES,
        "department_division",
        "family.services@department.example",
        false,
    )?;
    let northside = insert_organisation(conn, NORTHSIDE, "csp", "intake@northside.example", true)?;
    let eastern = insert_organisation(
        conn,
        EASTERN,
        "csp",
        "office@eastern-outreach.example",
        true,
    )?;
    let organisation_id = |name: &str| match name {
        HOUSING_SUPPORT => housing.clone(),
        FAMILY_SERVICES => family.clone(),
        NORTHSIDE => northside.clone(),
        _ => eastern.clone(),
    };
    let mut user_ids = std::collections::HashMap::new();
    for ((username, display_name, organisation, role, clearance), hash) in
        ACCOUNTS.iter().zip(hashes)
    {
        let id = uuid::Uuid::now_v7().to_string();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(&id),
                users::username.eq(username),
                users::display_name.eq(display_name),
                users::email.eq(format!("{username}@demo.example")),
                users::organisation_id.eq(organisation_id(organisation)),
                users::roles.eq(serde_json::json!([role]).to_string()),
                users::status.eq(UserStatus::Active.as_str()),
                users::clearance.eq(clearance.rank()),
                users::password_hash.eq(hash),
                users::created_at.eq(now),
                users::updated_at.eq(now),
                users::version.eq(1),
                // SPEC: demo accounts log in with the password alone.
                users::mfa_exempt.eq(true),
                users::activated_at.eq(now),
                // Recent training, so that a demo database works for most of a year before
                // its accounts' training lapses (docs/csp-partnership.md#training).
                users::training_completed_on.eq(today - Duration::days(DEMO_TRAINING_AGE_DAYS)),
            ))
            .execute(conn)?;
        user_ids.insert(*username, id);
    }
    let notice_id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(collection_notices::table)
        .values((
            collection_notices::id.eq(&notice_id),
            collection_notices::version.eq(NOTICE_VERSION),
            collection_notices::text.eq(NOTICE_TEXT),
            collection_notices::effective_from.eq(today - Duration::days(60)),
            collection_notices::created_by.eq(&user_ids["privacy"]),
            collection_notices::created_at.eq(now),
        ))
        .execute(conn)?;
    let clients = (0..HOUSING_CLIENTS)
        .map(|i| (i, housing.clone()))
        .chain((0..2).map(|i| (100 + i, family.clone())));
    for (index, division) in clients {
        let (given_name, family_name) = demo_client_name(index);
        let marking = if index == PROTECTED_CLIENT {
            ProtectiveMarking::Protected
        } else {
            ProtectiveMarking::OfficialSensitive
        };
        let id = uuid::Uuid::now_v7().to_string();
        let row = ClientRow {
            medicare_number: Some(keyring.seal(
                SealedColumn::ClientMedicareNumber,
                &id,
                &medicare(index),
            )?),
            tax_file_number: keyring.seal_optional(
                SealedColumn::ClientTaxFileNumber,
                &id,
                (index % 2 == 0).then(|| tax_file_number(index)).as_deref(),
            )?,
            id,
            given_name,
            family_name,
            preferred_name: (index % 4 == 0).then(|| "Sunny".to_owned()),
            date_of_birth: NaiveDate::from_ymd_opt(
                1950 + (index as i32 * 7) % 55,
                1 + (index as u32 % 12),
                1 + (index as u32 * 3) % 28,
            )
            .expect("valid date"),
            gender: Some(["female", "male", "non-binary"][index % 3].to_owned()),
            phone: Some(format!(
                "04{:08}",
                10_000_000 + index * 7_654_321 % 89_999_999
            )),
            email: Some(format!("client{index}@mail.example")),
            address_line1: Some(format!("{} Example Street", 10 + index)),
            address_line2: None,
            address_suburb: Some(
                ["Brunswick", "Footscray", "Preston", "Dandenong"][index % 4].to_owned(),
            ),
            address_state: Some("VIC".to_owned()),
            address_postcode: Some(format!("30{:02}", 50 + index % 40)),
            interpreter_language: (index % 5 == 0).then(|| "Vietnamese".to_owned()),
            gp_details: Some(format!(
                "Dr {} , {} Medical Centre",
                FAMILY[(index + 3) % FAMILY.len()],
                ["Northcote", "Carlton"][index % 2]
            )),
            safety_alerts: if index % 6 == 0 {
                r#"["Dog at property"]"#.to_owned()
            } else {
                "[]".to_owned()
            },
            protective_marking: marking.rank(),
            restricted: index == RESTRICTED_CLIENT,
            lead_division_id: division.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        crate::db::clients::insert(conn, &row)?;
        diesel::insert_into(notices_given::table)
            .values((
                notices_given::id.eq(uuid::Uuid::now_v7().to_string()),
                notices_given::client_id.eq(&row.id),
                notices_given::notice_id.eq(&notice_id),
                notices_given::given_on.eq(today - Duration::days(30)),
                notices_given::method.eq("written"),
                notices_given::recorded_by.eq(&user_ids["caseworker"]),
                notices_given::recorded_at.eq(now),
                notices_given::given_by_organisation_id.eq(&housing),
            ))
            .execute(conn)?;
        if index != NO_SHARING_CLIENT {
            diesel::insert_into(consents::table)
                .values((
                    consents::id.eq(uuid::Uuid::now_v7().to_string()),
                    consents::client_id.eq(&row.id),
                    consents::purpose.eq(SHARE_PROFILE_PURPOSE),
                    consents::given_on.eq(today - Duration::days(30)),
                    consents::method.eq("written"),
                    consents::recorded_by.eq(&user_ids["caseworker"]),
                    consents::recorded_at.eq(now),
                ))
                .execute(conn)?;
        }
        let case_id = uuid::Uuid::now_v7().to_string();
        let lead_worker = if division == housing {
            Some(user_ids["caseworker"].clone())
        } else {
            None
        };
        diesel::insert_into(cases::table)
            .values((
                cases::id.eq(&case_id),
                cases::client_id.eq(&row.id),
                cases::division_id.eq(&division),
                cases::service_type.eq([
                    "tenancy support",
                    "homelessness prevention",
                    "crisis accommodation",
                ][index % 3]),
                cases::status.eq("open"),
                cases::opened_at.eq(now - Duration::days(30 + index as i64)),
                cases::lead_worker_id.eq(lead_worker),
                cases::summary.eq(format!(
                    "Support plan for client {index}: stable housing within 90 days."
                )),
                cases::risk_level.eq(["low", "medium", "high"][index % 3]),
                cases::protective_marking.eq(marking.rank()),
                cases::created_at.eq(now),
                cases::updated_at.eq(now),
                cases::version.eq(1),
            ))
            .execute(conn)?;
        // Each allocation is assigned to its CSP's demo worker (need to know: a worker sees
        // only the allocations assigned to them; the CSP's manager sees them all).
        let allocated_to = match (index, index % 3) {
            (i, _) if i >= 100 => None,
            (ENDED_ALLOCATION_CLIENT, _) => Some((
                northside.clone(),
                "csp-north",
                Some(today - Duration::days(1)),
            )),
            (_, 0) => Some((northside.clone(), "csp-north", None)),
            (_, 1) => Some((eastern.clone(), "csp-east", None)),
            _ => None,
        };
        if let Some((organisation, worker, ends_on)) = allocated_to {
            diesel::insert_into(allocations::table)
                .values((
                    allocations::id.eq(uuid::Uuid::now_v7().to_string()),
                    allocations::case_id.eq(&case_id),
                    allocations::organisation_id.eq(organisation),
                    allocations::worker_id.eq(&user_ids[worker]),
                    allocations::starts_on.eq(today - Duration::days(20)),
                    allocations::ends_on.eq(ends_on),
                    allocations::service_description.eq("Weekly tenancy support visits"),
                    allocations::created_at.eq(now),
                    allocations::updated_at.eq(now),
                    allocations::version.eq(1),
                ))
                .execute(conn)?;
        }
        for (visibility, body) in [
            (
                Visibility::Shared,
                "Home visit completed; client engaged well.",
            ),
            (
                Visibility::Department,
                "Department only: assessment of risk factors.",
            ),
        ] {
            diesel::insert_into(notes::table)
                .values((
                    notes::id.eq(uuid::Uuid::now_v7().to_string()),
                    notes::case_id.eq(&case_id),
                    notes::author_id.eq(&user_ids["caseworker"]),
                    notes::author_organisation_id.eq(&housing),
                    notes::created_at.eq(now),
                    notes::note_type.eq("contact"),
                    notes::visibility.eq(visibility.as_str()),
                    notes::protective_marking.eq(marking.rank()),
                    notes::body.eq(body),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}
