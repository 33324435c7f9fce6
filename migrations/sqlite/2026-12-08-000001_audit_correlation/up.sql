-- The ids the caller sent to tie a request to its own records (a W3C traceparent's trace id
-- and its own X-Request-Id when a UUID), validated and of fixed length; absent otherwise, and
-- then left out of the row's hash, so rows stored before these columns keep their hashes.
ALTER TABLE audit_events ADD COLUMN trace_id TEXT;
ALTER TABLE audit_events ADD COLUMN caller_request_id TEXT;
