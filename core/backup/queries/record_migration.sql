insert into tasker.schema_migrations (version, name, checksum) values ($1, $2, $3)
