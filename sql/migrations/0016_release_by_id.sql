-- Releasing children by their ids, not by a join (issue 7).
--
-- complete_steps (0015) and complete_step (0002) lowered the remaining
-- dependencies of a finished step's children with an UPDATE ... FROM join
-- of the steps and the edges. Its generic plan depends on the statistics:
-- before autovacuum first analysed the tables (a new database; the first
-- minute of a burn-down) it was a hash join, which read every step through
-- the primary key to find the one child: 0.29 ms of a chain's 1.3 ms
-- transaction with 1,600 steps in the table, and more with every step
-- after. Looking the children up first and updating them by id leaves the
-- planner one shape, an index probe per child, whatever it knows
-- (store.TestStepCycleCostDoesNotGrowWithHistory counts the rows read).
-- The functions are those of 0015 and 0002 with that statement replaced.

create or replace function tasker.claim_steps(
    p_owner text, p_limit integer, p_lease_ms integer, p_exclude_handlers text[] default '{}'
)
returns table (
    step_id bigint, task_id bigint, step_name text, handler text, handler_version text, handler_config jsonb,
    attempt integer, timeout_ms integer, namespace text, task_name text, task_version text,
    context jsonb, dependency_results jsonb, inputs jsonb, correlation_id text, trace_parent text
) language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
    set tasker.inline_step_events = on set tasker.inline_task_events = on as $$
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
        where s.step_id = ready.step_id and s.step_id = any(array(select r.step_id from ready r))
        returning s.step_id, s.task_id, s.name, s.handler, s.handler_version, s.handler_config, s.attempts, s.timeout_ms,
                  s.inputs, ready.status as from_status
    ), step_audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        select c.step_id, c.task_id, c.from_status, 'in_progress', 'claimed',
               jsonb_build_object('owner', p_owner, 'attempt', c.attempts)
        from claimed c
        returning step_transitions.transition_id, step_transitions.step_id,
                  step_transitions.from_status, step_transitions.metadata
    ), info as (
        select c.*, n.name as namespace, tt.name as task_name, tt.version as task_version,
               t.context, t.correlation_id, t.trace_parent
        from claimed c
        join tasker.tasks t on t.task_id = c.task_id
        join tasker.task_templates tt on tt.template_id = t.template_id
        join tasker.namespaces n on n.namespace_id = tt.namespace_id
    ), startable as (
        -- SKIP LOCKED because this takes task locks after step locks, the
        -- reverse of every other function: waiting here could deadlock with
        -- an operator action. A task skipped now stays pending until its
        -- next claim; settle_task and the rules accept that.
        select t.task_id from tasker.tasks t
        where t.task_id = any(array(select c.task_id from claimed c)) and t.status = 'pending'
        for update skip locked
    ), started as (
        update tasker.tasks t set status = 'in_progress', updated_at = now()
        from startable st where t.task_id = st.task_id
        returning t.task_id
    ), task_audit as (
        insert into tasker.task_transitions (task_id, from_status, to_status, reason)
        select st.task_id, 'pending', 'in_progress', 'first step claimed' from started st
        returning task_transitions.transition_id, task_transitions.task_id
    ), events as (
        -- What the transition triggers would write for these rows: the
        -- tasks' task.started first, then the steps' step.started.
        insert into tasker.events (name, task_id, step_id, payload, correlation_id)
        select e.name, e.task_id, e.step_id, e.payload, e.correlation_id from (
            select 0 as kind, a.transition_id, 'task.started' as name, a.task_id, null::bigint as step_id,
                   jsonb_build_object(
                       'task_id', a.task_id, 'namespace', i.namespace, 'task_name', i.task_name,
                       'task_version', i.task_version, 'from_status', 'pending'::text,
                       'to_status', 'in_progress'::text, 'reason', 'first step claimed'::text,
                       'transition_id', a.transition_id) as payload,
                   i.correlation_id
            from task_audit a
            join lateral (select * from info i where i.task_id = a.task_id limit 1) i on true
            union all
            select 1, a.transition_id, 'step.started', i.task_id, i.step_id,
                   jsonb_strip_nulls(jsonb_build_object(
                       'task_id', i.task_id, 'step_id', i.step_id, 'step_name', i.name, 'handler', i.handler,
                       'namespace', i.namespace, 'task_name', i.task_name, 'task_version', i.task_version,
                       'from_status', a.from_status, 'to_status', 'in_progress'::text, 'attempt', i.attempts,
                       'reason', 'claimed'::text, 'details', a.metadata, 'transition_id', a.transition_id)),
                   i.correlation_id
            from info i join step_audit a on a.step_id = i.step_id
        ) e
        order by e.kind, e.transition_id
    )
    select i.step_id, i.task_id, i.name, i.handler, i.handler_version, i.handler_config, i.attempts, i.timeout_ms,
           i.namespace, i.task_name, i.task_version, i.context,
           coalesce((select jsonb_object_agg(p.name, coalesce(p.results, 'null'::jsonb))
                     from tasker.workflow_steps p
                     where p.step_id = any(array(select e.from_step_id from tasker.workflow_step_edges e
                                                 where e.to_step_id = i.step_id))), '{}'::jsonb),
           i.inputs, coalesce(i.correlation_id, ''), coalesce(i.trace_parent, '')
    from info i;
    if found then
        perform tasker.notify('tasker_events', '');
    end if;
