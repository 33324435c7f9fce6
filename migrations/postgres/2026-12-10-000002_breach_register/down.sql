DROP TABLE breach_decisions_not_to_notify;
DROP TABLE breach_manual_individuals;
ALTER TABLE breaches DROP COLUMN on_behalf_of;
ALTER TABLE breaches DROP COLUMN occurred_until;
ALTER TABLE breaches DROP COLUMN occurred_at;
ALTER TABLE breach_notifications DROP CONSTRAINT breach_notifications_recipient_check;
UPDATE breach_notifications SET recipient = 'information_commissioner' WHERE recipient = 'ovic';
UPDATE breach_notifications SET recipient = 'other_agency'
    WHERE recipient IN ('oaic', 'police', 'csp');
ALTER TABLE breach_notifications ADD CONSTRAINT breach_notifications_recipient_check
    CHECK (recipient IN ('information_commissioner', 'individual', 'other_agency'));
