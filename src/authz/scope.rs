//! Row scopes as SQL predicates. Every query for a protected resource filters by one of these,
//! so a row outside the caller's reach is never loaded: lists, searches and single reads
//! alike. Clearance (protective marking at or below the caller's) is part of each predicate.
use diesel::dsl::{exists, not};
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::{Action, Permit, Scope};
use crate::db::Backend;
use crate::db::schema::{
    access_reviews, allocations, cases, clients, consents, incident_reports, notes, organisations,
    users,
};
use chrono::NaiveDate;

use crate::domain::StoredAsText;
use crate::domain::Visibility;

pub type Predicate<T> = Box<dyn BoxableExpression<T, Backend, SqlType = Bool>>;

/// The predicates joined by OR; false when there are none. The first is not OR-ed onto a
/// bound `false`: PostgreSQL's generic plan cannot simplify `$1 OR EXISTS (...)`, and ran the
/// `EXISTS` as a subplan over all of a CSP's allocations for every page (55 ms at 100,000
/// clients, growing with the CSP).
macro_rules! any_of {
    ($table:ty, $predicates:expr) => {{
        let mut predicates = $predicates.into_iter();
        match predicates.next() {
            Some(first) => predicates.fold(first, |combined: Predicate<$table>, predicate| {
                Box::new(combined.or(predicate))
            }),
            None => Box::new(false.into_sql::<Bool>()),
        }
    }};
}

/// Organisations in good standing on `today`: active (not suspended) and, when they have
/// contract dates (CSPs), under contract. Their principals may act and their allocations grant
/// access; others are refused with no job needing to run when a contract ends. A macro so
/// that the expression also fits queries that join organisations to other tables.
#[macro_export]
macro_rules! organisation_in_good_standing {
    ($today:expr) => {{
        use $crate::db::schema::organisations;
        use $crate::domain::StoredAsText;
        let today: chrono::NaiveDate = $today;
        organisations::status
            .eq($crate::domain::OrganisationStatus::Active.as_str())
            .and(
                organisations::contract_starts_on
                    .is_null()
                    .or(organisations::contract_starts_on
                        .le(today)
                        .assume_not_null()),
            )
            .and(
                organisations::contract_ends_on
                    .is_null()
                    .or(organisations::contract_ends_on.ge(today).assume_not_null()),
            )
    }};
}

/// CSPs whose contract ended before `today` (and that are not suspended) with a wrap-up open:
/// their principals are refused everything but the wrap-up itself, and only those whose roles
/// may certify it (`api::context::WrapUpCtx`). Allocations never grant anything to them.
#[macro_export]
macro_rules! organisation_winding_up {
    ($today:expr) => {{
        use $crate::db::schema::{organisations, wrap_ups};
        use $crate::domain::StoredAsText;
        let today: chrono::NaiveDate = $today;
        organisations::status
            .eq($crate::domain::OrganisationStatus::Active.as_str())
            .and(organisations::kind.eq($crate::domain::OrganisationKind::Csp.as_str()))
            .and(organisations::contract_ends_on.lt(today).assume_not_null())
            .and(diesel::dsl::exists(
                wrap_ups::table
                    .filter(wrap_ups::organisation_id.eq(organisations::id))
                    .filter(wrap_ups::status.eq($crate::domain::WrapUpStatus::Open.as_str())),
            ))
    }};
}

pub fn winding_up(today: NaiveDate) -> Predicate<organisations::table> {
    Box::new(organisation_winding_up!(today))
}

pub fn in_good_standing(today: NaiveDate) -> Predicate<organisations::table> {
    Box::new(organisation_in_good_standing!(today))
}

/// Ids of organisations in good standing on `today`. A macro because the subquery's type
/// cannot be named.
macro_rules! under_contract {
    ($today:expr) => {{
        organisations::table
            .filter($crate::organisation_in_good_standing!($today))
            .select(organisations::id)
    }};
}

