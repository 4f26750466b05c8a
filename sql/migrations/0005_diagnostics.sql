-- Read-only diagnostics: the counterparts of the original Tasker engine's
-- get_step_readiness_status, get_task_execution_context,
-- calculate_dependency_levels, get_system_health_counts,
-- get_analytics_metrics, get_slowest_tasks and get_slowest_steps, with the
-- same output column names where they fit this schema. They back the
-- health and status endpoints, so each one is a single stable SQL statement;
-- the per-task ones reach every row through an index on task_id or step_id.
--
-- Conventions shared by all of them:
--   * "ready" is exactly claim_steps' predicate: status pending or
--     waiting_for_retry, remaining_deps = 0 and next_attempt_at <= now().
--   * A failure is a step transition written by fail_step (in_progress to
--     waiting_for_retry or error, with fail_step's metadata); release_step's
--     hand-backs are not failures.
--   * A step's duration is the run time of its last attempt: from its last
--     in_progress transition (the claim) to its completed_at. Time spent
--     waiting for parents or for a retry is not counted.
--   * Windows (p_since) select tasks by their created_at; see the index below.

-- analytics_metrics and slowest_tasks/slowest_steps select the tasks created
-- in a window; without this index each call would scan the whole task history.
-- One entry per task, appended at the right edge, so it costs creation little.
create index tasks_created_at_idx on tasker.tasks (created_at);

-- One row per step of a task: what the engine knows about its readiness.
-- dependencies_satisfied: every parent completed (remaining_deps is zero).
-- retry_eligible: another attempt is allowed: the step is not finished or
--   failed, and was never attempted or is retryable with attempts left.
-- ready_for_execution: claim_steps would take it now.
-- completed_parents: parents complete or resolved manually.
-- backoff_request_seconds: the delay its last failure scheduled (requested by
--   the handler or computed by backoff); null when it never waited for a retry.
create function tasker.step_readiness_status(p_task_id bigint)
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
        select max(st.created_at) filter (where st.to_status = 'in_progress') as last_attempted_at,
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

-- One row for a task (none when it does not exist): its steps counted by
-- state, and what the engine should do next.
-- completed_steps: complete or resolved_manually; failed_steps: error (for
--   good); waiting_steps: waiting_for_retry.
-- execution_status: cancelled (the task), has_ready_steps, processing,
--   blocked_by_failures, all_complete or waiting_for_dependencies, the first
--   that applies in this order.
-- recommended_action: execute_ready_steps, wait_for_completion,
--   handle_failures, finalize_task (all steps done, the task not settled yet)
--   or wait_for_dependencies; none once the task is complete, cancelled or
--   resolved manually.
-- health_status: unknown (no steps), blocked (a step failed for good),
--   recovering (a step waits for a retry) or healthy.
create function tasker.task_execution_context(p_task_id bigint)
returns table (
    task_id bigint, template_id bigint, status text,
    total_steps bigint, pending_steps bigint, in_progress_steps bigint, completed_steps bigint,
    failed_steps bigint, ready_steps bigint, waiting_steps bigint, cancelled_steps bigint,
    execution_status text, recommended_action text, completion_percentage numeric, health_status text
) language sql stable as $$
    with c as (
        select t.task_id, t.template_id, t.status,
               count(s.step_id) as total,
               count(*) filter (where s.status = 'pending') as pending,
               count(*) filter (where s.status = 'in_progress') as in_progress,
               count(*) filter (where s.status in ('complete', 'resolved_manually')) as completed,
               count(*) filter (where s.status = 'error') as failed,
               count(*) filter (where s.status in ('pending', 'waiting_for_retry') and s.remaining_deps = 0
                                  and s.next_attempt_at <= now()) as ready,
               count(*) filter (where s.status = 'waiting_for_retry') as waiting,
               count(*) filter (where s.status = 'cancelled') as cancelled
        from tasker.tasks t
        left join tasker.workflow_steps s on s.task_id = t.task_id
        where t.task_id = p_task_id
        group by t.task_id
    ), e as (
        select c.*,
               case
                   when c.status = 'cancelled' then 'cancelled'
                   when c.ready > 0 then 'has_ready_steps'
                   when c.in_progress > 0 then 'processing'
                   when c.failed > 0 then 'blocked_by_failures'
                   when c.total > 0 and c.pending + c.waiting = 0 then 'all_complete'
                   else 'waiting_for_dependencies'
               end as execution_status
        from c
    )
    select e.task_id, e.template_id, e.status, e.total, e.pending, e.in_progress, e.completed, e.failed,
           e.ready, e.waiting, e.cancelled, e.execution_status,
           case
               when e.status in ('complete', 'cancelled', 'resolved_manually') then 'none'
               else case e.execution_status
                   when 'has_ready_steps' then 'execute_ready_steps'
                   when 'processing' then 'wait_for_completion'
                   when 'blocked_by_failures' then 'handle_failures'
                   when 'all_complete' then 'finalize_task'
                   else 'wait_for_dependencies'
               end
           end,
           case when e.total = 0 then 0.00 else round(e.completed * 100.0 / e.total, 2) end,
           case
               when e.total = 0 then 'unknown'
               when e.failed > 0 then 'blocked'
               when e.waiting > 0 then 'recovering'
               else 'healthy'
           end
    from e
$$;

-- Each step's depth in its task's DAG: 0 for a root, otherwise one more than
-- its deepest parent (the longest path from a root). The recursion keeps
-- distinct (step, level) pairs only, so it is bounded by steps x depth rather
-- than by the number of paths.
create function tasker.dependency_levels(p_task_id bigint)
returns table (workflow_step_id bigint, name text, dependency_level integer)
language sql stable as $$
    with recursive levels (step_id, level) as (
        select s.step_id, 0
        from tasker.workflow_steps s
        where s.task_id = p_task_id
          and not exists (select 1 from tasker.workflow_step_edges e where e.to_step_id = s.step_id)
        union
        select e.to_step_id, l.level + 1
        from levels l
        join tasker.workflow_step_edges e on e.from_step_id = l.step_id
    )
    select s.step_id, s.name, l.level
    from tasker.workflow_steps s
    join (select step_id, max(level) as level from levels group by step_id) l on l.step_id = s.step_id
    where s.task_id = p_task_id
    order by l.level, s.step_id
$$;

-- System-wide counts in one row: one pass over tasks, one over steps.
-- active_connections counts the server's client connections (every database,
-- idle ones included), which is what max_connections limits.
-- retryable_error_steps: failed but to be retried (waiting_for_retry);
-- exhausted_retry_steps: failed for good after using every attempt;
-- in_backoff_steps: waiting for a retry whose time has not come yet.
create function tasker.system_health_counts()
returns table (
    total_tasks bigint, pending_tasks bigint, in_progress_tasks bigint, complete_tasks bigint,
    error_tasks bigint, cancelled_tasks bigint, resolved_tasks bigint,
    total_steps bigint, pending_steps bigint, in_progress_steps bigint, waiting_for_retry_steps bigint,
    complete_steps bigint, error_steps bigint, cancelled_steps bigint, resolved_steps bigint,
    retryable_error_steps bigint, exhausted_retry_steps bigint, in_backoff_steps bigint,
    active_connections bigint, max_connections bigint
) language sql stable as $$
    select t.total, t.pending, t.in_progress, t.complete, t.error, t.cancelled, t.resolved,
           s.total, s.pending, s.in_progress, s.waiting, s.complete, s.error, s.cancelled, s.resolved,
           s.waiting, s.exhausted, s.in_backoff,
           (select count(*) from pg_stat_activity where backend_type = 'client backend'),
           current_setting('max_connections')::bigint
    from (
        select count(*) as total,
               count(*) filter (where status = 'pending') as pending,
               count(*) filter (where status = 'in_progress') as in_progress,
               count(*) filter (where status = 'complete') as complete,
               count(*) filter (where status = 'error') as error,
               count(*) filter (where status = 'cancelled') as cancelled,
               count(*) filter (where status = 'resolved_manually') as resolved
        from tasker.tasks
    ) t
    cross join (
        select count(*) as total,
               count(*) filter (where status = 'pending') as pending,
               count(*) filter (where status = 'in_progress') as in_progress,
               count(*) filter (where status = 'waiting_for_retry') as waiting,
               count(*) filter (where status = 'complete') as complete,
               count(*) filter (where status = 'error') as error,
               count(*) filter (where status = 'cancelled') as cancelled,
               count(*) filter (where status = 'resolved_manually') as resolved,
               count(*) filter (where status = 'error' and attempts >= retry_limit) as exhausted,
               count(*) filter (where status = 'waiting_for_retry' and next_attempt_at > now()) as in_backoff
        from tasker.workflow_steps
    ) s
