-- The index the tolerant name search and the duplicate check look names up in: each client's
-- keys (domain::names::index_keys: the match key of each name and of each of its parts, and
-- their variants one letter shorter), written in the transaction of every write of a name
-- (db::clients::insert and ::update) and removed with the client at disposal. The keys of
-- clients stored before it are made when the service migrates (db::clients::refresh_name_keys,
-- key version 2).
CREATE TABLE client_name_keys (
    name_key TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    PRIMARY KEY (name_key, client_id)
);
CREATE INDEX client_name_keys_client ON client_name_keys (client_id);

-- The list filters by name (`GET /clients?family_name=`, `?given_name=`) in page order: a page
-- reads as many rows as it shows, not everyone with a common name.
CREATE INDEX clients_family_name_key_page ON clients (family_name_key, id);
CREATE INDEX clients_given_name_key_page ON clients (given_name_key, id);
