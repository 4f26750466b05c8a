-- claim_steps returns the task's correlation id and trace context itself.
--
-- 0009 read them by joining tasks onto the function's result in the calling
-- statement. That statement's snapshot is taken before the function's own
-- statements run, so a task committed in between had its step claimed by
-- the function but no tasks row in the outer join: the claimed step was
-- dropped from the result and sat in_progress until its lease expired.
-- Reading them inside the function's final statement, from the same
-- snapshot that found the step, cannot miss. The body is 0006's with the
-- two columns added.

drop function tasker.claim_steps(text, integer, integer, text[]);

create function tasker.claim_steps(
    p_owner text, p_limit integer, p_lease_ms integer, p_exclude_handlers text[] default '{}'
)
returns table (
    step_id bigint, task_id bigint, step_name text, handler text, handler_version text, handler_config jsonb,
    attempt integer, timeout_ms integer, namespace text, task_name text, task_version text,
    context jsonb, dependency_results jsonb, inputs jsonb, correlation_id text, trace_parent text
) language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_serial bigint[] := '{}';
    v_tasks  bigint[] := '{}';
    v_cand   record;
begin
    -- The loop reads its cursor lazily, so it stops scanning once it has enough.
    for v_cand in
        select s.step_id, s.task_id from tasker.workflow_steps s
        where s.status in ('pending', 'waiting_for_retry') and s.remaining_deps = 0 and s.serial
          and s.next_attempt_at <= now() and not s.handler = any(p_exclude_handlers)
          and not exists (select 1 from tasker.workflow_steps o
                          where o.task_id = s.task_id and o.status = 'in_progress')
        order by s.next_attempt_at, s.step_id
    loop
        exit when cardinality(v_serial) >= p_limit;
        continue when v_cand.task_id = any(v_tasks);
        perform 1 from tasker.tasks t where t.task_id = v_cand.task_id for update skip locked;
        continue when not found;
        continue when exists (select 1 from tasker.workflow_steps o
                              where o.task_id = v_cand.task_id and o.status = 'in_progress');
        v_serial := v_serial || v_cand.step_id;
        v_tasks := v_tasks || v_cand.task_id;
    end loop;

    return query
    with ready_free as (
        select s.step_id, s.status
        from tasker.workflow_steps s
        where s.status in ('pending', 'waiting_for_retry') and s.remaining_deps = 0 and not s.serial
          and s.next_attempt_at <= now() and not s.handler = any(p_exclude_handlers)
        order by s.next_attempt_at, s.step_id
        limit p_limit - cardinality(v_serial)
        for update skip locked
    ), ready_serial as (
        select s.step_id, s.status from tasker.workflow_steps s
        where s.step_id = any(v_serial)
        for update
    ), ready as (
        select * from ready_free union all select * from ready_serial
    ), claimed as (
        update tasker.workflow_steps s
            set status = 'in_progress', attempts = s.attempts + 1, lease_owner = p_owner,
                lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0), updated_at = now()
        from ready
        where s.step_id = ready.step_id
        returning s.step_id, s.task_id, s.name, s.handler, s.handler_version, s.handler_config, s.attempts, s.timeout_ms,
                  s.inputs, ready.status as from_status
    ), step_audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        select c.step_id, c.task_id, c.from_status, 'in_progress', 'claimed',
               jsonb_build_object('owner', p_owner, 'attempt', c.attempts)
        from claimed c
    ), startable as (
        -- SKIP LOCKED because this takes task locks after step locks, the
        -- reverse of every other function: waiting here could deadlock with
        -- an operator action. A task skipped now stays pending until its
        -- next claim; settle_task and the rules accept that.
        select t.task_id from tasker.tasks t
        where t.task_id in (select c.task_id from claimed c) and t.status = 'pending'
        for update skip locked
    ), started as (
        update tasker.tasks t set status = 'in_progress', updated_at = now()
        from startable st where t.task_id = st.task_id
        returning t.task_id
    ), task_audit as (
        insert into tasker.task_transitions (task_id, from_status, to_status, reason)
        select st.task_id, 'pending', 'in_progress', 'first step claimed' from started st
    )
    select c.step_id, c.task_id, c.name, c.handler, c.handler_version, c.handler_config, c.attempts, c.timeout_ms,
           n.name, tt.name, tt.version, t.context,
           coalesce((select jsonb_object_agg(p.name, coalesce(p.results, 'null'::jsonb))
                     from tasker.workflow_step_edges e
                     join tasker.workflow_steps p on p.step_id = e.from_step_id
                     where e.to_step_id = c.step_id), '{}'::jsonb),
           c.inputs, coalesce(t.correlation_id, ''), coalesce(t.trace_parent, '')
    from claimed c
    join tasker.tasks t on t.task_id = c.task_id
    join tasker.task_templates tt on tt.template_id = t.template_id
    join tasker.namespaces n on n.namespace_id = tt.namespace_id;
end $$;
