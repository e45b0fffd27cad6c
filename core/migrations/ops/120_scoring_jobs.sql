-- baseline_model: one row per batch scoring job (job health is monitored from here).
CREATE TABLE IF NOT EXISTS scoring_jobs (
    job_id TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    model_version INTEGER,
    batch_date TEXT NOT NULL,            -- YYYY-MM-DD of the applications scored
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_s REAL,
    status TEXT NOT NULL,                -- running, ok, failed
    rows_in INTEGER NOT NULL DEFAULT 0,
    scored INTEGER NOT NULL DEFAULT 0,
    fallback INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    fallback_reasons TEXT,               -- JSON {reason: count}
    error TEXT,
    output_path TEXT,
    output_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS scoring_jobs_model_batch ON scoring_jobs (model_name, batch_date);
