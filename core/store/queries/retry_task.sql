select tasker.retry_task($1, $2, $3)
