-- Steps ready to run now (the queue depth), counted over the two partial
-- ready indexes, whose predicates these are.
select (select count(*) from tasker.workflow_steps
        where status in ('pending', 'waiting_for_retry') and remaining_deps = 0 and not serial and next_attempt_at <= now())
     + (select count(*) from tasker.workflow_steps
        where status in ('pending', 'waiting_for_retry') and remaining_deps = 0 and serial and next_attempt_at <= now())
