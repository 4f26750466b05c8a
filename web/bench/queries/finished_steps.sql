select count(*) from tasker.workflow_steps where status in ('complete', 'error', 'cancelled', 'resolved_manually')
