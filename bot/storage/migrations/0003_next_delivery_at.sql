-- A succeeded job's next delivery attempt has its own time; next_poll_at is for polls only.
ALTER TABLE jobs ADD COLUMN next_delivery_at REAL;
UPDATE jobs SET next_delivery_at = next_poll_at, next_poll_at = NULL WHERE status = 'succeeded';
CREATE INDEX jobs_by_delivery ON jobs (status, next_delivery_at);
