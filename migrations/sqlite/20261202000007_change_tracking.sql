-- When each row last changed, so that experiment results can be brought up to date incrementally: the results
-- service re-reads only the exposures recorded, and the people whose events, orders or identities changed, since
-- its last read. Rows written before this migration count as changed long ago (they are read in full once).
ALTER TABLE exposures ADD COLUMN recorded_at TEXT NOT NULL DEFAULT '1970-01-01 00:00:00+00:00';
CREATE INDEX exposures_recorded ON exposures (experiment_id, recorded_at);

ALTER TABLE profiles ADD COLUMN changed_at TEXT NOT NULL DEFAULT '1970-01-01 00:00:00+00:00';
CREATE INDEX profiles_changed ON profiles (changed_at);
