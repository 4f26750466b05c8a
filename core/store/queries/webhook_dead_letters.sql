-- A webhook's dead letters ($4 = the one event, or 0 for all) with their
-- events, oldest first.
select e.event_id, e.name, coalesce(e.task_id, 0), coalesce(e.step_id, 0), e.payload,
       coalesce(e.correlation_id, ''), e.created_at,
       d.attempts, coalesce(d.last_status_code, 0), coalesce(d.last_error, ''), d.updated_at
from tasker.webhook_deliveries d
join tasker.events e on e.event_id = d.event_id
where d.webhook = $1 and d.status = 'dead' and ($4::bigint = 0 or d.event_id = $4::bigint)
order by d.event_id
limit $2 offset $3
