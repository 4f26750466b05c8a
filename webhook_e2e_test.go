package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
)

const e2eWebhookSecret = "e2e-webhook-secret-0123456789abcdef"

// hookReceiver fails its first failFirst requests, accepts until it has
// accepted downAfter events, then fails everything until up is set.
type hookReceiver struct {
	mu        sync.Mutex
	failFirst int
	downAfter int
	up        bool
	requests  int
	order     []int64              // event ids in the order first accepted
	bodies    map[int64]string     // accepted body per event id
	events    map[int64]core.Event // accepted events
	attempts  map[int64]int        // X-Tasker-Delivery-Attempt of the accepted request
	problems  []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	ts := r.Header.Get("X-Tasker-Timestamp")
	m := hmac.New(sha256.New, []byte(e2eWebhookSecret))
	m.Write([]byte(ts + "." + string(body)))
	if !hmac.Equal([]byte(r.Header.Get("X-Tasker-Signature")), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
		h.problems = append(h.problems, "bad signature on "+string(body))
	}
	if h.requests <= h.failFirst || (len(h.order) >= h.downAfter && !h.up) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var e core.Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID == 0 {
		h.problems = append(h.problems, "bad body "+string(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Header.Get("X-Tasker-Event-Id") != strconv.FormatInt(e.ID, 10) {
		h.problems = append(h.problems, "X-Tasker-Event-Id does not match the body")
	}
	if prev, seen := h.bodies[e.ID]; seen {
		if prev != string(body) {
			h.problems = append(h.problems, fmt.Sprintf("event %d redelivered with another body", e.ID))
		}
	} else {
		h.order = append(h.order, e.ID)
		h.bodies[e.ID] = string(body)
		h.events[e.ID] = e
		h.attempts[e.ID], _ = strconv.Atoi(r.Header.Get("X-Tasker-Delivery-Attempt"))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) snapshot() (order []int64, events map[int64]core.Event, attempts map[int64]int, problems []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	events, attempts = map[int64]core.Event{}, map[int64]int{}
	for k, v := range h.events {
		events[k] = v
	}
	for k, v := range h.attempts {
		attempts[k] = v
	}
	return append([]int64(nil), h.order...), events, attempts, append([]string(nil), h.problems...)
}

type webhookStatus struct {
	Webhooks []struct {
		Name          string `json:"name"`
		CursorEventID int64  `json:"cursor_event_id"`
		Lag           int64  `json:"lag"`
		Failing       int64  `json:"failing"`
		Dead          int64  `json:"dead"`
	} `json:"webhooks"`
}

// A webhook whose receiver fails, then succeeds, then goes down across a
// restart of tasker receives every event of a task, signed, in order.
func TestWebhookDeliversEveryEventInOrderAcrossARestart(t *testing.T) {
	t.Parallel()
	rcv := &hookReceiver{failFirst: 3, downAfter: 4, bodies: map[int64]string{}, events: map[int64]core.Event{}, attempts: map[int64]int{}}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)

	dir := workdir(t)
	config := filepath.Join(dir, "tasker.yaml")
	require.NoError(t, os.WriteFile(config, []byte(fmt.Sprintf(`events:
  webhooks:
    - name: e2e
      url: %s/hook
      events: ["task.*", "step.*"]
      secret: %s
      max_attempts: 1000
      backoff_base: 100ms
      backoff_max: 500ms
`, srv.URL, e2eWebhookSecret)), 0o644))
	ctx := context.Background()

	n := start(t, dir, "--config", config)
	created, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "order_process", Context: order(42)})
	require.NoError(t, err)
	require.Equal(t, core.TaskStatusComplete, waitTask(t, n, created.TaskID).Status)
	// The receiver took 4 events (after failing 3 requests) and is down now.
	var st webhookStatus
	require.Eventually(t, func() bool {
		require.NoError(t, n.api.Do(ctx, http.MethodGet, "/events/webhooks", nil, &st))
		order, _, _, _ := rcv.snapshot()
		return len(order) == 4 && len(st.Webhooks) == 1 && st.Webhooks[0].Failing == 1 && st.Webhooks[0].Lag > 0
	}, 30*time.Second, 50*time.Millisecond)
	before, _, attempts, _ := rcv.snapshot()
	require.Len(t, before, 4)
	require.Equal(t, 4, attempts[before[0]], "the first event was tried 3 times before")
	n.stop(t)

	rcv.mu.Lock()
	rcv.up = true
	rcv.mu.Unlock()
	n = start(t, dir, "--config", config)
	require.Eventually(t, func() bool {
		require.NoError(t, n.api.Do(ctx, http.MethodGet, "/events/webhooks", nil, &st))
		w := st.Webhooks[0]
		return w.Lag == 0 && w.Failing == 0 && w.Dead == 0
	}, time.Minute, 100*time.Millisecond)

	order, events, attempts, problems := rcv.snapshot()
	require.Empty(t, problems)
	require.Equal(t, before, order[:len(before)], "what was delivered before the restart stays first")
	require.Greater(t, attempts[order[len(before)]], 1, "the event that failed before the stop kept its attempts")
	var names []string
	for i, id := range order {
		e := events[id]
		if i > 0 {
			require.Less(t, order[i-1], id, "in order")
		}
		require.Equal(t, created.TaskID, e.TaskID, "only this task's events")
		names = append(names, e.Name)
	}
	require.Equal(t, "task.created", names[0])
	require.Equal(t, "task.completed", names[len(names)-1])
	count := map[string]int{}
	for _, name := range names {
		count[name]++
	}
	require.Equal(t, 3, count["step.completed"], "%v", names)
	require.Equal(t, 4, count["step.started"], "the payment step runs twice: %v", names)
	require.Equal(t, 1, count["step.retry_scheduled"], "%v", names)
	require.Equal(t, 1, count["task.started"], "%v", names)
	require.GreaterOrEqual(t, st.Webhooks[0].CursorEventID, order[len(order)-1])
	n.stop(t)
}
