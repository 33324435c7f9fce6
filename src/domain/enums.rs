use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoredAsText;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
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
text_enum!(CaseStatus { Open => "open", Closed => "closed" });
text_enum!(RiskLevel { Low => "low", Medium => "medium", High => "high" });
text_enum!(
    NoteType { Contact => "contact", Assessment => "assessment", CaseConference => "case_conference", Other => "other" }
);
text_enum!(
    /// `shared` notes are readable by the CSPs a case is allocated to; `department` notes are not.
    Visibility { Shared => "shared", Department => "department" }
);
