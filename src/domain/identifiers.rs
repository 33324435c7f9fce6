use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn digits(text: &str) -> Option<Vec<u32>> {
    text.chars().map(|c| c.to_digit(10)).collect()
}

/// A Medicare card number: 10 digits, or 11 with the individual reference (issue) number,
/// whose 9th digit is the weighted check digit of the first 8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[0-9]{10,11}$", example = "2123456701")]
pub struct MedicareNumber(String);

impl TryFrom<String> for MedicareNumber {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = || "is not a valid Medicare number".to_owned();
        let d = digits(&text)
            .filter(|d| d.len() == 10 || d.len() == 11)
            .ok_or_else(invalid)?;
        if !(2..=6).contains(&d[0]) {
            return Err(invalid());
        }
        const WEIGHTS: [u32; 8] = [1, 3, 7, 9, 1, 3, 7, 9];
        let sum: u32 = d
            .iter()
            .zip(WEIGHTS)
            .map(|(digit, weight)| digit * weight)
            .sum();
        if sum % 10 != d[8] {
            return Err(invalid());
        }
        Ok(Self(text))
    }
}

/// A tax file number: 9 digits whose weighted sum is divisible by 11.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[0-9]{9}$", example = "123456782")]
pub struct TaxFileNumber(String);

impl TryFrom<String> for TaxFileNumber {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let invalid = || "is not a valid tax file number".to_owned();
        let d = digits(&text).filter(|d| d.len() == 9).ok_or_else(invalid)?;
        const WEIGHTS: [u32; 9] = [1, 4, 3, 7, 5, 8, 6, 9, 10];
        let sum: u32 = d
            .iter()
            .zip(WEIGHTS)
            .map(|(digit, weight)| digit * weight)
            .sum();
        if !sum.is_multiple_of(11) {
            return Err(invalid());
        }
        Ok(Self(text))
    }
}

/// Never printed whole: a tax file number must not reach a log line by accident.
impl fmt::Debug for TaxFileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaxFileNumber(*********)")
    }
}

/// One safety alert on a client file: a short warning for whoever visits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, max_length = 200, example = "Dog at property")]
pub struct SafetyAlert(String);

impl TryFrom<String> for SafetyAlert {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if (1..=200).contains(&text.trim().chars().count()) {
            Ok(Self(text))
        } else {
            Err("a safety alert must be 1 to 200 characters".to_owned())
        }
    }
}

macro_rules! into_string {
    ($($t:ty),*) => {$(
        impl From<$t> for String {
            fn from(value: $t) -> String { value.0 }
        }
    )*};
}
into_string!(MedicareNumber, TaxFileNumber, SafetyAlert);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medicare_check_digit() {
        assert!(MedicareNumber::try_from("2123456701".to_owned()).is_ok());
        assert!(MedicareNumber::try_from("21234567011".to_owned()).is_ok());
        assert!(MedicareNumber::try_from("2123456791".to_owned()).is_err());
        assert!(MedicareNumber::try_from("212345670".to_owned()).is_err());
        assert!(MedicareNumber::try_from("212345670a".to_owned()).is_err());
    }

    #[test]
    fn tax_file_number_checksum() {
        assert!(TaxFileNumber::try_from("123456782".to_owned()).is_ok());
        assert!(TaxFileNumber::try_from("123456789".to_owned()).is_err());
        assert!(TaxFileNumber::try_from("12345678".to_owned()).is_err());
    }
}
