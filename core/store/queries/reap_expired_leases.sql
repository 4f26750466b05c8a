select tasker.reap_expired_leases($1)