end $$;

create or replace function tasker.complete_steps(p_step_ids bigint[], p_owner text, p_results jsonb[])
returns table (step_id bigint, task_status text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off
    set tasker.inline_step_events = on as $$
declare
    v_tasks  bigint[];
    v_done   bigint[];
    v_ready  integer;
    v_status jsonb := '{}';
    v_task   bigint;
begin
    if cardinality(p_step_ids) is distinct from cardinality(p_results) then
        raise exception 'complete_steps: % step ids but % results', cardinality(p_step_ids), cardinality(p_results)
            using errcode = 'invalid_parameter_value';
    end if;
    select array_agg(distinct s.task_id order by s.task_id) into v_tasks
        from tasker.workflow_steps s where s.step_id = any(p_step_ids);
    perform 1 from tasker.tasks t where t.task_id = any(v_tasks) order by t.task_id for update;

    with input as (
        select x.id, x.results from unnest(p_step_ids, p_results) as x(id, results)
    ), done as (
        update tasker.workflow_steps s
            set status = 'complete', results = coalesce(i.results, 'null'::jsonb), last_error = null,
                lease_owner = null, lease_expires_at = null, completed_at = now(), updated_at = now()
            from input i
            where s.step_id = i.id and s.status = 'in_progress' and s.lease_owner = p_owner
            returning s.step_id, s.task_id, s.name, s.handler, s.attempts,
                      s.results is not null and s.results <> 'null'::jsonb as has_results
    ), audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason)
        select d.step_id, d.task_id, 'in_progress', 'complete', 'handler succeeded' from done d order by d.step_id
        returning step_transitions.transition_id, step_transitions.step_id
    ), step_events as (
        -- What step_transition_events would write for these rows.
        insert into tasker.events (name, task_id, step_id, payload, correlation_id)
        select 'step.completed', d.task_id, d.step_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'task_id', d.task_id, 'step_id', d.step_id, 'step_name', d.name, 'handler', d.handler,
                   'namespace', ns.name, 'task_name', tt.name, 'task_version', tt.version,
                   'from_status', 'in_progress'::text, 'to_status', 'complete'::text, 'attempt', d.attempts,
                   'reason', 'handler succeeded'::text, 'has_results', d.has_results,
                   'transition_id', a.transition_id)),
               t.correlation_id
        from done d
        join audit a on a.step_id = d.step_id
        join tasker.tasks t on t.task_id = d.task_id
        join tasker.task_templates tt on tt.template_id = t.template_id
        join tasker.namespaces ns on ns.namespace_id = tt.namespace_id
        order by a.transition_id
    )
    select array_agg(d.step_id) into v_done from done d;
    if v_done is null then
        return query select x.id, null::text from unnest(p_step_ids) as x(id);
        return;
    end if;
    perform tasker.notify('tasker_events', '');

    with released as (
        update tasker.workflow_steps c
            set remaining_deps = c.remaining_deps
                    - (select count(*)::integer from tasker.workflow_step_edges e
                       where e.from_step_id = any(v_done) and e.to_step_id = c.step_id),
                updated_at = now()
            where c.step_id = any(array(select e.to_step_id from tasker.workflow_step_edges e
                                        where e.from_step_id = any(v_done)))
            returning c.remaining_deps, c.status
    )
    select count(*) into v_ready from released where remaining_deps = 0 and status = 'pending';
    if v_ready > 0 then
        -- The payload names the node: it claims in this same transaction
        -- (store.CompleteAndClaim), so its own loop need not wake for it.
        perform tasker.notify('tasker_work', p_owner);
    end if;

    for v_task in select distinct s.task_id from tasker.workflow_steps s where s.step_id = any(v_done) order by 1 loop
        v_status := v_status || jsonb_build_object(v_task::text, tasker.settle_task(v_task));
    end loop;
    return query
        select x.id, case when x.id = any(v_done) then v_status->>(s.task_id::text) end
        from unnest(p_step_ids) as x(id)
        left join tasker.workflow_steps s on s.step_id = x.id;
end $$;


create or replace function tasker.complete_step(p_step_id bigint, p_owner text, p_results jsonb)
returns text language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_task_id bigint;
    v_ready   integer;
begin
    select task_id into v_task_id from tasker.workflow_steps where step_id = p_step_id;
    perform 1 from tasker.tasks where task_id = v_task_id for update;

    update tasker.workflow_steps
        set status = 'complete', results = coalesce(p_results, 'null'::jsonb), last_error = null,
            lease_owner = null, lease_expires_at = null, completed_at = now(), updated_at = now()
        where step_id = p_step_id and status = 'in_progress' and lease_owner = p_owner;
    if not found then
        return null;
    end if;
    insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason)
        values (p_step_id, v_task_id, 'in_progress', 'complete', 'handler succeeded');

    with released as (
        update tasker.workflow_steps s set remaining_deps = s.remaining_deps - 1, updated_at = now()
            where s.step_id = any(array(select e.to_step_id from tasker.workflow_step_edges e
                                        where e.from_step_id = p_step_id))
            returning s.remaining_deps, s.status
    )
    select count(*) into v_ready from released where remaining_deps = 0 and status = 'pending';
    if v_ready > 0 then
        perform pg_notify('tasker_work', '');
    end if;

    return tasker.settle_task(v_task_id);
end $$;