/// The allocations of case `$case_id` (a column of the enclosing query) to the caller's
/// organisation that are active today, while that organisation's contract runs: access ends
/// with the contract, with no job to run. Used inside `EXISTS`, correlated on the case, so
/// that each case costs one look-up in `allocations_case` instead of the database listing
/// every case the CSP holds (tens of thousands) for every request. A macro because the
/// subquery's type cannot be named.
macro_rules! active_allocations_of {
    ($permit:expr, $case_id:expr) => {{
        let today = $permit.today();
        allocations::table
            .filter(allocations::case_id.eq($case_id))
            .filter(allocations::organisation_id.eq($permit.caller().organisation_id.clone()))
            .filter(allocations::organisation_id.eq_any(under_contract!(today)))
            .filter(allocations::starts_on.le(today))
            .filter(
                allocations::ends_on
                    .is_null()
                    .or(allocations::ends_on.ge(today).assume_not_null()),
            )
            // One column, which the index holds: SQLite counts every column an `EXISTS`
            // subquery names as read, and would read the allocation's row for them.
            .select(allocations::case_id)
    }};
}

/// The active allocations of case `$case_id` to the caller's organisation (as
/// [`active_allocations_of`]) that are assigned to the caller: the `assigned` scope of a person
/// (`Permit::decide` makes it `allocation` for an API client). Still one look-up per case in
/// `allocations_case_organisation`; the worker is checked on the case's few allocations.
macro_rules! assigned_allocations_of {
    ($permit:expr, $case_id:expr) => {{
        active_allocations_of!($permit, $case_id)
            .filter(allocations::worker_id.eq($permit.caller().user_id.clone()))
    }};
}

/// Clients with an open (not archived) case within clearance `$rank` that has one of
/// `$allocations` (a subquery correlated on `cases::id`).
macro_rules! clients_through {
    ($rank:expr, $allocations:expr) => {{
        Box::new(exists(
            cases::table
                .filter(cases::client_id.eq(clients::id))
                .filter(cases::protective_marking.le($rank))
                .filter(cases::archived_at.is_null())
                .filter(exists($allocations))
                // Answered from `cases_client` alone, as the allocations' look-up is.
                .select(cases::id),
        ))
    }};
}

/// The purpose whose current consent puts a client in the `consented` scope.
pub const SHARE_PROFILE_PURPOSE: &str = "share_basic_profile_with_divisions";

/// The consents of client `$client_id` (a column of the enclosing query) to sharing their
/// basic profile with other divisions that are current on `today`: given, not withdrawn, not
/// expired. Read on every request, so a withdrawal takes effect on the next one. Used inside
/// `EXISTS`, correlated on the client (one look-up in `consents_client` per client), rather
/// than listing the hundreds of thousands of consented clients for every request. A macro
/// because the subquery's type cannot be named.
macro_rules! current_consents_of {
    ($today:expr, $client_id:expr) => {{
        let today: NaiveDate = $today;
        consents::table
            .filter(consents::client_id.eq($client_id))
            .filter(consents::purpose.eq(SHARE_PROFILE_PURPOSE))
            .filter(consents::given_on.le(today))
            .filter(consents::withdrawn_on.is_null())
            .filter(
                consents::expires_on
                    .is_null()
                    .or(consents::expires_on.ge(today).assume_not_null()),
            )
    }};
}

/// Whether organisation `id` is a CSP in good standing on `today`.
pub fn csp_under_contract(
    conn: &mut crate::db::DbConnection,
    id: &str,
    today: NaiveDate,
) -> diesel::QueryResult<bool> {
    let count: i64 = organisations::table
        .filter(organisations::id.eq(id))
        .filter(organisations::kind.eq(crate::domain::OrganisationKind::Csp.as_str()))
        .filter(in_good_standing(today))
        .count()
        .get_result(conn)?;
    Ok(count == 1)
}

