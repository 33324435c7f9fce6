//! Users and organisations.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::not;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{api_client_secrets, organisations, sessions, users};
use crate::authz::scope::{self, Predicate};
use crate::domain::{
    OrganisationKind, OrganisationStatus, PrincipalKind, StoredAsText, UserStatus,
};
use crate::sealing::Sealed;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub organisation_id: String,
    pub roles: String,
    pub status: String,
    pub clearance: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub version: i32,
    pub kind: String,
    pub status_reason: Option<String>,
    pub activated_at: Option<NaiveDateTime>,
    pub training_completed_on: Option<NaiveDate>,
    pub security_check_completed_on: Option<NaiveDate>,
    pub security_check_reference: Option<String>,
    pub acceptable_use_accepted_on: Option<NaiveDate>,
    pub approved_at: Option<NaiveDateTime>,
    pub totp_confirmed_at: Option<NaiveDateTime>,
    pub password_change_required: bool,
    pub pending_roles: Option<String>,
    pub pending_clearance: Option<i32>,
    pub pending_organisation_id: Option<String>,
    pub grant_requested_by: Option<String>,
    pub grant_requested_at: Option<NaiveDateTime>,
}

impl UserRow {
    /// A new principal's row with nothing recorded yet.
    pub fn new(kind: PrincipalKind, now: NaiveDateTime) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            username: String::new(),
            display_name: String::new(),
            email: String::new(),
            organisation_id: String::new(),
            roles: "[]".into(),
            status: UserStatus::Pending.as_str().into(),
            clearance: 0,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            version: 1,
            kind: kind.as_str().into(),
            status_reason: None,
            activated_at: None,
            training_completed_on: None,
            security_check_completed_on: None,
            security_check_reference: None,
            acceptable_use_accepted_on: None,
            approved_at: None,
            totp_confirmed_at: None,
            password_change_required: false,
            pending_roles: None,
            pending_clearance: None,
            pending_organisation_id: None,
            grant_requested_by: None,
            grant_requested_at: None,
        }
    }
}

impl UserChanges {
    /// Asks for access that takes effect only when a second person approves it.
    pub fn request_grant(grant: PendingGrant, requested_by: &str, now: NaiveDateTime) -> Self {
        Self {
            pending_roles: Some(grant.roles),
            pending_clearance: Some(grant.clearance),
            pending_organisation_id: Some(grant.organisation_id),
            grant_requested_by: Some(Some(requested_by.to_owned())),
            grant_requested_at: Some(Some(now)),
            ..Self::default()
        }
    }

    /// Forgets a requested grant (applied or rejected).
    pub fn settle_grant(self) -> Self {
        Self {
            pending_roles: Some(None),
            pending_clearance: Some(None),
            pending_organisation_id: Some(None),
            grant_requested_by: Some(None),
            grant_requested_at: Some(None),
            ..self
        }
    }

    /// A change of status, with why it changed.
    pub fn status(status: UserStatus, reason: Option<&str>) -> Self {
        Self {
            status: Some(status.as_str().to_owned()),
            status_reason: Some(reason.map(str::to_owned)),
            ..Self::default()
        }
    }
}

/// Access asked for on an existing account, waiting for a second approval: each part as
/// stored (roles as JSON, clearance as a rank), None where it does not change.
#[derive(Debug, Clone, Default)]
pub struct PendingGrant {
    pub roles: Option<String>,
    pub clearance: Option<i32>,
    pub organisation_id: Option<String>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub organisation_id: Option<String>,
    pub roles: Option<String>,
    pub status: Option<String>,
    pub status_reason: Option<Option<String>>,
    pub activated_at: Option<Option<NaiveDateTime>>,
    pub clearance: Option<i32>,
    pub training_completed_on: Option<Option<NaiveDate>>,
    pub security_check_completed_on: Option<Option<NaiveDate>>,
    pub security_check_reference: Option<Option<String>>,
    pub acceptable_use_accepted_on: Option<Option<NaiveDate>>,
    pub approved_at: Option<Option<NaiveDateTime>>,
    pub approved_by: Option<Option<String>>,
    pub pending_roles: Option<Option<String>>,
    pub pending_clearance: Option<Option<i32>>,
    pub pending_organisation_id: Option<Option<String>>,
    pub grant_requested_by: Option<Option<String>>,
    pub grant_requested_at: Option<Option<NaiveDateTime>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
pub struct OrganisationRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub contact_email: String,
    pub contract_starts_on: Option<NaiveDate>,
    pub contract_ends_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub status: String,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = organisations)]
