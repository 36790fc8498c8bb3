-- The run holding a tenant's recording-pull lease: it renews the lease as
-- it goes and releases only its own, so a run that outlived its lease (and
-- was taken over) can neither extend nor clear its successor's.
ALTER TABLE recording_pull ADD COLUMN lease_owner TEXT;
