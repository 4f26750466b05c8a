-- A task creation's transaction: the correlation id and trace context that
-- the defaults of tasks.correlation_id and trace_parent read
-- (0009_trace_parent.sql; empty means none), and notifications left to
-- store.Store after the commit (0014_deferred_notify.sql).
select set_config('tasker.correlation_id', $1, true), set_config('tasker.trace_parent', $2, true),
       set_config('tasker.deferred_notify', 'on', true)
