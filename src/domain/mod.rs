//! Parse-don't-validate types: a value of one of these types has passed its check, so code
//! that receives one never checks again.
mod date;
mod enums;
mod identifiers;
mod information;
mod marking;
pub mod names;

pub use date::{Date, DateOfBirth, Timestamp};
pub use enums::{
    AccessRequestStatus, AttestationAnswer, AttestationStatus, BreachKind, BreachSource,
    BreachStatus, CaseStatus, ComplaintChannel, ComplaintStatus, ContainmentStep, CorrectableField,
    CorrectionDecision, CorrectionStatus, IncidentKind, IncidentStatus, ManualSource, Medium,
    NotNotifyingGround, NoteType, NotificationRecipient, OrganisationKind, OrganisationStatus,
    PolicyDocumentKind, PrincipalKind, ReturnMethod, ReviewDecision, ReviewStatus, RiskLevel,
    UserStatus, Visibility, WrapUpStatus,
};
pub use identifiers::{MedicareNumber, SafetyAlert, TaxFileNumber};
pub use information::InformationKind;
pub use marking::ProtectiveMarking;

/// Enums stored as text: one spelling for JSON, SQL and error messages.
pub trait StoredAsText: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|value| value.as_str() == text)
    }

    /// For rows read back from the database, where a bad value is corruption, not input.
    fn from_stored(text: &str) -> anyhow::Result<Self> {
        Self::parse(text).ok_or_else(|| anyhow::anyhow!("unexpected stored value {text:?}"))
    }
}
