select pg_try_advisory_lock(tasker.subscriber_lock_key($1))
