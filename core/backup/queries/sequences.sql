-- Identity and serial columns of tasker's tables with their sequences, so a
-- restore can move each sequence past the restored rows.
select c.relname, a.attname, pg_get_serial_sequence(format('tasker.%I', c.relname), a.attname)
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'tasker' and c.relkind in ('r', 'p')
  and a.attnum > 0 and not a.attisdropped
  and pg_get_serial_sequence(format('tasker.%I', c.relname), a.attname) is not null
order by 1, 2
