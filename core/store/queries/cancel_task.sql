select tasker.cancel_task($1, $2, $3)
