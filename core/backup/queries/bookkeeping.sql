-- The migration bookkeeping exactly as package sql creates it; a restore
-- rebuilds the schema migration by migration up to the archive's version.
create schema tasker;
create table tasker.schema_migrations (
    version    integer primary key,
    name       text not null,
    checksum   text,
    applied_at timestamptz not null default now())
