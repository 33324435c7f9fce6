DROP TABLE client_name_keys;
