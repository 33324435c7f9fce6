DROP INDEX clients_name_key;
ALTER TABLE clients DROP COLUMN family_name_key;
ALTER TABLE clients DROP COLUMN given_name_key;
DELETE FROM settings WHERE key = 'name_match_key_version';
