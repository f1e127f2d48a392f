-- Several processes may share one store (PostgreSQL): each engine is a worker with a random id
-- and a heartbeat. A job names the worker that last claimed it (to send its create request,
-- poll it or deliver it); a SUBMITTING job whose worker is no longer seen is failed with a
-- refund by whichever process notices (bot/jobs/leases.py).
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    seen_at REAL NOT NULL
);
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
