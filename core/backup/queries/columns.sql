-- The columns a table stores ($1: table name), in table order; generated
-- columns are computed again on restore and are left out.
select a.attname
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'tasker' and c.relname = $1
  and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
order by a.attnum
