-- A correlation id per task: taken from the X-Correlation-ID header of the
-- request that created it (or generated), carried into its logs, events and
-- spans, so that one id finds everything a request caused. Null for tasks
-- created before this migration.
alter table tasker.tasks add column correlation_id text
    check (correlation_id is null or length(correlation_id) between 1 and 128);
create index tasks_correlation_id_idx on tasker.tasks (correlation_id) where correlation_id is not null;
