-- Append-only audit trail of every write from the app or the CLI (core/audit.py).
-- The UPDATE / DELETE guards are triggers, installed from core/audit.py because this
-- file is split on semicolons and a trigger body needs them.
CREATE TABLE IF NOT EXISTS audit_log (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,              -- ISO UTC wall time
    actor TEXT NOT NULL,           -- user name, or 'system' for the scheduler's own writes
    action TEXT NOT NULL,          -- e.g. registry.promote, alerts.acknowledge, users.add
    target TEXT NOT NULL,          -- what was acted on, e.g. 'credit_default@champion'
    before TEXT,                   -- JSON state before (NULL when created)
    after TEXT                     -- JSON state after (NULL when removed)
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, at);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, at);

-- Sign-in state shared by every process (dashboard replicas, CLI): failed attempts,
-- lockouts and sessions. Session tokens are stored as SHA-256 digests, never as issued.
CREATE TABLE IF NOT EXISTS auth_failures (
    failure_id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_failures_user ON auth_failures (username, at);
CREATE INDEX IF NOT EXISTS auth_failures_source ON auth_failures (source, at);
CREATE TABLE IF NOT EXISTS auth_locks (
    lock_key TEXT PRIMARY KEY,     -- 'user:<name>' or 'source:<where from>'
    locked_at TEXT NOT NULL,
    until TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_sessions (
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (username)
