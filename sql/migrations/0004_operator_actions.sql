-- Operator actions: cancel, retry, resolve by hand and bypass. Like the
-- engine's functions they lock the task row first, then its steps, write a
-- transition row for every change (metadata {"actor": ...}), and settle the
-- task. An action that does not apply raises check_violation naming the
-- task or step and its state; an unknown id raises no_data_found.

-- Locks a step's task, then the step, and returns the step; refuses when the
-- task is complete or resolved_manually (or cancelled, unless p_cancelled_ok).
create function tasker.lock_step(p_step_id bigint, p_action text, p_cancelled_ok boolean)
returns tasker.workflow_steps language plpgsql as $$
declare
    v_step   tasker.workflow_steps;
    v_status text;
begin
    select * into v_step from tasker.workflow_steps where step_id = p_step_id;
    if not found then
        raise exception 'step % does not exist', p_step_id using errcode = 'no_data_found';
    end if;
    select status into v_status from tasker.tasks where task_id = v_step.task_id for update;
    if v_status in ('complete', 'resolved_manually') or (v_status = 'cancelled' and not p_cancelled_ok) then
        raise exception 'task % is %: cannot % its step % (%)', v_step.task_id, v_status, p_action, p_step_id, v_step.name
            using errcode = 'check_violation';
    end if;
    select * into v_step from tasker.workflow_steps where step_id = p_step_id for update;
    return v_step;
end $$;

-- p_step_id's dependents, transitively, through steps in p_statuses only.
create function tasker.dependents(p_step_id bigint, p_statuses text[]) returns bigint[]
language sql stable as $$
    with recursive dep(step_id) as (
        select p_step_id
        union
        select e.to_step_id from dep
            join tasker.workflow_step_edges e on e.from_step_id = dep.step_id
            join tasker.workflow_steps s on s.step_id = e.to_step_id
            where s.status = any(p_statuses)
    )
    select coalesce(array_agg(step_id order by step_id) filter (where step_id <> p_step_id), '{}') from dep
$$;

-- Cancels the steps p_step_ids not yet final (the caller locked them) and
-- clears their leases, so that a running one's complete_step or fail_step
-- changes nothing. With p_cause, the others are its dependents and each
-- running step gets a tasker_cancel 'step:<id>'. Returns how many changed.
create function tasker.cancel_steps(
    p_task_id bigint, p_step_ids bigint[], p_reason text, p_metadata jsonb, p_cause tasker.workflow_steps
) returns integer language plpgsql as $$
declare
    v_running bigint[];
    v_count   integer;
begin
    with old as (
        select step_id, status, lease_owner from tasker.workflow_steps
        where step_id = any(p_step_ids) and status not in ('complete', 'resolved_manually', 'cancelled')
    ), cancelled as (
        update tasker.workflow_steps s
            set status = 'cancelled', lease_owner = null, lease_expires_at = null, completed_at = now(), updated_at = now()
            from old where s.step_id = old.step_id
            returning s.step_id
    ), audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        select old.step_id, p_task_id, old.status, 'cancelled', p_reason, p_metadata
               || case when p_cause.step_id is null or old.step_id = p_cause.step_id then '{}'::jsonb
                       else jsonb_build_object('cascaded_from', p_cause.step_id, 'cascaded_from_step', p_cause.name) end
               || case when old.lease_owner is null then '{}'::jsonb
                       else jsonb_build_object('lease_owner', old.lease_owner) end
        from old join cancelled using (step_id)
    )
    select count(*), coalesce(array_agg(old.step_id order by old.step_id) filter (where old.status = 'in_progress'), '{}')
        into v_count, v_running from old join cancelled using (step_id);
    if p_cause.step_id is not null then
        for i in 1 .. cardinality(v_running) loop
            perform pg_notify('tasker_cancel', 'step:' || v_running[i]);
        end loop;
    end if;
    return v_count;
end $$;

