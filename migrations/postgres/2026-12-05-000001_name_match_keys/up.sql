-- What a client's names are matched on (domain::names::match_key: NFKC, the TS #39 confusable
-- skeleton, no case, accents, spaces or punctuation), so that a look-alike name is found by
-- an equality in SQL. Every write of a name keeps them (db::clients::insert and ::update);
-- rows written before, or under another version of the key, get theirs when the service
-- migrates (db::clients::refresh_name_keys).
ALTER TABLE clients ADD COLUMN given_name_key TEXT;
ALTER TABLE clients ADD COLUMN family_name_key TEXT;
CREATE INDEX clients_name_key ON clients (family_name_key, given_name_key);
