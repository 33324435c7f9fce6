DROP INDEX clients_given_name_key_page;
DROP INDEX clients_family_name_key_page;
DROP TABLE client_name_keys;
