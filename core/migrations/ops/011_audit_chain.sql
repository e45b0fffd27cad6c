-- Tamper evidence for the audit trail (core/audit.py): each entry stores the hash of the
-- previous entry and its own hash over (previous hash, id, at, actor, action, target,
-- before, after). `vigil audit verify` recomputes the chain and names the first broken
-- link. The triggers that refuse UPDATE, DELETE and REPLACE are installed by
-- core/stores.py in the transaction that applies the migrations (trigger bodies need semicolons).
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN entry_hash TEXT
