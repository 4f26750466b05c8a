-- $2 finished steps, as finished tasks of 10 finished steps, inserted
-- directly (inserts are not state transitions, so the state rules allow
-- them), as BenchmarkClaim does.
with t as (
    insert into tasker.tasks (template_id, status, completed_at, tags)
    select (select template_id from tasker.tasks where task_id = $1), 'complete', now(), '{bench-claim-history}'
    from generate_series(1, ($2 + 9) / 10)
    returning task_id
)
insert into tasker.workflow_steps (task_id, name, handler, status, attempts, results, completed_at)
select t.task_id, 's' || i, 'noop', 'complete', 1, '{}', now()
from t cross join generate_series(1, 10) as i
