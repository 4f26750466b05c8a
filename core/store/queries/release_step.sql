select tasker.release_step($1, $2, $3, $4)
