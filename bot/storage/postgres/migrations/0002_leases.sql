-- SQLite's 0009_leases.sql: several processes share one database. Each engine is a worker
-- with a random id and a heartbeat; a job names the worker that last claimed it, and a
-- SUBMITTING job whose worker is no longer seen is failed with a refund by whichever process
-- notices (bot/jobs/leases.py).
CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    started_at DOUBLE PRECISION NOT NULL,
    seen_at    DOUBLE PRECISION NOT NULL
);
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
