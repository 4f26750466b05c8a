package events_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/events"
)

const testSecret = "a-webhook-secret-of-32-bytes-ok!"

// receiver is a webhook endpoint that checks signatures, fails while told
// to, and records what it accepted.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	failN  int                   // fail this many more requests
	failOn map[string]bool       // fail every request for these event names
	got    []core.Event          // accepted, in order
	tries  map[int64][]int       // event id -> attempt headers seen
	bad    []string              // problems with requests
	hdrs   map[int64]http.Header // headers of the accepted request
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, failOn: map[string]bool{}, tries: map[int64][]int{}, hdrs: map[int64]http.Header{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	// The documented recipe: HMAC-SHA256(secret, timestamp + "." + body), hex, after "sha256=".
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte(req.Header.Get("X-Tasker-Timestamp") + "." + string(body)))
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); req.Header.Get("X-Tasker-Signature") != want {
		r.bad = append(r.bad, "bad signature "+req.Header.Get("X-Tasker-Signature"))
	}
	var e core.Event
	if err := json.Unmarshal(body, &e); err != nil {
		r.bad = append(r.bad, "bad body "+string(body))
	}
	if req.Header.Get("X-Tasker-Event-Id") != strconv.FormatInt(e.ID, 10) || req.Header.Get("X-Tasker-Event") != e.Name {
		r.bad = append(r.bad, "headers do not match the body")
	}
	attempt, _ := strconv.Atoi(req.Header.Get("X-Tasker-Delivery-Attempt"))
	r.tries[e.ID] = append(r.tries[e.ID], attempt)
	if r.failN > 0 || r.failOn[e.Name] {
		if r.failN > 0 {
			r.failN--
		}
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, e)
	r.hdrs[e.ID] = req.Header.Clone()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) accepted() []core.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(r.t, r.bad)
	return append([]core.Event(nil), r.got...)
}

func (e env) webhooks(t *testing.T, cfgs ...events.WebhookConfig) (*events.Webhooks, *events.Dispatcher) {
	t.Helper()
	w, err := events.NewWebhooks(cfgs, e.st, e.log)
	require.NoError(t, err)
	d := events.NewDispatcher(e.st, e.log, events.Config{PollInterval: 20 * time.Millisecond})
	require.NoError(t, w.AddTo(e.ctx, d))
	return w, d
}

func TestWebhookSignatureRecipe(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_id":1}`)
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte("1700000000." + string(body)))
	sig := "sha256=" + hex.EncodeToString(m.Sum(nil))
	require.Equal(t, sig, events.Sign([]byte(testSecret), "1700000000", body))
	require.True(t, events.VerifySignature([]byte(testSecret), "1700000000", body, sig))
	require.False(t, events.VerifySignature([]byte(testSecret), "1700000001", body, sig))
}

