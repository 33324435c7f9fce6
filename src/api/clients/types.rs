use std::collections::BTreeMap;

use crate::domain::{Date, DateOfBirth};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::api::disclosure::Disclose;
use crate::api::notices::NoticeGiven;
use crate::api::request::{nullable, utc};
use crate::db::clients::{ClientChanges, ClientRow};
use crate::domain::names::PersonName;
use crate::domain::{MedicareNumber, ProtectiveMarking, SafetyAlert, TaxFileNumber};
use crate::sealing::{Keyring, SealedColumn};

/// A client as the caller may see it: fields their role may not read are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub given_name: String,
    #[schema(required = false)]
    pub family_name: String,
    #[schema(required = false)]
    pub preferred_name: Option<String>,
    #[schema(required = false)]
    pub date_of_birth: NaiveDate,
    #[schema(required = false)]
    pub gender: Option<String>,
    #[schema(required = false)]
    pub phone: Option<String>,
    #[schema(required = false)]
    pub email: Option<String>,
    #[schema(required = false)]
    pub address: Option<Address>,
    #[schema(required = false)]
    pub interpreter_language: Option<String>,
    #[schema(required = false)]
    pub medicare_number: Option<String>,
    #[schema(required = false)]
    pub tax_file_number: Option<String>,
    #[schema(required = false)]
    pub gp_details: Option<String>,
    #[schema(required = false)]
    pub safety_alerts: Vec<String>,
    #[schema(required = false)]
    pub protective_marking: ProtectiveMarking,
    #[schema(required = false)]
    pub restricted: bool,
    #[schema(required = false, format = Uuid)]
    pub lead_division_id: String,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
    #[schema(required = false)]
    pub updated_at: DateTime<Utc>,
    #[schema(required = false)]
    pub version: i32,
    /// Statements the client asked to be kept with a field whose correction was refused, by
    /// field: shown to whoever may read that field.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    pub statements: Statements,
}

/// A client's statement about a field of their file, kept after a refused correction
/// (IPP 7.3).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientStatement {
    pub statement: String,
    #[schema(format = Uuid)]
    pub correction_request_id: String,
    pub recorded_at: DateTime<Utc>,
}

/// Statements by the field they are about.
pub type Statements = BTreeMap<String, Vec<ClientStatement>>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub line1: Option<String>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub suburb: Option<String>,
    #[validate(custom(function = "valid_state"))]
    pub state: Option<String>,
    #[validate(custom(function = "valid_postcode"))]
    pub postcode: Option<String>,
}

fn valid_state(state: &str) -> Result<(), ValidationError> {
    const STATES: [&str; 8] = ["ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"];
    if STATES.contains(&state) {
        Ok(())
    } else {
        Err(ValidationError::new("state")
            .with_message("must be one of ACT, NSW, NT, QLD, SA, TAS, VIC, WA".into()))
    }
}

fn valid_postcode(code: &str) -> Result<(), ValidationError> {
    if code.len() == 4 && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ValidationError::new("postcode").with_message("must be 4 digits".into()))
    }
}

impl ClientRecord {
    /// The record of a stored row, its sealed fields opened.
    pub fn open(row: ClientRow, keyring: &Keyring) -> anyhow::Result<Self> {
        let medicare_number = keyring.open_optional(
            SealedColumn::ClientMedicareNumber,
            &row.id,
            row.medicare_number.as_ref(),
        )?;
        let tax_file_number = keyring.open_optional(
            SealedColumn::ClientTaxFileNumber,
            &row.id,
            row.tax_file_number.as_ref(),
        )?;
        let address = [
            &row.address_line1,
            &row.address_line2,
            &row.address_suburb,
            &row.address_state,
            &row.address_postcode,
        ]
        .iter()
        .any(|part| part.is_some())
        .then_some(Address {
            line1: row.address_line1,
            line2: row.address_line2,
            suburb: row.address_suburb,
            state: row.address_state,
            postcode: row.address_postcode,
        });
        Ok(Self {
            id: row.id,
            given_name: row.given_name,
            family_name: row.family_name,
            preferred_name: row.preferred_name,
            date_of_birth: row.date_of_birth,
            gender: row.gender,
            phone: row.phone,
            email: row.email,
            address,
            interpreter_language: row.interpreter_language,
            medicare_number,
            tax_file_number,
            gp_details: row.gp_details,
            safety_alerts: serde_json::from_str(&row.safety_alerts)?,
            protective_marking: ProtectiveMarking::from_rank(row.protective_marking)?,
            restricted: row.restricted,
            lead_division_id: row.lead_division_id,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            version: row.version,
            statements: Statements::new(),
        })
    }
}

impl Disclose for ClientRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.id)
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
    fn restricted(&self) -> bool {
        self.restricted
    }
}

