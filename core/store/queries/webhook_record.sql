-- Records an attempt's outcome for one event of a webhook.
insert into tasker.webhook_deliveries (webhook, event_id, status, attempts, last_status_code, last_error, next_attempt_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, now())
on conflict (webhook, event_id) do update
set status = excluded.status, attempts = excluded.attempts, last_status_code = excluded.last_status_code,
    last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at, updated_at = now()
