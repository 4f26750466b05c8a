-- The steps of task $1 (only step $2 when it is not null), with the names of
-- their parents and children.
select s.step_id, s.task_id, s.name, s.handler, s.status, s.attempts, s.retry_limit, s.retryable,
       coalesce(array(select p.name from tasker.workflow_step_edges e
                      join tasker.workflow_steps p on p.step_id = e.from_step_id
                      where e.to_step_id = s.step_id order by p.step_id), '{}'),
       coalesce(array(select c.name from tasker.workflow_step_edges e
                      join tasker.workflow_steps c on c.step_id = e.to_step_id
                      where e.from_step_id = s.step_id order by c.step_id), '{}'),
       s.results, s.last_error,
       case when s.status = 'waiting_for_retry' then s.next_attempt_at end,
       s.created_at, s.updated_at, s.completed_at, s.inputs
from tasker.workflow_steps s
where s.task_id = $1 and ($2::bigint is null or s.step_id = $2)
order by s.step_id
