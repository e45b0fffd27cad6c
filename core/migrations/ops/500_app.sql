-- App processes (scheduler, dashboard) beat here, so `vigil status` and the Overview
-- page can tell a stopped scheduler from a slow one.
CREATE TABLE IF NOT EXISTS process_heartbeats (
    process_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,            -- scheduler, dashboard
    model TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    beat_at TEXT NOT NULL,
    stopped_at TEXT,
    detail TEXT                    -- JSON: interval, simulate flag
);
CREATE INDEX IF NOT EXISTS process_heartbeats_kind ON process_heartbeats (kind, model, beat_at)
