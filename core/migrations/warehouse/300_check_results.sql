-- Check results: one row per (check, subject, batch, model); a re-check replaces the row.
CREATE TABLE IF NOT EXISTS check_results (
    check_name VARCHAR NOT NULL,      -- registered check name; runbooks/<check_name>.md
    family VARCHAR NOT NULL,          -- input_quality, unit_change, feature_drift, prediction, performance
    subject VARCHAR NOT NULL,         -- 'applications.income', 'predictions.score', 'model', 'model.<kpi>'
    batch TIMESTAMP NOT NULL,         -- batch start, naive UTC
    model VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- ok, warn, fail, error, skipped
    severity VARCHAR NOT NULL,        -- info, warning, critical
    value DOUBLE,
    lower DOUBLE,
    upper DOUBLE,
    explanation VARCHAR NOT NULL,
    evidence_json VARCHAR NOT NULL,
    checked_at TIMESTAMP NOT NULL     -- wall time of the cycle that wrote it
);
CREATE INDEX IF NOT EXISTS check_results_batch ON check_results (batch);
CREATE INDEX IF NOT EXISTS check_results_check_subject ON check_results (check_name, subject);
