-- The orchestration functions. The Go engine is a thin loop around them:
-- (The hot ones are declared with plan_cache_mode = force_generic_plan: their
-- statements have parameters, and PL/pgSQL would otherwise re-plan those
-- multi-CTE statements on every call, which cost 1 ms of a 1.2 ms claim.)
-- claim_steps -> run the handler -> complete_step or fail_step.
-- Whenever a step becomes ready at once, they notify channel tasker_work so
-- that idle nodes claim it without waiting for their next poll.
-- Functions that change a task's steps lock the task row first, always in
-- that order (task, then steps), so that concurrent completions of a task's
-- last steps see each other and exactly one of them finishes the task.

create function tasker.register_template(
    p_namespace text, p_name text, p_version text, p_definition jsonb, p_digest text
) returns bigint language plpgsql as $$
declare
    v_namespace_id bigint;
    v_template_id  bigint;
begin
    insert into tasker.namespaces (name) values (p_namespace)
        on conflict (name) do nothing;
    select namespace_id into v_namespace_id from tasker.namespaces where name = p_namespace;

    insert into tasker.task_templates (namespace_id, name, version, definition, digest)
        values (v_namespace_id, p_name, p_version, p_definition, p_digest)
        on conflict (namespace_id, name, version) do update
            set definition = excluded.definition, digest = excluded.digest, updated_at = now()
            where tasker.task_templates.digest is distinct from excluded.digest
        returning template_id into v_template_id;
    if v_template_id is null then -- unchanged: the conflict update did not fire
        select template_id into v_template_id from tasker.task_templates
            where namespace_id = v_namespace_id and name = p_name and version = p_version;
    end if;
    return v_template_id;
end $$;

-- Creates a task and its steps and edges from a registered template, in one
-- statement per table however many steps the template has. With an identity
-- hash, a task of the same identity created within the window is returned
-- instead (created = false); the advisory lock makes two simultaneous equal
-- requests agree on one task.
create function tasker.create_task(
    p_template_id bigint, p_context jsonb, p_initiator text, p_reason text,
    p_source_system text, p_tags text[], p_identity_hash text, p_identity_window_ms bigint,
    out task_id bigint, out created boolean
) language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_definition jsonb;
    v_task_id    bigint;
begin
    select definition into v_definition from tasker.task_templates where template_id = p_template_id;
    if not found then
        raise exception 'task template % does not exist', p_template_id using errcode = 'no_data_found';
    end if;

    if p_identity_hash is not null then
        perform pg_advisory_xact_lock(hashtextextended(p_identity_hash, 0));
        select t.task_id into task_id from tasker.tasks t
            where t.identity_hash = p_identity_hash
              and t.created_at > now() - make_interval(secs => p_identity_window_ms / 1000.0)
            order by t.task_id desc limit 1;
        if found then
            created := false;
            return;
        end if;
    end if;

    insert into tasker.tasks (template_id, context, initiator, reason, source_system, tags, identity_hash)
        values (p_template_id, coalesce(p_context, '{}'), p_initiator, p_reason, p_source_system,
                coalesce(p_tags, '{}'), p_identity_hash)
        returning tasks.task_id into v_task_id;
    insert into tasker.task_transitions (task_id, from_status, to_status, reason)
        values (v_task_id, null, 'pending', 'task created');

    with steps as (
        insert into tasker.workflow_steps (task_id, name, handler, handler_version, handler_config, remaining_deps,
                                           retryable, skippable, serial, retry_limit, backoff_base_ms, backoff_max_ms, timeout_ms)
        select v_task_id, s->>'name', s->>'handler', nullif(s->>'handler_version', ''), s->'handler_config',
               coalesce(jsonb_array_length(s->'depends_on'), 0),
               (s->>'retryable')::boolean, coalesce((s->>'skippable')::boolean, false),
               not coalesce((v_definition->>'concurrent')::boolean, true), (s->>'retry_limit')::integer,
               (s->>'backoff_base_ms')::integer, (s->>'backoff_max_ms')::integer, (s->>'timeout_ms')::integer
        from jsonb_array_elements(v_definition->'steps') as s
        returning step_id
    )
    insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason)
        select step_id, v_task_id, null, 'pending', 'task created' from steps;

    insert into tasker.workflow_step_edges (from_step_id, to_step_id)
        select parent.step_id, child.step_id
        from jsonb_array_elements(v_definition->'steps') as s
        cross join lateral jsonb_array_elements_text(coalesce(s->'depends_on', '[]')) as dep(name)
        join tasker.workflow_steps child on child.task_id = v_task_id and child.name = s->>'name'
        join tasker.workflow_steps parent on parent.task_id = v_task_id and parent.name = dep.name;

    perform pg_notify('tasker_work', '');
    task_id := v_task_id;
    created := true;
end $$;

