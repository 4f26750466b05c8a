select (last_txid::text)::bigint, last_event_id from tasker.event_cursors where subscriber = $1
