-- Newest first. $1: status filter or null, $2: namespace or null, $3: limit, $4: offset.
select t.task_id, tt.name, n.name, tt.version, t.status, t.context,
       coalesce(t.initiator, ''), coalesce(t.reason, ''), coalesce(t.source_system, ''), t.tags,
       t.created_at, t.updated_at, t.completed_at
from tasker.tasks t
join tasker.task_templates tt on tt.template_id = t.template_id
join tasker.namespaces n on n.namespace_id = tt.namespace_id
where ($1::text is null or t.status = $1)
  and ($2::text is null or n.name = $2)
order by t.task_id desc
limit $3 offset $4
