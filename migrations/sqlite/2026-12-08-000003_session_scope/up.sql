-- The roles an API client's token was narrowed to by the `scope` it asked for at the token
-- endpoint (a JSON list); NULL: all of its roles. Applied on every request with the
-- principal's roles as they are then, so a role taken away later is gone from the token too.
ALTER TABLE sessions ADD COLUMN scope TEXT;
