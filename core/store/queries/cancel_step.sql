select tasker.cancel_step($1, $2, $3)
