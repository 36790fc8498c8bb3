-- The process that committed each event (db::writers, decision 0018): a
-- process that finds a call's raw document without an event's entry waits
-- for that event's writer only while the writer is alive. Empty for events
-- committed before; they are not waited for.
ALTER TABLE call_events ADD COLUMN writer INTEGER;