-- Claims up to p_limit ready steps for p_owner with a lease of p_lease_ms,
-- returning everything a handler needs, dependency results included.
-- Serial steps (their template says concurrent: false) are picked first, one
-- per task and only while no step of that task runs; the task row lock,
-- taken before the check, makes that hold across nodes. Steps of handlers in
-- p_exclude_handlers (at their concurrency limit on this node) are left for later.
create function tasker.claim_steps(
    p_owner text, p_limit integer, p_lease_ms integer, p_exclude_handlers text[] default '{}'
)
returns table (
    step_id bigint, task_id bigint, step_name text, handler text, handler_version text, handler_config jsonb,
    attempt integer, timeout_ms integer, namespace text, task_name text, task_version text,
    context jsonb, dependency_results jsonb
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
                  ready.status as from_status
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
                     where e.to_step_id = c.step_id), '{}'::jsonb)
    from claimed c
    join tasker.tasks t on t.task_id = c.task_id
    join tasker.task_templates tt on tt.template_id = t.template_id
    join tasker.namespaces n on n.namespace_id = tt.namespace_id;
end $$;

-- Settles a task whose step just finished or that an operator acted on.
-- While something can still run (a step running, waiting for its retry, or
-- ready) the task keeps its status. Once nothing can: error when a step
-- failed for good (the reason lists them); else cancelled when a step was
-- cancelled (the operator actions of 0004 cancel steps); else complete.
-- p_metadata (an operator action's {"actor": ...}) is merged into the
-- transition's metadata. Returns the task's status afterwards. The caller
-- holds the task row lock.
create function tasker.settle_task(p_task_id bigint, p_metadata jsonb default null)
returns text language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_status    text;
    v_failed    text[];
    v_cancelled text[];
begin
    select status into v_status from tasker.tasks where task_id = p_task_id;
    if v_status not in ('pending', 'in_progress') then
        return v_status;
    end if;
    if exists (select 1 from tasker.workflow_steps
               where task_id = p_task_id
                 and (status in ('in_progress', 'waiting_for_retry')
                      or (status = 'pending' and remaining_deps = 0))) then
        return v_status;
    end if;
    select array_agg(name order by step_id) filter (where status = 'error'),
           array_agg(name order by step_id) filter (where status = 'cancelled')
        into v_failed, v_cancelled
        from tasker.workflow_steps where task_id = p_task_id and status in ('error', 'cancelled');
    if v_failed is null and v_cancelled is not null then
        update tasker.tasks set status = 'cancelled', completed_at = now(), updated_at = now() where task_id = p_task_id;
        insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
            values (p_task_id, v_status, 'cancelled', 'steps cancelled: ' || array_to_string(v_cancelled, ', '),
                    coalesce(p_metadata, '{}') || jsonb_build_object('cancelled_steps', to_jsonb(v_cancelled)));
        return 'cancelled';
    end if;
    if v_failed is null and not exists (select 1 from tasker.workflow_steps
               where task_id = p_task_id and status not in ('complete', 'resolved_manually')) then
        update tasker.tasks set status = 'complete', completed_at = now(), updated_at = now() where task_id = p_task_id;
        insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
            values (p_task_id, v_status, 'complete', 'all steps complete', p_metadata);
        return 'complete';
    end if;
    -- A step failed for good (or, defensively, steps wait on parents that
    -- can never finish): the task ends in error.
    update tasker.tasks set status = 'error', completed_at = now(), updated_at = now() where task_id = p_task_id;
    insert into tasker.task_transitions (task_id, from_status, to_status, reason, metadata)
        values (p_task_id, v_status, 'error',
                coalesce('steps failed: ' || array_to_string(v_failed, ', '), 'no step can run'),
                coalesce(p_metadata, '{}') || jsonb_build_object('failed_steps', coalesce(to_jsonb(v_failed), '[]'::jsonb)));
    return 'error';
end $$;

-- Records a step's success and returns its task's status afterwards; null,
-- changing nothing, when the step is no longer leased to p_owner (its lease
-- expired and another node took it).
create function tasker.complete_step(p_step_id bigint, p_owner text, p_results jsonb)
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
            from tasker.workflow_step_edges e
            where e.from_step_id = p_step_id and s.step_id = e.to_step_id
            returning s.remaining_deps, s.status
    )
    select count(*) into v_ready from released where remaining_deps = 0 and status = 'pending';
    if v_ready > 0 then
        perform pg_notify('tasker_work', '');
    end if;

    return tasker.settle_task(v_task_id);
end $$;

-- The delay before attempt number p_attempts + 1: exponential from the base,
-- capped, with equal jitter; a delay the handler asked for wins, capped too.
create function tasker.retry_delay_ms(
    p_attempts integer, p_base_ms integer, p_max_ms integer, p_requested_ms integer
) returns double precision language sql volatile as $$
    select case
        when coalesce(p_requested_ms, 0) > 0 then least(p_requested_ms, p_max_ms)::double precision
        else least(p_base_ms * power(2, greatest(p_attempts - 1, 0)), p_max_ms) * (0.5 + random() / 2)
    end
$$;

