-- How many events a call has: a call's first event needs no read-back of
-- the others (ingest::write_one).
ALTER TABLE calls ADD COLUMN event_count BIGINT NOT NULL DEFAULT 0;
UPDATE calls SET event_count = (
    SELECT COUNT(*) FROM call_events e WHERE e.tenant_id = calls.tenant_id AND e.call_id = calls.id
);
