-- The cursor after the newest event (the current end; none when there is
-- no event).
select (txid::text)::bigint, event_id
from tasker.events
order by txid desc, event_id desc
limit 1
