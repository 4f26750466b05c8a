select t.task_id, tt.name, n.name, tt.version, t.status, t.context,
       coalesce(t.initiator, ''), coalesce(t.reason, ''), coalesce(t.source_system, ''), t.tags,
       t.created_at, t.updated_at, t.completed_at, t.correlation_id
from tasker.tasks t
join tasker.task_templates tt on tt.template_id = t.template_id
join tasker.namespaces n on n.namespace_id = tt.namespace_id
where t.task_id = $1
