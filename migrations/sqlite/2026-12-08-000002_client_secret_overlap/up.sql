-- A rotated API client secret keeps working for a while (CASEBRIDGE_CLIENT_SECRET_OVERLAP_HOURS),
-- so that a CSP can deploy the new one without an outage: the digest of the secret it
-- replaced, and until when that one is still accepted.
ALTER TABLE api_client_secrets ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE api_client_secrets ADD COLUMN previous_valid_until TIMESTAMP;