pub struct OrganisationChanges {
    pub name: Option<String>,
    pub status: Option<String>,
    pub contact_email: Option<String>,
    pub contract_starts_on: Option<Option<NaiveDate>>,
    pub contract_ends_on: Option<Option<NaiveDate>>,
}

/// A principal's row, person or API client, if `reachable`.
pub fn find_principal(
    conn: &mut DbConnection,
    reachable: Predicate<users::table>,
    id: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::id.eq(id))
        .filter(reachable)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// A person's or an API client's row, if `reachable`.
pub fn find_user(
    conn: &mut DbConnection,
    kind: PrincipalKind,
    reachable: Predicate<users::table>,
    id: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::id.eq(id))
        .filter(users::kind.eq(kind.as_str()))
        .filter(reachable)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_users(
    conn: &mut DbConnection,
    kind: PrincipalKind,
    reachable: Predicate<users::table>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut query = users::table
        .filter(users::kind.eq(kind.as_str()))
        .filter(reachable)
        .select(UserRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after.to_owned()));
    }
    query.order(users::id).limit(limit).load(conn)
}

/// Users and API clients that are pending, active or suspended, for the access register.
pub fn register(
    conn: &mut DbConnection,
    organisation_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<UserRow>> {
    let mut query = users::table
        .filter(users::status.ne(UserStatus::Deactivated.as_str()))
        .select(UserRow::as_select())
        .into_boxed();
    if let Some(organisation_id) = organisation_id {
        query = query.filter(users::organisation_id.eq(organisation_id.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(users::id.gt(after.to_owned()));
    }
    query.order(users::id).limit(limit).load(conn)
}

/// Each user and API client of the organisation (any status) as the register of CSPs counts
/// them: its kind, status and training date; on `users_organisation`.
pub fn standings(
    conn: &mut DbConnection,
    organisation_id: &str,
) -> QueryResult<Vec<(String, String, Option<NaiveDate>)>> {
    users::table
        .filter(users::organisation_id.eq(organisation_id))
        .select((users::kind, users::status, users::training_completed_on))
        .load(conn)
}

/// Whether an account other than `except` holds `username` among the accounts `within`
/// reaches (`None`: every account, for the command line, which acts for the installation).
///
/// Usernames are unique among active accounts (a unique index: a login finds one account),
/// and the service refuses a username held by any account the caller can see. A caller
/// learns nothing about accounts it cannot see: a CSP manager's request for a username held
/// in another organisation is accepted, and the clash is the department's to resolve when
/// it approves the account. Within one organisation the lookup reads that organisation's
/// index entries only (`users_organisation_username`).
pub fn username_taken(
    conn: &mut DbConnection,
    username: &str,
    within: Option<Predicate<users::table>>,
    except: Option<&str>,
) -> QueryResult<bool> {
    let mut query = users::table
        .filter(users::username.eq(username))
        .filter(users::id.ne(except.unwrap_or_default().to_owned()))
        .into_boxed();
    if let Some(within) = within {
        query = query.filter(within);
    }
    Ok(query.count().get_result::<i64>(conn)? > 0)
}

pub fn insert_user(
    conn: &mut DbConnection,
    row: &UserRow,
    password_hash: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((row, users::password_hash.eq(password_hash)))
        .execute(conn)
        .map(drop)
}

pub fn update_user(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    changes: &UserChanges,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(users::table)
        .filter(users::id.eq(id))
        .filter(users::version.eq(version))
        .set((
            changes,
            users::updated_at.eq(now),
            users::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Applies `changes` whatever the version the caller read (lifecycle actions, which do not
/// take an If-Match), and moves the version on.
pub fn change_user(
    conn: &mut DbConnection,
    id: &str,
    changes: &UserChanges,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table)
        .filter(users::id.eq(id))
        .set((
            changes,
            users::updated_at.eq(now),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)
        .map(drop)
}

/// Sets a status (with its reason) and, when the principal is no longer active, ends its
/// sessions: tokens already stop at the next request, and ending the sessions keeps their
/// refresh tokens from coming back to life if the account is reactivated.
pub fn change_status(
    conn: &mut DbConnection,
    id: &str,
    changes: &UserChanges,
    now: NaiveDateTime,
) -> QueryResult<()> {
    change_user(conn, id, changes, now)?;
    if let Some(status) = changes.status.as_deref()
        && status != UserStatus::Active.as_str()
    {
        end_sessions(conn, id, None, status, now)?;
    }
    Ok(())
}

/// Records that a TOTP time step was used; false when it (or a later one) already was.
pub fn use_totp_step(conn: &mut DbConnection, id: &str, step: i64) -> QueryResult<bool> {
    let updated = diesel::update(users::table)
        .filter(users::id.eq(id))
        .filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        )
        .set(users::totp_last_step.eq(step))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Stores a new TOTP secret (sealed, bound to the user's id) awaiting confirmation; false
/// when one is already confirmed.
pub fn set_pending_totp(conn: &mut DbConnection, id: &str, secret: &Sealed) -> QueryResult<bool> {
    let updated = diesel::update(users::table)
        .filter(users::id.eq(id))
        .filter(users::totp_confirmed_at.is_null())
        .set(users::totp_secret.eq(secret))
        .execute(conn)?;
    Ok(updated == 1)
}

/// The TOTP secret awaiting confirmation, if any.
pub fn pending_totp(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Sealed>> {
    let secret: Option<Option<Sealed>> = users::table
        .filter(users::id.eq(id))
        .filter(users::totp_confirmed_at.is_null())
        .select(users::totp_secret)
        .first(conn)
        .optional()?;
    Ok(secret.flatten())
}

pub fn confirm_totp(
    conn: &mut DbConnection,
    id: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((
            users::totp_confirmed_at.eq(now),
            users::totp_last_step.eq(step),
            users::updated_at.eq(now),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)
        .map(drop)
}

/// Stores (or replaces) an API client's secret digest. The secret it replaces is still
/// accepted until `previous_until`, if given; otherwise it stops at once.
pub fn set_client_secret(
    conn: &mut DbConnection,
    id: &str,
    digest: &str,
    now: NaiveDateTime,
    previous_until: Option<NaiveDateTime>,
) -> QueryResult<()> {
    let replaced = client_secret(conn, id)?;
    let Some((previous, _)) = replaced else {
        return diesel::insert_into(api_client_secrets::table)
            .values((
                api_client_secrets::user_id.eq(id),
                api_client_secrets::secret_hash.eq(digest),
                api_client_secrets::issued_at.eq(now),
            ))
            .execute(conn)
            .map(drop);
    };
    let previous = previous_until.map(|_| previous);
    diesel::update(api_client_secrets::table.filter(api_client_secrets::user_id.eq(id)))
        .set((
            api_client_secrets::secret_hash.eq(digest),
            api_client_secrets::issued_at.eq(now),
            api_client_secrets::previous_secret_hash.eq(previous),
            api_client_secrets::previous_valid_until.eq(previous_until),
        ))
        .execute(conn)
        .map(drop)
}

/// The digests of the secrets an API client may authenticate with at `now`: its current one,
/// and the one it replaced while that is still accepted.
pub fn accepted_secrets(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let found: Option<(String, Option<String>, Option<NaiveDateTime>)> = api_client_secrets::table
        .filter(api_client_secrets::user_id.eq(id))
        .select((
            api_client_secrets::secret_hash,
            api_client_secrets::previous_secret_hash,
            api_client_secrets::previous_valid_until,
        ))
        .first(conn)
        .optional()?;
    Ok(found
        .map(|(current, previous, until)| {
            let previous = previous.filter(|_| until.is_some_and(|until| now < until));
            std::iter::once(current).chain(previous).collect()
        })
        .unwrap_or_default())
}

/// An API client's secret digest and when it was issued.
pub fn client_secret(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(String, NaiveDateTime)>> {
    api_client_secrets::table
        .filter(api_client_secrets::user_id.eq(id))
        .select((
            api_client_secrets::secret_hash,
            api_client_secrets::issued_at,
        ))
        .first(conn)
        .optional()
}

pub fn password_hash(conn: &mut DbConnection, id: &str) -> QueryResult<Option<String>> {
    users::table
        .filter(users::id.eq(id))
        .select(users::password_hash)
        .first(conn)
}

/// Stores a new password hash. `set_by_someone_else`: the holder must replace it at their
/// next login before doing anything else.
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: &str,
    hash: &str,
    set_by_someone_else: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.filter(users::id.eq(id)))
        .set((
            users::password_hash.eq(hash),
            users::password_change_required.eq(set_by_someone_else),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Ends every live session of `user_id` except `keep`.
pub fn end_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::id.ne(keep.unwrap_or("").to_owned()))
        .set((
            sessions::ended_at.eq(now),
            sessions::ended_reason.eq(reason),
        ))
        .execute(conn)
        .map(drop)
}

/// Ends every live session of every principal of `organisation_id`.
pub fn end_organisation_sessions(
    conn: &mut DbConnection,
    organisation_id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(sessions::table)
        .filter(
            sessions::user_id.eq_any(
                users::table
                    .filter(users::organisation_id.eq(organisation_id))
                    .select(users::id),
            ),
        )
        .filter(sessions::ended_at.is_null())
        .set((
            sessions::ended_at.eq(now),
            sessions::ended_reason.eq(reason),
        ))
        .execute(conn)
        .map(drop)
}

pub fn find_organisation(
    conn: &mut DbConnection,
    reachable: Predicate<organisations::table>,
    id: &str,
) -> QueryResult<Option<OrganisationRow>> {
    organisations::table
        .filter(organisations::id.eq(id))
        .filter(reachable)
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()
}

/// The kind of organisation `id`, if it exists (for checks, not for disclosure).
pub fn organisation_kind(conn: &mut DbConnection, id: &str) -> QueryResult<Option<String>> {
    organisations::table
        .filter(organisations::id.eq(id))
        .select(organisations::kind)
        .first(conn)
        .optional()
}

/// The kind of each of `ids` (duplicates allowed) that exists.
pub fn organisation_kinds(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<Vec<(String, String)>> {
    organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((organisations::id, organisations::kind))
        .load(conn)
}

pub fn list_organisations(
    conn: &mut DbConnection,
    reachable: Predicate<organisations::table>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<OrganisationRow>> {
    let mut query = organisations::table
        .filter(reachable)
        .select(OrganisationRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(organisations::id.gt(after.to_owned()));
    }
    query.order(organisations::id).limit(limit).load(conn)
}

/// The CSPs among `reachable`, of `status` and in (or out of) good standing on `today` when
/// asked, a page after `after`, by id.
pub fn list_csps(
    conn: &mut DbConnection,
    reachable: Predicate<organisations::table>,
    status: Option<OrganisationStatus>,
    in_good_standing: Option<bool>,
    today: NaiveDate,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<OrganisationRow>> {
    let mut csps: Predicate<organisations::table> =
        Box::new(reachable.and(organisations::kind.eq(OrganisationKind::Csp.as_str())));
    if let Some(status) = status {
        csps = Box::new(csps.and(organisations::status.eq(status.as_str())));
    }
    csps = match in_good_standing {
        Some(true) => Box::new(csps.and(scope::in_good_standing(today))),
        // Never null: each contract date's test allows for its absence.
        Some(false) => Box::new(csps.and(not(scope::in_good_standing(today)))),
        None => csps,
    };
    list_organisations(conn, csps, after, limit)
}

pub fn organisation_name_taken(
    conn: &mut DbConnection,
    name: &str,
    except: Option<&str>,
) -> QueryResult<bool> {
    let count: i64 = organisations::table
        .filter(organisations::name.eq(name))
        .filter(organisations::id.ne(except.unwrap_or("").to_owned()))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

pub fn insert_organisation(conn: &mut DbConnection, row: &OrganisationRow) -> QueryResult<()> {
    diesel::insert_into(organisations::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn update_organisation(
    conn: &mut DbConnection,
    id: &str,
    version: i32,
    changes: &OrganisationChanges,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(organisations::table)
        .filter(organisations::id.eq(id))
        .filter(organisations::version.eq(version))
        .set((
            changes,
            organisations::updated_at.eq(now),
            organisations::version.eq(version + 1),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
