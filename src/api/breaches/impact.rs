//! Who a breach affected, computed from the audit trail: every client whose data a suspected
//! actor's allowed requests disclosed within the breach's window, with the fields, the kinds
//! of information and when. Never guessed, never cached: a snapshot is a saved computation.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::disclosure::Disclose;
use crate::api::request::utc;
use crate::db::breaches::DisclosingEvent;
use crate::domain::{InformationKind, ManualSource, NotificationRecipient, ProtectiveMarking};

/// A notification that what the breach touched calls for: the Victorian Information
/// Commissioner (`ovic`) when records marked `OFFICIAL: Sensitive` or higher were involved,
/// the Commonwealth one (`oaic`) when tax file numbers were.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequiredNotification {
    pub recipient: NotificationRecipient,
    pub reason: String,
    /// The individuals whose records call for it.
    #[schema(format = Uuid)]
    pub client_ids: Vec<String>,
}

/// How a privacy officer added an individual by hand, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddedByHand {
    pub source: ManualSource,
    pub reason: String,
    pub information_kinds: Vec<InformationKind>,
    /// The highest protective marking of the records involved.
    pub protective_marking: ProtectiveMarking,
    #[schema(format = Uuid)]
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedIndividual {
    #[schema(format = Uuid)]
    pub client_id: String,
    pub information_kinds: Vec<InformationKind>,
    /// Every field disclosed, as `resource.field` (none for an individual added by hand only).
    pub fields: Vec<String>,
    /// Null for an individual added by hand only.
    pub first_disclosed_at: Option<DateTime<Utc>>,
    pub last_disclosed_at: Option<DateTime<Utc>>,
    /// The audit events that disclosed the client's data: the evidence.
    pub event_ids: Vec<String>,
    pub tax_file_number_disclosed: bool,
    /// The highest protective marking of the records involved: the client record, and its
    /// cases or notes when case details or notes were disclosed. Null in snapshots saved
    /// before markings were recorded.
    #[serde(default)]
    pub highest_marking: Option<ProtectiveMarking>,
    /// Set when a privacy officer added the individual by hand.
    #[serde(default)]
    pub added_by_hand: Option<AddedByHand>,
}

/// The affected individuals of a breach.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BreachImpact {
    #[schema(required = false, format = Uuid)]
    pub breach_id: String,
    /// Set when this computation was saved as the basis of notifications.
    #[schema(required = false, format = Uuid)]
    pub snapshot_id: Option<String>,
    #[schema(required = false)]
    pub computed_at: DateTime<Utc>,
    #[schema(required = false)]
    pub window_from: DateTime<Utc>,
    #[schema(required = false)]
    pub window_to: DateTime<Utc>,
    #[schema(required = false)]
    pub suspected_actor_ids: Vec<String>,
    #[schema(required = false)]
    pub number_affected: usize,
    /// How many individuals had each kind of information disclosed.
    #[schema(required = false)]
    pub counts_by_kind: BTreeMap<InformationKind, usize>,
    /// The notifications what the breach touched calls for.
    #[serde(default)]
    #[schema(required = false)]
    pub required_notifications: Vec<RequiredNotification>,
    #[schema(required = false)]
    pub individuals: Vec<AffectedIndividual>,
}

impl Disclose for BreachImpact {
    fn id(&self) -> &str {
        &self.breach_id
    }
    fn client_id(&self) -> Option<&str> {
        None
    }
}

impl BreachImpact {
    pub fn individual(&self, client_id: &str) -> Option<&AffectedIndividual> {
        self.individuals
            .iter()
            .find(|individual| individual.client_id == client_id)
    }

    /// Every kind of information disclosed about anyone.
    pub fn information_kinds(&self) -> Vec<InformationKind> {
        self.counts_by_kind.keys().copied().collect()
    }

    /// Sets each individual's highest marking from `markings` (client id to the highest
    /// marking of the records involved), raised by what was added by hand, and counts again.
    pub fn mark(&mut self, markings: &BTreeMap<String, ProtectiveMarking>) {
        for individual in &mut self.individuals {
            let by_hand = individual
                .added_by_hand
                .as_ref()
                .map(|added| added.protective_marking);
            individual.highest_marking = markings
                .get(&individual.client_id)
                .copied()
                .max(by_hand)
                .max(individual.highest_marking);
        }
        self.tally();
    }

