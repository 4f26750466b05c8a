-- Tasks created as a set (issue 7).
--
-- The creator (core/engine/create.go) shares one transaction among the
-- creations that arrive together, but each task was still a create_task
-- call of its own: a dozen statements (the template read, the task, its
-- transition and its task.created event through the trigger, the steps,
-- their transitions, the edges, each with its executor start and index
-- probes), 0.78 ms of PostgreSQL for a diamond. create_tasks creates a batch
-- with one statement per table, whatever its size.
--
-- What each task gets is what create_task gives it: the same rows, the
-- same task.created event (written here, as claim_steps writes
-- task.started; store's TestCreatedEventsAreTheTriggersEvents compares the
-- two), its correlation id and trace context from the arguments instead of
-- the session settings. Task ids are taken in the order of the arrays, so
-- the answer and the tasks follow the requests; steps are numbered in
-- their template's order. Requests with an identity (idempotency key,
-- identity strategy) are not for this function: they need the lookup and
-- the lock of create_task, and the store sends them there.
create function tasker.create_tasks(
    p_template_ids bigint[], p_contexts jsonb[], p_initiators text[], p_reasons text[],
    p_source_systems text[], p_tags jsonb[], p_correlation_ids text[], p_trace_parents text[]
) returns setof bigint
language plpgsql set plan_cache_mode = force_generic_plan set tasker.inline_task_events = on as $$
declare
    v_n       integer := coalesce(cardinality(p_template_ids), 0);
    v_ids     bigint[];
    v_missing bigint;
begin
    if coalesce(cardinality(p_contexts), 0) <> v_n or coalesce(cardinality(p_initiators), 0) <> v_n
       or coalesce(cardinality(p_reasons), 0) <> v_n or coalesce(cardinality(p_source_systems), 0) <> v_n
       or coalesce(cardinality(p_tags), 0) <> v_n or coalesce(cardinality(p_correlation_ids), 0) <> v_n
       or coalesce(cardinality(p_trace_parents), 0) <> v_n then
        raise exception 'create_tasks: % template ids, but % contexts, % initiators, % reasons, % source systems, % tag lists, % correlation ids and % trace parents',
            v_n, cardinality(p_contexts), cardinality(p_initiators), cardinality(p_reasons),
            cardinality(p_source_systems), cardinality(p_tags), cardinality(p_correlation_ids),
            cardinality(p_trace_parents) using errcode = 'invalid_parameter_value';
    end if;
    if v_n = 0 then
        return;
    end if;
    select x.id into v_missing from unnest(p_template_ids) as x(id)
        where not exists (select 1 from tasker.task_templates tt where tt.template_id = x.id) limit 1;
    if found then
        raise exception 'task template % does not exist', v_missing using errcode = 'no_data_found';
    end if;
    v_ids := array(select nextval(pg_get_serial_sequence('tasker.tasks', 'task_id')) from generate_series(1, v_n));

    insert into tasker.tasks (task_id, template_id, context, initiator, reason, source_system, tags,
                              correlation_id, trace_parent)
        overriding system value
        select v_ids[x.i], x.template_id, coalesce(x.context, '{}'), x.initiator, x.reason, x.source_system,
               array(select jsonb_array_elements_text(coalesce(x.tags, '[]'))),
               nullif(x.correlation_id, ''), nullif(x.trace_parent, '')
        from unnest(p_template_ids, p_contexts, p_initiators, p_reasons, p_source_systems, p_tags,
                    p_correlation_ids, p_trace_parents)
             with ordinality as x(template_id, context, initiator, reason, source_system, tags,
                                  correlation_id, trace_parent, i)
        order by x.i;

    -- The template's definition is read once per template, not per step:
    -- for a wide template it is a large TOASTed value (see 0010).
    with tpl as materialized (
        select tt.template_id, tt.name, tt.version, ns.name as namespace, tt.definition->'steps' as steps,
               not coalesce((tt.definition->>'concurrent')::boolean, true) as serial
        from tasker.task_templates tt
        join tasker.namespaces ns on ns.namespace_id = tt.namespace_id
        where tt.template_id = any(p_template_ids)
    ), task as (
        select x.id, x.template_id, x.i, nullif(p_correlation_ids[x.i], '') as correlation_id
        from unnest(v_ids, p_template_ids) with ordinality as x(id, template_id, i)
    ), task_audit as (
        insert into tasker.task_transitions (task_id, from_status, to_status, reason)
        select t.id, null, 'pending', 'task created' from task t order by t.i
        returning task_transitions.transition_id, task_transitions.task_id
    ), task_events as (
        -- What task_transition_events would write for these rows.
        insert into tasker.events (name, task_id, payload, correlation_id)
        select 'task.created', t.id,
               jsonb_build_object(
                   'task_id', t.id, 'namespace', p.namespace, 'task_name', p.name, 'task_version', p.version,
                   'to_status', 'pending'::text, 'reason', 'task created'::text,
                   'step_count', jsonb_array_length(p.steps), 'transition_id', a.transition_id),
               t.correlation_id
        from task_audit a
        join task t on t.id = a.task_id
        join tpl p on p.template_id = t.template_id
        order by a.transition_id
    ), spec as (
        select t.id as task_id, t.i, s.ord, s.step, p.serial
        from task t
        join tpl p on p.template_id = t.template_id
        cross join lateral jsonb_array_elements(p.steps) with ordinality as s(step, ord)
    ), steps as (
        insert into tasker.workflow_steps (task_id, name, handler, handler_version, handler_config, remaining_deps,
                                           retryable, skippable, serial, retry_limit, backoff_base_ms, backoff_max_ms,
                                           timeout_ms)
        select sp.task_id, sp.step->>'name', sp.step->>'handler', nullif(sp.step->>'handler_version', ''),
               sp.step->'handler_config', coalesce(jsonb_array_length(sp.step->'depends_on'), 0),
               (sp.step->>'retryable')::boolean, coalesce((sp.step->>'skippable')::boolean, false), sp.serial,
               (sp.step->>'retry_limit')::integer, (sp.step->>'backoff_base_ms')::integer,
               (sp.step->>'backoff_max_ms')::integer, (sp.step->>'timeout_ms')::integer
        from spec sp
        order by sp.i, sp.ord
        returning workflow_steps.step_id, workflow_steps.task_id, workflow_steps.name
    ), step_audit as (
        insert into tasker.step_transitions (step_id, task_id, from_status, to_status, reason)
        select s.step_id, s.task_id, null, 'pending', 'task created' from steps s order by s.step_id
    )
    -- The edges from the steps just inserted, not from the table: no plan
    -- that reads the table's other steps.
    insert into tasker.workflow_step_edges (from_step_id, to_step_id)
    select parent.step_id, child.step_id
    from spec sp
    cross join lateral jsonb_array_elements_text(coalesce(sp.step->'depends_on', '[]')) as dep(name)
    join steps child on child.task_id = sp.task_id and child.name = sp.step->>'name'
    join steps parent on parent.task_id = sp.task_id and parent.name = dep.name;

    perform tasker.notify('tasker_work', '');
    perform tasker.notify('tasker_events', '');
    return query select unnest(v_ids);
end $$;
