use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoredAsText;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl StoredAsText for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
    };
}

text_enum!(
    /// A division of the department, or a contracted service provider.
    OrganisationKind { DepartmentDivision => "department_division", Csp => "csp" }
);
text_enum!(
    UserStatus { Pending => "pending", Active => "active", Suspended => "suspended", Deactivated => "deactivated" }
);
text_enum!(
    /// A person logging in, or a CSP system using OAuth2 client credentials.
    PrincipalKind { Person => "person", ApiClient => "api_client" }
);
text_enum!(
    /// A suspended organisation's users and API clients are refused at once.
    OrganisationStatus { Active => "active", Suspended => "suspended" }
);
text_enum!(
    /// A dept_admin's or csp_manager's decision on one subject of an access review.
    ReviewDecision { Keep => "keep", Revoke => "revoke" }
);
text_enum!(ReviewStatus { Open => "open", Closed => "closed" });
text_enum!(CaseStatus { Open => "open", Closed => "closed" });
text_enum!(RiskLevel { Low => "low", Medium => "medium", High => "high" });
text_enum!(
    NoteType { Contact => "contact", Assessment => "assessment", CaseConference => "case_conference", Other => "other" }
);
text_enum!(
    /// `shared` notes are readable by the CSPs a case is allocated to; `department` notes are not.
    Visibility { Shared => "shared", Department => "department" }
);

text_enum!(
    /// Who told the department about a breach.
    BreachSource { Internal => "internal", Csp => "csp", Public => "public" }
);
text_enum!(
    /// What kind of breach: unauthorised access, unauthorised disclosure, or loss.
    BreachKind { Access => "access", Disclosure => "disclosure", Loss => "loss" }
);
text_enum!(
    /// `assessing` until the assessment decides eligibility, `reviewed` once the
    /// post-incident review is recorded.
    BreachStatus { Assessing => "assessing", Assessed => "assessed", Reviewed => "reviewed" }
);
text_enum!(
    /// Who a breach notification goes to: an affected individual, the Office of the Victorian
    /// Information Commissioner (`ovic`), the Office of the Australian Information
    /// Commissioner (`oaic`, for tax file numbers), the police, another agency, or a
    /// contracted service provider (`csp`).
    NotificationRecipient {
        Individual => "individual",
        Ovic => "ovic",
        Oaic => "oaic",
        Police => "police",
        OtherAgency => "other_agency",
        Csp => "csp"
    }
);
text_enum!(
    /// Why an individual or a regulator is not notified of a breach (OVIC's data breach
    /// guideline; Privacy Act 1988 ss 26WF, 26WM, 26WN, 26WP and 26WQ for the TFN rule):
    /// remedial action taken in time means serious harm is no longer likely; notifying would
    /// prejudice a law enforcement activity; notifying would itself create a serious threat
    /// to someone's life, health or safety; a secrecy provision forbids it; another agency
    /// involved in the same breach notifies; the Commissioner exempted it; or `other`, which
    /// must be explained.
    NotNotifyingGround {
        SeriousHarmNotLikelyAfterRemedialAction => "serious_harm_not_likely_after_remedial_action",
        LawEnforcementPrejudice => "law_enforcement_prejudice",
        SeriousThreatToLifeHealthOrSafety => "serious_threat_to_life_health_or_safety",
        InconsistentWithSecrecyProvision => "inconsistent_with_secrecy_provision",
        NotifiedByAnotherAgency => "notified_by_another_agency",
        CommissionerExemption => "commissioner_exemption",
        Other => "other"
    }
);
text_enum!(
    /// Where the information of an individual added to a breach by hand was: a paper file, a
    /// CSP's own system, another system outside casebridge, something said or overheard, or
    /// elsewhere.
    ManualSource {
        PaperRecord => "paper_record",
        CspSystem => "csp_system",
        OtherSystem => "other_system",
        Verbal => "verbal",
        Other => "other"
    }
);
text_enum!(
    /// A containment step carried out at once.
    ContainmentStep {
        SuspendUser => "suspend_user",
        RevokeSessions => "revoke_sessions",
        SuspendOrganisation => "suspend_organisation",
        RotateApiClientSecret => "rotate_api_client_secret"
    }
);

