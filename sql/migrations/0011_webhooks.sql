-- Webhooks: the delivery state of events a webhook subscriber
-- (core/events, `webhook:<name>`) could not deliver at once. A webhook's
-- progress is its event cursor (tasker.event_cursors); a row here exists
-- only for an event that failed at least once: 'failed' while it is being
-- retried, 'dead' once its attempts ran out (a dead letter, which the API
-- lists and can deliver again), 'delivered' when a later attempt or an
-- operator's retry succeeded. Rows go with their event (retention).
create table tasker.webhook_deliveries (
    webhook          text not null,
    event_id         bigint not null references tasker.events (event_id) on delete cascade,
    status           text not null check (status in ('failed', 'dead', 'delivered')),
    attempts         integer not null default 0,
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz,
    updated_at       timestamptz not null default now(),
    primary key (webhook, event_id)
);
create index webhook_deliveries_event_idx on tasker.webhook_deliveries (event_id);
create index webhook_deliveries_status_idx on tasker.webhook_deliveries (webhook, status, event_id);
