select step_status, task_status, retry_at from tasker.fail_step($1, $2, $3, $4, $5)