text_enum!(
    /// An answer to a question of the annual attestation's checklist.
    AttestationAnswer { Yes => "yes", No => "no", NotApplicable => "not_applicable" }
);
text_enum!(
    /// A CSP's attestation: `submitted` by its manager, then `acknowledged` by the department.
    AttestationStatus { Submitted => "submitted", Acknowledged => "acknowledged" }
);
text_enum!(
    /// A contract wrap-up: `open` until a dept_admin closes it (with a certificate).
    WrapUpStatus { Open => "open", Closed => "closed" }
);
text_enum!(
    /// What became of the client files a CSP held at the end of its contract.
    ReturnMethod { Returned => "returned", Destroyed => "destroyed" }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn json_spelling_is_stored_spelling<T: StoredAsText + Serialize>() {
        for value in T::ALL {
            assert_eq!(serde_json::to_value(value).unwrap(), value.as_str());
        }
    }

    #[test]
    fn json_and_sql_spell_every_value_alike() {
        json_spelling_is_stored_spelling::<OrganisationKind>();
        json_spelling_is_stored_spelling::<UserStatus>();
        json_spelling_is_stored_spelling::<CaseStatus>();
        json_spelling_is_stored_spelling::<RiskLevel>();
        json_spelling_is_stored_spelling::<NoteType>();
        json_spelling_is_stored_spelling::<Visibility>();
        json_spelling_is_stored_spelling::<PrincipalKind>();
        json_spelling_is_stored_spelling::<OrganisationStatus>();
        json_spelling_is_stored_spelling::<ReviewDecision>();
        json_spelling_is_stored_spelling::<ReviewStatus>();
        json_spelling_is_stored_spelling::<BreachSource>();
        json_spelling_is_stored_spelling::<BreachKind>();
        json_spelling_is_stored_spelling::<BreachStatus>();
        json_spelling_is_stored_spelling::<NotificationRecipient>();
        json_spelling_is_stored_spelling::<NotNotifyingGround>();
        json_spelling_is_stored_spelling::<ManualSource>();
        json_spelling_is_stored_spelling::<ContainmentStep>();
        json_spelling_is_stored_spelling::<AttestationAnswer>();
        json_spelling_is_stored_spelling::<AttestationStatus>();
        json_spelling_is_stored_spelling::<WrapUpStatus>();
        json_spelling_is_stored_spelling::<ReturnMethod>();
    }
}

text_enum!(
    /// How a notice or consent was given, or a consent withdrawn.
    Medium { Verbal => "verbal", Written => "written", Electronic => "electronic" }
);
text_enum!(
    /// How a privacy complaint reached the department.
    ComplaintChannel { Phone => "phone", Email => "email", Letter => "letter", InPerson => "in_person", Online => "online" }
);
text_enum!(
    /// A privacy complaint's progress: `resolved` and `withdrawn` are final.
    ComplaintStatus { Received => "received", Investigating => "investigating", Resolved => "resolved", Withdrawn => "withdrawn" }
);
text_enum!(
    /// What an incident report is about.
    IncidentKind { SuspectedMisuse => "suspected_misuse", CredentialsCompromised => "credentials_compromised", DataBreach => "data_breach", LostDevice => "lost_device", Other => "other" }
);
text_enum!(
    /// An incident report's progress: `closed` and `breach_opened` are final; only opening a
    /// breach from the report sets `breach_opened`.
    IncidentStatus { Received => "received", Assessing => "assessing", Closed => "closed", BreachOpened => "breach_opened" }
);
text_enum!(
    /// A client's request to see their file (IPP 6): `completed` and `refused` are final.
    AccessRequestStatus { Received => "received", InProgress => "in_progress", Completed => "completed", Refused => "refused" }
);
text_enum!(
    /// A client's request to correct their file (IPP 7): decided once, either way.
    CorrectionStatus { Received => "received", Corrected => "corrected", Refused => "refused" }
);
text_enum!(
    /// What is decided on a correction request.
    CorrectionDecision { Correct => "correct", Refuse => "refuse" }
);
text_enum!(
    /// A field of a client's file that the client may ask to have corrected.
    CorrectableField {
        GivenName => "given_name", FamilyName => "family_name", PreferredName => "preferred_name",
        DateOfBirth => "date_of_birth", Gender => "gender", Phone => "phone", Email => "email",
        Address => "address", InterpreterLanguage => "interpreter_language",
        MedicareNumber => "medicare_number", TaxFileNumber => "tax_file_number",
        GpDetails => "gp_details", SafetyAlerts => "safety_alerts"
    }
);
text_enum!(
    /// A policy document the department publishes to its staff and CSP staff, each version to
    /// be accepted by everyone it applies to.
    PolicyDocumentKind {
        AcceptableUse => "acceptable_use",
        PrivacyAndSecurityPolicy => "privacy_and_security_policy"
    }
);
