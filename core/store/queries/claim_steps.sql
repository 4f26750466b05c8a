-- The claim; the function returns the task's correlation id and trace
-- context too (0012), read from the snapshot that found each step.
select step_id, task_id, step_name, handler, handler_version, handler_config, attempt, timeout_ms,
       namespace, task_name, task_version, context, dependency_results, inputs, correlation_id, trace_parent
from tasker.claim_steps($1, $2, $3, $4)
