-- A job's kind, by which completion times are learned (bot/jobs/kinds.py): the resolution it
-- asked for (NULL: the model's default) and how many reference images it was accepted with.
-- Columns, so that the bot reads them back at start, and with every job, without decoding
-- requests or counting reference rows. Earlier jobs get theirs from their stored request and
-- reference rows (kept, without bytes, when retention purges the images).
ALTER TABLE jobs ADD COLUMN resolution TEXT;
ALTER TABLE jobs ADD COLUMN reference_count INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET
    resolution = CASE WHEN json_valid(request_json)
        THEN json_extract(request_json, '$.resolution') END,
    reference_count = (SELECT COUNT(*) FROM job_references r WHERE r.job_id = jobs.id);
