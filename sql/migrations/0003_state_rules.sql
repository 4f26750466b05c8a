-- The state machines of steps and tasks, enforced by the database so that no
-- code path (Go, SQL, an operator's psql session) can make a transition the
-- engine does not allow. Rows whose status does not change are not checked.
--
-- Steps:
--   pending           -> in_progress (claimed), cancelled, resolved_manually
--   in_progress       -> complete, waiting_for_retry, error, cancelled,
--                        pending (handed back at shutdown before any attempt counted)
--   waiting_for_retry -> in_progress, cancelled, resolved_manually
--   error             -> pending (retried by an operator), cancelled, resolved_manually
--   cancelled         -> pending (retried by an operator),
--                        resolved_manually (an operator cancels a running
--                        step, then gives its results: see resolve_step)
--   complete, resolved_manually: final
-- Tasks:
--   pending           -> in_progress, complete, error, cancelled, resolved_manually
--   in_progress       -> complete, error, cancelled, resolved_manually
--   error             -> pending (retried by an operator), cancelled (an
--                        operator gives up on a failed task), resolved_manually
--   cancelled         -> pending (retried by an operator), resolved_manually
--   complete, resolved_manually: final

create function tasker.step_transition_allowed(p_from text, p_to text) returns boolean
language sql immutable parallel safe as $$
    select case p_from
        when 'pending'           then p_to in ('in_progress', 'cancelled', 'resolved_manually')
        when 'in_progress'       then p_to in ('complete', 'waiting_for_retry', 'error', 'cancelled', 'pending')
        when 'waiting_for_retry' then p_to in ('in_progress', 'cancelled', 'resolved_manually')
        when 'error'             then p_to in ('pending', 'cancelled', 'resolved_manually')
        when 'cancelled'         then p_to in ('pending', 'resolved_manually')
        else false
    end
$$;

create function tasker.task_transition_allowed(p_from text, p_to text) returns boolean
language sql immutable parallel safe as $$
    select case p_from
        when 'pending'     then p_to in ('in_progress', 'complete', 'error', 'cancelled', 'resolved_manually')
        when 'in_progress' then p_to in ('complete', 'error', 'cancelled', 'resolved_manually')
        when 'error'       then p_to in ('pending', 'cancelled', 'resolved_manually')
        when 'cancelled'   then p_to in ('pending', 'resolved_manually')
        else false
    end
$$;

create function tasker.check_step_transition() returns trigger language plpgsql as $$
begin
    if not tasker.step_transition_allowed(old.status, new.status) then
        raise exception 'step % (%) of task %: transition % -> % is not allowed',
            old.step_id, old.name, old.task_id, old.status, new.status
            using errcode = 'check_violation';
    end if;
    return new;
end $$;

create function tasker.check_task_transition() returns trigger language plpgsql as $$
begin
    if not tasker.task_transition_allowed(old.status, new.status) then
        raise exception 'task %: transition % -> % is not allowed', old.task_id, old.status, new.status
            using errcode = 'check_violation';
    end if;
    return new;
end $$;

create trigger workflow_steps_transition before update of status on tasker.workflow_steps
    for each row when (old.status is distinct from new.status)
    execute function tasker.check_step_transition();

create trigger tasks_transition before update of status on tasker.tasks
    for each row when (old.status is distinct from new.status)
    execute function tasker.check_task_transition();
