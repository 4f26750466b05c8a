package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

// WebhookConfig is one entry of events.webhooks in tasker.yaml: every
// event it wants is POSTed, one per request, to URL, signed with Secret.
type WebhookConfig struct {
	// Name identifies the webhook (its cursor is webhook:<name>): [a-z0-9_-].
	Name string `koanf:"name"`
	// URL is where events are POSTed (http or https).
	URL string `koanf:"url"`
	// Events are event names or globs (task.*, *.failed); empty means all.
	Events []string `koanf:"events"`
	// TaskNamespaces, when set, keeps only events of tasks in these namespaces.
	TaskNamespaces []string `koanf:"task_namespaces"`
	// Secret (or SecretFile, read at start) keys the HMAC-SHA256 signature;
	// at least MinWebhookSecret bytes.
	Secret     string `koanf:"secret"`
	SecretFile string `koanf:"secret_file"`
	// Timeout bounds one request (10s).
	Timeout time.Duration `koanf:"timeout"`
	// MaxAttempts is how many times an event is tried before it becomes a
	// dead letter (10).
	MaxAttempts int `koanf:"max_attempts"`
	// BackoffBase and BackoffMax shape the wait between attempts: base,
	// doubling, capped at max, with jitter (1s, 5m).
	BackoffBase time.Duration `koanf:"backoff_base"`
	BackoffMax  time.Duration `koanf:"backoff_max"`
}

// MinWebhookSecret is the shortest webhook secret accepted, in bytes.
const MinWebhookSecret = 16

// Webhook request headers.
const (
	HeaderEvent     = "X-Tasker-Event"
	HeaderEventID   = "X-Tasker-Event-Id"
	HeaderAttempt   = "X-Tasker-Delivery-Attempt"
	HeaderTimestamp = "X-Tasker-Timestamp"
	HeaderSignature = "X-Tasker-Signature"
	HeaderWebhook   = "X-Tasker-Webhook"
)

// Sign returns the X-Tasker-Signature of a request: "sha256=" and the hex
// HMAC-SHA256, keyed by the secret, of timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether signature (the X-Tasker-Signature
// header) signs timestamp and body with secret, in constant time.
func VerifySignature(secret []byte, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

var (
	webhookNameRe    = regexp.MustCompile(`^[a-z0-9_-]+$`)
	webhookPatternRe = regexp.MustCompile(`^[a-z0-9_.*]+$`)
)

// webhook is a validated WebhookConfig.
type webhook struct {
	cfg      WebhookConfig
	secret   []byte
	patterns []*regexp.Regexp
	like     []string
}

func resolveWebhook(c WebhookConfig) (*webhook, []error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("events.webhooks %s: "+format, append([]any{strconv.Quote(c.Name)}, args...)...))
	}
	if !webhookNameRe.MatchString(c.Name) {
		bad("name must be made of a-z, 0-9, _ and -")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url %q is not an http(s) URL", c.URL)
	}
	h := &webhook{cfg: c}
	switch {
	case c.Secret != "" && c.SecretFile != "":
		bad("set secret or secret_file, not both")
	case c.Secret != "":
		h.secret = []byte(c.Secret)
	case c.SecretFile != "":
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			bad("secret_file: %v", err)
		}
		h.secret = []byte(strings.TrimRight(string(b), "\r\n"))
	default:
		bad("a secret (or secret_file) is required to sign requests")
	}
	if (c.Secret != "" || c.SecretFile != "") && len(h.secret) < MinWebhookSecret && len(errs) == 0 {
		bad("the secret is %d bytes; it must be at least %d (e.g. openssl rand -hex 32)", len(h.secret), MinWebhookSecret)
	}
	for _, p := range c.Events {
		switch {
		case !webhookPatternRe.MatchString(p):
			bad("event pattern %q: use event names and * only", p)
		case !strings.Contains(p, "*") && !core.EventNameRe.MatchString(p):
			bad("event %q is not an event name (<namespace>.<name>)", p)
		case !strings.Contains(p, "*") && Reserved(p):
			if _, ok := Lookup(p); !ok {
				bad("event %q is not a built-in event (see docs/EVENTS.md)", p)
			}
		case p != "*" && !strings.Contains(p, "."):
			bad("event pattern %q must have a . (task.*, *.failed) or be *", p)
		}
		h.patterns = append(h.patterns, globRe(p))
		h.like = append(h.like, globLike(p))
	}
	if len(c.Events) == 0 {
		h.like = []string{"%"}
	}
	for _, ns := range c.TaskNamespaces {
		if ns == "" {
			bad("task_namespaces has an empty name")
		}
	}
	if h.cfg.Timeout == 0 {
		h.cfg.Timeout = 10 * time.Second
	}
	if h.cfg.MaxAttempts == 0 {
		h.cfg.MaxAttempts = 10
	}
	if h.cfg.BackoffBase == 0 {
		h.cfg.BackoffBase = time.Second
	}
	if h.cfg.BackoffMax == 0 {
		h.cfg.BackoffMax = 5 * time.Minute
	}
	if h.cfg.Timeout < 0 || h.cfg.MaxAttempts < 0 || h.cfg.BackoffBase < 0 || h.cfg.BackoffMax < h.cfg.BackoffBase {
		bad("timeout, max_attempts and backoff_base must be positive, backoff_max at least backoff_base")
	}
	return h, errs
}

func globRe(p string) *regexp.Regexp {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
}

func globLike(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`)
	return r.Replace(p)
}

// ValidateWebhooks reports every problem of the webhooks' configuration,
// reading their secret files as NewWebhooks does.
func ValidateWebhooks(cfgs []WebhookConfig) error {
	_, err := resolveWebhooks(cfgs)
	return err
}

func resolveWebhooks(cfgs []WebhookConfig) ([]*webhook, error) {
	var errs []error
	seen := map[string]bool{}
	var out []*webhook
	for _, c := range cfgs {
		h, e := resolveWebhook(c)
		errs = append(errs, e...)
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("events.webhooks: the name %q is used twice", c.Name))
		}
		seen[c.Name] = true
		out = append(out, h)
	}
	return out, errors.Join(errs...)
}

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

// post makes one attempt; the error says why it is not delivered (an
// answer other than 2xx, or none). code is the answer's status, 0 for none.
func (w *Webhooks) post(ctx context.Context, h *webhook, e Event, attempt int) (code int, err error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tasker-webhook")
	req.Header.Set(HeaderWebhook, h.cfg.Name)
	req.Header.Set(HeaderEvent, e.Name)
	req.Header.Set(HeaderEventID, strconv.FormatInt(e.ID, 10))
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(h.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := "the receiver answered " + resp.Status
		if s := strings.TrimSpace(string(snippet)); s != "" {
			msg += ": " + strings.ToValidUTF8(s, "?")
		}
		return resp.StatusCode, errors.New(msg)
	}
	return resp.StatusCode, nil
}

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
