//! The department's policy documents (acceptable use, the privacy and security policy) and
//! each person's acceptance of a version. One version of each kind is in force at a time
//! (`superseded_at IS NULL`, a unique partial index), so the versions in force are at most
//! one per kind: the per-request check reads those and the caller's acceptances of them by
//! primary key.
use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{policy_acceptances, policy_documents, users};
use crate::authz::scope::Predicate;
use crate::domain::{PolicyDocumentKind, PrincipalKind, StoredAsText, UserStatus};
use crate::error::DocumentToAccept;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = policy_documents)]
pub struct PolicyDocumentRow {
    pub id: String,
    pub kind: String,
    pub version: String,
    pub title: String,
    pub text: String,
    pub applies_to_roles: String,
    pub published_by: String,
    pub published_at: NaiveDateTime,
    pub superseded_at: Option<NaiveDateTime>,
}

/// A version in force, without its text: what the per-request check needs.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = policy_documents)]
pub struct InForce {
    pub id: String,
    pub kind: String,
    pub version: String,
    pub title: String,
    pub applies_to_roles: String,
}

impl InForce {
    /// The roles the version applies to.
    pub fn roles(&self) -> anyhow::Result<Vec<String>> {
        Ok(serde_json::from_str(&self.applies_to_roles)?)
    }

    /// Whether the version applies to someone holding `roles`.
    pub fn applies_to(&self, roles: &[String]) -> anyhow::Result<bool> {
        Ok(self.roles()?.iter().any(|role| roles.contains(role)))
    }

    /// The version as a caller is asked to accept it.
    pub fn to_accept(&self) -> anyhow::Result<DocumentToAccept> {
        Ok(DocumentToAccept {
            id: self.id.clone(),
            kind: PolicyDocumentKind::from_stored(&self.kind)?,
            version: self.version.clone(),
            title: self.title.clone(),
        })
    }
}

/// The versions in force, one per kind, without their text.
pub fn in_force_summaries(conn: &mut DbConnection) -> QueryResult<Vec<InForce>> {
    policy_documents::table
        .filter(policy_documents::superseded_at.is_null())
        .order(policy_documents::kind)
        .select(InForce::as_select())
        .load(conn)
}

