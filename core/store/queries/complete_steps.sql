-- Several successes in one transaction (0013_batching.sql): each step's id
-- with its task's status afterwards, null where the lease was lost.
select step_id, task_status from tasker.complete_steps($1, $2, $3)
