select tasker.publish_event($1, $2, $3, $4)