-- Puts steps in error or cancelled (locked by the caller) back to pending
-- as new: attempts 0, lease and last error cleared (the error is kept in the
-- transition's metadata), due now; then recomputes their remaining_deps,
-- since a cancelled step's count went on changing. Returns how many changed.
create function tasker.reset_steps(p_task_id bigint, p_step_ids bigint[], p_reason text, p_metadata jsonb)
returns integer language plpgsql as $$
declare
    v_count integer;
begin
    with old as (
        select step_id, status, attempts, last_error from tasker.workflow_steps
        where step_id = any(p_step_ids) and task_id = p_task_id and status in ('error', 'cancelled')
    ), reset as (
        update tasker.workflow_steps s
            set status = 'pending', attempts = 0, last_error = null, lease_owner = null, lease_expires_at = null,
                next_attempt_at = now(), results = null, completed_at = null, updated_at = now()
            from old where s.step_id = old.step_id
            returning s.step_id
    ), audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        select old.step_id, p_task_id, old.status, 'pending', p_reason,
               p_metadata || jsonb_build_object('last_error', old.last_error, 'attempts', old.attempts)
        from old join reset using (step_id)
    )
    select count(*) into v_count from reset;

    update tasker.workflow_steps s
        set remaining_deps = (select count(*) from tasker.workflow_step_edges e
                              join tasker.workflow_steps p on p.step_id = e.from_step_id
                              where e.to_step_id = s.step_id and p.status not in ('complete', 'resolved_manually'))
        where s.step_id = any(p_step_ids) and s.status = 'pending';
    return v_count;
end $$;

-- Marks p_step_ids (locked by the caller) resolved_manually with p_results
-- and releases their children as a completion does, notifying tasker_work
-- when one became ready.
create function tasker.resolve_steps(p_task_id bigint, p_step_ids bigint[], p_results jsonb, p_reason text, p_metadata jsonb)
returns void language plpgsql as $$
declare
    v_ready integer;
begin
    with old as (
        select step_id, status from tasker.workflow_steps where step_id = any(p_step_ids) and task_id = p_task_id
    ), resolved as (
        update tasker.workflow_steps s
            set status = 'resolved_manually', results = p_results, lease_owner = null, lease_expires_at = null,
                completed_at = now(), updated_at = now()
            from old where s.step_id = old.step_id
            returning s.step_id
    )
    insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        select old.step_id, p_task_id, old.status, 'resolved_manually', p_reason, p_metadata
        from old join resolved using (step_id);

    with parents as (
        select e.to_step_id, count(*)::integer as n from tasker.workflow_step_edges e
        where e.from_step_id = any(p_step_ids) group by e.to_step_id
    ), released as (
        update tasker.workflow_steps s set remaining_deps = s.remaining_deps - parents.n, updated_at = now()
            from parents where s.step_id = parents.to_step_id
            returning s.remaining_deps, s.status
    )
    select count(*) into v_ready from released where remaining_deps = 0 and status = 'pending';
    if v_ready > 0 then
        perform pg_notify('tasker_work', '');
    end if;
end $$;

-- Settles a task after an operator changed its steps. An active task goes
-- through settle_task. A task in error or cancelled goes back to pending
-- when one of its steps can run again (claim_steps moves it to in_progress
-- when it claims that step, as after create_task: there is no transition
-- error -> in_progress), to cancelled when its failed steps were cancelled,
-- and through pending to complete when they were resolved and nothing else
-- remains; otherwise it stays as it is.
create function tasker.resettle_task(p_task_id bigint, p_reason text, p_metadata jsonb)
returns text language plpgsql as $$
declare
    v_status    text;
    v_next      text;
    v_cancelled text[];
