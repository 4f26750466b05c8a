select count(*) from tasker.claim_steps('bench-probe', 1, 60000)
