insert into tasker.workflow_steps (task_id, name, handler) values ($1, $2, 'bench-probe')
