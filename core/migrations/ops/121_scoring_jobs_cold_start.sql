-- core: a job is "cold" when it is the first its process ran (imports, model load): the
-- heartbeat judges a cold job only against other cold jobs, so a restart is not "slow".
-- (Numbered after 120, which creates the table.)
ALTER TABLE scoring_jobs ADD COLUMN cold INTEGER NOT NULL DEFAULT 0
