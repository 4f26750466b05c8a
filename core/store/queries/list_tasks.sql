-- Tasks matching the filters, one page, with the number of all matches.
-- $1 status, $2 namespace, $3 name, $4 version, $5 tags (all must be present),
-- each null for any; $6 sort ([-]task_id, created_at, updated_at, status;
-- '-' for descending); $7 limit, $8 offset.
select t.task_id, tt.name, n.name, tt.version, t.status, t.context,
       coalesce(t.initiator, ''), coalesce(t.reason, ''), coalesce(t.source_system, ''), t.tags,
       t.created_at, t.updated_at, t.completed_at, t.correlation_id,
       count(*) over () as total
from tasker.tasks t
join tasker.task_templates tt on tt.template_id = t.template_id
join tasker.namespaces n on n.namespace_id = tt.namespace_id
where ($1::text is null or t.status = $1)
  and ($2::text is null or n.name = $2)
  and ($3::text is null or tt.name = $3)
  and ($4::text is null or tt.version = $4)
  and ($5::text[] is null or t.tags @> $5)
order by
  case when $6 = 'task_id' then t.task_id end asc,
  case when $6 = '-task_id' then t.task_id end desc,
  case when $6 = 'created_at' then t.created_at end asc,
  case when $6 = '-created_at' then t.created_at end desc,
  case when $6 = 'updated_at' then t.updated_at end asc,
  case when $6 = '-updated_at' then t.updated_at end desc,
  case when $6 = 'status' then t.status end asc,
  case when $6 = '-status' then t.status end desc,
  t.task_id desc
limit $7 offset $8
