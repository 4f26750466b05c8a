-- The cursor just before the first event of a task (none when it has no
-- event): a stream of the task starts there.
select (txid::text)::bigint, event_id - 1
from tasker.events e
where task_id = $1
order by e.txid, e.event_id
limit 1
