select tasker.extend_leases($1, $2, $3)
