ALTER TABLE users DROP COLUMN grant_requested_at;
ALTER TABLE users DROP COLUMN grant_requested_by;
ALTER TABLE users DROP COLUMN pending_organisation_id;
ALTER TABLE users DROP COLUMN pending_clearance;
ALTER TABLE users DROP COLUMN pending_roles;
ALTER TABLE users DROP COLUMN password_change_required;
