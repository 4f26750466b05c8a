package events

import (
	"context"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// DeadLetter is an event a webhook gave up on.
type DeadLetter struct {
	Event      Event     `json:"event"`
	Attempts   int       `json:"attempts"`
	StatusCode int       `json:"last_status_code,omitempty"`
	Error      string    `json:"last_error"`
	DeadAt     time.Time `json:"dead_at"`
}

func (w *Webhooks) get(name string) (*WebhookSubscriber, error) {
	if w != nil {
		if s, ok := w.byName[name]; ok {
			return s, nil
		}
	}
	return nil, core.NotFoundf("no webhook %s is configured", name)
}

// DeadLetters lists a webhook's dead letters, oldest first.
func (w *Webhooks) DeadLetters(ctx context.Context, name string, limit, offset int) ([]DeadLetter, error) {
	if _, err := w.get(name); err != nil {
		return nil, err
	}
	list, err := w.st.WebhookDeadLetters(ctx, name, limit, offset, 0)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(list))
	for _, d := range list {
		out = append(out, DeadLetter{Event: d.Event, Attempts: d.Attempts, StatusCode: d.Status, Error: d.Error, DeadAt: d.UpdatedAt})
	}
	return out, nil
}

// RetryResult is the outcome of redelivering a dead letter.
type RetryResult struct {
	EventID    int64  `json:"event_id"`
	Delivered  bool   `json:"delivered"`
	Attempts   int    `json:"attempts"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Retry delivers a dead letter again, once, now: delivered, it is marked
// so and leaves the dead letters; otherwise it stays dead with this
// attempt's error.
func (w *Webhooks) Retry(ctx context.Context, name string, eventID int64) (RetryResult, error) {
	s, err := w.get(name)
	if err != nil {
		return RetryResult{}, err
	}
	list, err := w.st.WebhookDeadLetters(ctx, name, 1, 0, eventID)
	if err != nil {
		return RetryResult{}, err
	}
	if len(list) == 0 {
		return RetryResult{}, core.NotFoundf("event %d is not a dead letter of webhook %s", eventID, name)
	}
	d := list[0]
	res := RetryResult{EventID: eventID, Attempts: d.Attempts + 1}
	code, derr := w.post(ctx, s.h, d.Event, res.Attempts)
	res.StatusCode = code
	rec := store.WebhookDelivery{EventID: eventID, Status: "delivered", Attempts: res.Attempts, StatusCode: code}
	if derr != nil {
		rec.Status, rec.Error, res.Error = "dead", derr.Error(), derr.Error()
		w.log.Warn("redelivering a dead letter failed; it stays dead", "webhook", name, "event_id", eventID,
			"attempt", res.Attempts, "status", code, "error", derr.Error())
	} else {
		res.Delivered = true
		w.log.Info("redelivered a dead letter", "webhook", name, "event_id", eventID, "attempt", res.Attempts)
	}
	if err := w.st.RecordWebhookDelivery(context.WithoutCancel(ctx), name, rec); err != nil {
		return res, err
	}
	return res, nil
}
