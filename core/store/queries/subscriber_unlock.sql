select pg_advisory_unlock(tasker.subscriber_lock_key($1))