    /// Adds the individuals added by hand (client id, how), joining those the trail found,
    /// and counts again.
    pub fn add_by_hand(&mut self, added: Vec<(String, AddedByHand)>) {
        for (client_id, added) in added {
            let position = self
                .individuals
                .iter()
                .position(|individual| individual.client_id == client_id);
            let individual = match position {
                Some(position) => &mut self.individuals[position],
                None => {
                    self.individuals.push(AffectedIndividual {
                        client_id,
                        information_kinds: Vec::new(),
                        fields: Vec::new(),
                        first_disclosed_at: None,
                        last_disclosed_at: None,
                        event_ids: Vec::new(),
                        tax_file_number_disclosed: false,
                        highest_marking: None,
                        added_by_hand: None,
                    });
                    self.individuals.last_mut().expect("just pushed")
                }
            };
            let kinds: BTreeSet<InformationKind> = individual
                .information_kinds
                .iter()
                .chain(&added.information_kinds)
                .copied()
                .collect();
            individual.tax_file_number_disclosed = kinds.contains(&InformationKind::TaxFileNumber);
            individual.information_kinds = kinds.into_iter().collect();
            individual.highest_marking = individual
                .highest_marking
                .max(Some(added.protective_marking));
            individual.added_by_hand = Some(added);
        }
        self.individuals
            .sort_by(|a, b| a.client_id.cmp(&b.client_id));
        self.tally();
    }

    /// The counts and the notifications called for, from the individuals.
    fn tally(&mut self) {
        let mut counts_by_kind = BTreeMap::new();
        for individual in &self.individuals {
            for kind in &individual.information_kinds {
                *counts_by_kind.entry(*kind).or_insert(0) += 1;
            }
        }
        self.counts_by_kind = counts_by_kind;
        self.number_affected = self.individuals.len();
        self.required_notifications = required_notifications(&self.individuals);
    }
}

/// What one breach's window and suspects are.
pub struct Scope<'a> {
    pub breach_id: &'a str,
    pub window_from: NaiveDateTime,
    pub window_to: NaiveDateTime,
    pub suspected_actor_ids: Vec<String>,
}

#[derive(Default)]
struct Individual {
    fields: BTreeSet<String>,
    kinds: BTreeSet<InformationKind>,
    first: Option<NaiveDateTime>,
    last: Option<NaiveDateTime>,
    event_ids: Vec<String>,
}

pub fn compute(
    scope: Scope,
    events: Vec<DisclosingEvent>,
    computed_at: NaiveDateTime,
) -> anyhow::Result<BreachImpact> {
    let mut individuals: BTreeMap<String, Individual> = BTreeMap::new();
    for event in events {
        let resource = event.resource_type.unwrap_or_default();
        let fields: Vec<String> = serde_json::from_str(&event.fields)?;
        let kinds: BTreeSet<InformationKind> = fields
            .iter()
            .filter_map(|field| InformationKind::of(&resource, field))
            .collect();
        // A list discloses the same fields of every client it names.
        for client_id in serde_json::from_str::<Vec<String>>(&event.client_ids)? {
            let individual = individuals.entry(client_id).or_default();
            individual
                .fields
                .extend(fields.iter().map(|field| format!("{resource}.{field}")));
            individual.kinds.extend(kinds.iter().copied());
            individual.first.get_or_insert(event.occurred_at);
            individual.last = Some(event.occurred_at);
            individual.event_ids.push(event.id.clone());
        }
    }
    let individuals: Vec<AffectedIndividual> = individuals
        .into_iter()
        .map(|(client_id, individual)| AffectedIndividual {
            tax_file_number_disclosed: individual.kinds.contains(&InformationKind::TaxFileNumber),
            first_disclosed_at: individual.first.map(utc),
            last_disclosed_at: individual.last.map(utc),
            information_kinds: individual.kinds.into_iter().collect(),
            fields: individual.fields.into_iter().collect(),
            event_ids: individual.event_ids,
            highest_marking: None,
            added_by_hand: None,
            client_id,
        })
        .collect();
    let mut impact = BreachImpact {
        breach_id: scope.breach_id.to_owned(),
        snapshot_id: None,
        computed_at: utc(computed_at),
        window_from: utc(scope.window_from),
        window_to: utc(scope.window_to),
        suspected_actor_ids: scope.suspected_actor_ids,
        number_affected: 0,
        counts_by_kind: BTreeMap::new(),
        required_notifications: Vec::new(),
        individuals,
    };
    impact.tally();
    Ok(impact)
}

