-- The advisory lock that package sql takes while migrating ("tasker" in
-- ASCII): no node migrates the schema while a restore replaces it.
select pg_advisory_xact_lock(x'7461736b6572'::bigint)
