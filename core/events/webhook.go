package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core/store"
)

// Webhooks are the configured webhooks: durable subscribers that POST
// events, and what the API shows of them.
type Webhooks struct {
	st     *store.Store
	log    *slog.Logger
	client *http.Client
	subs   []*WebhookSubscriber
	byName map[string]*WebhookSubscriber
}

// NewWebhooks checks cfgs and returns their subscribers.
func NewWebhooks(cfgs []WebhookConfig, st *store.Store, logger *slog.Logger) (*Webhooks, error) {
	hooks, err := resolveWebhooks(cfgs)
	if err != nil {
		return nil, err
	}
	w := &Webhooks{st: st, log: logger, byName: map[string]*WebhookSubscriber{}, client: &http.Client{
		// A redirect is an answer that is not 2xx: the URL is to be fixed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for _, h := range hooks {
		s := &WebhookSubscriber{h: h, w: w, done: map[int64]bool{}}
		w.subs = append(w.subs, s)
		w.byName[h.cfg.Name] = s
	}
	return w, nil
}

// Subscribers returns one subscriber per webhook.
func (w *Webhooks) Subscribers() []*WebhookSubscriber {
	if w == nil {
		return nil
	}
	return w.subs
}

// AddTo registers every webhook with d. A new webhook starts after the
// events already written.
func (w *Webhooks) AddTo(ctx context.Context, d *Dispatcher) error {
	for _, s := range w.Subscribers() {
		if err := d.Add(ctx, s, Options{Start: FromEnd, BatchSize: 20}); err != nil {
			return err
		}
	}
	return nil
}

// WebhookSubscriber delivers events to one webhook. Deliver tries each
// event in order until it is delivered or has used its attempts (it is then
// a dead letter and the next event goes), sleeping between attempts, so a
// failing receiver holds back only its own webhook.
type WebhookSubscriber struct {
	h    *webhook
	w    *Webhooks
	mu   sync.Mutex
	done map[int64]bool // delivered events of a batch that will come again
}

// Name is webhook:<name>.
func (s *WebhookSubscriber) Name() string { return "webhook:" + s.h.cfg.Name }

// Wants applies the event and namespace filters.
func (s *WebhookSubscriber) Wants(e Event) bool { return s.h.wants(e) }

func (h *webhook) wants(e Event) bool {
	if len(h.patterns) > 0 {
		ok := false
		for _, p := range h.patterns {
			if p.MatchString(e.Name) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(h.cfg.TaskNamespaces) == 0 {
		return true
	}
	var p struct {
		Namespace string `json:"namespace"`
	}
	if e.TaskID == 0 || json.Unmarshal(e.Payload, &p) != nil {
		return false
	}
	for _, ns := range h.cfg.TaskNamespaces {
		if ns == p.Namespace {
			return true
		}
	}
	return false
}

// Deliver POSTs each event in order, retrying it with backoff; it returns
// an error only when ctx ends or the delivery state cannot be written.
func (s *WebhookSubscriber) Deliver(ctx context.Context, batch []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.h.cfg.Name
	failures, err := s.w.st.WebhookFailures(ctx, name)
	if err != nil {
		return err
	}
	for _, e := range batch {
		if s.done[e.ID] {
			continue
		}
		prev, retrying := failures[e.ID]
		attempts := prev.Attempts
		if retrying {
			if err := sleep(ctx, time.Until(prev.NextAttemptAt)); err != nil {
				return err
			}
		}
		for {
			attempts++
			code, derr := s.w.post(ctx, s.h, e, attempts)
			if ctx.Err() != nil {
				return ctx.Err() // stopping: this attempt does not count
			}
			if derr == nil {
				if attempts > 1 {
					if err := s.w.st.RecordWebhookDelivery(ctx, name, store.WebhookDelivery{
						EventID: e.ID, Status: "delivered", Attempts: attempts, StatusCode: code}); err != nil {
						return err
					}
					s.w.log.Info("webhook delivered an event after failures", "webhook", name, "event_id", e.ID,
						"event", e.Name, "attempt", attempts)
				}
				break
			}
			d := store.WebhookDelivery{EventID: e.ID, Status: "failed", Attempts: attempts, StatusCode: code, Error: derr.Error()}
			if attempts >= s.h.cfg.MaxAttempts {
				d.Status = "dead"
				if err := s.w.st.RecordWebhookDelivery(ctx, name, d); err != nil {
					return err
				}
				s.w.log.Error("webhook gave up on an event: it is a dead letter; the next events go on. Fix the receiver, then "+
					"redeliver it with POST {prefix}/events/webhooks/"+name+"/dead_letters/"+strconv.FormatInt(e.ID, 10)+"/retry",
					"webhook", name, "event_id", e.ID, "event", e.Name, "attempts", attempts, "status", code, "error", derr.Error())
				break
			}
			wait := s.h.backoff(attempts)
			d.NextAttemptAt = time.Now().Add(wait)
			if err := s.w.st.RecordWebhookDelivery(ctx, name, d); err != nil {
				return err
			}
			s.w.log.Warn("webhook delivery failed; will retry", "webhook", name, "event_id", e.ID, "event", e.Name,
				"attempt", attempts, "max_attempts", s.h.cfg.MaxAttempts, "status", code, "error", derr.Error(),
				"retry_in", wait.String())
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		s.done[e.ID] = true
	}
	clear(s.done)
	return nil
}

// backoff is the wait after attempt n (1-based): base·2^(n-1), capped,
// less up to half of it at random.
func (h *webhook) backoff(n int) time.Duration {
	d := h.cfg.BackoffBase
	for i := 1; i < n && d < h.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, h.cfg.BackoffMax)
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rand.Int64N(half + 1))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
