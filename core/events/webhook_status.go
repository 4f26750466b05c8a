package events

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// WebhookStatus is what GET {prefix}/events/webhooks shows of a webhook.
type WebhookStatus struct {
	Name           string   `json:"name"`
	URL            string   `json:"url"` // without a password
	Events         []string `json:"events"`
	TaskNamespaces []string `json:"task_namespaces"`
	MaxAttempts    int      `json:"max_attempts"`
	// CursorEventID is the last event the webhook is past (delivered,
	// skipped by its filter, or dead); 0 before any.
	CursorEventID   int64      `json:"cursor_event_id"`
	CursorUpdatedAt *time.Time `json:"cursor_updated_at,omitempty"`
	// Lag is how many events after the cursor the webhook wants.
	Lag int64 `json:"lag"`
	// Failing is how many events are being retried, Dead how many are dead letters.
	Failing int64 `json:"failing"`
	Dead    int64 `json:"dead"`
}

// Status reports every webhook's progress, in configuration order.
func (w *Webhooks) Status(ctx context.Context) ([]WebhookStatus, error) {
	out := []WebhookStatus{}
	for _, s := range w.Subscribers() {
		c := s.h.cfg
		u, _ := url.Parse(c.URL)
		ws := WebhookStatus{Name: c.Name, URL: u.Redacted(), Events: nonNil(c.Events), TaskNamespaces: nonNil(c.TaskNamespaces),
			MaxAttempts: c.MaxAttempts}
		st, err := w.st.WebhookStats(ctx, s.Name(), c.Name, s.h.like, c.TaskNamespaces)
		switch {
		case errors.Is(err, core.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			ws.CursorEventID, ws.Lag, ws.Failing, ws.Dead = st.CursorEventID, st.Lag, st.Failing, st.Dead
			ws.CursorUpdatedAt = &st.CursorUpdatedAt
		}
		out = append(out, ws)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
