-- The names of steps $1.
select step_id, name from tasker.workflow_steps where step_id = any($1)