/// The regulators the individuals' records call for: OVIC for records marked `OFFICIAL:
/// Sensitive` or higher, the OAIC for tax file numbers (the Commonwealth TFN Rule).
fn required_notifications(individuals: &[AffectedIndividual]) -> Vec<RequiredNotification> {
    let whose = |calls_for: &dyn Fn(&AffectedIndividual) -> bool| -> Vec<String> {
        individuals
            .iter()
            .filter(|individual| calls_for(individual))
            .map(|individual| individual.client_id.clone())
            .collect()
    };
    let sensitive = whose(&|individual| {
        individual.highest_marking >= Some(ProtectiveMarking::OfficialSensitive)
    });
    let tax_file_numbers = whose(&|individual| individual.tax_file_number_disclosed);
    let mut required = Vec::new();
    if !sensitive.is_empty() {
        required.push(RequiredNotification {
            recipient: NotificationRecipient::Ovic,
            reason: format!(
                "Records marked OFFICIAL: Sensitive or higher of {} individual(s) were involved: \
                 the Office of the Victorian Information Commissioner must be notified (VPDSS \
                 standard 9).",
                sensitive.len()
            ),
            client_ids: sensitive,
        });
    }
    if !tax_file_numbers.is_empty() {
        required.push(RequiredNotification {
            recipient: NotificationRecipient::Oaic,
            reason: format!(
                "Tax file numbers of {} individual(s) were involved: a breach of the \
                 Commonwealth TFN Rule must be notified to the Office of the Australian \
                 Information Commissioner.",
                tax_file_numbers.len()
            ),
            client_ids: tax_file_numbers,
        });
    }
    required
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        id: &str,
        minute: u32,
        resource: &str,
        clients: &[&str],
        fields: &[&str],
    ) -> DisclosingEvent {
        DisclosingEvent {
            id: id.into(),
            occurred_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
                .unwrap()
                .and_hms_opt(9, minute, 0)
                .unwrap(),
            resource_type: Some(resource.into()),
            client_ids: serde_json::to_string(clients).unwrap(),
            fields: serde_json::to_string(fields).unwrap(),
        }
    }

    #[test]
    fn each_client_gets_the_fields_kinds_and_times_of_the_events_that_named_it() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 3)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let scope = Scope {
            breach_id: "b",
            window_from: at,
            window_to: at,
            suspected_actor_ids: vec!["u".into()],
        };
        let events = vec![
            event("e1", 1, "client", &["a", "b"], &["id", "given_name"]),
            event("e2", 2, "client", &["a"], &["tax_file_number"]),
            event("e3", 3, "note", &["b"], &["body"]),
        ];
        let impact = compute(scope, events, at).unwrap();
        assert_eq!(impact.number_affected, 2);
        let a = impact.individual("a").unwrap();
        assert_eq!(
            a.fields,
            ["client.given_name", "client.id", "client.tax_file_number"]
        );
        assert_eq!(
            a.information_kinds,
            [InformationKind::Identity, InformationKind::TaxFileNumber]
        );
        assert_eq!(a.event_ids, ["e1", "e2"]);
        assert!(a.tax_file_number_disclosed);
        assert_eq!(a.first_disclosed_at.unwrap().format("%M").to_string(), "01");
        assert_eq!(a.last_disclosed_at.unwrap().format("%M").to_string(), "02");
        let b = impact.individual("b").unwrap();
        assert!(!b.tax_file_number_disclosed);
        assert_eq!(
            b.information_kinds,
            [InformationKind::Identity, InformationKind::CaseNotes]
        );
        assert_eq!(impact.counts_by_kind[&InformationKind::Identity], 2);
        assert_eq!(impact.counts_by_kind[&InformationKind::TaxFileNumber], 1);
        assert_eq!(impact.required_notifications.len(), 1);
        assert_eq!(
            impact.required_notifications[0].recipient,
            NotificationRecipient::Oaic
        );
        assert_eq!(impact.required_notifications[0].client_ids, ["a"]);
    }

    #[test]
    fn an_individual_added_by_hand_joins_the_computed_one_and_raises_its_flags() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 3)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let scope = Scope {
            breach_id: "b",
            window_from: at,
            window_to: at,
            suspected_actor_ids: vec!["u".into()],
        };
        let events = vec![event("e1", 1, "client", &["a"], &["given_name"])];
        let mut impact = compute(scope, events, at).unwrap();
        impact.mark(&BTreeMap::from([(
            "a".to_owned(),
            ProtectiveMarking::Official,
        )]));
        assert!(impact.required_notifications.is_empty());
        let added = |kinds: Vec<InformationKind>, marking| AddedByHand {
            source: ManualSource::PaperRecord,
            reason: "lost".into(),
            information_kinds: kinds,
            protective_marking: marking,
            added_by: "p".into(),
            added_at: utc(at),
        };
        impact.add_by_hand(vec![
            (
                "a".into(),
                added(
                    vec![InformationKind::TaxFileNumber],
                    ProtectiveMarking::Official,
                ),
            ),
            (
                "c".into(),
                added(vec![InformationKind::Contact], ProtectiveMarking::Protected),
            ),
        ]);
        assert_eq!(impact.number_affected, 2);
        let a = impact.individual("a").unwrap();
        assert_eq!(a.event_ids, ["e1"]);
        assert!(a.tax_file_number_disclosed && a.added_by_hand.is_some());
        let c = impact.individual("c").unwrap();
        assert_eq!(c.highest_marking, Some(ProtectiveMarking::Protected));
        assert_eq!(c.first_disclosed_at, None);
        let flags: Vec<_> = impact
            .required_notifications
            .iter()
            .map(|required| (required.recipient, required.client_ids.clone()))
            .collect();
        assert_eq!(
            flags,
            [
                (NotificationRecipient::Ovic, vec!["c".to_owned()]),
                (NotificationRecipient::Oaic, vec!["a".to_owned()]),
            ]
        );
    }
}
