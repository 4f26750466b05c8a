select * from tasker.slowest_tasks($1, $2, $3, $4, $5)
