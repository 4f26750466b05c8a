select * from tasker.task_execution_context($1)
