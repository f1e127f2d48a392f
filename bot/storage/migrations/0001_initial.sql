-- Jobs: one row per generation, from acceptance to delivery. Status changes are
-- compare-and-set updates (UPDATE ... WHERE status IN (...)), see bot/jobs/states.py.
CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,
    status             TEXT NOT NULL,
    kind               TEXT NOT NULL DEFAULT 'imagine',
    user_id            TEXT NOT NULL,
    guild_id           TEXT,
    channel_id         TEXT,
    interaction_id     TEXT,
    interaction_token  TEXT,
    token_expires_at   REAL,
    origin_message_id  TEXT,
    parent_job_id      TEXT,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    request_json       TEXT NOT NULL,
    callback_token     TEXT NOT NULL,
    task_id            TEXT,
    cost               INTEGER NOT NULL,
    quota_day          TEXT,
    posted_message_id  TEXT,
    delivered_via      TEXT,
    failure_kind       TEXT,
    failure_reason     TEXT,
    callback_hinted    INTEGER NOT NULL DEFAULT 0,
    poll_count         INTEGER NOT NULL DEFAULT 0,
    delivery_attempts  INTEGER NOT NULL DEFAULT 0,
    next_poll_at       REAL,
    deadline_at        REAL NOT NULL,
    created_at         REAL NOT NULL,
    updated_at         REAL NOT NULL,
    submitted_at       REAL,
    completed_at       REAL,
    delivered_at       REAL
);
CREATE INDEX jobs_by_status ON jobs (status, next_poll_at);
CREATE INDEX jobs_by_user ON jobs (user_id, status);
CREATE UNIQUE INDEX jobs_by_task ON jobs (provider, task_id) WHERE task_id IS NOT NULL;

-- Reference images, downloaded when the job is accepted (attachment URLs expire).
CREATE TABLE job_references (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    url        TEXT,
    data       BLOB,
    mime_type  TEXT NOT NULL,
    caption    TEXT,
    PRIMARY KEY (job_id, position)
);

-- Results: URLs for async providers, bytes for synchronous ones.
CREATE TABLE job_results (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    url        TEXT,
    data       BLOB,
    mime_type  TEXT,
    PRIMARY KEY (job_id, position)
);

-- Every status change, for the audit trail.
CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at          REAL NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX job_events_by_job ON job_events (job_id);

-- Quota: running totals per user and UTC day, and the ledger entries behind them.
CREATE TABLE quota_usage (
    user_id   TEXT NOT NULL,
    day       TEXT NOT NULL,
    reserved  INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    spent     INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (user_id, day)
);

CREATE TABLE quota_ledger (
    id       INTEGER PRIMARY KEY,
    job_id   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    day      TEXT NOT NULL,
    entry    TEXT NOT NULL CHECK (entry IN ('reserve', 'commit', 'refund')),
    credits  INTEGER NOT NULL,
    at       REAL NOT NULL,
    UNIQUE (job_id, entry)
);

-- Small key/value facts (e.g. the hash of the last application-command sync).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
