-- Notifications after the commit, not inside it (issue 7).
--
-- PostgreSQL serialises the commits of every transaction that sent a
-- NOTIFY: each holds a database-wide lock from before its commit record is
-- written until after it is flushed. Nearly every transaction of tasker's
-- hot path notified (tasker_events from the outbox triggers, tasker_work
-- from create_task and complete_steps), so under load commits queued on
-- that lock one fsync at a time (pg_stat_activity during a burn-down:
-- "Lock: object" on COMMIT in 217 of 300 samples) instead of sharing
-- flushes.
--
-- tasker.notify sends the notification unless the session said, with
-- tasker.deferred_notify = on in the transaction, that it will notify
-- after its commit itself: store.Store then sends the notifications of
-- many commits together from a transaction without writes, which holds the
-- lock only for an instant. The functions below are those of 0008, 0010 and
-- 0013 with pg_notify replaced by tasker.notify; every other function
-- notifies as before.

create function tasker.notify(p_channel text, p_payload text) returns void
language plpgsql as $$
begin
    if current_setting('tasker.deferred_notify', true) = 'on' then
        return;
    end if;
    perform pg_notify(p_channel, p_payload);
end $$;

create or replace function tasker.task_transition_events() returns trigger language plpgsql as $$
declare
    v_n integer;
begin
    with ev as (
        insert into tasker.events (name, task_id, payload, correlation_id)
        select case
                   when n.from_status is null then 'task.created'
                   when n.from_status = n.to_status then 'task.updated'
                   when n.to_status = 'in_progress' then 'task.started'
                   when n.to_status = 'complete' then 'task.completed'
                   when n.to_status = 'error' then 'task.failed'
                   when n.to_status = 'cancelled' then 'task.cancelled'
                   when n.to_status = 'resolved_manually' then 'task.resolved'
                   when n.to_status = 'pending' then 'task.retried'
                   else 'task.updated'
               end,
               n.task_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'task_id', n.task_id, 'namespace', ns.name, 'task_name', tt.name, 'task_version', tt.version,
                   'from_status', n.from_status, 'to_status', n.to_status, 'reason', n.reason,
                   'actor', n.metadata->>'actor', 'details', n.metadata,
                   'step_count', case when n.from_status is null then jsonb_array_length(tt.definition->'steps') end,
                   'transition_id', n.transition_id)),
               t.correlation_id
        from new_rows n
        join tasker.tasks t on t.task_id = n.task_id
        join tasker.task_templates tt on tt.template_id = t.template_id
        join tasker.namespaces ns on ns.namespace_id = tt.namespace_id
        order by n.transition_id
        returning 1
    )
    select count(*) into v_n from ev;
    if v_n > 0 then
        perform tasker.notify('tasker_events', '');
    end if;
    return null;
end $$;

create or replace function tasker.step_transition_events() returns trigger language plpgsql as $$
declare
    v_n integer;
begin
    with ev as (
        insert into tasker.events (name, task_id, step_id, payload, correlation_id)
        select e.name, n.task_id, n.step_id,
               jsonb_strip_nulls(jsonb_build_object(
                   'task_id', n.task_id, 'step_id', n.step_id, 'step_name', s.name, 'handler', s.handler,
                   'namespace', ns.name, 'task_name', tt.name, 'task_version', tt.version,
                   'from_status', n.from_status, 'to_status', n.to_status,
                   'attempt', coalesce((n.metadata->>'attempt')::integer, s.attempts),
                   'reason', n.reason, 'actor', n.metadata->>'actor',
                   'error', case when e.name in ('step.failed', 'step.retry_scheduled') then s.last_error end,
                   'next_attempt_at', case when e.name in ('step.retry_scheduled', 'step.released') then s.next_attempt_at end,
                   'has_results', case when e.name in ('step.completed', 'step.resolved') then s.results is not null
                                       and s.results <> 'null'::jsonb end,
                   'details', n.metadata, 'transition_id', n.transition_id)),
               t.correlation_id
        from new_rows n
        cross join lateral (select case
                   when n.from_status = n.to_status then 'step.updated'
                   when n.to_status = 'in_progress' then 'step.started'
                   when n.to_status = 'complete' then 'step.completed'
                   when n.metadata->>'attempt_charged' = 'false' then 'step.released'
                   when n.to_status = 'waiting_for_retry' then 'step.retry_scheduled'
                   when n.to_status = 'error' then 'step.failed'
                   when n.to_status = 'cancelled' then 'step.cancelled'
                   when n.to_status = 'resolved_manually' then 'step.resolved'
                   when n.to_status = 'pending' and n.from_status = 'in_progress' then 'step.released'
                   when n.to_status = 'pending' then 'step.retried'
                   else 'step.updated'
               end as name) e
        join tasker.workflow_steps s on s.step_id = n.step_id
        join tasker.tasks t on t.task_id = n.task_id
        join tasker.task_templates tt on tt.template_id = t.template_id
        join tasker.namespaces ns on ns.namespace_id = tt.namespace_id
        where n.from_status is not null -- a step's creation: task.created stands for it
        order by n.transition_id
        returning 1
    )
    select count(*) into v_n from ev;
    if v_n > 0 then
        perform tasker.notify('tasker_events', '');
    end if;
    return null;
end $$;

create or replace function tasker.create_task(
    p_template_id bigint, p_context jsonb, p_initiator text, p_reason text,
    p_source_system text, p_tags text[], p_identity_hash text, p_identity_window_ms bigint,
    out task_id bigint, out created boolean
) language plpgsql set plan_cache_mode = force_generic_plan as $$
declare
    v_definition jsonb;
    v_task_id    bigint;
    v_serial     boolean;
begin
    select definition into v_definition from tasker.task_templates where template_id = p_template_id;
    if not found then
        raise exception 'task template % does not exist', p_template_id using errcode = 'no_data_found';
    end if;
    v_serial := not coalesce((v_definition->>'concurrent')::boolean, true);

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
               v_serial, (s->>'retry_limit')::integer,
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

    perform tasker.notify('tasker_work', '');
    task_id := v_task_id;
    created := true;
end $$;

create or replace function tasker.complete_steps(p_step_ids bigint[], p_owner text, p_results jsonb[])
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
