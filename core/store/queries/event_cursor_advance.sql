update tasker.event_cursors
    set last_txid = $2::bigint::text::xid8, last_event_id = $3, updated_at = now()
    where subscriber = $1
