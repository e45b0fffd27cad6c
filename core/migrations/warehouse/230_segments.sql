-- Segments (profilers.segments): the cut of every segmentation, fixed from the reference, and
-- per-segment statistics computed in the same grouped pass as the overall ones.

-- One row per configured segmentation: its labels (top values, or numeric bin edges).
CREATE TABLE IF NOT EXISTS segment_definitions (
    segment VARCHAR NOT NULL,          -- the segmentation's configured name
    position INTEGER NOT NULL,         -- its index in the config (the relation's _s<position> key)
    column_name VARCHAR NOT NULL,      -- prediction-log column (after renames)
    values_json VARCHAR NOT NULL,      -- ["RENT", ...]: the top reference values (categorical)
    edges_json VARCHAR NOT NULL,       -- [30000, 60000]: numeric cut points ([] when categorical)
    min_rows BIGINT NOT NULL,
    PRIMARY KEY (segment)
);

-- Score bin cut points of the live-test-set tables (reference score quantiles).
CREATE TABLE IF NOT EXISTS segment_score_bins (
    edges_json VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS segment_column_stats (
    source VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    batch TIMESTAMP NOT NULL,
    segment VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
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
    computed_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS segment_column_stats_batch ON segment_column_stats (batch);

-- chunk = -1: the whole reference's segment; 0..n: calibration chunks.
CREATE TABLE IF NOT EXISTS segment_reference_stats (
    source VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    chunk INTEGER NOT NULL,
    chunk_start TIMESTAMP,
    segment VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
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
    distinct_count BIGINT
);

-- The live test set per segment: counts and sums per (score bin, labelled, positive, approved)
-- cell. segment = '' is the whole batch. chunk (reference only): -1 whole, 0..n chunks.
CREATE TABLE IF NOT EXISTS segment_live_stats (
    batch TIMESTAMP NOT NULL,
    segment VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    bin INTEGER NOT NULL,
    labeled BOOLEAN NOT NULL,
    positive BOOLEAN NOT NULL,
    approved BOOLEAN NOT NULL,
    n BIGINT NOT NULL,
    sum_score DOUBLE,
    sum_y DOUBLE,
    sum_abs_err DOUBLE,
    sum_sq_err DOUBLE,
    matured BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS segment_live_stats_batch ON segment_live_stats (batch);

CREATE TABLE IF NOT EXISTS segment_reference_live (
    chunk INTEGER NOT NULL,
    segment VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    bin INTEGER NOT NULL,
    labeled BOOLEAN NOT NULL,
    positive BOOLEAN NOT NULL,
    approved BOOLEAN NOT NULL,
    n BIGINT NOT NULL,
    sum_score DOUBLE,
    sum_y DOUBLE,
    sum_abs_err DOUBLE,
    sum_sq_err DOUBLE
);
