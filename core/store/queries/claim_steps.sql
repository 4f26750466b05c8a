-- The claim, with the task's correlation id and trace context read in the
-- same statement (a primary-key lookup per claimed step), so the function's
-- result type stays as it is.
select c.step_id, c.task_id, c.step_name, c.handler, c.handler_version, c.handler_config, c.attempt, c.timeout_ms,
       c.namespace, c.task_name, c.task_version, c.context, c.dependency_results, c.inputs,
       coalesce(t.correlation_id, ''), coalesce(t.trace_parent, '')
from tasker.claim_steps($1, $2, $3, $4) c
join tasker.tasks t on t.task_id = c.task_id