/// The versions in force that `user_id` has not accepted (at most one per kind). Runs on
/// every request of a person, on the connection that loaded them.
pub fn in_force_not_accepted(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<InForce>> {
    crate::on_backend!(conn, |conn| policy_documents::table
        .filter(policy_documents::superseded_at.is_null())
        .filter(not(exists(
            policy_acceptances::table
                .filter(policy_acceptances::document_id.eq(policy_documents::id))
                .filter(policy_acceptances::user_id.eq(user_id)),
        )))
        .order(policy_documents::kind)
        .select(InForce::as_select())
        .load(conn))
}

/// The versions in force, one per kind.
pub fn in_force(conn: &mut DbConnection) -> QueryResult<Vec<PolicyDocumentRow>> {
    policy_documents::table
        .filter(policy_documents::superseded_at.is_null())
        .order(policy_documents::kind)
        .select(PolicyDocumentRow::as_select())
        .load(conn)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<PolicyDocumentRow>> {
    policy_documents::table
        .filter(policy_documents::id.eq(id))
        .select(PolicyDocumentRow::as_select())
        .first(conn)
        .optional()
}

pub fn version_exists(conn: &mut DbConnection, kind: &str, version: &str) -> QueryResult<bool> {
    diesel::select(exists(
        policy_documents::table
            .filter(policy_documents::kind.eq(kind))
            .filter(policy_documents::version.eq(version)),
    ))
    .get_result(conn)
}

/// Publishes `row`: it supersedes the version of its kind in force, if any.
pub fn publish(conn: &mut DbConnection, row: &PolicyDocumentRow) -> QueryResult<()> {
    diesel::update(policy_documents::table)
        .filter(policy_documents::kind.eq(&row.kind))
        .filter(policy_documents::superseded_at.is_null())
        .set(policy_documents::superseded_at.eq(row.published_at))
        .execute(conn)?;
    diesel::insert_into(policy_documents::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Every version, newest first, a page after `after` (an id).
pub fn list(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<PolicyDocumentRow>> {
    let mut query = policy_documents::table
        .select(PolicyDocumentRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(policy_documents::id.lt(after.to_owned()));
    }
    query
        .order(policy_documents::id.desc())
        .limit(limit)
        .load(conn)
}

/// When `user_id` accepted each of `document_ids` they have accepted.
pub fn acceptances(
    conn: &mut DbConnection,
    user_id: &str,
    document_ids: &[String],
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    policy_acceptances::table
        .filter(policy_acceptances::user_id.eq(user_id))
        .filter(policy_acceptances::document_id.eq_any(document_ids))
        .select((
            policy_acceptances::document_id,
            policy_acceptances::accepted_at,
        ))
        .load(conn)
}

pub fn accept(
    conn: &mut DbConnection,
    user_id: &str,
    document_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(policy_acceptances::table)
        .values((
            policy_acceptances::user_id.eq(user_id),
            policy_acceptances::document_id.eq(document_id),
            policy_acceptances::accepted_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// The start of an OR of predicates: a literal, not a bound value, which PostgreSQL's generic
/// plan could not simplify away (see `authz::scope`).
fn nobody() -> Predicate<users::table> {
    Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0"))
}

/// Whether a user's roles (stored as a JSON array) include one of `roles`. Role names are
/// catalogued identifiers; `_` is escaped so that it matches itself only.
fn holds_one_of(roles: &[String]) -> Predicate<users::table> {
    let patterns = roles
        .iter()
        .map(|role| format!("%\"{}\"%", role.replace('_', "\\_")));
    patterns.fold(nobody(), |combined: Predicate<users::table>, pattern| {
        Box::new(combined.or(users::roles.like(pattern).escape('\\')))
    })
}

/// Active people who hold a role one of `documents` (id, roles it applies to) applies to and
/// have not accepted it.
fn owing(documents: &[(String, Vec<String>)]) -> Predicate<users::table> {
    let owing = documents.iter().fold(
        nobody(),
        |combined: Predicate<users::table>, (document_id, roles): &(String, Vec<String>)| {
            let unaccepted = not(exists(
                policy_acceptances::table
                    .filter(policy_acceptances::user_id.eq(users::id))
                    .filter(policy_acceptances::document_id.eq(document_id.clone())),
            ));
            Box::new(combined.or(holds_one_of(roles).and(unaccepted)))
        },
    );
    Box::new(
        users::kind
            .eq(PrincipalKind::Person.as_str())
            .and(users::status.eq(UserStatus::Active.as_str()))
            .and(owing),
    )
}

/// Active people who hold a role one of `documents` applies to and have not accepted it, in
/// id order, a page after `after`.
pub fn not_accepted(
    conn: &mut DbConnection,
    documents: &[(String, Vec<String>)],
    organisation_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<super::directory::UserRow>> {
    let mut query = users::table
        .filter(owing(documents))
        .select(super::directory::UserRow::as_select())
        .into_boxed();
    if let Some(organisation_id) = organisation_id {
        query = query.filter(users::organisation_id.eq(organisation_id.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(users::id.gt(after.to_owned()));
    }
    query.order(users::id).limit(limit).load(conn)
}

/// How many of the organisation's people [`not_accepted`] lists.
pub fn not_accepted_count(
    conn: &mut DbConnection,
    documents: &[(String, Vec<String>)],
    organisation_id: &str,
) -> QueryResult<i64> {
    users::table
        .filter(users::organisation_id.eq(organisation_id))
        .filter(owing(documents))
        .count()
        .get_result(conn)
}

/// Which of `document_ids` each of `user_ids` has accepted.
pub fn accepted_by(
    conn: &mut DbConnection,
    user_ids: &[String],
    document_ids: &[String],
) -> QueryResult<Vec<(String, String)>> {
    policy_acceptances::table
        .filter(policy_acceptances::user_id.eq_any(user_ids))
        .filter(policy_acceptances::document_id.eq_any(document_ids))
        .select((policy_acceptances::user_id, policy_acceptances::document_id))
        .load(conn)
}
