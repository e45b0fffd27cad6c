-- baseline_model: training runs (experiment records) and notes attached to them.
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'train',  -- train, reproduce
    config_name TEXT NOT NULL,
    config_path TEXT NOT NULL,
    status TEXT NOT NULL,                -- running, ok, failed
    started_at TEXT NOT NULL,
    duration_s REAL,
    model_type TEXT,
    params TEXT,                         -- JSON
    metrics TEXT,                        -- JSON
    baseline_metrics TEXT,               -- JSON: the non-ML rule on the same holdout
    data_sha256 TEXT,
    artifact_path TEXT,
    artifact_sha256 TEXT,
    manifest_path TEXT,
    git_commit TEXT,
    git_dirty INTEGER,
    command TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_model_started ON runs (model_name, started_at);
CREATE TABLE IF NOT EXISTS run_notes (
    note_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    text TEXT NOT NULL
);