begin
    select status into v_status from tasker.tasks where task_id = p_task_id;
    if v_status in ('pending', 'in_progress') then
        return tasker.settle_task(p_task_id, p_metadata);
    elsif v_status not in ('error', 'cancelled') then
        return v_status;
    end if;
    select case when bool_or(status in ('in_progress', 'waiting_for_retry') or (status = 'pending' and remaining_deps = 0))
                     then 'pending'
                when bool_or(status = 'error') then 'error'
                when bool_or(status = 'cancelled') then 'cancelled'
                else 'complete' end,
           array_agg(name order by step_id) filter (where status = 'cancelled')
        into v_next, v_cancelled
        from tasker.workflow_steps where task_id = p_task_id;
    if v_next = v_status then
        return v_status;
    elsif v_next = 'cancelled' then -- error -> cancelled: its failed steps were cancelled
        update tasker.tasks set status = 'cancelled', completed_at = now(), updated_at = now() where task_id = p_task_id;
        insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
            values (p_task_id, v_status, 'cancelled', 'steps cancelled: ' || array_to_string(v_cancelled, ', '),
                    p_metadata || jsonb_build_object('cancelled_steps', to_jsonb(v_cancelled)));
        return 'cancelled';
    end if;
    update tasker.tasks set status = 'pending', completed_at = null, updated_at = now() where task_id = p_task_id;
    insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
        values (p_task_id, v_status, 'pending', p_reason, p_metadata);
    if v_next = 'pending' then
        perform pg_notify('tasker_work', '');
        return 'pending';
    end if;
    return tasker.settle_task(p_task_id, p_metadata);
end $$;

-- Cancels a task: every step not yet final becomes cancelled, then the task;
-- notifies tasker_cancel 'task:<id>' so that the node running one of its
-- steps cancels the handler. Returns how many steps were cancelled.
create function tasker.cancel_task(p_task_id bigint, p_reason text, p_actor text)
returns integer language plpgsql as $$
declare
    v_status text;
    v_reason text := coalesce(nullif(p_reason, ''), 'cancelled by ' || coalesce(p_actor, 'an operator'));
    v_ids    bigint[];
    v_count  integer;
begin
    select status into v_status from tasker.tasks where task_id = p_task_id for update;
    if not found then
        raise exception 'task % does not exist', p_task_id using errcode = 'no_data_found';
    elsif v_status in ('complete', 'resolved_manually', 'cancelled') then
        raise exception 'task % is %: only a pending, in_progress or error task can be cancelled', p_task_id, v_status
            using errcode = 'check_violation';
    end if;
    select array_agg(step_id) into v_ids from (
        select step_id from tasker.workflow_steps
        where task_id = p_task_id and status not in ('complete', 'resolved_manually', 'cancelled')
        order by step_id for update) s;
    v_count := tasker.cancel_steps(p_task_id, coalesce(v_ids, '{}'), v_reason,
                                   jsonb_build_object('actor', p_actor, 'task_cancelled', true), null);
    update tasker.tasks set status = 'cancelled', completed_at = now(), updated_at = now() where task_id = p_task_id;
    insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
        values (p_task_id, v_status, 'cancelled', v_reason, jsonb_build_object('actor', p_actor, 'steps_cancelled', v_count));
    perform pg_notify('tasker_cancel', 'task:' || p_task_id);
    return v_count;
end $$;

-- Cancels a step and, since they can never run without it, its dependents
-- not yet final, notifying tasker_cancel 'step:<id>' for each one running;
-- then settles the task. Returns how many steps were cancelled.
create function tasker.cancel_step(p_step_id bigint, p_reason text, p_actor text)
returns integer language plpgsql as $$
declare
    v_step   tasker.workflow_steps := tasker.lock_step(p_step_id, 'cancel', false);
    v_reason text := coalesce(nullif(p_reason, ''), 'cancelled by ' || coalesce(p_actor, 'an operator'));
    v_ids    bigint[];
    v_count  integer;
