-- Service tokens for automation (`vigil users token NAME --role ROLE`): the CLI reads one
-- from $VIGIL_TOKEN. Stored as SHA-256 digests only, never as issued (core/cli_session.py).
CREATE TABLE IF NOT EXISTS service_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS service_tokens_name ON service_tokens (name)
