select tasker.update_task($1, $2, $3, $4)
