select tasker.resolve_step($1, $2, $3, $4)
