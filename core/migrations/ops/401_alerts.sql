-- incidents: alert lifecycle (Prometheus alerting-rule semantics), silences, notification log.
-- Alert identity is the fingerprint of its identity labels (check, model, subject),
-- everything else (value, bounds, explanation, evidence, timestamps) is an annotation.
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    check_name TEXT NOT NULL,
    family TEXT NOT NULL,
    model TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,             -- JSON: identity + derived labels (table, column, feature, owner, ...)
    annotations TEXT NOT NULL,        -- JSON: value, lower, upper, explanation, evidence, batch
    state TEXT NOT NULL,              -- inactive, pending, firing, resolved
    fail_streak INTEGER NOT NULL DEFAULT 0,
    ok_streak INTEGER NOT NULL DEFAULT 0,
    episode INTEGER NOT NULL DEFAULT 1,
    started_batch TEXT,               -- event time: first failing batch of the current episode
    fired_batch TEXT,
    resolved_batch TEXT,
    last_batch TEXT,                  -- event time: latest batch processed (later ones are re-checks)
    first_seen_at TEXT NOT NULL,      -- wall time
    updated_at TEXT NOT NULL,
    fired_at TEXT,
    resolved_at TEXT,
    acked_by TEXT,
    acked_at TEXT,
    inhibited_by TEXT,                -- fingerprint of the root-cause alert
    silenced_by TEXT,                 -- silence id
    incident_id TEXT
);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, model);

-- One row per (alert, batch): what the check said about that batch (late re-checks update it).
CREATE TABLE IF NOT EXISTS alert_batches (
    fingerprint TEXT NOT NULL,
    batch TEXT NOT NULL,
    status TEXT NOT NULL,
    value REAL,
    lower REAL,
    upper REAL,
    explanation TEXT,
    evidence TEXT,
    checked_at TEXT NOT NULL,
    rechecks INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (fingerprint, batch)
);

-- Append-only record of every transition (and re-check) of every alert.
CREATE TABLE IF NOT EXISTS alert_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    batch TEXT,
    from_state TEXT,
    to_state TEXT NOT NULL,
    kind TEXT NOT NULL,               -- transition, recheck, ack, inhibited, silenced
    at TEXT NOT NULL,
    actor TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS alert_events_fp ON alert_events (fingerprint, event_id);

CREATE TABLE IF NOT EXISTS silences (
    silence_id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,           -- JSON list of {name, op, value}
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    author TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expired_at TEXT,                  -- set when expired early by hand
    expired_by TEXT
);

-- The notification log: what was sent (or failed) to whom, per group, read by dedup.
CREATE TABLE IF NOT EXISTS notifications (
    notification_id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    route INTEGER NOT NULL,
    group_key TEXT NOT NULL,          -- JSON of the group_by labels
    firing TEXT NOT NULL,             -- JSON list of fingerprints notified as firing
    resolved TEXT NOT NULL,           -- JSON list of fingerprints notified as resolved
    payload_kind TEXT NOT NULL,       -- slack, alertmanager
    status TEXT NOT NULL,             -- sent, failed
    attempts INTEGER NOT NULL,
    error TEXT,
    http_status INTEGER,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_group ON notifications (receiver, group_key, notification_id)
