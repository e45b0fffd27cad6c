-- incidents: the notification outbox. The cycle decides what to send (inhibit, silence, group,
-- dedup) and writes it here in the transaction that decides. Delivery, outside the cycle
-- lock, sends what is pending and records each outcome. The key travels with every resend.
CREATE TABLE IF NOT EXISTS outbox (
    outbox_id INTEGER PRIMARY KEY AUTOINCREMENT,   -- delivery order
    idempotency_key TEXT NOT NULL UNIQUE,          -- the same on every resend of this message
    receiver TEXT NOT NULL,
    route INTEGER NOT NULL,
    group_key TEXT NOT NULL,          -- JSON of the group_by labels
    kind TEXT NOT NULL,               -- receiver kind: slack, alertmanager_webhook, alertmanager_api
    status TEXT NOT NULL,             -- firing or resolved (of the group)
    firing TEXT NOT NULL,             -- JSON list of fingerprints notified as firing
    resolved TEXT NOT NULL,           -- JSON list of fingerprints notified as resolved
    incidents TEXT NOT NULL,          -- JSON list of incident ids (their timelines get the outcome)
    payload TEXT NOT NULL,            -- JSON body, built when decided (never holds a secret)
    created_at TEXT NOT NULL,         -- wall time of the decision
    state TEXT NOT NULL DEFAULT 'pending',  -- pending, delivered, dropped (receiver removed from config)
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT,
    claimed_by TEXT,                  -- the delivery run sending it now
    claimed_until TEXT                -- wall time after which another run may take it over
);
CREATE INDEX IF NOT EXISTS outbox_group ON outbox (receiver, route, group_key, outbox_id);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, outbox_id);

-- Each delivery outcome names the message it was for.
ALTER TABLE notifications ADD COLUMN idempotency_key TEXT;

-- Stores from before the outbox: what was sent is what was decided (dedup reads the outbox).
INSERT OR IGNORE INTO outbox (idempotency_key, receiver, route, group_key, kind, status, firing, resolved,
                              incidents, payload, created_at, state, attempts, delivered_at)
SELECT 'legacy-' || notification_id, receiver, route, group_key, payload_kind,
       CASE WHEN firing = '[]' THEN 'resolved' ELSE 'firing' END, firing, resolved, '[]', '{}', at,
       'delivered', attempts, at
FROM notifications WHERE status = 'sent' ORDER BY notification_id
