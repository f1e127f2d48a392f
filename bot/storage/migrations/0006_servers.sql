-- Moderated servers: each server's settings (one JSON document, validated by
-- bot/moderation/policy.py), what all its members reserved and spent per UTC day and month
-- (the server budget, bot/storage/budget.py), and the audit log.
CREATE TABLE guild_settings (
    guild_id      TEXT PRIMARY KEY,
    settings_json TEXT NOT NULL,
    updated_at    REAL NOT NULL
);

CREATE TABLE guild_usage (
    guild_id  TEXT NOT NULL,
    period    TEXT NOT NULL,  -- YYYY-MM-DD or YYYY-MM
    reserved  INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    spent     INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (guild_id, period)
);

-- the server a reservation also counted against (NULL: a DM or the CLI)
ALTER TABLE quota_ledger ADD COLUMN guild_id TEXT;

UPDATE quota_ledger SET guild_id = (SELECT guild_id FROM jobs WHERE jobs.id = quota_ledger.job_id);

-- what servers used before this migration, from the ledger: unsettled reservations are
-- reserved, commits spent, refunds nothing
INSERT INTO guild_usage (guild_id, period, reserved, spent)
SELECT r.guild_id, periods.period,
       SUM(CASE WHEN s.entry IS NULL THEN r.credits ELSE 0 END),
       SUM(CASE WHEN s.entry = 'commit' THEN r.credits ELSE 0 END)
FROM quota_ledger r
JOIN (SELECT DISTINCT day AS period, day FROM quota_ledger
      UNION SELECT DISTINCT substr(day, 1, 7), day FROM quota_ledger) periods
  ON periods.day = r.day
LEFT JOIN quota_ledger s ON s.job_id = r.job_id AND s.entry IN ('commit', 'refund')
WHERE r.entry = 'reserve' AND r.guild_id IS NOT NULL
GROUP BY r.guild_id, periods.period;

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    guild_id    TEXT,
    at          REAL NOT NULL,
    actor_id    TEXT,            -- who did it (NULL: the bot)
    kind        TEXT NOT NULL,   -- see bot/moderation/audit.py
    job_id      TEXT,
    channel_id  TEXT,
    detail_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_guild ON audit_events (guild_id, at);
CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at);
