-- Tasks without an identity, created as a set (0019_create_tasks.sql): their
-- ids, in the order of the arrays.
select task_id from tasker.create_tasks($1, $2, $3, $4, $5, $6, $7, $8) as t(task_id)
