-- The steps of task $1 (only step $2 when it is not null); their parents
-- and children come from task_step_edges.sql.
select s.step_id, s.task_id, s.name, s.handler, s.status, s.attempts, s.retry_limit, s.retryable,
       s.results, s.last_error,
       case when s.status = 'waiting_for_retry' then s.next_attempt_at end,
       s.created_at, s.updated_at, s.completed_at, s.inputs
from tasker.workflow_steps s
where s.task_id = $1 and ($2::bigint is null or s.step_id = $2)
order by s.step_id
