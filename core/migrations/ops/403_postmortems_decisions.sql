-- incidents: postmortems (saved revisions, action items) and decisions (append-only).
CREATE TABLE IF NOT EXISTS postmortems (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (incident_id),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    current_revision INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every save is a new revision, never an update.
CREATE TABLE IF NOT EXISTS postmortem_revisions (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    revision INTEGER NOT NULL,
    fields TEXT NOT NULL,             -- JSON {field: text}
    author TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    comment TEXT,
    PRIMARY KEY (incident_id, revision)
);

CREATE TABLE IF NOT EXISTS action_items (
    item_id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    title TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,               -- prevent, mitigate, detect, repair, process
    due TEXT NOT NULL,                -- YYYY-MM-DD
    status TEXT NOT NULL,             -- open, in_progress, done, wont_do
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS action_items_incident ON action_items (incident_id);

-- Decisions: one row per event (recommended, approved, rejected, carried_out, reversed).
-- The latest row of a decision_id is its state. Who, when, why and the evidence, always.
CREATE TABLE IF NOT EXISTS decisions (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    kind TEXT NOT NULL,
    action TEXT NOT NULL,             -- fix_monitoring, fix_upstream, roll_back, retrain, hold_and_watch
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,           -- JSON
    model_name TEXT,
    target_version INTEGER,
    registry_event_id INTEGER
);
CREATE INDEX IF NOT EXISTS decisions_decision ON decisions (decision_id, event_id);
CREATE INDEX IF NOT EXISTS decisions_incident ON decisions (incident_id, event_id)
