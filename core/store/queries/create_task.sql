select tasker.create_task($1, $2, $3, $4, $5, $6)
