select task_id, created from tasker.create_task($1, $2, $3, $4, $5, $6, $7, $8)
