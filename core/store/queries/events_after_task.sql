-- Events of one task after a cursor, in delivery order, from transactions
-- older than every running one (see events_after.sql and 0008_events.sql).
select event_id, (txid::text)::bigint, name, coalesce(task_id, 0), coalesce(step_id, 0), payload,
       coalesce(correlation_id, ''), created_at
from tasker.events e
where task_id = $4 and (txid, event_id) > ($1::bigint::text::xid8, $2)
  and txid < pg_snapshot_xmin(pg_current_snapshot())
order by e.txid, e.event_id
limit $3
