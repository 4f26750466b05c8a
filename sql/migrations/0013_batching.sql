-- Batching and plans that do not depend on statistics (issue 7).
--
-- Profiles of the burn-down (pg_stat_activity sampled every 30 ms, then
-- auto_explain) showed three costs that grow with the queue, not the work:
--
-- 1. claim_steps found its ready steps with a bitmap scan of the ready index
--    and a sort. A queue's index fills with entries of steps already claimed
--    (a status change is never a HOT update); a bitmap scan visits the heap
--    for every one of them on every claim and never marks them dead. An
--    ordered index scan stops after p_limit live rows and sets the kill bits
--    of the dead entries it passes, so later claims skip them. The generic
--    plan (the only one a connection ever uses) cannot know p_limit nor
--    p_exclude_handlers, so its estimates favoured the bitmap scan: the
--    function now turns bitmap scans off for its own statements.
-- 2. claim_steps started tasks with "task_id in (select ... from claimed)",
--    which the generic plan, built when few tasks were pending, ran as a
--    walk over every pending task (1,000 rows per claim with 1,000 pending).
--    An array of the claimed task ids is looked up by key whatever the
--    statistics say.
--    The parents' results of each claimed step were joined the same way:
--    with statistics from an emptier table, the plan hashed the whole steps
--    table for every claimed step (12,000 rows, 5 ms each). They are now
--    looked up by key from the array of the step's parents.
-- 3. settle_task, run by every completion, looked for a step of the task
--    that can still run by walking the task's steps; in a wide task that
--    walk passes over every finished step, O(steps) per completion. A
--    partial index holding exactly the runnable steps makes it one probe.
--
-- complete_steps records many successes in one transaction: one commit (one
-- WAL flush, one pass through the NOTIFY commit lock) for a batch instead of
-- one per step. claim_steps is otherwise 0012's.

create index workflow_steps_runnable_idx on tasker.workflow_steps (task_id)
    where status in ('in_progress', 'waiting_for_retry') or (status = 'pending' and remaining_deps = 0);

create or replace function tasker.claim_steps(
    p_owner text, p_limit integer, p_lease_ms integer, p_exclude_handlers text[] default '{}'
)
returns table (
    step_id bigint, task_id bigint, step_name text, handler text, handler_version text, handler_config jsonb,
    attempt integer, timeout_ms integer, namespace text, task_name text, task_version text,
    context jsonb, dependency_results jsonb, inputs jsonb, correlation_id text, trace_parent text
) language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off as $$
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
        where t.task_id = any(array(select c.task_id from claimed c)) and t.status = 'pending'
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
                     from tasker.workflow_steps p
                     where p.step_id = any(array(select e.from_step_id from tasker.workflow_step_edges e
                                                 where e.to_step_id = c.step_id))), '{}'::jsonb),
           c.inputs, coalesce(t.correlation_id, ''), coalesce(t.trace_parent, '')
    from claimed c
    join tasker.tasks t on t.task_id = c.task_id
    join tasker.task_templates tt on tt.template_id = t.template_id
    join tasker.namespaces n on n.namespace_id = tt.namespace_id;
end $$;

-- Records the successes of several steps (p_step_ids[i] with p_results[i])
-- in one transaction, with what complete_step does one by one but a
-- statement per kind of change for the whole batch (so the event triggers,
-- too, run once per batch), and returns each step's task status afterwards
-- (null where the step is no longer leased to p_owner). Task rows are
-- locked in task_id order first, so two batches that share tasks wait for
-- each other instead of deadlocking.
create function tasker.complete_steps(p_step_ids bigint[], p_owner text, p_results jsonb[])
returns table (step_id bigint, task_status text)
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off set enable_bitmapscan = off as $$
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
            returning s.step_id, s.task_id
    ), audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason)
        select d.step_id, d.task_id, 'in_progress', 'complete', 'handler succeeded' from done d order by d.step_id
    )
    select array_agg(d.step_id) into v_done from done d;
    if v_done is null then
        return query select x.id, null::text from unnest(p_step_ids) as x(id);
        return;
    end if;

    with released as (
        update tasker.workflow_steps c set remaining_deps = c.remaining_deps - e.n, updated_at = now()
            from (select e.to_step_id, count(*)::integer as n from tasker.workflow_step_edges e
                  where e.from_step_id = any(v_done) group by e.to_step_id) e
            where c.step_id = e.to_step_id
            returning c.remaining_deps, c.status
    )
    select count(*) into v_ready from released where remaining_deps = 0 and status = 'pending';
    if v_ready > 0 then
        -- The payload names the node: it claims in this same transaction
        -- (store.CompleteAndClaim), so its own loop need not wake for it.
        perform pg_notify('tasker_work', p_owner);
    end if;

    for v_task in select distinct s.task_id from tasker.workflow_steps s where s.step_id = any(v_done) order by 1 loop
        v_status := v_status || jsonb_build_object(v_task::text, tasker.settle_task(v_task));
    end loop;
    return query
        select x.id, case when x.id = any(v_done) then v_status->>(s.task_id::text) end
        from unnest(p_step_ids) as x(id)
        left join tasker.workflow_steps s on s.step_id = x.id;
end $$;
