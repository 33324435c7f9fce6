//! Access reviews: one item per principal of an organisation, decided, then closed.
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::DbConnection;
use super::directory::{self, UserChanges};
use super::schema::{access_review_items, access_reviews, users};
use crate::authz::scope::Predicate;
use crate::domain::{ReviewDecision, ReviewStatus, StoredAsText, UserStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_reviews)]
pub struct ReviewRow {
    pub id: String,
    pub organisation_id: String,
    pub due_on: NaiveDate,
    pub status: String,
    pub opened_by: String,
    pub opened_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub closed_by: Option<String>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = access_review_items)]
pub struct ItemRow {
    pub id: String,
    pub subject_id: String,
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
}

/// An item with what the review shows of its subject.
pub struct ItemWithSubject {
    pub item: ItemRow,
    pub kind: String,
    pub username: String,
    pub display_name: String,
    pub roles: String,
}

/// Opens a review of every active principal of the organisation.
pub fn open(conn: &mut DbConnection, review: &ReviewRow) -> QueryResult<()> {
    diesel::insert_into(access_reviews::table)
        .values(review)
        .execute(conn)?;
    let subjects: Vec<String> = users::table
        .filter(users::organisation_id.eq(&review.organisation_id))
        .filter(users::status.eq(UserStatus::Active.as_str()))
        .order(users::id)
        .select(users::id)
        .load(conn)?;
    for subject in subjects {
        diesel::insert_into(access_review_items::table)
            .values((
                access_review_items::id.eq(uuid::Uuid::now_v7().to_string()),
                access_review_items::review_id.eq(&review.id),
                access_review_items::subject_id.eq(subject),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn open_review_of(
    conn: &mut DbConnection,
    organisation_id: &str,
) -> QueryResult<Option<String>> {
    access_reviews::table
        .filter(access_reviews::organisation_id.eq(organisation_id))
        .filter(access_reviews::status.eq(ReviewStatus::Open.as_str()))
        .select(access_reviews::id)
        .first(conn)
        .optional()
}

/// The organisation's latest review (ids sort by time), open or closed.
pub fn latest(conn: &mut DbConnection, organisation_id: &str) -> QueryResult<Option<ReviewRow>> {
    access_reviews::table
        .filter(access_reviews::organisation_id.eq(organisation_id))
        .order(access_reviews::id.desc())
        .select(ReviewRow::as_select())
        .first(conn)
        .optional()
}

pub fn find(
    conn: &mut DbConnection,
    reachable: Predicate<access_reviews::table>,
    id: &str,
) -> QueryResult<Option<ReviewRow>> {
    access_reviews::table
        .filter(access_reviews::id.eq(id))
        .filter(reachable)
        .select(ReviewRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(
    conn: &mut DbConnection,
    reachable: Predicate<access_reviews::table>,
    organisation_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ReviewRow>> {
    let mut query = access_reviews::table
        .filter(reachable)
        .select(ReviewRow::as_select())
        .into_boxed();
    if let Some(organisation_id) = organisation_id {
        query = query.filter(access_reviews::organisation_id.eq(organisation_id.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(access_reviews::id.gt(after.to_owned()));
    }
    query.order(access_reviews::id).limit(limit).load(conn)
}

pub fn items(conn: &mut DbConnection, review_id: &str) -> QueryResult<Vec<ItemWithSubject>> {
    let rows: Vec<(ItemRow, String, String, String, String)> = access_review_items::table
        .inner_join(users::table)
        .filter(access_review_items::review_id.eq(review_id))
        .order(access_review_items::id)
        .select((
            ItemRow::as_select(),
            users::kind,
            users::username,
            users::display_name,
            users::roles,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(item, kind, username, display_name, roles)| ItemWithSubject {
                item,
                kind,
                username,
                display_name,
                roles,
            },
        )
        .collect())
}

pub fn item(
    conn: &mut DbConnection,
    review_id: &str,
    subject_id: &str,
) -> QueryResult<Option<ItemRow>> {
    access_review_items::table
        .filter(access_review_items::review_id.eq(review_id))
        .filter(access_review_items::subject_id.eq(subject_id))
        .select(ItemRow::as_select())
        .first(conn)
        .optional()
}

/// Who decided, and whether that decision is confirmed (made by someone who may decide).
pub struct Decision<'a> {
    pub decision: ReviewDecision,
    pub comment: Option<&'a str>,
    pub by: &'a str,
    pub confirmed: bool,
    pub at: NaiveDateTime,
}

pub fn decide(conn: &mut DbConnection, item_id: &str, decision: Decision) -> QueryResult<()> {
    let confirmation = decision.confirmed.then_some(decision.by);
    diesel::update(access_review_items::table.filter(access_review_items::id.eq(item_id)))
        .set((
            access_review_items::decision.eq(decision.decision.as_str()),
            access_review_items::comment.eq(decision.comment),
            access_review_items::decided_by.eq(decision.by),
            access_review_items::decided_at.eq(decision.at),
            access_review_items::confirmed_by.eq(confirmation),
            access_review_items::confirmed_at.eq(decision.confirmed.then_some(decision.at)),
        ))
        .execute(conn)
        .map(drop)
}

/// Moves the review's version on (a decision changed it).
pub fn bump_version(conn: &mut DbConnection, review_id: &str) -> QueryResult<()> {
    diesel::update(access_reviews::table.filter(access_reviews::id.eq(review_id)))
        .set(access_reviews::version.eq(access_reviews::version + 1))
        .execute(conn)
        .map(drop)
}

/// Closes an open review: confirmed `revoke` decisions suspend their subject, and so does
/// the lack of a confirmed decision; `closed_by` is None when the review closed itself after
/// its due date.
pub fn close(
    conn: &mut DbConnection,
    review_id: &str,
    closed_by: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    for subject in items(conn, review_id)? {
        let item = subject.item;
        let confirmed = item.confirmed_by.is_some();
        let (outcome, reason) = match item.decision.as_deref() {
            Some(decision) if confirmed && decision == ReviewDecision::Keep.as_str() => {
                ("kept", None)
            }
            Some(_) if confirmed => ("revoked", Some("access_review_revoked")),
            _ => (
                "suspended_without_decision",
                Some("access_review_no_decision"),
            ),
        };
        if let Some(reason) = reason {
            let still_active: i64 = users::table
                .filter(users::id.eq(&item.subject_id))
                .filter(users::status.eq(UserStatus::Active.as_str()))
                .count()
                .get_result(conn)?;
            if still_active == 1 {
                let changes = UserChanges::status(UserStatus::Suspended, Some(reason));
                directory::change_status(conn, &item.subject_id, &changes, now)?;
            }
        }
        diesel::update(access_review_items::table.filter(access_review_items::id.eq(&item.id)))
            .set(access_review_items::outcome.eq(outcome))
            .execute(conn)?;
    }
    diesel::update(access_reviews::table.filter(access_reviews::id.eq(review_id)))
        .set((
            access_reviews::status.eq(ReviewStatus::Closed.as_str()),
            access_reviews::closed_at.eq(now),
            access_reviews::closed_by.eq(closed_by),
            access_reviews::version.eq(access_reviews::version + 1),
        ))
        .execute(conn)
        .map(drop)
}

/// Closes every open review among `reachable` whose due date has passed; answers how many.
pub fn close_due(
    conn: &mut DbConnection,
    reachable: Predicate<access_reviews::table>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let due: Vec<String> = access_reviews::table
        .filter(reachable)
        .filter(access_reviews::status.eq(ReviewStatus::Open.as_str()))
        .filter(access_reviews::due_on.lt(today))
        .select(access_reviews::id)
        .load(conn)?;
    for review_id in &due {
        close(conn, review_id, None, now)?;
    }
    Ok(due.len())
}

#[derive(Debug, Queryable)]
pub struct ClosedItem {
    pub subject_id: String,
    pub review_id: String,
    pub closed_at: Option<NaiveDateTime>,
    pub decision: Option<String>,
    pub outcome: Option<String>,
}

/// The closed review items of `subjects`, oldest review first.
pub fn last_reviews(conn: &mut DbConnection, subjects: &[String]) -> QueryResult<Vec<ClosedItem>> {
    access_review_items::table
        .inner_join(access_reviews::table)
        .filter(access_review_items::subject_id.eq_any(subjects))
        .filter(access_reviews::status.eq(ReviewStatus::Closed.as_str()))
        .order(access_reviews::closed_at.asc())
        .select((
            access_review_items::subject_id,
            access_reviews::id,
            access_reviews::closed_at,
            access_review_items::decision,
            access_review_items::outcome,
        ))
        .load(conn)
}
