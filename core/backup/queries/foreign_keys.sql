-- Foreign keys between tasker's tables (child, parent): a restore loads the
-- parents first.
select child.relname, parent.relname
from pg_constraint k
join pg_class child on child.oid = k.conrelid
join pg_class parent on parent.oid = k.confrelid
join pg_namespace n on n.oid = child.relnamespace
join pg_namespace pn on pn.oid = parent.relnamespace
where k.contype = 'f' and n.nspname = 'tasker' and pn.nspname = 'tasker'