/// A new client. Only fields the caller's role may write are accepted.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "given_name": "Mira", "family_name": "Castellano", "date_of_birth": "1984-03-09",
    "phone": "0400 000 111", "interpreter_language": "Italian",
    "collection_notice": {"version": "2026-1", "given_on": "2026-12-01", "method": "verbal"}
}))]
pub struct NewClient {
    /// Names follow the name rule (`domain::names`): at least one letter or digit, no
    /// control, invisible formatting or bidirectional characters (422 naming the field).
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub given_name: PersonName,
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub family_name: PersonName,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub preferred_name: Option<PersonName>,
    pub date_of_birth: DateOfBirth,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub gender: Option<String>,
    #[validate(length(min = 6, max = 20))]
    #[schema(min_length = 6, max_length = 20)]
    pub phone: Option<String>,
    #[validate(email)]
    pub email: Option<String>,
    #[validate(nested)]
    pub address: Option<Address>,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub interpreter_language: Option<String>,
    pub medicare_number: Option<MedicareNumber>,
    pub tax_file_number: Option<TaxFileNumber>,
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub gp_details: Option<String>,
    #[serde(default)]
    #[validate(length(max = 20))]
    #[schema(max_items = 20)]
    pub safety_alerts: Vec<SafetyAlert>,
    /// Default `OFFICIAL`; at most the caller's clearance.
    pub protective_marking: Option<ProtectiveMarking>,
    /// Default false.
    pub restricted: Option<bool>,
    /// The collection notice given to the client (IPP 1.3). Required: without it, or with a
    /// version not in effect, the answer is 422 `collection_notice_required` carrying the
    /// notice to give.
    #[schema(required = true)]
    #[validate(nested)]
    pub collection_notice: Option<NoticeGiven>,
    /// A file for a client born the same day with close names (within the caller's reach:
    /// row scope and clearance) is refused as 409 `possible_duplicate` listing the
    /// candidates, unless this is true. A restricted candidate is listed only with
    /// `X-Purpose-Of-Use`; without one it is withheld (`restricted_candidate_withheld`) and
    /// this does not override it.
    #[serde(default)]
    pub confirm_new: bool,
}

/// Changes to a client: absent fields stay, `null` clears an optional field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "phone": "0400 000 222",
    "address": {"line1": "1 Example Street", "suburb": "Carlton", "state": "VIC", "postcode": "3053"}
}))]
pub struct ClientUpdate {
    /// Names follow the name rule, as on create.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub given_name: Option<PersonName>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub family_name: Option<PersonName>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub preferred_name: Option<Option<PersonName>>,
    pub date_of_birth: Option<DateOfBirth>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    #[validate(length(min = 1, max = 50))]
    pub gender: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    #[validate(length(min = 6, max = 20))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    #[validate(email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Address>)]
    #[validate(nested)]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    #[validate(length(min = 1, max = 50))]
    pub interpreter_language: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub medicare_number: Option<Option<MedicareNumber>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub tax_file_number: Option<Option<TaxFileNumber>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 1000))]
    pub gp_details: Option<Option<String>>,
    #[validate(length(max = 20))]
    #[schema(max_items = 20)]
    pub safety_alerts: Option<Vec<SafetyAlert>>,
    pub protective_marking: Option<ProtectiveMarking>,
    pub restricted: Option<bool>,
}

impl ClientUpdate {
    /// The changes to the client `client_id`, its identifiers sealed for that client.
    pub fn into_changes(self, keyring: &Keyring, client_id: &str) -> anyhow::Result<ClientChanges> {
        // `Some(None)` clears a field: there is nothing to seal.
        let seal = |column, value: Option<Option<String>>| {
            value
                .map(|value| keyring.seal_optional(column, client_id, value.as_deref()))
                .transpose()
        };
        let medicare_number = seal(
            SealedColumn::ClientMedicareNumber,
            self.medicare_number.map(|m| m.map(String::from)),
        )?;
        let tax_file_number = seal(
            SealedColumn::ClientTaxFileNumber,
            self.tax_file_number.map(|t| t.map(String::from)),
        )?;
        let (line1, line2, suburb, state, postcode) = match self.address {
            None => (None, None, None, None, None),
            Some(None) => (Some(None), Some(None), Some(None), Some(None), Some(None)),
            Some(Some(a)) => (
                Some(a.line1),
                Some(a.line2),
                Some(a.suburb),
                Some(a.state),
                Some(a.postcode),
            ),
        };
        Ok(ClientChanges {
            given_name: self.given_name.map(String::from),
            family_name: self.family_name.map(String::from),
            preferred_name: self.preferred_name.map(|name| name.map(String::from)),
            date_of_birth: self.date_of_birth.map(DateOfBirth::get),
            gender: self.gender,
            phone: self.phone,
            email: self.email,
            address_line1: line1,
            address_line2: line2,
            address_suburb: suburb,
            address_state: state,
            address_postcode: postcode,
            interpreter_language: self.interpreter_language,
            medicare_number,
            tax_file_number,
            gp_details: self.gp_details,
            safety_alerts: self.safety_alerts.map(alerts_json),
            protective_marking: self.protective_marking.map(ProtectiveMarking::rank),
            restricted: self.restricted,
        })
    }
}

/// Safety alerts as stored: a JSON array of strings.
pub fn alerts_json(alerts: Vec<SafetyAlert>) -> String {
    serde_json::Value::from(alerts.into_iter().map(String::from).collect::<Vec<_>>()).to_string()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientListParams {
    /// The family name, ignoring case, accents, spaces, hyphens, apostrophes and look-alike
    /// letters of other scripts or widths (the name's match key; see `GET /profiles` for
    /// tolerant search).
    pub family_name: Option<String>,
    /// The given name, matched like `family_name`.
    pub given_name: Option<String>,
    pub date_of_birth: Option<Date>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`: a record's id, or where the previous page
    /// stopped looking, sealed.
    pub cursor: Option<String>,
}
