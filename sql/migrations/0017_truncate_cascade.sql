-- TRUNCATE of tasks empties the tables that hang off them.
--
-- 0015 dropped the foreign keys between the run-time tables and replaced
-- their cascades with a delete trigger (tasks_delete_rows). TRUNCATE fires
-- no delete trigger, so an operator emptying tasker.tasks by hand left
-- every step, edge and transition behind, pointing at tasks that no longer
-- exist. With the keys, PostgreSQL refused such a TRUNCATE unless it named
-- the other tables too or said CASCADE; now it empties them as well. The
-- events stay, as they do when tasks are deleted (prune_events removes
-- them).
--
-- A table the same TRUNCATE names (a restore names them all) is in use by
-- that statement and cannot be truncated again from its trigger; it is
-- already empty, so a DELETE finishes it at no cost.

create function tasker.truncate_task_rows() returns trigger language plpgsql as $$
declare
    v_table text;
begin
    foreach v_table in array array['workflow_step_edges', 'step_transitions', 'workflow_steps', 'task_transitions'] loop
        begin
            execute format('truncate tasker.%I', v_table);
        exception when object_in_use then
            execute format('delete from tasker.%I', v_table);
        end;
    end loop;
    return null;
end $$;

create trigger tasks_truncate_rows after truncate on tasker.tasks
    for each statement execute function tasker.truncate_task_rows();