$$;

-- Throughput and health of the tasks created since p_since (the window's
-- cohort), in one row. Rates are shares of the cohort; system_health_score is
-- the share of the cohort's finished tasks (complete or error) that completed,
-- 1.0 when none finished. Step figures cover the cohort's completed steps,
-- durations per the convention above.
create function tasker.analytics_metrics(p_since timestamptz default now() - interval '1 hour')
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
            where x.step_id = s.step_id and x.to_status = 'in_progress'
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

-- The slowest finished tasks created since p_since (null: the last 24 hours,
-- as in Tasker), optionally of one namespace, task name and version. A task's
-- duration runs from its creation to its completed_at.
create function tasker.slowest_tasks(
    p_since timestamptz default null, p_limit integer default 10,
    p_namespace text default null, p_task_name text default null, p_version text default null
) returns table (
    task_id bigint, task_name text, namespace_name text, version text, duration_seconds numeric,
    step_count bigint, completed_steps bigint, error_steps bigint,
    created_at timestamptz, completed_at timestamptz, initiator text, source_system text, status text
) language sql stable as $$
    with slowest as (
        select t.task_id, tt.name as task_name, n.name as namespace_name, tt.version,
               t.completed_at - t.created_at as duration, t.created_at, t.completed_at,
               t.initiator, t.source_system, t.status
        from tasker.tasks t
        join tasker.task_templates tt on tt.template_id = t.template_id
        join tasker.namespaces n on n.namespace_id = tt.namespace_id
        where t.created_at >= coalesce(p_since, now() - interval '24 hours')
          and t.completed_at is not null and t.status not in ('pending', 'in_progress')
          and (p_namespace is null or n.name = p_namespace)
          and (p_task_name is null or tt.name = p_task_name)
          and (p_version is null or tt.version = p_version)
        order by duration desc, t.task_id
        limit p_limit
    )
    select w.task_id, w.task_name, w.namespace_name, w.version,
           round(extract(epoch from w.duration), 3),
           c.total, c.completed, c.failed,
           w.created_at, w.completed_at, w.initiator, w.source_system, w.status
    from slowest w
    cross join lateral (
        select count(*) as total,
               count(*) filter (where s.status in ('complete', 'resolved_manually')) as completed,
               count(*) filter (where s.status = 'error') as failed
        from tasker.workflow_steps s
        where s.task_id = w.task_id
    ) c
    order by w.duration desc, w.task_id
$$;

-- The slowest completed steps of the tasks created since p_since (null: the
-- last 24 hours), with the same filters as slowest_tasks. duration_seconds is
-- the run time of the step's last attempt (started_at to completed_at).
create function tasker.slowest_steps(
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
        where x.step_id = s.step_id and x.to_status = 'in_progress'
    ) st
    where t.created_at >= coalesce(p_since, now() - interval '24 hours')
      and s.status = 'complete' and s.completed_at is not null and st.started_at is not null
      and (p_namespace is null or n.name = p_namespace)
      and (p_task_name is null or tt.name = p_task_name)
      and (p_version is null or tt.version = p_version)
    order by s.completed_at - st.started_at desc, s.step_id
    limit p_limit
$$;
