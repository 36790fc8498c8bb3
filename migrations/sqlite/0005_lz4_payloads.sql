-- PostgreSQL-only (column compression); kept so both backends share the
-- same migration versions.
SELECT 1;
