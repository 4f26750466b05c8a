-- The cursor after the newest event (the current end; none when there is
-- no event).
select (txid::text)::bigint, event_id
from tasker.events e
order by e.txid desc, e.event_id desc
limit 1
