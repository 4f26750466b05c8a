-- Step inputs and the PATCH operations of the API.
--
-- workflow_steps.inputs: a JSON object an operator sets on a step (PATCH of
-- the step), handed to the handler with every attempt; null when absent.
-- claim_steps returns it (its result type changes, so it is dropped and
-- created again; the body is 0002's with the inputs column added).
--
-- update_task and update_step change a task's metadata (reason, tags) and a
-- step's retry_limit and inputs. Like the operator actions of 0004 they lock
-- the task row first, then the step, refuse what the step's state does not
-- allow with check_violation (an unknown task or step: no_data_found), and
-- leave an audit trail: a transition row whose from_status and to_status are
-- the current status (the state rules of 0003 only check rows whose status
-- changes), with reason 'updated by <actor>' and metadata
-- {"actor": ..., "updated": {"<field>": {"old": ..., "new": ...}}}. Neither
-- changes readiness, so neither notifies.
--
-- Such a same-state row of a running step reads in_progress -> in_progress;
-- the diagnostics of 0005 that take a step's start from its last transition
-- to in_progress (step_readiness_status, analytics_metrics, slowest_steps)
-- are created again below to count only real claims (from another status).

alter table tasker.workflow_steps add column inputs jsonb
    check (inputs is null or jsonb_typeof(inputs) = 'object');

drop function tasker.claim_steps(text, integer, integer, text[]);

create function tasker.claim_steps(
    p_owner text, p_limit integer, p_lease_ms integer, p_exclude_handlers text[] default '{}'
)
returns table (
    step_id bigint, task_id bigint, step_name text, handler text, handler_version text, handler_config jsonb,
    attempt integer, timeout_ms integer, namespace text, task_name text, task_version text,
    context jsonb, dependency_results jsonb, inputs jsonb
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
           c.inputs
    from claimed c
    join tasker.tasks t on t.task_id = c.task_id
    join tasker.task_templates tt on tt.template_id = t.template_id
    join tasker.namespaces n on n.namespace_id = tt.namespace_id;
end $$;

-- Changes a task's reason (p_reason: null keeps it, '' clears it) and tags
-- (p_tags: null keeps them, otherwise replaces them), in any state.
create function tasker.update_task(p_task_id bigint, p_reason text, p_tags text[], p_actor text)
returns void language plpgsql as $$
declare
    v_task    tasker.tasks;
    v_updated jsonb := '{}';
begin
    select * into v_task from tasker.tasks where task_id = p_task_id for update;
    if not found then
        raise exception 'task % does not exist', p_task_id using errcode = 'no_data_found';
    end if;
    if p_reason is not null then
        v_updated := v_updated || jsonb_build_object('reason',
            jsonb_build_object('old', v_task.reason, 'new', nullif(p_reason, '')));
    end if;
    if p_tags is not null then
        v_updated := v_updated || jsonb_build_object('tags',
            jsonb_build_object('old', to_jsonb(v_task.tags), 'new', to_jsonb(p_tags)));
    end if;
    if v_updated = '{}' then
        return;
    end if;
    update tasker.tasks
        set reason = case when p_reason is null then reason else nullif(p_reason, '') end,
            tags = coalesce(p_tags, tags), updated_at = now()
        where task_id = p_task_id;
    insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
        values (p_task_id, v_task.status, v_task.status, 'updated by ' || coalesce(p_actor, 'an operator'),
                jsonb_build_object('actor', p_actor, 'updated', v_updated));
end $$;

-- Changes a step's retry_limit and/or inputs (null keeps each), all or
-- nothing. retry_limit must allow the attempt a step that can still run is
-- running (in_progress: at least its attempts) or will run next (pending,
-- waiting_for_retry: more than its attempts); a step in error or cancelled
-- starts again from its first attempt when retried, and a finished one never
-- runs again, so any limit suits them. inputs must be an object and can only
-- be changed while the step is not running or finished: pending,
-- waiting_for_retry, error or cancelled (so that an operator can correct a
-- failed step's inputs, then retry it).
create function tasker.update_step(
    p_task_id bigint, p_step_id bigint, p_retry_limit integer, p_inputs jsonb, p_actor text
) returns void language plpgsql as $$
declare
    v_step    tasker.workflow_steps;
    v_min     integer;
    v_updated jsonb := '{}';
begin
    perform 1 from tasker.tasks where task_id = p_task_id for update;
    if not found then
        raise exception 'task % does not exist', p_task_id using errcode = 'no_data_found';
    end if;
    select * into v_step from tasker.workflow_steps where step_id = p_step_id and task_id = p_task_id for update;
    if not found then
        raise exception 'task % has no step %', p_task_id, p_step_id using errcode = 'no_data_found';
    end if;

    if p_retry_limit is not null then
        if p_retry_limit < 1 then
            raise exception 'retry_limit % of step % (%) of task %: it must be at least 1',
                p_retry_limit, p_step_id, v_step.name, p_task_id using errcode = 'invalid_parameter_value';
        end if;
        v_min := case v_step.status
                     when 'in_progress' then v_step.attempts
                     when 'pending' then v_step.attempts + 1
                     when 'waiting_for_retry' then v_step.attempts + 1
                 end;
        if p_retry_limit < v_min then
            raise exception 'step % (%) of task % is % with % attempt(s) made: retry_limit % would not allow the attempt it %; it must be at least %',
                p_step_id, v_step.name, p_task_id, v_step.status, v_step.attempts, p_retry_limit,
                case when v_step.status = 'in_progress' then 'is running' else 'runs next' end, v_min
                using errcode = 'check_violation';
        end if;
        v_updated := v_updated || jsonb_build_object('retry_limit',
            jsonb_build_object('old', v_step.retry_limit, 'new', p_retry_limit));
    end if;

    if p_inputs is not null then
        if jsonb_typeof(p_inputs) <> 'object' then
            raise exception 'inputs of step % (%) of task % must be a JSON object, not %',
                p_step_id, v_step.name, p_task_id, jsonb_typeof(p_inputs) using errcode = 'invalid_parameter_value';
        elsif v_step.status not in ('pending', 'waiting_for_retry', 'error', 'cancelled') then
            raise exception 'step % (%) of task % is %: its inputs can only be changed while it is pending, waiting_for_retry, error or cancelled',
                p_step_id, v_step.name, p_task_id, v_step.status using errcode = 'check_violation';
        end if;
        v_updated := v_updated || jsonb_build_object('inputs',
            jsonb_build_object('old', v_step.inputs, 'new', p_inputs));
    end if;

    if v_updated = '{}' then
        return;
    end if;
    update tasker.workflow_steps
        set retry_limit = coalesce(p_retry_limit, retry_limit), inputs = coalesce(p_inputs, inputs), updated_at = now()
        where step_id = p_step_id;
    insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        values (p_step_id, p_task_id, v_step.status, v_step.status, 'updated by ' || coalesce(p_actor, 'an operator'),
                jsonb_build_object('actor', p_actor, 'updated', v_updated));
end $$;

-- The diagnostics of 0005 whose step start is the last transition to
-- in_progress, unchanged but for counting only real claims.

create or replace function tasker.step_readiness_status(p_task_id bigint)
returns table (
    workflow_step_id bigint, task_id bigint, name text, current_state text,
    dependencies_satisfied boolean, retry_eligible boolean, ready_for_execution boolean,
    last_failure_at timestamptz, next_retry_at timestamptz,
    total_parents integer, completed_parents integer, attempts integer, retry_limit integer,
    backoff_request_seconds numeric, last_attempted_at timestamptz
) language sql stable as $$
    select s.step_id, s.task_id, s.name, s.status,
           s.remaining_deps = 0,
           s.status in ('pending', 'in_progress', 'waiting_for_retry')
               and (s.attempts = 0 or (s.retryable and s.attempts < s.retry_limit)),
           s.status in ('pending', 'waiting_for_retry') and s.remaining_deps = 0 and s.next_attempt_at <= now(),
           tr.last_failure_at,
           case when s.status = 'waiting_for_retry' then s.next_attempt_at end,
           par.total_parents, par.completed_parents,
           s.attempts, s.retry_limit,
           round(tr.retry_in_ms / 1000.0, 3),
           tr.last_attempted_at
    from tasker.workflow_steps s
    cross join lateral (
        select count(*)::integer as total_parents,
               (count(*) filter (where p.status in ('complete', 'resolved_manually')))::integer as completed_parents
        from tasker.workflow_step_edges e
        join tasker.workflow_steps p on p.step_id = e.from_step_id
        where e.to_step_id = s.step_id
    ) par
    cross join lateral (
        select max(st.created_at) filter (where st.to_status = 'in_progress'
                                            and st.from_status is distinct from 'in_progress') as last_attempted_at,
               max(st.created_at) filter (where st.to_status in ('waiting_for_retry', 'error')
                                            and st.metadata ? 'permanent') as last_failure_at,
               (array_agg((st.metadata->>'retry_in_ms')::numeric order by st.transition_id desc)
                    filter (where st.to_status in ('waiting_for_retry', 'error')
                              and st.metadata ? 'permanent'))[1] as retry_in_ms
        from tasker.step_transitions st
        where st.step_id = s.step_id
    ) tr
    where s.task_id = p_task_id
    order by s.step_id
$$;

create or replace function tasker.analytics_metrics(p_since timestamptz default now() - interval '1 hour')
returns table (
    active_tasks_count bigint, total_namespaces_count bigint, unique_task_types_count bigint,
    system_health_score numeric, task_throughput bigint, completion_count bigint, error_count bigint,
    completion_rate numeric, error_rate numeric,
    avg_task_duration_seconds numeric, avg_step_duration_seconds numeric, step_throughput bigint,
    analysis_period_start timestamptz, calculated_at timestamptz
) language sql stable as $$
    with cohort as (
        select t.task_id, t.status, t.created_at, t.completed_at, tt.namespace_id, tt.name
        from tasker.tasks t
        join tasker.task_templates tt on tt.template_id = t.template_id
        where t.created_at >= p_since
    ), tasks as (
        select count(*) as created,
               count(distinct (namespace_id, name)) as types,
               count(*) filter (where status = 'complete') as completed,
               count(*) filter (where status = 'error') as failed,
               avg(extract(epoch from completed_at - created_at))
                   filter (where status in ('complete', 'error') and completed_at is not null) as avg_duration
        from cohort
    ), steps as (
        select count(*) as completed,
               avg(extract(epoch from s.completed_at - st.started_at)) as avg_duration
        from cohort c
        join tasker.workflow_steps s on s.task_id = c.task_id and s.status = 'complete'
        cross join lateral (
            select max(x.created_at) as started_at from tasker.step_transitions x
            where x.step_id = s.step_id and x.to_status = 'in_progress' and x.from_status is distinct from 'in_progress'
        ) st
    )
    select (select count(*) from tasker.tasks where status in ('pending', 'in_progress')),
           (select count(*) from tasker.namespaces),
           tasks.types,
           case when tasks.completed + tasks.failed = 0 then 1.0
                else round(tasks.completed::numeric / (tasks.completed + tasks.failed), 4) end,
           tasks.created, tasks.completed, tasks.failed,
           case when tasks.created = 0 then 0.0 else round(tasks.completed::numeric / tasks.created, 4) end,
           case when tasks.created = 0 then 0.0 else round(tasks.failed::numeric / tasks.created, 4) end,
           round(tasks.avg_duration, 3),
           round(steps.avg_duration, 3),
           steps.completed,
           p_since,
           now()
    from tasks, steps
$$;

create or replace function tasker.slowest_steps(
    p_since timestamptz default null, p_limit integer default 10,
    p_namespace text default null, p_task_name text default null, p_version text default null
) returns table (
    workflow_step_id bigint, task_id bigint, step_name text, task_name text, namespace_name text,
    version text, duration_seconds numeric, attempts integer, retry_limit integer, retryable boolean,
    step_status text, started_at timestamptz, completed_at timestamptz
) language sql stable as $$
    select s.step_id, s.task_id, s.name, tt.name, n.name, tt.version,
           round(extract(epoch from s.completed_at - st.started_at), 3),
           s.attempts, s.retry_limit, s.retryable, s.status, st.started_at, s.completed_at
    from tasker.tasks t
    join tasker.task_templates tt on tt.template_id = t.template_id
    join tasker.namespaces n on n.namespace_id = tt.namespace_id
    join tasker.workflow_steps s on s.task_id = t.task_id
    cross join lateral (
        select max(x.created_at) as started_at from tasker.step_transitions x
        where x.step_id = s.step_id and x.to_status = 'in_progress' and x.from_status is distinct from 'in_progress'
    ) st
    where t.created_at >= coalesce(p_since, now() - interval '24 hours')
      and s.status = 'complete' and s.completed_at is not null and st.started_at is not null
      and (p_namespace is null or n.name = p_namespace)
      and (p_task_name is null or tt.name = p_task_name)
      and (p_version is null or tt.version = p_version)
    order by s.completed_at - st.started_at desc, s.step_id
    limit p_limit
$$;
