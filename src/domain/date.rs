use chrono::{Datelike, NaiveDate};
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
        if date.get() <= chrono::Utc::now().date_naive() {
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
}
