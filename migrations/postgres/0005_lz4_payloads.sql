-- Call payloads are tens of kilobytes of JSON; PostgreSQL's default pglz
-- compression of them cost a third of the ingest throughput
-- (BENCHMARKS.md). lz4 compresses about as well for a fraction of the CPU.
-- A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE calls ALTER COLUMN details SET COMPRESSION lz4,
                      ALTER COLUMN transcript_text SET COMPRESSION lz4;
    ALTER TABLE call_events ALTER COLUMN raw SET COMPRESSION lz4,
                            ALTER COLUMN update_json SET COMPRESSION lz4;
EXCEPTION
    WHEN feature_not_supported THEN NULL;
END
$$;
