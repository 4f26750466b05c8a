-- A webhook's cursor, how many events after it its filter wants ($2: name
-- LIKE patterns, $3: task namespaces, empty for any), and its failing and
-- dead counts.
select c.last_event_id, c.updated_at,
       (select count(*) from tasker.events e
        where (e.txid, e.event_id) > (c.last_txid, c.last_event_id)
          and e.name like any ($2::text[])
          and (cardinality($3::text[]) = 0 or e.payload->>'namespace' = any ($3::text[]))),
       (select count(*) from tasker.webhook_deliveries d where d.webhook = $4 and d.status = 'failed'),
       (select count(*) from tasker.webhook_deliveries d where d.webhook = $4 and d.status = 'dead')
from tasker.event_cursors c
where c.subscriber = $1
