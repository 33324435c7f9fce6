DELETE FROM change_audiences
WHERE audience_id NOT IN (SELECT id FROM organisations);
ALTER TABLE change_audiences RENAME COLUMN audience_id TO organisation_id;
