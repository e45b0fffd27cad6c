-- Model kinds (issue 12): regression extras (RMSLE, MAPE, standard errors, expected-error
-- estimates) and multiclass per-class statistics of the live test set, as JSON.
ALTER TABLE performance_stats ADD COLUMN IF NOT EXISTS metrics_json VARCHAR;
ALTER TABLE performance_stats ADD COLUMN IF NOT EXISTS classes_json VARCHAR;
