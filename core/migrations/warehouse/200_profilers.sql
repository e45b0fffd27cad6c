-- Profilers: ingestion bookkeeping, quarantine, schema evidence, statistics.
-- Raw tables (predictions, etl_<table>) are created by profilers.ingest from the config.

-- One row per (path, content version) seen. status: loaded (current version of the path),
-- superseded (replaced by a newer version of the same path), duplicate (same content as
-- another loaded file), quarantined.
CREATE TABLE IF NOT EXISTS ingested_files (
    path VARCHAR NOT NULL,            -- relative to the storage root
    source VARCHAR NOT NULL,          -- 'predictions' or an ETL table name
    sha256 VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    mtime DOUBLE NOT NULL,
    rows BIGINT,
    status VARCHAR NOT NULL,
    replaced_sha256 VARCHAR,
    ingested_at TIMESTAMP NOT NULL,
    columns_json VARCHAR              -- {name: type} as read from the file
);

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id VARCHAR PRIMARY KEY,
    path VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    sha256 VARCHAR,
    size BIGINT,
    mtime DOUBLE,
    reason VARCHAR NOT NULL,          -- unreadable, empty, wrong_format, truncated, malformed, missing_column, wrong_types, load_error
    detail VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- open, resolved
    quarantined_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP
);

-- Columns of each raw table: the config's expected columns plus those of the first file.
CREATE TABLE IF NOT EXISTS source_schemas (
    source VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    raw_type VARCHAR NOT NULL,
    family VARCHAR NOT NULL,          -- numeric, string, boolean, timestamp, other
    expected BOOLEAN NOT NULL,        -- named by the config
    first_file VARCHAR,
    PRIMARY KEY (source, column_name)
);

-- Schema differences of each file against the config / the established schema.
CREATE TABLE IF NOT EXISTS schema_changes (
    path VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    change VARCHAR NOT NULL,          -- missing, added, renamed, retyped
    column_name VARCHAR NOT NULL,
    detail VARCHAR,                   -- renamed: new name; retyped: 'expected->actual'
    detected_at TIMESTAMP NOT NULL
);

-- Prediction-log batches (batch = time_bucket(window, ts) aligned to the epoch).
CREATE TABLE IF NOT EXISTS batches (
    batch TIMESTAMP PRIMARY KEY,
    prediction_rows BIGINT NOT NULL,
    profiled_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS column_stats (
    source VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    batch TIMESTAMP NOT NULL,
    count BIGINT NOT NULL,
    nulls BIGINT NOT NULL,
    nan BIGINT NOT NULL,
    inf BIGINT NOT NULL,
    min DOUBLE,
    max DOUBLE,
    mean DOUBLE,
    std DOUBLE,
    quantiles_json VARCHAR,           -- {"0.01": v, ...}
    bin_edges_json VARCHAR,
    bin_counts_json VARCHAR,
    categories_json VARCHAR,
    distinct_count BIGINT,
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, column_name, batch)
);

-- chunk = -1: the whole reference; 0..n: calibration chunks (chunk_start when time-based).
CREATE TABLE IF NOT EXISTS reference_stats (
    source VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    chunk INTEGER NOT NULL,
    chunk_start TIMESTAMP,
    kind VARCHAR NOT NULL,
    count BIGINT NOT NULL,
    nulls BIGINT NOT NULL,
    nan BIGINT NOT NULL,
    inf BIGINT NOT NULL,
    min DOUBLE,
    max DOUBLE,
    mean DOUBLE,
    std DOUBLE,
    quantiles_json VARCHAR,
    bin_edges_json VARCHAR,
    bin_counts_json VARCHAR,
    categories_json VARCHAR,
    distinct_count BIGINT,
    PRIMARY KEY (source, column_name, chunk)
);

CREATE TABLE IF NOT EXISTS reference_meta (
    fingerprint VARCHAR NOT NULL,     -- sha256 of the reference file, or the window's description
    description VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    chunks INTEGER NOT NULL,
    computed_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS table_stats (
    source VARCHAR NOT NULL,
    batch TIMESTAMP NOT NULL,
    row_count BIGINT NOT NULL,
    newest TIMESTAMP,
    freshness_lag_seconds DOUBLE,
    duplicate_keys BIGINT NOT NULL,
    columns_json VARCHAR,
    missing_json VARCHAR,
    added_json VARCHAR,
    retyped_json VARCHAR,
    renamed_json VARCHAR,
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, batch)
);

CREATE TABLE IF NOT EXISTS performance_stats (
    batch TIMESTAMP PRIMARY KEY,
    predictions BIGINT NOT NULL,
    labeled BIGINT NOT NULL,
    matured BOOLEAN NOT NULL,
    positives BIGINT NOT NULL,
    approved BIGINT NOT NULL,
    approved_labeled BIGINT NOT NULL,
    approved_positives BIGINT NOT NULL,
    mean_score DOUBLE,
    mean_label DOUBLE,
    auc DOUBLE,
    brier DOUBLE,
    precision DOUBLE,
    recall DOUBLE,
    mae DOUBLE,
    rmse DOUBLE,
    estimated_json VARCHAR,
    computed_at TIMESTAMP NOT NULL
);

-- Serialized whylogs profile per batch (whole batch or a recorded uniform sample).
CREATE TABLE IF NOT EXISTS whylogs_profiles (
    source VARCHAR NOT NULL,
    batch TIMESTAMP NOT NULL,
    total_rows BIGINT NOT NULL,
    sampled_rows BIGINT NOT NULL,
    profile BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, batch)
);
