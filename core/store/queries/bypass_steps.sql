select tasker.bypass_steps($1, $2, $3)
