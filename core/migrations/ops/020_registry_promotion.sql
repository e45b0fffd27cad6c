-- core: the promotion rule of each registered version (a candidate's metric must be no worse
-- than the champion's by more than margin), stored when the version is registered so the
-- registry never reads training configs. The registry tables themselves are in
-- 100_registry.sql (created there before the registry moved to core.registry).
-- Immutable like model_versions: guard triggers are installed by core.registry.
CREATE TABLE IF NOT EXISTS model_promotion_rules (
    model_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    metric TEXT NOT NULL,
    margin REAL NOT NULL,
    PRIMARY KEY (model_name, version)
);
