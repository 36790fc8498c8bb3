-- Raw payloads are kept in the object store only (<tenant>/raw/<call>.json,
-- which has always held every accepted event): storing them in the database
-- as well doubled the bytes every webhook wrote (BENCHMARKS.md, decision 0009).
ALTER TABLE call_events DROP COLUMN raw;
