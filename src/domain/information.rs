//! Kinds of personal information, as a breach assessment and its notifications name them. The
//! audit trail records each disclosed field as `resource` + field name; this maps them.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InformationKind {
    /// Names, date of birth, gender.
    Identity,
    /// Phone, email, address.
    Contact,
    /// Medicare number and GP details.
    Health,
    /// A tax file number: its unauthorised disclosure must also be reported under the TFN rule.
    TaxFileNumber,
    /// Safety alerts about the client or others.
    SafetyAlerts,
    /// The interpreter language (can reveal ethnic origin).
    Language,
    /// What a case is about: service, status, summary, risk.
    CaseDetails,
    /// The text of case notes.
    CaseNotes,
}

impl InformationKind {
    /// The kind of a field the audit trail recorded for `resource_type`, or None for fields
    /// that say nothing about the person (ids, versions, markings, timestamps).
    pub fn of(resource_type: &str, field: &str) -> Option<Self> {
        use InformationKind::*;
        // A response of several resources (an access request's bundle) names each field
        // with its resource: `client.tax_file_number`.
        if let Some((resource, field)) = field.split_once('.') {
            return Self::of(resource, field);
        }
        match (resource_type, field) {
            (
                "client" | "profile",
                "given_name" | "family_name" | "preferred_name" | "date_of_birth" | "gender",
            ) => Some(Identity),
            ("client", "phone" | "email" | "address") => Some(Contact),
            ("client", "medicare_number" | "gp_details") => Some(Health),
            ("client", "tax_file_number") => Some(TaxFileNumber),
            ("client", "safety_alerts") => Some(SafetyAlerts),
            ("client", "interpreter_language") => Some(Language),
            ("case", "service_type" | "status" | "summary" | "risk_level") => Some(CaseDetails),
            ("note", "body") => Some(CaseNotes),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Contact => "contact",
            Self::Health => "health",
            Self::TaxFileNumber => "tax_file_number",
            Self::SafetyAlerts => "safety_alerts",
            Self::Language => "language",
            Self::CaseDetails => "case_details",
            Self::CaseNotes => "case_notes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_have_a_kind_and_metadata_has_none() {
        assert_eq!(
            InformationKind::of("client", "tax_file_number"),
            Some(InformationKind::TaxFileNumber)
        );
        assert_eq!(
            InformationKind::of("profile", "family_name"),
            Some(InformationKind::Identity)
        );
        assert_eq!(InformationKind::of("client", "version"), None);
        assert_eq!(InformationKind::of("note", "created_at"), None);
        assert_eq!(InformationKind::of("audit_event", "body"), None);
    }
}
