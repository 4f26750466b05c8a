select version, name, coalesce(checksum, '') from tasker.schema_migrations order by version
