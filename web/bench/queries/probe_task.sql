-- A task to hang the claim probe's steps on, in progress so that a claim
-- leaves it alone.
insert into tasker.tasks (template_id, status, tags)
select template_id, 'in_progress', '{bench-claim-probe}' from tasker.task_templates order by template_id limit 1
returning task_id
