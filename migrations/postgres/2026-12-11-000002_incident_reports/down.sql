DROP TABLE incident_reports;
DELETE FROM alerts WHERE kind = 'incident_reported';
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('denial_burst', 'restricted_client_read', 'lockout', 'password_reset', 'access_granted', 'secret_rotated'));
