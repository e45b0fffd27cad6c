-- incidents: incidents, their alerts and their append-only timeline.
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,           -- SEV1..SEV4
    status TEXT NOT NULL,             -- triage, investigating, mitigated, resolved, closed
    model TEXT NOT NULL,
    group_key TEXT,                   -- automatic incidents: model + root-cause batch
    commander TEXT,
    scribe TEXT,
    opened_by TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    investigating_at TEXT,
    mitigated_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_group ON incidents (group_key, status);

CREATE TABLE IF NOT EXISTS incident_alerts (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    fingerprint TEXT NOT NULL,
    episode INTEGER NOT NULL DEFAULT 1,
    added_at TEXT NOT NULL,
    PRIMARY KEY (incident_id, fingerprint, episode)
);

CREATE TABLE IF NOT EXISTS incident_timeline (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,               -- opened, alert, status, role, note, notification, decision, postmortem
    actor TEXT NOT NULL,
    text TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS incident_timeline_incident ON incident_timeline (incident_id, entry_id)