-- Records a failed attempt. The step waits for a retry when it is retryable,
-- the error is not permanent and attempts remain; otherwise it ends in error.
-- Returns the step's new status, its task's and when the step runs again;
-- all null when the lease was lost.
create function tasker.fail_step(
    p_step_id bigint, p_owner text, p_error text, p_permanent boolean, p_retry_after_ms integer,
    out step_status text, out task_status text, out retry_at timestamptz
) language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_task_id bigint;
    v_step    tasker.workflow_steps;
    v_status  text;
    v_delay   double precision;
begin
    select task_id into v_task_id from tasker.workflow_steps where step_id = p_step_id;
    perform 1 from tasker.tasks where task_id = v_task_id for update;

    select * into v_step from tasker.workflow_steps
        where step_id = p_step_id and status = 'in_progress' and lease_owner = p_owner for update;
    if not found then
        return;
    end if;

    if v_step.retryable and not p_permanent and v_step.attempts < v_step.retry_limit then
        v_status := 'waiting_for_retry';
        v_delay := tasker.retry_delay_ms(v_step.attempts, v_step.backoff_base_ms, v_step.backoff_max_ms, p_retry_after_ms);
    else
        v_status := 'error';
    end if;

    update tasker.workflow_steps
        set status = v_status, last_error = p_error, lease_owner = null, lease_expires_at = null,
            next_attempt_at = case when v_delay is null then next_attempt_at
                                   else now() + make_interval(secs => v_delay / 1000.0) end,
            completed_at = case when v_status = 'error' then now() end,
            updated_at = now()
        where step_id = p_step_id
        returning case when v_status = 'waiting_for_retry' then next_attempt_at end into retry_at;
    insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        values (p_step_id, v_task_id, 'in_progress', v_status, p_error,
                jsonb_build_object('attempt', v_step.attempts, 'permanent', p_permanent,
                                   'retry_in_ms', round(v_delay)));

    step_status := v_status;
    if v_status = 'error' then
        task_status := tasker.settle_task(v_task_id);
    else
        select status into task_status from tasker.tasks where task_id = v_task_id;
    end if;
end $$;

-- Hands a claimed step back without charging the attempt, for a node that
-- stops while the step runs, or a handler that could not run (its plugin is
-- restarting): the step runs again after p_delay_ms. Returns false when the
-- lease was already lost.
create function tasker.release_step(p_step_id bigint, p_owner text, p_reason text, p_delay_ms integer default 0)
returns boolean language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_task_id bigint;
    v_status  text;
begin
    select task_id into v_task_id from tasker.workflow_steps where step_id = p_step_id;
    perform 1 from tasker.tasks where task_id = v_task_id for update;
    update tasker.workflow_steps
        set status = case when attempts > 1 then 'waiting_for_retry' else 'pending' end,
            attempts = attempts - 1, lease_owner = null, lease_expires_at = null,
            next_attempt_at = now() + make_interval(secs => greatest(p_delay_ms, 0) / 1000.0), updated_at = now()
        where step_id = p_step_id and status = 'in_progress' and lease_owner = p_owner
        returning status into v_status;
    if not found then
        return false;
    end if;
    insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason, metadata)
        values (p_step_id, v_task_id, 'in_progress', v_status, p_reason,
                jsonb_build_object('attempt_charged', false, 'delay_ms', p_delay_ms));
    if p_delay_ms <= 0 then
        perform pg_notify('tasker_work', '');
    end if;
    return true;
end $$;

-- Renews the leases of steps p_owner is still running and returns the ids
-- it no longer holds (another node reaped them, or an operator cancelled
-- them), whose handlers the engine then cancels.
create function tasker.extend_leases(p_owner text, p_step_ids bigint[], p_lease_ms integer)
returns setof bigint language sql as $$
    with extended as (
        update tasker.workflow_steps
            set lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0)
            where step_id = any(p_step_ids) and status = 'in_progress' and lease_owner = p_owner
            returning step_id
    )
    select id from unnest(p_step_ids) as id where id not in (select step_id from extended)
$$;

-- Returns steps whose lease expired (their node stopped or crashed mid-step)
-- to the queue through fail_step, so the lost attempt counts like any other
-- retryable failure and a step that keeps killing its node cannot loop forever.
create function tasker.reap_expired_leases(p_limit integer) returns integer language plpgsql as $$
declare
    v_step  record;
    v_count integer := 0;
begin
    for v_step in
        select step_id, lease_owner from tasker.workflow_steps
        where status = 'in_progress' and lease_expires_at < now()
        order by lease_expires_at
        limit p_limit
    loop
        if (tasker.fail_step(v_step.step_id, v_step.lease_owner,
                             'lease of ' || v_step.lease_owner || ' expired: the node stopped or crashed mid-step',
                             false, 0)).step_status is not null then
            v_count := v_count + 1;
        end if;
    end loop;
    if v_count > 0 then
        perform pg_notify('tasker_work', '');
    end if;
    return v_count;
end $$;
