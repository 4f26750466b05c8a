-- Creates a subscriber's cursor when it has none: after the newest event
-- committed now (the current end; events of transactions still running
-- with an older txid count as past), or before every event when $2.
insert into tasker.event_cursors (subscriber, last_txid, last_event_id)
select $1, coalesce(e.txid, '0'::xid8), coalesce(e.event_id, 0)
from (select 1) as one
left join lateral (
    select txid, event_id from tasker.events
    where not $2
    order by txid desc, event_id desc
    limit 1
) as e on true
on conflict (subscriber) do nothing
