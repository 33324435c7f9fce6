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
use crate::domain::InformationKind;

/// A notification that the kinds of information disclosed call for, beyond the usual ones.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdditionalNotification {
    /// Who must also be told.
    pub notify: String,
    pub reason: String,
    #[schema(format = Uuid)]
    pub client_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedIndividual {
    #[schema(format = Uuid)]
    pub client_id: String,
    pub information_kinds: Vec<InformationKind>,
    /// Every field disclosed, as `resource.field`.
    pub fields: Vec<String>,
    pub first_disclosed_at: DateTime<Utc>,
    pub last_disclosed_at: DateTime<Utc>,
    /// The audit events that disclosed the client's data: the evidence.
    pub event_ids: Vec<String>,
    pub tax_file_number_disclosed: bool,
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
    #[schema(required = false)]
    pub additional_notifications: Vec<AdditionalNotification>,
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
    let mut counts_by_kind = BTreeMap::new();
    let individuals: Vec<AffectedIndividual> = individuals
        .into_iter()
        .map(|(client_id, individual)| {
            for kind in &individual.kinds {
                *counts_by_kind.entry(*kind).or_insert(0) += 1;
            }
            let at = |moment: Option<NaiveDateTime>| utc(moment.unwrap_or(computed_at));
            AffectedIndividual {
                tax_file_number_disclosed: individual
                    .kinds
                    .contains(&InformationKind::TaxFileNumber),
                first_disclosed_at: at(individual.first),
                last_disclosed_at: at(individual.last),
                information_kinds: individual.kinds.into_iter().collect(),
                fields: individual.fields.into_iter().collect(),
                event_ids: individual.event_ids,
                client_id,
            }
        })
        .collect();
    Ok(BreachImpact {
        breach_id: scope.breach_id.to_owned(),
        snapshot_id: None,
        computed_at: utc(computed_at),
        window_from: utc(scope.window_from),
        window_to: utc(scope.window_to),
        suspected_actor_ids: scope.suspected_actor_ids,
        number_affected: individuals.len(),
        additional_notifications: additional_notifications(&individuals),
        counts_by_kind,
        individuals,
    })
}

fn additional_notifications(individuals: &[AffectedIndividual]) -> Vec<AdditionalNotification> {
    let tax_file_numbers: Vec<String> = individuals
        .iter()
        .filter(|individual| individual.tax_file_number_disclosed)
        .map(|individual| individual.client_id.clone())
        .collect();
    if tax_file_numbers.is_empty() {
        return Vec::new();
    }
    vec![AdditionalNotification {
        notify: "commonwealth_information_commissioner".into(),
        reason: format!(
            "Tax file numbers of {} individual(s) were disclosed: a breach of the Commonwealth \
             TFN Rule must be notified to the Office of the Australian Information Commissioner.",
            tax_file_numbers.len()
        ),
        client_ids: tax_file_numbers,
    }]
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
        assert_eq!(a.first_disclosed_at.format("%M").to_string(), "01");
        assert_eq!(a.last_disclosed_at.format("%M").to_string(), "02");
        let b = impact.individual("b").unwrap();
        assert!(!b.tax_file_number_disclosed);
        assert_eq!(
            b.information_kinds,
            [InformationKind::Identity, InformationKind::CaseNotes]
        );
        assert_eq!(impact.counts_by_kind[&InformationKind::Identity], 2);
        assert_eq!(impact.counts_by_kind[&InformationKind::TaxFileNumber], 1);
        assert_eq!(impact.additional_notifications.len(), 1);
        assert_eq!(impact.additional_notifications[0].client_ids, ["a"]);
    }
}
