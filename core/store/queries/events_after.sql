-- Events after a cursor, in delivery order, from transactions older than
-- every running one (see 0008_events.sql): that set never changes again.
-- ORDER BY names e.txid: unqualified, txid would be the output column
-- (txid::text)::bigint, which no index orders, and every read would sort
-- all the events after the cursor (a parallel scan of the whole table in a
-- generic plan). The other events queries qualify it for the same reason.
select event_id, (txid::text)::bigint, name, coalesce(task_id, 0), coalesce(step_id, 0), payload,
       coalesce(correlation_id, ''), created_at
from tasker.events e
where (txid, event_id) > ($1::bigint::text::xid8, $2) and txid < pg_snapshot_xmin(pg_current_snapshot())
order by e.txid, e.event_id
limit $3
