-- baseline_model: model registry. Versions and events are append-only (the registry
-- code never updates or deletes them, guard triggers are installed by
-- baseline_model.registry because this file is split on semicolons).
CREATE TABLE IF NOT EXISTS model_versions (
    model_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    data_version TEXT NOT NULL,          -- sha256 of the training data snapshot
    environment TEXT NOT NULL,           -- JSON: python, sklearn, platform
    evaluation TEXT NOT NULL,            -- JSON: holdout id + metrics
    artifact_path TEXT NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    config_path TEXT,
    deployment_target TEXT NOT NULL DEFAULT 'batch_scoring',
    description TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model_name, version)
);
-- Approval decisions, append-only: the latest row per version is its state.
CREATE TABLE IF NOT EXISTS model_approvals (
    approval_id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('approved', 'rejected')),
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
CREATE INDEX IF NOT EXISTS model_approvals_version ON model_approvals (model_name, version);
-- Current alias pointers, every move is also a registry event.
CREATE TABLE IF NOT EXISTS model_aliases (
    model_name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (model_name, alias),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version)
);
CREATE TABLE IF NOT EXISTS registry_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    kind TEXT NOT NULL,                  -- register, approve, reject, alias_set, alias_removed, promote, rollback, revert
    version INTEGER,
    alias TEXT,
    from_version INTEGER,
    to_version INTEGER,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    details TEXT,                        -- JSON
    reverts_event_id INTEGER
);
CREATE INDEX IF NOT EXISTS registry_events_model ON registry_events (model_name, event_id);
