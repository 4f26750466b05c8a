-- Leaves this transaction's notifications to store.Store, which sends them
-- after the commit (0014_deferred_notify.sql).
select set_config('tasker.deferred_notify', 'on', true)
