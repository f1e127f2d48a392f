-- Several images from a model that makes one per request: one job per image, submitted
-- together as a group (the first is its id) and posted together once every member has ended
-- (bot/jobs/delivery.py). Each member reserves, commits or refunds its own credits.
ALTER TABLE jobs ADD COLUMN group_id TEXT;
ALTER TABLE jobs ADD COLUMN group_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN group_size INTEGER NOT NULL DEFAULT 1;
CREATE INDEX jobs_by_group ON jobs (group_id) WHERE group_id IS NOT NULL;
