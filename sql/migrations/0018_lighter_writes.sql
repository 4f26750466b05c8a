-- Less fixed work in every statement that writes steps, transitions and
-- events (issue 7). Measured with core/store's BenchmarkStepCycle (one step
-- recorded and the next claimed, as a chain does) and BenchmarkBatchCycle
-- (batches of 64 on one session), each part switched off in turn in a
-- scratch database; the figures are in docs/ARCHITECTURE.md (Performance).
--
-- 1. CHECK constraints become domains. PostgreSQL rebuilds every CHECK of a
--    table (reading its stored expression back with stringToNode and
--    compiling it) in each statement that inserts or updates a row of it,
--    whichever columns the statement sets: seven for each claim, success
--    and release of a step. A domain's check runs only where a value is
--    assigned to a column of that type, so a claim checks the status it
--    sets and nothing else. The same values are refused as before, with
--    the domain named in the error instead of the constraint (an unknown
--    status is refused by its domain before the state rule trigger sees
--    it). timeout_ms and inputs keep their CHECKs: claim_steps returns
--    them, and RETURN QUERY refuses a domain where the function says the
--    base type.
-- 2. The transition triggers become row triggers. A statement trigger with
--    a transition table (REFERENCING NEW TABLE) makes PostgreSQL copy every
--    inserted row into a tuplestore, even when the trigger's WHEN skips it,
--    which is always the case on the hot path (its functions write their
--    events themselves). A row trigger's WHEN is evaluated per row before
--    anything is queued. The writers that rely on the triggers (operator
--    actions, failures, retries, task ends) change few rows at a time; each
--    row gets the event the statement trigger gave it, in the same order.
-- 3. events_created_idx goes: each event updated four indexes. prune_events
--    walks events_order_idx (the order subscribers read in, close to the
--    order of creation) and stops at the first event too young to prune.

create domain tasker.step_status as text constraint step_status_is_one_of_the_seven
    check (value in ('pending', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled', 'resolved_manually'));
create domain tasker.task_status as text constraint task_status_is_one_of_the_six
    check (value in ('pending', 'in_progress', 'complete', 'error', 'cancelled', 'resolved_manually'));
create domain tasker.nonnegative_int as integer constraint must_not_be_negative check (value >= 0);
create domain tasker.positive_int as integer constraint must_be_at_least_one check (value >= 1);

-- The state rule triggers name the status column: they go while its type
-- changes and come back as 0003 made them.
drop trigger workflow_steps_transition on tasker.workflow_steps;
drop trigger tasks_transition on tasker.tasks;

alter table tasker.workflow_steps
    drop constraint workflow_steps_status_check,
    drop constraint workflow_steps_remaining_deps_check,
    drop constraint workflow_steps_retry_limit_check,
    drop constraint workflow_steps_backoff_base_ms_check,
    drop constraint workflow_steps_backoff_max_ms_check,
    alter column status type tasker.step_status,
    alter column remaining_deps type tasker.nonnegative_int,
    alter column retry_limit type tasker.positive_int,
    alter column backoff_base_ms type tasker.nonnegative_int,
    alter column backoff_max_ms type tasker.nonnegative_int;
alter table tasker.tasks
    drop constraint tasks_status_check,
    alter column status type tasker.task_status;

create trigger workflow_steps_transition before update of status on tasker.workflow_steps
    for each row when (old.status is distinct from new.status)
    execute function tasker.check_step_transition();
create trigger tasks_transition before update of status on tasker.tasks
    for each row when (old.status is distinct from new.status)
    execute function tasker.check_task_transition();

-- 0014's trigger functions, reading the one new row instead of the
-- statement's transition table: new_rows is now that row.
create or replace function tasker.task_transition_events() returns trigger language plpgsql as $$
begin
    with new_rows as (
        select new.transition_id as transition_id, new.task_id as task_id, new.from_status as from_status,
               new.to_status as to_status, new.reason as reason, new.metadata as metadata
    )
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
    join tasker.namespaces ns on ns.namespace_id = tt.namespace_id;
    if found then
        perform tasker.notify('tasker_events', '');
    end if;
    return null;
end $$;

create or replace function tasker.step_transition_events() returns trigger language plpgsql as $$
begin
    with new_rows as (
        select new.transition_id as transition_id, new.step_id as step_id, new.task_id as task_id,
               new.from_status as from_status, new.to_status as to_status, new.reason as reason,
               new.metadata as metadata
    )
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
    join tasker.namespaces ns on ns.namespace_id = tt.namespace_id;
    if found then
        perform tasker.notify('tasker_events', '');
    end if;
    return null;
end $$;

drop trigger task_transitions_events on tasker.task_transitions;
create trigger task_transitions_events after insert on tasker.task_transitions
    for each row when (current_setting('tasker.inline_task_events', true) is distinct from 'on')
    execute function tasker.task_transition_events();
-- A step's creation (from_status null) has no event: task.created stands for it.
drop trigger step_transitions_events on tasker.step_transitions;
create trigger step_transitions_events after insert on tasker.step_transitions
    for each row when (new.from_status is not null
                       and current_setting('tasker.inline_step_events', true) is distinct from 'on')
    execute function tasker.step_transition_events();

drop index tasker.events_created_idx;

-- 0008's prune_events, in the readers' order. An event's created_at is its
-- transaction's start and its txid is taken at its first write, so the two
-- orders differ by the transactions running at once; an event left behind
-- by stopping early is pruned by a later call.
create or replace function tasker.prune_events(p_before timestamptz, p_limit integer) returns integer
language plpgsql as $$
declare
    v_txid xid8;
    v_id   bigint;
    v_ids  bigint[] := '{}';
    v_ev   record;
    v_n    integer;
begin
    select last_txid, last_event_id into v_txid, v_id from tasker.event_cursors
        order by last_txid, last_event_id limit 1;
    if v_txid is null then
        -- No subscriber: any event of a transaction before this one.
        v_txid := pg_current_xact_id();
        v_id := 9223372036854775807;
    end if;
    for v_ev in
        select event_id, created_at from tasker.events
        where (txid, event_id) <= (v_txid, v_id)
        order by txid, event_id
    loop
        exit when v_ev.created_at >= p_before or cardinality(v_ids) >= p_limit;
        v_ids := v_ids || v_ev.event_id;
    end loop;
    delete from tasker.events e where e.event_id = any(v_ids);
    get diagnostics v_n = row_count;
    return v_n;
end $$;
