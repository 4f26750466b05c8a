package events

import "strings"

// webhooksMarkdown is the Webhooks section of docs/EVENTS.md (§ stands for a backquote).
func webhooksMarkdown() string {
	return strings.ReplaceAll(`## Webhooks

A webhook POSTs every event it wants to an HTTP(S) URL, one event per request, signed. Configure
them in tasker.yaml (a list, so only in the file):

§§§yaml
events:
  webhooks:
    - name: orders                 # [a-z0-9_-]; its cursor is the subscriber webhook:orders
      url: https://example.com/tasker-hook
      events: ["task.*", "step.failed", "order.shipped"]   # names or globs; empty or absent: all
      task_namespaces: [shop]      # optional: only events of tasks in these namespaces
      secret_file: /etc/tasker/orders-hook.secret          # or secret: ...; at least 16 bytes
      timeout: 10s                 # per request
      max_attempts: 10             # then the event is a dead letter
      backoff_base: 1s             # wait after attempt n: base·2^(n-1), at most backoff_max,
      backoff_max: 5m              # less up to half of it at random
§§§

Each webhook is a durable subscriber: it starts after the events already written when it is first
configured, and delivers in order (the order of the outbox, so in order per task), at least once, one
node of a cluster at a time. A request is a §POST§ with the event as its JSON body (§event_id§,
§name§, §task_id§, §step_id§, §correlation_id§, §created_at§, §payload§) and the headers:

| header | value |
|---|---|
| §X-Tasker-Event§ | the event's name |
| §X-Tasker-Event-Id§ | the event's id: deduplicate on it, a redelivery carries the same id and body |
| §X-Tasker-Delivery-Attempt§ | 1 for the first attempt, counted across restarts |
| §X-Tasker-Timestamp§ | when the request was signed, in Unix seconds |
| §X-Tasker-Signature§ | §sha256=§ and the hex HMAC-SHA256, keyed by the secret, of timestamp + §.§ + body |
| §X-Tasker-Webhook§ | the webhook's name |

To verify a request, compute the HMAC over the raw body bytes as received (before any JSON parsing)
and compare in constant time; reject timestamps too far from your clock to refuse replays:

§§§python
expected = "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
ok = hmac.compare_digest(expected, request.headers["X-Tasker-Signature"])
§§§

(In Go: §events.VerifySignature(secret, timestamp, body, signature)§ of §core/events§.)

Any 2xx answer delivers the event; anything else (another status, a redirect, a timeout, a refused
connection) is a failure, logged at warn with the webhook, event id, attempt, status or error and
§retry_in§, and tried again after the backoff. The next events wait: a webhook delivers strictly in
order. After §max_attempts§ the event becomes a dead letter (logged at error) and the webhook goes on
with the next one, so one poisoned event cannot hold a webhook back forever; that event alone is then
out of order if it is redelivered later. Failing and dead events are kept in
§tasker.webhook_deliveries§ and removed with their event by retention (§retention.events§).

The API (see openapi.yaml):

- §GET {prefix}/events/webhooks§ (§tasker.event:index§): each webhook with its filter, its cursor
  (§cursor_event_id§), §lag§ (events after the cursor that it wants), §failing§ (being retried) and
  §dead§ (dead letters).
- §GET {prefix}/events/webhooks/{name}/dead_letters?limit=&offset=§ (§tasker.event:index§): the dead
  letters, oldest first, each with its event, attempts, last status code and error.
- §POST {prefix}/events/webhooks/{name}/dead_letters/{event_id}/retry§ (§tasker.event:retry§): one
  more attempt, now, from the node that answers; delivered, the event leaves the dead letters (its
  row says delivered), otherwise it stays dead with the new error. The answer says which
  (§delivered§, §attempts§, §status_code§, §error§).

`, "§", "`")
}
