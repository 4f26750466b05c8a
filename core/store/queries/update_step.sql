select tasker.update_step($1, $2, $3, $4, $5)
