select step_id, task_id, step_name, handler, handler_version, handler_config, attempt, timeout_ms, namespace,
       task_name, task_version, context, dependency_results, inputs
from tasker.claim_steps($1, $2, $3, $4)
