select tasker.prune_tasks($1, $2)
