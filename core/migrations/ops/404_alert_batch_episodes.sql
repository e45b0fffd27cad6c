-- incidents: which episode of its alert a batch belongs to, so an incident only counts its own episode's batches.
ALTER TABLE alert_batches ADD COLUMN episode INTEGER
