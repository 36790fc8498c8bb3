-- The recording whose download stopped the last runs of a tenant's pull,
-- and how many runs in a row it has stopped: after a few, the pull gives
-- it up instead of stopping at it for ever.
ALTER TABLE recording_pull ADD COLUMN stuck_on TEXT;
ALTER TABLE recording_pull ADD COLUMN stuck_runs BIGINT NOT NULL DEFAULT 0;
