-- One trace per task: the W3C traceparent of the span that created the task,
-- so that every step attempt, on any node, becomes a child of it. Null when
-- tracing was off at creation (or for tasks created before this migration).
alter table tasker.tasks add column trace_parent text
    check (trace_parent is null or length(trace_parent) between 1 and 256);

-- The request's correlation id and trace context reach the task row through
-- transaction-local settings (set_config(..., true) in the transaction that
-- calls create_task), so create_task keeps its signature and the row carries
-- both from its insert on: triggers on that insert see them.
alter table tasker.tasks alter column correlation_id
    set default nullif(current_setting('tasker.correlation_id', true), '');
alter table tasker.tasks alter column trace_parent
    set default nullif(current_setting('tasker.trace_parent', true), '');
