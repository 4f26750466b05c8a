select * from tasker.step_readiness_status($1)
