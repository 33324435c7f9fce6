ALTER TABLE notices_given DROP COLUMN given_by_organisation_id;
