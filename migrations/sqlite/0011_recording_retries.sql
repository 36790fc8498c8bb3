-- A recording fetch that failed is tried again later, on a schedule
-- (providers.recording_retry_secs): how many rounds have failed, and when
-- the next is due (NULL: none is).
ALTER TABLE calls ADD COLUMN audio_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN audio_retry_at BIGINT;
CREATE INDEX calls_audio_retry ON calls(tenant_id, audio_retry_at) WHERE audio_retry_at IS NOT NULL;
