-- SQLite's 0010_job_kind.sql: a job's kind, by which completion times are learned
-- (bot/jobs/kinds.py): the resolution it asked for (NULL: the model's default) and how many
-- reference images it was accepted with. Earlier jobs get theirs from their stored request
-- (its top-level "resolution" string: the request is compact JSON whose string values escape
-- their quotes, so only the key itself matches; no JSON cast that a bad row could fail) and
-- their reference rows.
ALTER TABLE jobs ADD COLUMN resolution TEXT;
ALTER TABLE jobs ADD COLUMN reference_count INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET
    resolution = substring(request_json FROM '"resolution":"([^"\\]*)"'),
    reference_count = (SELECT COUNT(*) FROM job_references r WHERE r.job_id = jobs.id);