/// Clients the permit reaches (through their lead division or a case within clearance),
/// restricted ones included (a single read then asks for a
/// purpose of use; see [`listable_clients`] for lists).
pub fn clients(permit: &Permit) -> Predicate<clients::table> {
    let organisation = permit.caller().organisation_id.clone();
    // A case above the caller's clearance must not make its client reachable.
    let rank = permit.caller().clearance.rank();
    let scoped = any_of!(
        clients::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<clients::table> {
                match scope {
                    // The subqueries are correlated on the client (`EXISTS`): a page of clients
                    // costs a few index look-ups per client, where `id IN (SELECT ...)` had the
                    // database list a whole division's or CSP's cases for every request.
                    Scope::Division => Box::new(
                        clients::lead_division_id
                            .eq(organisation.clone())
                            .or(exists(
                                cases::table
                                    .filter(cases::client_id.eq(clients::id))
                                    .filter(cases::division_id.eq(organisation.clone()))
                                    .filter(cases::protective_marking.le(rank)),
                            )),
                    ),
                    Scope::Allocation => {
                        clients_through!(rank, active_allocations_of!(permit, cases::id))
                    }
                    Scope::Assigned => {
                        clients_through!(rank, assigned_allocations_of!(permit, cases::id))
                    }
                    Scope::Consented => {
                        Box::new(exists(current_consents_of!(permit.today(), clients::id)))
                    }
                    Scope::Any | Scope::AnyWithPurpose => Box::new(true.into_sql::<Bool>()),
                    Scope::OwnOrganisation | Scope::OwnRecord => Box::new(false.into_sql::<Bool>()),
                }
            })
    );
    Box::new(scoped.and(clients::protective_marking.le(rank)))
}

/// Clients a list or search may return: restricted clients only when a purpose is stated.
pub fn listable_clients(permit: &Permit) -> Predicate<clients::table> {
    let reachable = clients(permit);
    if permit.purpose().is_some() {
        reachable
    } else {
        Box::new(reachable.and(not(clients::restricted)))
    }
}

/// Cases the permit reaches. A case is never more visible than its client: the client's
/// marking must be within clearance too, and in lists without a purpose of use the cases of
/// restricted clients are left out. An archived case is read-only, read by department roles
/// with a purpose of use, and out of every CSP's reach.
pub fn cases(permit: &Permit, for_list: bool) -> Predicate<cases::table> {
    let organisation = permit.caller().organisation_id.clone();
    let rank = permit.caller().clearance.rank();
    let scoped = any_of!(
        cases::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<cases::table> {
                match scope {
                    // An archived case is read with a purpose of use, and never by a CSP.
                    Scope::Division if permit.purpose().is_none() => Box::new(
                        cases::division_id
                            .eq(organisation.clone())
                            .and(cases::archived_at.is_null()),
                    ),
                    Scope::Division => Box::new(cases::division_id.eq(organisation.clone())),
                    Scope::Allocation => Box::new(
                        exists(active_allocations_of!(permit, cases::id))
                            .and(cases::archived_at.is_null()),
                    ),
                    Scope::Assigned => Box::new(
                        exists(assigned_allocations_of!(permit, cases::id))
                            .and(cases::archived_at.is_null()),
                    ),
                    Scope::Any | Scope::AnyWithPurpose => Box::new(true.into_sql::<Bool>()),
                    Scope::OwnOrganisation | Scope::OwnRecord | Scope::Consented => {
                        Box::new(false.into_sql::<Bool>())
                    }
                }
            })
    );
    // Correlated on the case's client (a primary-key look-up per case) rather than listing
    // every client within clearance for every request.
    let within_clearance = clients::table
        .filter(clients::id.eq(cases::client_id))
        .filter(clients::protective_marking.le(rank));
    let visible_clients: Predicate<cases::table> = if for_list && permit.purpose().is_none() {
        Box::new(exists(within_clearance.filter(not(clients::restricted))))
    } else {
        Box::new(exists(within_clearance))
    };
    // An archived case is read-only: no write reaches it.
    let writable: Predicate<cases::table> = if permit.action == Action::Read {
        Box::new(true.into_sql::<Bool>())
    } else {
        Box::new(cases::archived_at.is_null())
    };
    Box::new(
        scoped
            .and(cases::protective_marking.le(rank))
            .and(visible_clients)
            .and(writable),
    )
}

