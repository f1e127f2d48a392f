-- Reference images are kept for re-rolls only for REFERENCE_RETENTION_HOURS after a job ends
-- (bot/storage/retention.py); references_purged_at says when a job's were deleted, so a
-- re-roll after that is refused with a clear reason instead of being sent without them.
ALTER TABLE jobs ADD COLUMN references_purged_at REAL;
CREATE INDEX jobs_by_end ON jobs (status, updated_at) WHERE references_purged_at IS NULL;
