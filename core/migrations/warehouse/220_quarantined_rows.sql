-- Profilers: rows of a loaded file that could not be placed in a batch (hostile timestamps),
-- kept with their reason and the whole row as JSON, while the file's other rows load.
CREATE TABLE IF NOT EXISTS quarantined_rows (
    path VARCHAR NOT NULL,            -- the landing file (relative to the storage root)
    source VARCHAR NOT NULL,          -- 'predictions' or an ETL table name
    sha256 VARCHAR NOT NULL,          -- the file version the row came from
    row_number BIGINT,                -- 1-based row of the file
    reason VARCHAR NOT NULL,          -- null_timestamp, future_timestamp, old_timestamp
    detail VARCHAR NOT NULL,
    timestamp_value VARCHAR,          -- the timestamp as read (NULL for null_timestamp)
    row_json VARCHAR NOT NULL,        -- every column of the row
    quarantined_at TIMESTAMP NOT NULL
);
