-- incidents: ranked upstream data alerts that could explain a model-behaviour alert (JSON list).
-- A symptom is never inhibited: its possible causes travel with it instead.
ALTER TABLE alerts ADD COLUMN possible_causes TEXT
