select step_status, task_status from tasker.fail_step($1, $2, $3, $4, $5)
