-- Issue 20, part 1: CSPs give the collection notice too. Each notice given names the
-- organisation whose person recorded it giving it (the department's division or the CSP), so
-- the department can see which CSP gave which notice. Rows recorded before are the recorder's
-- organisation.
ALTER TABLE notices_given ADD COLUMN given_by_organisation_id TEXT REFERENCES organisations (id);
UPDATE notices_given SET given_by_organisation_id = users.organisation_id
    FROM users WHERE users.id = notices_given.recorded_by;
ALTER TABLE notices_given ALTER COLUMN given_by_organisation_id SET NOT NULL;
