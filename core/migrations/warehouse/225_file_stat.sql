-- The re-read pre-filter's view of each landing file (profilers/ingest.py): a file is
-- skipped without hashing only when size, mtime, ctime and inode all match what was seen.
-- `cp -p` keeps size and mtime but not ctime, so a rewritten file is re-hashed (the
-- whole-file SHA-256 stays its identity).
CREATE TABLE IF NOT EXISTS file_stat (
    path VARCHAR PRIMARY KEY,
    ctime DOUBLE NOT NULL,
    inode UBIGINT NOT NULL
);
