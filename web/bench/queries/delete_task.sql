delete from tasker.tasks where task_id = $1