/// Notes the permit reaches on a case the caller can already see: an allocation alone
/// reaches only `shared` notes.
pub fn notes(permit: &Permit) -> Predicate<notes::table> {
    let department_wide = permit
        .scopes()
        .iter()
        .any(|scope| matches!(scope, Scope::Division | Scope::Any | Scope::AnyWithPurpose));
    let marking = notes::protective_marking.le(permit.caller().clearance.rank());
    if department_wide {
        Box::new(marking)
    } else {
        Box::new(marking.and(notes::visibility.eq(Visibility::Shared.as_str())))
    }
}

/// Allocations the permit reaches on a case the caller can already see: `assigned`, only those
/// of the caller's organisation assigned to them.
pub fn allocations(permit: &Permit) -> Predicate<allocations::table> {
    let organisation = permit.caller().organisation_id.clone();
    let caller = permit.caller().user_id.clone();
    any_of!(
        allocations::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<allocations::table> {
                match scope {
                    Scope::Division | Scope::Any | Scope::AnyWithPurpose => {
                        Box::new(true.into_sql::<Bool>())
                    }
                    Scope::OwnOrganisation => {
                        Box::new(allocations::organisation_id.eq(organisation.clone()))
                    }
                    Scope::Assigned => Box::new(
                        allocations::organisation_id
                            .eq(organisation.clone())
                            .and(allocations::worker_id.eq(caller.clone()).assume_not_null()),
                    ),
                    Scope::Allocation | Scope::OwnRecord | Scope::Consented => {
                        Box::new(false.into_sql::<Bool>())
                    }
                }
            })
    )
}

pub fn users(permit: &Permit) -> Predicate<users::table> {
    let caller = permit.caller();
    any_of!(
        users::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<users::table> {
                match scope {
                    Scope::Any => Box::new(true.into_sql::<Bool>()),
                    Scope::OwnOrganisation => {
                        Box::new(users::organisation_id.eq(caller.organisation_id.clone()))
                    }
                    Scope::OwnRecord => Box::new(users::id.eq(caller.user_id.clone())),
                    Scope::Division
                    | Scope::Allocation
                    | Scope::Assigned
                    | Scope::AnyWithPurpose
                    | Scope::Consented => Box::new(false.into_sql::<Bool>()),
                }
            })
    )
}

pub fn access_reviews(permit: &Permit) -> Predicate<access_reviews::table> {
    let caller = permit.caller();
    any_of!(
        access_reviews::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<access_reviews::table> {
                match scope {
                    Scope::Any => Box::new(true.into_sql::<Bool>()),
                    Scope::OwnOrganisation => {
                        Box::new(access_reviews::organisation_id.eq(caller.organisation_id.clone()))
                    }
                    _ => Box::new(false.into_sql::<Bool>()),
                }
            })
    )
}

/// Incident reports the permit reaches: the caller's own (`self`), or every one (`any`).
pub fn incident_reports(permit: &Permit) -> Predicate<incident_reports::table> {
    let caller = permit.caller();
    any_of!(
        incident_reports::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<incident_reports::table> {
                match scope {
                    Scope::Any => Box::new(true.into_sql::<Bool>()),
                    Scope::OwnRecord => {
                        Box::new(incident_reports::reported_by.eq(caller.user_id.clone()))
                    }
                    _ => Box::new(false.into_sql::<Bool>()),
                }
            })
    )
}

/// Whether the permit reaches records of organisation `organisation_id` (for records being
/// created, which no query can filter yet).
pub fn reaches_organisation(permit: &Permit, organisation_id: &str) -> bool {
    permit.scopes().iter().any(|scope| match scope {
        Scope::Any => true,
        Scope::OwnOrganisation => permit.caller().organisation_id == organisation_id,
        _ => false,
    })
}

pub fn organisations(permit: &Permit) -> Predicate<organisations::table> {
    let caller = permit.caller();
    any_of!(
        organisations::table,
        permit
            .scopes()
            .iter()
            .map(|scope| -> Predicate<organisations::table> {
                match scope {
                    Scope::Any => Box::new(true.into_sql::<Bool>()),
                    Scope::OwnOrganisation => {
                        Box::new(organisations::id.eq(caller.organisation_id.clone()))
                    }
                    _ => Box::new(false.into_sql::<Bool>()),
                }
            })
    )
}
