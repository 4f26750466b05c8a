-- A cursor's commit does not wait for the disk: a cursor a crash takes
-- back only delivers its events again, which delivery at least once allows.
update tasker.event_cursors
    set last_txid = $2::bigint::text::xid8, last_event_id = $3, updated_at = now()
    where subscriber = $1 and (select set_config('synchronous_commit', 'off', true)) is not null