func TestWebhookRetriesThenDeliversEveryEventInOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t)
	rcv.failN = 2
	w, d := e.webhooks(t, events.WebhookConfig{Name: "orders", URL: rcv.srv.URL, Events: []string{"test.*"},
		Secret: testSecret, BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	e.publish(t, 5, "test.a")
	e.publish(t, 2, "other.b") // filtered out
	run(t, d)
	require.Eventually(t, func() bool { return len(rcv.accepted()) == 5 }, 10*time.Second, 20*time.Millisecond)
	got := rcv.accepted()
	for i := 1; i < len(got); i++ {
		require.Less(t, got[i-1].ID, got[i].ID, "in order")
	}
	for _, ev := range got {
		require.Equal(t, "test.a", ev.Name)
		require.NotEmpty(t, ev.Payload)
	}
	rcv.mu.Lock()
	require.Equal(t, []int{1, 2, 3}, rcv.tries[got[0].ID], "the first event failed twice, then was delivered")
	require.Equal(t, "3", rcv.hdrs[got[0].ID].Get("X-Tasker-Delivery-Attempt"))
	require.Equal(t, []int{1}, rcv.tries[got[1].ID])
	rcv.mu.Unlock()
	require.Eventually(t, func() bool {
		st, err := w.Status(e.ctx)
		require.NoError(t, err)
		return st[0].Lag == 0 && st[0].CursorEventID >= got[4].ID
	}, 5*time.Second, 20*time.Millisecond)
	st, err := w.Status(e.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(0), st[0].Failing)
	require.Equal(t, int64(0), st[0].Dead)
}

func TestWebhookDeadLetterLetsTheNextEventsThroughAndCanBeRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t)
	rcv.failOn["test.poison"] = true
	w, d := e.webhooks(t, events.WebhookConfig{Name: "hook", URL: rcv.srv.URL, Secret: testSecret, MaxAttempts: 3,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	e.publish(t, 1, "test.first")
	e.publish(t, 1, "test.poison")
	e.publish(t, 1, "test.last")
	run(t, d)
	require.Eventually(t, func() bool { return len(rcv.accepted()) == 2 }, 10*time.Second, 20*time.Millisecond)
	got := rcv.accepted()
	require.Equal(t, []string{"test.first", "test.last"}, []string{got[0].Name, got[1].Name})

	dead, err := w.DeadLetters(e.ctx, "hook", 10, 0)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "test.poison", dead[0].Event.Name)
	require.Equal(t, 3, dead[0].Attempts)
	require.Equal(t, http.StatusServiceUnavailable, dead[0].StatusCode)
	require.Contains(t, dead[0].Error, "503")
	st, err := w.Status(e.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), st[0].Dead)

	// Still failing: stays dead, one attempt more.
	res, err := w.Retry(e.ctx, "hook", dead[0].Event.ID)
	require.NoError(t, err)
	require.False(t, res.Delivered)
	require.Equal(t, 4, res.Attempts)

	rcv.mu.Lock()
	rcv.failOn["test.poison"] = false
	rcv.mu.Unlock()
	res, err = w.Retry(e.ctx, "hook", dead[0].Event.ID)
	require.NoError(t, err)
	require.True(t, res.Delivered)
	require.Equal(t, 5, res.Attempts)
	require.Equal(t, "test.poison", rcv.accepted()[2].Name)
	dead, err = w.DeadLetters(e.ctx, "hook", 10, 0)
	require.NoError(t, err)
	require.Empty(t, dead)
	_, err = w.Retry(e.ctx, "hook", got[0].ID)
	require.ErrorIs(t, err, core.ErrNotFound)
	_, err = w.DeadLetters(e.ctx, "nothing", 10, 0)
	require.ErrorIs(t, err, core.ErrNotFound)
}

func TestWebhookNamespaceFilter(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t)
	w, d := e.webhooks(t, events.WebhookConfig{Name: "shop", URL: rcv.srv.URL, Secret: testSecret, TaskNamespaces: []string{"shop"}})
	require.Len(t, w.Subscribers(), 1)
	s := w.Subscribers()[0]
	require.True(t, s.Wants(core.Event{Name: "task.created", TaskID: 1, Payload: json.RawMessage(`{"namespace":"shop"}`)}))
	require.False(t, s.Wants(core.Event{Name: "task.created", TaskID: 1, Payload: json.RawMessage(`{"namespace":"other"}`)}))
	require.False(t, s.Wants(core.Event{Name: "engine.started", Payload: json.RawMessage(`{}`)}))
	_ = d
}

func TestWebhookConfigValidation(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte(testSecret+"\n"), 0o600))
	ok := events.WebhookConfig{Name: "a-1", URL: "https://example.com/hook", SecretFile: file,
		Events: []string{"task.*", "*.failed", "step.completed", "order.shipped", "*"}}
	require.NoError(t, events.ValidateWebhooks([]events.WebhookConfig{ok}))
	for _, c := range []struct {
		mutate func(*events.WebhookConfig)
		want   string
	}{
		{func(c *events.WebhookConfig) { c.Name = "Bad Name" }, "name must be"},
		{func(c *events.WebhookConfig) { c.URL = "ftp://x" }, "not an http(s) URL"},
		{func(c *events.WebhookConfig) { c.SecretFile, c.Secret = "", "short" }, "at least 16"},
		{func(c *events.WebhookConfig) { c.SecretFile = "" }, "secret (or secret_file) is required"},
		{func(c *events.WebhookConfig) { c.Secret = testSecret }, "not both"},
		{func(c *events.WebhookConfig) { c.Events = []string{"task.complete"} }, "not a built-in event"},
		{func(c *events.WebhookConfig) { c.Events = []string{"Task"} }, "use event names and * only"},
		{func(c *events.WebhookConfig) { c.Events = []string{"task*"} }, "must have a ."},
		{func(c *events.WebhookConfig) { c.BackoffMax = time.Millisecond }, "backoff_max"},
	} {
		c2 := ok
		c2.Events = append([]string(nil), ok.Events...)
		c.mutate(&c2)
		err := events.ValidateWebhooks([]events.WebhookConfig{c2})
		require.ErrorContains(t, err, c.want)
	}
	require.ErrorContains(t, events.ValidateWebhooks([]events.WebhookConfig{ok, ok}), "used twice")
}
