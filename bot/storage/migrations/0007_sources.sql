-- The web pages a grounded generation drew on, as the provider named them (a JSON array of
-- {"url", "title"}; NULL: none), set when the job succeeds and shown under its result.
ALTER TABLE jobs ADD COLUMN sources_json TEXT;
