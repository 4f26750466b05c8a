-- The ordinary tables of tasker's schema: what a backup holds. The migration
-- bookkeeping is recorded in the manifest instead.
select c.relname, c.relkind::text
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'tasker'
  and c.relkind in ('r', 'p')
  and c.relname <> 'schema_migrations'
order by c.relname
