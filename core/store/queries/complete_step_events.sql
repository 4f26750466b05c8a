select tasker.complete_step_with_events($1, $2, $3, $4)
