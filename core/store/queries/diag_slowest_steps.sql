select * from tasker.slowest_steps($1, $2, $3, $4, $5)
