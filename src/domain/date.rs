use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A calendar date a person could mean: year 1900 to 9999. Both databases then compare
/// and store it alike (SQLite compares dates as text, which a five-digit or negative year
/// would break; PostgreSQL refuses years it cannot hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "NaiveDate", into = "NaiveDate")]
#[schema(value_type = String, format = Date, example = "2026-11-22")]
pub struct Date(NaiveDate);

impl TryFrom<NaiveDate> for Date {
    type Error = String;

    fn try_from(date: NaiveDate) -> Result<Self, String> {
        if (1900..=9999).contains(&date.year()) {
            Ok(Self(date))
        } else {
            Err("must be a date between 1900-01-01 and 9999-12-31".to_owned())
        }
    }
}

impl From<Date> for NaiveDate {
    fn from(date: Date) -> NaiveDate {
        date.0
    }
}

impl Date {
    pub fn get(self) -> NaiveDate {
        self.0
    }
}

/// A date of birth: a plausible date, not in the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "Date", into = "NaiveDate")]
#[schema(value_type = String, format = Date, example = "1984-03-09")]
pub struct DateOfBirth(Date);

impl TryFrom<Date> for DateOfBirth {
    type Error = String;

    fn try_from(date: Date) -> Result<Self, String> {
        if date.get() <= crate::clock::Clock::default().today() {
            Ok(Self(date))
        } else {
            Err("must not be in the future".to_owned())
        }
    }
}

impl From<DateOfBirth> for NaiveDate {
    fn from(date: DateOfBirth) -> NaiveDate {
        date.0.get()
    }
}

impl DateOfBirth {
    pub fn get(self) -> NaiveDate {
        self.0.get()
    }
}

/// A moment a person could mean, in the years [`Date`] allows, kept to the microsecond (what
/// both databases store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "DateTime<Utc>", into = "DateTime<Utc>")]
#[schema(value_type = String, format = DateTime, example = "2026-11-22T09:30:00Z")]
pub struct Timestamp(NaiveDateTime);

impl TryFrom<DateTime<Utc>> for Timestamp {
    type Error = String;

    fn try_from(moment: DateTime<Utc>) -> Result<Self, String> {
        Date::try_from(moment.date_naive())
            .map(|_| Self(moment.naive_utc().trunc_subsecs(6)))
            .map_err(|_| "must be a time between 1900 and 9999".to_owned())
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(moment: Timestamp) -> DateTime<Utc> {
        moment.0.and_utc()
    }
}

impl Timestamp {
    pub fn get(self) -> NaiveDateTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_years_parse() {
        let parse = |text: &str| serde_json::from_value::<Date>(serde_json::json!(text));
        assert!(parse("2026-11-22").is_ok());
        assert!(parse("1899-12-31").is_err());
        assert!(parse("+10000-01-01").is_err());
        assert!(parse("2023-02-30").is_err());
    }

    #[test]
    fn only_plausible_times_parse() {
        let parse = |text: &str| serde_json::from_value::<Timestamp>(serde_json::json!(text));
        assert!(parse("2026-11-22T09:30:00Z").is_ok());
        assert!(parse("2026-11-22T09:30:00+11:00").is_ok());
        assert!(parse("1899-12-31T23:59:59Z").is_err());
        assert!(parse("2026-11-22").is_err());
    }
}
