use crate::domain::Date;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::disclosure::Disclose;
use crate::api::request::{nullable, utc};
use crate::db::cases::{AllocationRow, CaseRow};
use crate::domain::{CaseStatus, ProtectiveMarking, RiskLevel, StoredAsText};

/// A case as the caller may see it: fields their role may not read are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false, format = Uuid)]
    pub division_id: String,
    #[schema(required = false)]
    pub service_type: String,
    #[schema(required = false)]
    pub status: CaseStatus,
    #[schema(required = false)]
    pub opened_at: DateTime<Utc>,
    #[schema(required = false)]
    pub closed_at: Option<DateTime<Utc>>,
    /// When retention archived the case: read-only from then on, read with a purpose of use.
    #[schema(required = false)]
    pub archived_at: Option<DateTime<Utc>>,
    #[schema(required = false, format = Uuid)]
    pub lead_worker_id: Option<String>,
    #[schema(required = false)]
    pub summary: String,
    #[schema(required = false)]
    pub risk_level: RiskLevel,
    #[schema(required = false)]
    pub protective_marking: ProtectiveMarking,
    /// The allocations the caller may see (a CSP sees only its own), each masked.
    #[schema(required = false, value_type = Vec<AllocationRecord>)]
    pub allocations: Vec<Map<String, Value>>,
    #[schema(required = false)]
    pub version: i32,
}

impl CaseRecord {
    pub fn from_row(row: CaseRow, allocations: Vec<Map<String, Value>>) -> anyhow::Result<Self> {
        Ok(Self {
            id: row.id,
            client_id: row.client_id,
            division_id: row.division_id,
            service_type: row.service_type,
            status: CaseStatus::from_stored(&row.status)?,
            opened_at: utc(row.opened_at),
            closed_at: row.closed_at.map(utc),
            archived_at: row.archived_at.map(utc),
            lead_worker_id: row.lead_worker_id,
            summary: row.summary,
            risk_level: RiskLevel::from_stored(&row.risk_level)?,
            protective_marking: ProtectiveMarking::from_rank(row.protective_marking)?,
            allocations,
            version: row.version,
        })
    }
}

impl Disclose for CaseRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

/// A case given to a CSP.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub case_id: String,
    #[schema(required = false, format = Uuid)]
    pub organisation_id: String,
    #[schema(required = false, format = Uuid)]
    pub worker_id: Option<String>,
    #[schema(required = false)]
    pub starts_on: NaiveDate,
    #[schema(required = false)]
    pub ends_on: Option<NaiveDate>,
    #[schema(required = false)]
    pub service_description: String,
    #[serde(skip)]
    pub client_id: String,
    /// For `If-Match` when ending the allocation.
    #[schema(required = false)]
    pub version: i32,
}

impl AllocationRecord {
    pub fn from_row(row: AllocationRow, client_id: &str) -> Self {
        Self {
            id: row.id,
            case_id: row.case_id,
            organisation_id: row.organisation_id,
            worker_id: row.worker_id,
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            service_description: row.service_description,
            client_id: client_id.to_owned(),
            version: row.version,
        }
    }
}

impl Disclose for AllocationRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "client_id": "0193b7e2-8c1a-7d3e-9f00-1a2b3c4d5e6f", "service_type": "tenancy support",
    "risk_level": "medium", "summary": "Referred by the housing office"
}))]
pub struct NewCase {
    #[schema(format = Uuid)]
    pub client_id: String,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub service_type: String,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    #[serde(default)]
    pub summary: String,
    pub risk_level: RiskLevel,
    #[schema(format = Uuid)]
    pub lead_worker_id: Option<String>,
    /// Default `OFFICIAL`; at most the caller's clearance.
    pub protective_marking: Option<ProtectiveMarking>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseUpdate {
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub service_type: Option<String>,
    /// Closing a case sets `closed_at`; reopening clears it.
    pub status: Option<CaseStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub lead_worker_id: Option<Option<String>>,
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub summary: Option<String>,
    pub risk_level: Option<RiskLevel>,
    pub protective_marking: Option<ProtectiveMarking>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "organisation_id": "0193b7e2-8c1a-7d3e-9f00-6f5e4d3c2b1a", "starts_on": "2026-12-07",
    "service_description": "Weekly outreach visits"
}))]
pub struct NewAllocation {
    /// A CSP under contract.
    #[schema(format = Uuid)]
    pub organisation_id: String,
    /// A worker of that CSP.
    #[schema(format = Uuid)]
    pub worker_id: Option<String>,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub service_description: String,
}

/// Ends (or re-extends) an allocation.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationUpdate {
    /// The last day of the allocation; `null` makes it open-ended again.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<Date>)]
    pub ends_on: Option<Option<Date>>,
}

/// Assigns an allocation to one of its CSP's workers.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"worker_id": "0193b7e2-8c1a-7d3e-9f00-6f5e4d3c2b1a"}))]
pub struct AllocationAssignment {
    /// An active worker of the allocation's CSP; `null` leaves the allocation unassigned
    /// (then only the CSP's managers see its records).
    #[schema(format = Uuid, required = true)]
    pub worker_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    pub status: Option<CaseStatus>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`: a record's id, or where the previous page
    /// stopped looking, sealed.
    pub cursor: Option<String>,
}
