-- Check cycles: heartbeat of the scheduler and history of runs.
CREATE TABLE IF NOT EXISTS cycles (
    cycle_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',  -- running, ok, failed
    error TEXT,
    summary TEXT  -- JSON counts
);
CREATE INDEX IF NOT EXISTS cycles_model_started ON cycles (model, started_at);
