-- The tables of tasker. Everything lives in the schema "tasker" so that it
-- can share an external database with other applications.

create table tasker.namespaces (
    namespace_id bigint generated always as identity primary key,
    name         text not null unique,
    created_at   timestamptz not null default now()
);

-- A task template as registered by a node: definition is the validated,
-- normalised template (see core.Template) that create_task copies steps from.
create table tasker.task_templates (
    template_id  bigint generated always as identity primary key,
    namespace_id bigint not null references tasker.namespaces,
    name         text not null,
    version      text not null,
    definition   jsonb not null,
    digest       text not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (namespace_id, name, version)
);

create table tasker.tasks (
    task_id       bigint generated always as identity primary key,
    template_id   bigint not null references tasker.task_templates,
    status        text not null default 'pending'
        check (status in ('pending', 'in_progress', 'complete', 'error', 'cancelled', 'resolved_manually')),
    context       jsonb not null default '{}',
    initiator     text,
    reason        text,
    source_system text,
    tags          text[] not null default '{}',
    -- Set when the template's identity strategy or the request's idempotency
    -- key makes repeated requests return this task (see create_task).
    identity_hash text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    completed_at  timestamptz
);
create index tasks_status_idx on tasker.tasks (status, task_id);
create index tasks_identity_idx on tasker.tasks (identity_hash, created_at) where identity_hash is not null;

create table tasker.workflow_steps (
    step_id          bigint generated always as identity primary key,
    task_id          bigint not null references tasker.tasks on delete cascade,
    name             text not null,
    handler          text not null,
    -- The template's handler_version: a semver constraint on the plugin
    -- version that runs the step, resolved when it runs; null means any.
    handler_version  text,
    handler_config   jsonb,
    status           text not null default 'pending'
        check (status in ('pending', 'in_progress', 'waiting_for_retry', 'complete', 'error', 'cancelled', 'resolved_manually')),
    -- Parents not yet complete: a step is ready when this reaches zero.
    remaining_deps   integer not null default 0 check (remaining_deps >= 0),
    attempts         integer not null default 0,
    retryable        boolean not null default true,
    -- May be resolved without running when a request names it in bypass_steps.
    skippable        boolean not null default false,
    -- Its template says concurrent: false: one step of the task runs at a time.
    serial           boolean not null default false,
    -- Total attempts allowed, the first one included.
    retry_limit      integer not null default 3 check (retry_limit >= 1),
    backoff_base_ms  integer not null default 1000 check (backoff_base_ms >= 0),
    backoff_max_ms   integer not null default 300000 check (backoff_max_ms >= 0),
    -- A handler's deadline per attempt; null means the engine's default.
    timeout_ms       integer check (timeout_ms > 0),
    next_attempt_at  timestamptz not null default now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    results          jsonb,
    last_error       text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    completed_at     timestamptz,
    unique (task_id, name)
);

-- Exactly the ready predicates of claim_steps (one for ordinary steps, one
-- for serial ones), so a claim stays O(log n) however many finished steps
-- the table holds.
create index workflow_steps_ready_idx on tasker.workflow_steps (next_attempt_at, step_id)
    where status in ('pending', 'waiting_for_retry') and remaining_deps = 0 and not serial;
create index workflow_steps_ready_serial_idx on tasker.workflow_steps (next_attempt_at, step_id)
    where status in ('pending', 'waiting_for_retry') and remaining_deps = 0 and serial;
create index workflow_steps_lease_idx on tasker.workflow_steps (lease_expires_at)
    where status = 'in_progress';

create table tasker.workflow_step_edges (
    from_step_id bigint not null references tasker.workflow_steps on delete cascade,
    to_step_id   bigint not null references tasker.workflow_steps on delete cascade,
    primary key (from_step_id, to_step_id)
);
create index workflow_step_edges_to_idx on tasker.workflow_step_edges (to_step_id);

create table tasker.task_transitions (
    transition_id bigint generated always as identity primary key,
    task_id       bigint not null references tasker.tasks on delete cascade,
    from_status   text,
    to_status     text not null,
    reason        text,
    metadata      jsonb,
    created_at    timestamptz not null default now()
);
create index task_transitions_task_idx on tasker.task_transitions (task_id);

create table tasker.step_transitions (
    transition_id bigint generated always as identity primary key,
    step_id       bigint not null references tasker.workflow_steps on delete cascade,
    task_id       bigint not null,
    from_status   text,
    to_status     text not null,
    reason        text,
    metadata      jsonb,
    created_at    timestamptz not null default now()
);
create index step_transitions_step_idx on tasker.step_transitions (step_id);
