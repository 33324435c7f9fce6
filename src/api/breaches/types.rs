//! The breach register's records and request bodies.
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::disclosure::Disclose;
use crate::domain::{
    BreachKind, BreachSource, BreachStatus, ContainmentStep, Date, InformationKind, ManualSource,
    NotNotifyingGround, NotificationRecipient, ProtectiveMarking, Timestamp,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct Extension {
    pub previous_due_on: NaiveDate,
    pub new_due_on: NaiveDate,
    pub reason: String,
    #[schema(format = Uuid)]
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainmentRecord {
    pub action: ContainmentStep,
    #[schema(format = Uuid)]
    pub target_id: String,
    /// What the step found and did: `suspended`, `already_suspended`, `sessions_ended`,
    /// `secret_replaced`, ...
    pub outcome: String,
    #[schema(format = Uuid)]
    pub performed_by: String,
    pub performed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRecord {
    #[schema(format = Uuid)]
    pub id: String,
    pub recipient: NotificationRecipient,
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    pub method: String,
    pub sent_on: NaiveDate,
    /// The affected-individuals snapshot the notification was based on.
    #[schema(format = Uuid)]
    pub snapshot_id: String,
    #[schema(format = Uuid)]
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A decision not to notify an individual or another recipient, and its ground.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionNotToNotify {
    #[schema(format = Uuid)]
    pub id: String,
    pub recipient: NotificationRecipient,
    /// The individual, for `individual`.
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    pub ground: NotNotifyingGround,
    pub explanation: Option<String>,
    #[schema(format = Uuid)]
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
}

/// Where a required notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequirementStatus {
    /// Neither sent nor decided against yet.
    Pending,
    Notified,
    DecidedNotToNotify,
}

/// A notification the breach calls for (from the latest saved affected individuals and those
/// added by hand since), and whether it was sent or decided against.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRequirement {
    pub recipient: NotificationRecipient,
    pub reason: String,
    pub status: RequirementStatus,
}

/// The harm assessment and the decision whether the breach is eligible (notifiable).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreachAssessment {
    /// The kinds of information involved.
    pub information_kinds: Vec<InformationKind>,
    /// Whether serious harm to any individual is likely.
    pub serious_harm_likely: bool,
    /// Why (or why not).
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub harm_reasons: String,
    /// What was done to reduce the harm.
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub remedial_steps: String,
    /// What the affected individuals should do (for their notification).
    #[validate(length(max = 5000))]
    #[schema(max_length = 5000)]
    pub recommended_steps: String,
    /// Eligible (notifiable): serious harm is likely and remedial action did not prevent it.
    pub eligible: bool,
    /// How many individuals are at likely risk of serious harm; required when eligible, 0
    /// (or absent) when serious harm is not likely.
    #[validate(range(max = 10_000_000))]
    #[schema(maximum = 10_000_000)]
    pub individuals_at_risk: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreachReview {
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub root_cause: String,
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub lessons: String,
    /// What will change, and who does it.
    #[validate(length(max = 50), nested)]
    #[schema(max_items = 50)]
    pub actions: Vec<ReviewActionItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewActionItem {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub action: String,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    pub due_on: Option<Date>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreachRecord {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false)]
    pub aware_at: DateTime<Utc>,
    #[schema(required = false)]
    pub reported_by: String,
    #[schema(required = false)]
    pub source: BreachSource,
    #[schema(required = false)]
    pub description: String,
    #[schema(required = false)]
    pub kinds: Vec<BreachKind>,
    #[schema(required = false)]
    pub suspected_actor_ids: Vec<String>,
    #[schema(required = false)]
    pub window_from: DateTime<Utc>,
    #[schema(required = false)]
    pub window_to: DateTime<Utc>,
    /// When the breach occurred, or began; null while not known.
    #[schema(required = false)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// When a breach that went on over a period ended.
    #[schema(required = false)]
    pub occurred_until: Option<DateTime<Utc>>,
    /// The agencies on whose behalf the breach is reported, besides this one.
    #[schema(required = false)]
    pub on_behalf_of: Vec<String>,
    /// The incident reports the breach was opened from.
    #[schema(required = false)]
    pub incident_report_ids: Vec<String>,
    /// When the assessment must be finished (extensions move it).
    #[schema(required = false)]
    pub assessment_due_on: NaiveDate,
    /// Still being assessed after its due date.
    #[schema(required = false)]
    pub assessment_overdue: bool,
    #[schema(required = false)]
    pub status: BreachStatus,
    /// Null until assessed.
    #[schema(required = false)]
    pub eligible: Option<bool>,
    #[schema(required = false)]
    pub assessment: Option<BreachAssessment>,
    #[schema(required = false)]
    pub assessed_at: Option<DateTime<Utc>>,
    #[schema(required = false, format = Uuid)]
    pub assessed_by: Option<String>,
    #[schema(required = false)]
    pub extensions: Vec<Extension>,
    #[schema(required = false)]
    pub containment_actions: Vec<ContainmentRecord>,
    #[schema(required = false)]
    pub notifications: Vec<NotificationRecord>,
    /// The notifications what the breach touched calls for, and where each stands.
    #[schema(required = false)]
    pub notifications_required: Vec<NotificationRequirement>,
    #[schema(required = false)]
    pub decisions_not_to_notify: Vec<DecisionNotToNotify>,
    #[schema(required = false)]
    pub review: Option<BreachReview>,
    #[schema(required = false)]
    pub reviewed_at: Option<DateTime<Utc>>,
    #[schema(required = false, format = Uuid)]
    pub reviewed_by: Option<String>,
    #[schema(required = false, format = Uuid)]
    pub created_by: String,
    #[schema(required = false)]
    pub created_at: DateTime<Utc>,
    #[schema(required = false)]
    pub version: i32,
}

impl Disclose for BreachRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
    fn version(&self) -> Option<i32> {
        Some(self.version)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBreach {
    /// When the department became aware of the suspected breach; not in the future.
    pub aware_at: Timestamp,
    /// Who reported it (a name, a role, an organisation).
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub reported_by: String,
    pub source: BreachSource,
    #[validate(length(min = 1, max = 5000))]
    #[schema(min_length = 1, max_length = 5000)]
    pub description: String,
    #[validate(length(min = 1, max = 3))]
    #[schema(min_items = 1, max_items = 3)]
    pub kinds: Vec<BreachKind>,
    /// Users or API clients whose use of the system is suspected. The affected individuals are
    /// computed from their requests within the window.
    #[validate(length(max = 50))]
    #[schema(max_items = 50)]
    pub suspected_actor_ids: Vec<String>,
    pub window_from: Timestamp,
    /// After `window_from`.
    pub window_to: Timestamp,
    /// When the breach occurred (or began), if known; not after `aware_at`.
    pub occurred_at: Option<Timestamp>,
    /// When a breach that went on over a period ended; needs `occurred_at`, not before it,
    /// not in the future.
    pub occurred_until: Option<Timestamp>,
    /// The agencies on whose behalf the breach is reported, besides this one (a CSP, another
    /// department): names.
    #[serde(default)]
    #[validate(length(max = 20))]
    #[schema(max_items = 20)]
    pub on_behalf_of: Vec<String>,
    /// Open incident reports the breach is opened from: each becomes `breach_opened` and names
    /// the breach, which lists them.
    #[serde(default)]
    #[validate(length(max = 20))]
    #[schema(max_items = 20)]
    pub incident_report_ids: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreachListParams {
    /// `true`: the register of eligible data breaches.
    pub eligible: Option<bool>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
}

pub use crate::api::request::PageParams;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExtension {
    /// After the current due date.
    pub new_due_on: Date,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    pub recipient: NotificationRecipient,
    /// The individual notified; required for `individual`, and one of the latest snapshot's.
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    /// How it was sent: letter, email, phone, in person, web form...
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub method: String,
    /// Not in the future.
    pub sent_on: Date,
}

/// An individual the audit trail cannot show, added by hand.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewManualIndividual {
    #[schema(format = Uuid)]
    pub client_id: String,
    /// Where the information was.
    pub source: ManualSource,
    /// Why the individual is affected: what was lost or seen.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    #[validate(length(min = 1, max = 8))]
    #[schema(min_items = 1, max_items = 8)]
    pub information_kinds: Vec<InformationKind>,
    /// The highest protective marking of the records involved; at least the client record's,
    /// which is taken when absent.
    pub protective_marking: Option<ProtectiveMarking>,
}

/// An individual added by hand, as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManualIndividual {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(required = false, format = Uuid)]
    pub breach_id: String,
    #[schema(required = false, format = Uuid)]
    pub client_id: String,
    #[schema(required = false)]
    pub source: ManualSource,
    #[schema(required = false)]
    pub reason: String,
    #[schema(required = false)]
    pub information_kinds: Vec<InformationKind>,
    #[schema(required = false)]
    pub protective_marking: ProtectiveMarking,
    #[schema(required = false, format = Uuid)]
    pub added_by: String,
    #[schema(required = false)]
    pub added_at: DateTime<Utc>,
}

impl Disclose for ManualIndividual {
    fn id(&self) -> &str {
        &self.id
    }
    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDecisionNotToNotify {
    pub recipient: NotificationRecipient,
    /// The individual not notified; required for `individual` (one of the affected), refused
    /// otherwise.
    #[schema(format = Uuid)]
    pub client_id: Option<String>,
    pub ground: NotNotifyingGround,
    /// Required for the ground `other`.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub explanation: Option<String>,
}

/// A decision not to notify, as a draft tells it (no individual named).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotNotifying {
    pub recipient: NotificationRecipient,
    pub ground: NotNotifyingGround,
    pub explanation: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The contents a notification must carry, filled from the register and the latest snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreachNotice {
    #[schema(required = false, format = Uuid)]
    pub breach_id: String,
    #[schema(required = false, format = Uuid)]
    pub snapshot_id: String,
    #[schema(required = false)]
    pub recipient: NotificationRecipient,
    /// The individual, for `individual`.
    #[schema(required = false, format = Uuid)]
    pub client_id: Option<String>,
    /// The agency and how to contact it.
    #[schema(required = false)]
    pub agency: String,
    #[schema(required = false)]
    pub contact: String,
    /// When the agency became aware of the breach.
    #[schema(required = false)]
    pub aware_at: DateTime<Utc>,
    #[schema(required = false)]
    pub how_it_occurred: String,
    #[schema(required = false)]
    pub breach_kinds: Vec<BreachKind>,
    /// When the breach occurred: a moment (`from` = `to`) or a period; null while not known.
    #[schema(required = false)]
    pub occurred: Option<Period>,
    /// The period whose requests were searched for the affected individuals.
    #[schema(required = false)]
    pub period: Period,
    /// The agencies on whose behalf the breach is reported, besides this one.
    #[schema(required = false)]
    pub on_behalf_of: Vec<String>,
    /// The kinds of information involved (for an individual: theirs).
    #[schema(required = false)]
    pub information_kinds: Vec<InformationKind>,
    /// What the individuals should do.
    #[schema(required = false)]
    pub recommended_steps: String,
    /// What the agency did to contain the breach and reduce the harm.
    #[schema(required = false)]
    pub containment_steps: Vec<String>,
    #[schema(required = false)]
    pub number_affected: usize,
    /// Individuals at likely risk of serious harm, as assessed.
    #[schema(required = false)]
    pub individuals_at_risk: Option<u32>,
    /// Individuals notified so far.
    #[schema(required = false)]
    pub number_notified: usize,
    /// Decisions not to notify, with their grounds (for an individual's draft: none).
    #[schema(required = false)]
    pub not_notifying: Vec<NotNotifying>,
    #[schema(required = false)]
    pub how_to_complain: String,
}

impl Disclose for BreachNotice {
    fn id(&self) -> &str {
        &self.breach_id
    }
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DraftParams {
    #[param(inline)]
    pub recipient: NotificationRecipient,
    /// For `individual`: the affected individual.
    #[param(format = Uuid)]
    pub client_id: Option<String>,
}
