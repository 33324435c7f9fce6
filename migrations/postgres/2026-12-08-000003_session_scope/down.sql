ALTER TABLE sessions DROP COLUMN scope;
