select tasker.complete_step($1, $2, $3)
