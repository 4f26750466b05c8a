-- The edges of task $1's steps (an edge joins two steps of one task),
-- found by key from the task's steps whatever the statistics say (see
-- task_step_edges.sql).
select e.from_step_id, e.to_step_id
from tasker.workflow_step_edges e
where e.to_step_id = any(array(select s.step_id from tasker.workflow_steps s where s.task_id = $1))
