DROP TABLE idempotency_key_clients;