begin
    if v_step.status in ('complete', 'resolved_manually', 'cancelled') then
        raise exception 'step % (%) of task % is %: only a step not yet finished can be cancelled',
            v_step.step_id, v_step.name, v_step.task_id, v_step.status using errcode = 'check_violation';
    end if;
    v_ids := p_step_id || tasker.dependents(p_step_id, '{pending,in_progress,waiting_for_retry,error}');
    perform 1 from tasker.workflow_steps where step_id = any(v_ids) order by step_id for update;
    v_count := tasker.cancel_steps(v_step.task_id, v_ids, v_reason, jsonb_build_object('actor', p_actor), v_step);
    perform tasker.resettle_task(v_step.task_id, v_reason, jsonb_build_object('actor', p_actor));
    return v_count;
end $$;

-- Runs a step in error or cancelled again from its first attempt, with the
-- dependents its cancellation took; the task, if in error or cancelled, goes
-- back to pending. Refused while a parent of the step is in error or
-- cancelled: the step could not run; retry that parent (or the task).
create function tasker.retry_step(p_step_id bigint, p_reason text, p_actor text)
returns void language plpgsql as $$
declare
    v_step    tasker.workflow_steps := tasker.lock_step(p_step_id, 'retry', true);
    v_reason  text := coalesce(nullif(p_reason, ''), 'retried by ' || coalesce(p_actor, 'an operator'));
    v_meta    jsonb := jsonb_build_object('actor', p_actor, 'retried_step', v_step.name);
    v_blocked text[];
    v_ids     bigint[];
begin
    if v_step.status not in ('error', 'cancelled') then
        raise exception 'step % (%) of task % is %: only a step in error or cancelled can be retried',
            v_step.step_id, v_step.name, v_step.task_id, v_step.status using errcode = 'check_violation';
    end if;
    select array_agg(p.name || ' (' || p.status || ')' order by p.step_id) into v_blocked
        from tasker.workflow_step_edges e join tasker.workflow_steps p on p.step_id = e.from_step_id
        where e.to_step_id = p_step_id and p.status in ('error', 'cancelled');
    if v_blocked is not null then
        raise exception 'step % (%) of task % cannot run again while its parents % are not done: retry them or the task',
            v_step.step_id, v_step.name, v_step.task_id, array_to_string(v_blocked, ', ') using errcode = 'check_violation';
    end if;
    v_ids := p_step_id || tasker.dependents(p_step_id, '{cancelled}');
    perform 1 from tasker.workflow_steps where step_id = any(v_ids) order by step_id for update;
    perform tasker.reset_steps(v_step.task_id, v_ids, v_reason, v_meta);
    perform tasker.resettle_task(v_step.task_id, v_reason, v_meta);
    perform pg_notify('tasker_work', '');
end $$;

-- Runs every step in error or cancelled of a task in error or cancelled
-- again, as retry_step does. Returns how many steps were reset.
create function tasker.retry_task(p_task_id bigint, p_reason text, p_actor text)
returns integer language plpgsql as $$
declare
    v_status text;
    v_reason text := coalesce(nullif(p_reason, ''), 'retried by ' || coalesce(p_actor, 'an operator'));
    v_ids    bigint[];
    v_count  integer;
begin
    select status into v_status from tasker.tasks where task_id = p_task_id for update;
    if not found then
        raise exception 'task % does not exist', p_task_id using errcode = 'no_data_found';
    elsif v_status not in ('error', 'cancelled') then
        raise exception 'task % is %: only a task in error or cancelled can be retried', p_task_id, v_status
            using errcode = 'check_violation';
    end if;
    select array_agg(step_id) into v_ids from (
        select step_id from tasker.workflow_steps
        where task_id = p_task_id and status in ('error', 'cancelled') order by step_id for update) s;
    v_count := tasker.reset_steps(p_task_id, coalesce(v_ids, '{}'), v_reason,
                                  jsonb_build_object('actor', p_actor, 'task_retried', true));
    perform tasker.resettle_task(p_task_id, v_reason, jsonb_build_object('actor', p_actor, 'steps_reset', v_count));
    perform pg_notify('tasker_work', '');
    return v_count;
end $$;

