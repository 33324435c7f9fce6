ALTER TABLE api_client_secrets DROP COLUMN previous_valid_until;
ALTER TABLE api_client_secrets DROP COLUMN previous_secret_hash;
