-- profile.engine: spark. The ledger of lake files whose batches have been profiled (the Spark
-- engine reads Parquet where it lies; no raw rows are copied, only a bounded sample).
-- A file is profiled again when its size or modification time changes.
CREATE TABLE IF NOT EXISTS spark_files (
    path VARCHAR PRIMARY KEY,         -- as the file system names it (file:/..., s3a://..., hdfs://...)
    source VARCHAR NOT NULL,          -- 'predictions' or an ETL table name
    size BIGINT NOT NULL,
    mtime DOUBLE NOT NULL,            -- seconds since the epoch
    profiled_at TIMESTAMP NOT NULL
);
