-- create_task read the template's "concurrent" flag from the whole definition
-- once per step row: PostgreSQL detoasts the definition each time, so
-- creating a task cost O(steps x definition size), 7 s of the 10 s that a
-- 10,000-step task took (auto_explain, make bench). The flag is now read once.
-- Otherwise unchanged from 0002.
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

    perform pg_notify('tasker_work', '');
    task_id := v_task_id;
    created := true;
end $$;
