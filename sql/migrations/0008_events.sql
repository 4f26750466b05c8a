-- Events: an outbox written in the same transaction as the state change that
-- causes it, delivered at least once to durable subscribers (core/events).
--
-- Every task and step transition row becomes an event through the AFTER
-- INSERT statement triggers below: one set-based insert per statement
-- (claim_steps claiming 100 steps writes 100 events in one insert) and one
-- pg_notify('tasker_events', '') per statement, which PostgreSQL folds into
-- one notification per transaction. The initial step rows of create_task
-- (null -> pending) make no event: task.created carries the step count, so
-- a 10,000-step task writes one event, not 10,001. Events that no state
-- change causes (the engine, plugins, the registry, a handler's custom
-- events) are written with tasker.publish_event.
--
-- Order. event_id comes from a sequence, taken when the row is inserted,
-- and transactions commit in another order, so a reader that went by
-- event_id alone could pass over an event whose transaction had not yet
-- committed. Each event therefore records its transaction id (txid); a
-- reader reads only events of transactions older than every running one
-- (txid < pg_snapshot_xmin(pg_current_snapshot())), in (txid, event_id)
-- order, and keeps (txid, event_id) as its cursor: the set of events below
-- that horizon never changes again, so nothing is skipped. Events of one
-- task are in the order their changes committed, because every function
-- that changes a task locks its row before its first write.

create table tasker.events (
    event_id       bigint generated always as identity primary key,
    txid           xid8 not null default pg_current_xact_id(),
    name           text not null,
    task_id        bigint,
    step_id        bigint,
    payload        jsonb not null,
    correlation_id text,
    created_at     timestamptz not null default now()
);
create index events_order_idx on tasker.events (txid, event_id);
create index events_task_idx on tasker.events (task_id, event_id) where task_id is not null;
create index events_created_idx on tasker.events (created_at);

-- Durable subscribers: how far each has been delivered. A dispatcher node
-- holds the advisory lock (tasker.subscriber_lock_key) of a subscriber while
-- it delivers, so one node at a time advances a cursor.
create table tasker.event_cursors (
    subscriber    text primary key,
    last_txid     xid8 not null,
    last_event_id bigint not null,
    updated_at    timestamptz not null default now()
);

-- Finished tasks by the time they finished, for retention.
create index tasks_finished_idx on tasker.tasks ((coalesce(completed_at, updated_at)))
    where status in ('complete', 'error', 'cancelled', 'resolved_manually');

create function tasker.task_transition_events() returns trigger language plpgsql as $$
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
        perform pg_notify('tasker_events', '');
    end if;
    return null;
end $$;

create function tasker.step_transition_events() returns trigger language plpgsql as $$
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
        perform pg_notify('tasker_events', '');
    end if;
    return null;
end $$;

create trigger task_transitions_events after insert on tasker.task_transitions
    referencing new table as new_rows for each statement execute function tasker.task_transition_events();
create trigger step_transitions_events after insert on tasker.step_transitions
    referencing new table as new_rows for each statement execute function tasker.step_transition_events();

-- Writes an event that no transition causes (a handler's custom event, the
-- engine, plugins, the registry); its correlation id is its task's.
create function tasker.publish_event(p_name text, p_task_id bigint, p_step_id bigint, p_payload jsonb)
returns bigint language plpgsql as $$
declare
    v_id bigint;
begin
    insert into tasker.events (name, task_id, step_id, payload, correlation_id)
        values (p_name, p_task_id, p_step_id, coalesce(p_payload, '{}'),
                (select correlation_id from tasker.tasks where task_id = p_task_id))
        returning event_id into v_id;
    perform pg_notify('tasker_events', '');
    return v_id;
end $$;

-- complete_step with the custom events its handler published (a JSON array
-- of {"name", "payload"}), written in the same transaction and before
-- step.completed; none when the lease was lost (null, nothing changed).
-- The task row lock taken first makes the lease check hold until
-- complete_step, which every change of the step waits for.
create function tasker.complete_step_with_events(p_step_id bigint, p_owner text, p_results jsonb, p_events jsonb)
returns text language plpgsql as $$
declare
    v_step tasker.workflow_steps;
begin
    if coalesce(jsonb_array_length(p_events), 0) > 0 then
        perform 1 from tasker.tasks where task_id = (select task_id from tasker.workflow_steps where step_id = p_step_id)
            for update;
        select * into v_step from tasker.workflow_steps
            where step_id = p_step_id and status = 'in_progress' and lease_owner = p_owner;
        if not found then
            return null;
        end if;
        insert into tasker.events (name, task_id, step_id, payload, correlation_id)
        select e->>'name', v_step.task_id, p_step_id,
               jsonb_build_object('task_id', v_step.task_id, 'step_id', p_step_id, 'step_name', v_step.name,
                                  'handler', v_step.handler, 'namespace', ns.name, 'task_name', tt.name,
                                  'task_version', tt.version, 'attempt', v_step.attempts,
                                  'data', coalesce(e->'payload', 'null'::jsonb)),
               t.correlation_id
        from jsonb_array_elements(p_events) with ordinality as x(e, i)
        cross join tasker.tasks t
        join tasker.task_templates tt on tt.template_id = t.template_id
        join tasker.namespaces ns on ns.namespace_id = tt.namespace_id
        where t.task_id = v_step.task_id
        order by x.i;
        perform pg_notify('tasker_events', '');
    end if;
    return tasker.complete_step(p_step_id, p_owner, p_results);
end $$;

-- The advisory lock key a node holds while it delivers to a subscriber.
create function tasker.subscriber_lock_key(p_subscriber text) returns bigint
language sql immutable as $$ select hashtextextended('tasker.events:' || p_subscriber, 0) $$;

-- Deletes up to p_limit finished tasks (complete, error, cancelled,
-- resolved_manually) that finished before p_before, with their steps,
-- edges and transitions (foreign keys cascade). Rows another node is
-- deleting are skipped. Returns how many tasks were deleted.
create function tasker.prune_tasks(p_before timestamptz, p_limit integer) returns integer
language sql as $$
    with doomed as (
        select task_id from tasker.tasks
        where status in ('complete', 'error', 'cancelled', 'resolved_manually')
          and coalesce(completed_at, updated_at) < p_before
        order by coalesce(completed_at, updated_at)
        limit p_limit
        for update skip locked
    ), gone as (
        delete from tasker.tasks t using doomed where t.task_id = doomed.task_id returning 1
    )
    select count(*)::integer from gone
$$;

-- Deletes up to p_limit events created before p_before that every durable
-- subscriber has been delivered (at or before the lowest cursor). Without
-- any subscriber, old events are simply deleted. Returns how many.
create function tasker.prune_events(p_before timestamptz, p_limit integer) returns integer
language plpgsql as $$
declare
    v_txid xid8;
    v_id   bigint;
    v_n    integer;
begin
    select last_txid, last_event_id into v_txid, v_id from tasker.event_cursors
        order by last_txid, last_event_id limit 1;
    with doomed as (
        select event_id from tasker.events
        where created_at < p_before
          and (v_txid is null or (txid, event_id) <= (v_txid, v_id))
        order by created_at
        limit p_limit
        for update skip locked
    ), gone as (
        delete from tasker.events e using doomed where e.event_id = doomed.event_id returning 1
    )
    select count(*)::integer into v_n from gone;
    return v_n;
end $$;
