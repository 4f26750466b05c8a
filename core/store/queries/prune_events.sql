select tasker.prune_events($1, $2)
