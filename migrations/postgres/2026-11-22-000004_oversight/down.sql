DROP TABLE alerts;
DROP TABLE breach_notifications;
DROP TABLE breach_snapshots;
DROP TABLE breach_containment_actions;
DROP TABLE breach_extensions;
DROP TABLE breaches;
