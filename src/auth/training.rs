//! Training currency. A person's training, recorded as an onboarding check
//! (`training_completed_on`), is current for `--training-valid-days` (365 by default): until
//! its due date, the completion date plus that period. From the day after, the person is
//! refused (`training_expired`, see `api::context`) until their manager or a dept_admin records
//! a new completion. `/me` and the access register warn [`WARNING_DAYS`] ahead.
//!
//! Without any recorded date: a person of a CSP is refused as if expired (the department
//! approves CSP staff only once their training is recorded, so this is an account made some
//! other way); department staff are not held to a period until their training is first
//! recorded. API clients have no training: a system is not trained, its organisation is.
use chrono::{Duration, NaiveDate};

use crate::config::Config;

/// How many days before its due date training is said to expire soon.
pub const WARNING_DAYS: i64 = 30;

/// The training period, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct TrainingRules {
    pub valid_for: Duration,
}

impl TrainingRules {
    pub fn of(config: &Config) -> Self {
        Self {
            valid_for: Duration::days(i64::from(config.training_valid_days)),
        }
    }

    /// Where `record` stands on `today`.
    pub fn standing(&self, record: TrainingRecord, today: NaiveDate) -> TrainingStanding {
        let Some(completed_on) = record.completed_on else {
            return TrainingStanding {
                due_on: None,
                expires_soon: false,
                expired: record.required,
            };
        };
        let due_on = completed_on + self.valid_for;
        let expired = today > due_on;
        TrainingStanding {
            due_on: Some(due_on),
            expires_soon: !expired && due_on - today <= Duration::days(WARNING_DAYS),
            expired,
        }
    }
}

/// A principal's training as recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrainingRecord {
    pub completed_on: Option<NaiveDate>,
    /// No recorded date counts as expired (a person of a CSP).
    pub required: bool,
}

impl TrainingRecord {
    /// The record of a principal of `kind` in an organisation of `organisation_kind`.
    pub fn of(
        kind: crate::domain::PrincipalKind,
        organisation_kind: crate::domain::OrganisationKind,
        completed_on: Option<NaiveDate>,
    ) -> Self {
        use crate::domain::{OrganisationKind, PrincipalKind};
        match kind {
            PrincipalKind::ApiClient => Self::default(),
            PrincipalKind::Person => Self {
                completed_on,
                required: organisation_kind == OrganisationKind::Csp,
            },
        }
    }
}

/// Where a principal's training stands on a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrainingStanding {
    /// The last day the recorded training is current; None when none is recorded.
    pub due_on: Option<NaiveDate>,
    /// Current, and due within [`WARNING_DAYS`].
    pub expires_soon: bool,
    /// Past its due date, or required and never recorded: the principal is refused.
    pub expired: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TrainingRules {
        TrainingRules {
            valid_for: Duration::days(365),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn training_is_current_through_its_due_date_and_expired_the_day_after() {
        let record = TrainingRecord {
            completed_on: Some(day(2026, 1, 1)),
            required: true,
        };
        let due = rules().standing(record, day(2027, 1, 1));
        assert_eq!(due.due_on, Some(day(2027, 1, 1)));
        assert!(!due.expired && due.expires_soon);
        assert!(rules().standing(record, day(2027, 1, 2)).expired);
        let early = rules().standing(record, day(2026, 12, 1));
        assert!(!early.expired && !early.expires_soon);
        assert!(rules().standing(record, day(2026, 12, 2)).expires_soon);
    }

    #[test]
    fn no_recorded_training_is_expired_only_where_required() {
        let none = |required| TrainingRecord {
            completed_on: None,
            required,
        };
        assert!(rules().standing(none(true), day(2026, 1, 1)).expired);
        assert_eq!(
            rules().standing(none(false), day(2026, 1, 1)),
            TrainingStanding::default()
        );
    }
}
