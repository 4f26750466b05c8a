-- Client sessions on this database other than ours: a tasker node still
-- connected would write into a database being replaced.
select count(*), coalesce(string_agg(distinct coalesce(nullif(application_name, ''), client_addr::text, 'local'), ', '), '')
from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