-- Resolves a step by hand with p_results in place of its handler's; its
-- children are released as on completion and the task settles (resettle_task:
-- a task in error goes back to pending when the step's dependents can now
-- run). A running step must be cancelled first; resolving a cancelled step
-- takes back, to pending, the dependents its cancellation took.
create function tasker.resolve_step(p_step_id bigint, p_results jsonb, p_reason text, p_actor text)
returns void language plpgsql as $$
declare
    v_step   tasker.workflow_steps := tasker.lock_step(p_step_id, 'resolve', true);
    v_reason text := coalesce(nullif(p_reason, ''), 'resolved by ' || coalesce(p_actor, 'an operator'));
    v_meta   jsonb := jsonb_build_object('actor', p_actor);
    v_deps   bigint[] := '{}';
begin
    if v_step.status = 'in_progress' then
        raise exception 'step % (%) of task % is in_progress: its handler is running; cancel the step first, then resolve it',
            v_step.step_id, v_step.name, v_step.task_id using errcode = 'check_violation';
    elsif v_step.status not in ('pending', 'waiting_for_retry', 'error', 'cancelled') then
        raise exception 'step % (%) of task % is %: only a pending, waiting_for_retry, error or cancelled step can be resolved',
            v_step.step_id, v_step.name, v_step.task_id, v_step.status using errcode = 'check_violation';
    end if;
    if v_step.status = 'cancelled' then
        v_deps := tasker.dependents(p_step_id, '{cancelled}');
        perform 1 from tasker.workflow_steps where step_id = any(v_deps) order by step_id for update;
    end if;
    perform tasker.resolve_steps(v_step.task_id, array[p_step_id], p_results, v_reason,
                                 v_meta || jsonb_build_object('last_error', v_step.last_error));
    if cardinality(v_deps) > 0 then
        perform tasker.reset_steps(v_step.task_id, v_deps, 'dependency ' || v_step.name || ' resolved manually',
                                   v_meta || jsonb_build_object('resolved_step', v_step.name));
        perform pg_notify('tasker_work', '');
    end if;
    perform tasker.resettle_task(v_step.task_id, 'step ' || v_step.name || ' resolved manually: ' || v_reason, v_meta);
end $$;

-- Resolves, at a task's creation, the steps a request asked to bypass: each
-- must exist and be skippable. Results are null; the children are released
-- and the task settles (complete when every step was bypassed).
create function tasker.bypass_steps(p_task_id bigint, p_step_names text[], p_actor text)
returns void language plpgsql as $$
declare
    v_status text;
    v_name   text;
    v_step   tasker.workflow_steps;
    v_ids    bigint[] := '{}';
begin
    select status into v_status from tasker.tasks where task_id = p_task_id for update;
    if not found then
        raise exception 'task % does not exist', p_task_id using errcode = 'no_data_found';
    elsif v_status <> 'pending' then
        raise exception 'task % is %: steps can only be bypassed at its creation', p_task_id, v_status
            using errcode = 'check_violation';
    end if;
    for v_name in select distinct n from unnest(p_step_names) as n order by n loop
        select * into v_step from tasker.workflow_steps where task_id = p_task_id and name = v_name for update;
        if not found then
            raise exception 'task % has no step %: it cannot be bypassed', p_task_id, v_name using errcode = 'no_data_found';
        elsif not v_step.skippable then
            raise exception 'step % of task % is not skippable: it cannot be bypassed', v_name, p_task_id
                using errcode = 'check_violation';
        elsif v_step.status <> 'pending' then
            raise exception 'step % of task % is %: only a pending step can be bypassed', v_name, p_task_id, v_step.status
                using errcode = 'check_violation';
        end if;
        v_ids := v_ids || v_step.step_id;
    end loop;
    if cardinality(v_ids) > 0 then
        perform tasker.resolve_steps(p_task_id, v_ids, null, 'bypassed at creation', jsonb_build_object('actor', p_actor));
        perform tasker.settle_task(p_task_id, jsonb_build_object('actor', p_actor));
    end if;
end $$;
