select tasker.retry_step($1, $2, $3)
