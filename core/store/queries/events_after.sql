-- Events after a cursor, in delivery order, from transactions older than
-- every running one (see 0008_events.sql): that set never changes again.
-- ORDER BY names e.txid: unqualified, txid would be the output column
-- (txid::text)::bigint, which no index orders, and every read would sort
-- all the events after the cursor (a parallel scan of the whole table in a
-- generic plan). The other events queries qualify it for the same reason.
--
-- A reader may leave out the events whose names match one of $4 (LIKE
-- patterns; none: '{}'). The window of up to $3 events after the cursor is
-- read whatever their names; of the events left out only the window's last
-- comes back (wanted false, no payload), so that the reader's cursor passes
-- them all, and the last column is the window's size. Without that, a
-- reader whose events are rare would read the same skipped events again on
-- every wake-up.
with w as (
    select e.event_id, e.txid, e.name, e.task_id, e.step_id, e.payload, e.correlation_id, e.created_at,
           not (e.name like any($4::text[])) as wanted,
           row_number() over (order by e.txid, e.event_id) as n
    from tasker.events e
    where (txid, event_id) > ($1::bigint::text::xid8, $2) and txid < pg_snapshot_xmin(pg_current_snapshot())
    order by e.txid, e.event_id
    limit $3
)
select w.event_id, (w.txid::text)::bigint, w.name, coalesce(w.task_id, 0), coalesce(w.step_id, 0),
       case when w.wanted then w.payload end, coalesce(w.correlation_id, ''), w.created_at, w.wanted,
       (select count(*) from w)::integer
from w
where w.wanted or w.n = (select count(*) from w)
order by w.txid, w.event_id
