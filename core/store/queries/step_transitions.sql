select from_status, to_status, reason, metadata, created_at
from tasker.step_transitions
where step_id = $1
order by transition_id
