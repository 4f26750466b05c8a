-- The events a webhook is still retrying, with their attempts so far.
select event_id, attempts, coalesce(next_attempt_at, now()) from tasker.webhook_deliveries
where webhook = $1 and status = 'failed'
