package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// These tests run examples/apiintegration (plugin apiintegration) on the
// built binary against a fake shop API served by the test: the plugin's
// process calls it over HTTP, the task context pointing it there with
// api_base_url.

const apiIntegrationPlugin = "tasker-handler-apiintegration_v1.0.0"

// apiShop is the fake shop API, under /shop. Cart 7 answers 429 with
// Retry-After: 1 to its first request; cart 99 does not exist (404); every
// other cart holds two widgets and a gadget. It records when each cart was
// requested and the bodies of the orders and events posted, by cart.
type apiShop struct {
	*httptest.Server
	mu        sync.Mutex
	cartTimes map[string][]time.Time
	orders    map[int64]json.RawMessage
	events    map[int64]json.RawMessage
}

func newAPIShop(t *testing.T) *apiShop {
	s := &apiShop{cartTimes: map[string][]time.Time{}, orders: map[int64]json.RawMessage{}, events: map[int64]json.RawMessage{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shop/carts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		s.cartTimes[id] = append(s.cartTimes[id], time.Now())
		n := len(s.cartTimes[id])
		s.mu.Unlock()
		switch {
		case id == "7" && n == 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error": "rate limited"}`, http.StatusTooManyRequests)
		case id == "99":
			http.Error(w, `{"error": "no such cart"}`, http.StatusNotFound)
		default:
			fmt.Fprintf(w, `{"id": %s, "items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}]}`, id)
		}
	})
	mux.HandleFunc("GET /shop/products", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id": 1, "name": "Widget", "price_cents": 1500, "stock": 10},
			{"id": 2, "name": "Gadget", "price_cents": 2500, "stock": 3},
			{"id": 3, "name": "Gizmo", "price_cents": 999, "stock": 0}]`)
	})
	record := func(into map[int64]json.RawMessage, answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var body json.RawMessage
			var head struct {
				CartID int64 `json:"cart_id"`
			}
			if json.NewDecoder(r.Body).Decode(&body) != nil || json.Unmarshal(body, &head) != nil {
				http.Error(w, `{"error": "bad JSON"}`, http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			into[head.CartID] = body
			s.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, answer, head.CartID)
		}
	}
	mux.HandleFunc("POST /shop/orders", record(s.orders, `{"id": %d000, "status": "created"}`))
	mux.HandleFunc("POST /shop/events", record(s.events, `{"id": "evt_%d"}`))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// cartRequests returns when cart id was requested.
func (s *apiShop) cartRequests(id string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.cartTimes[id]...)
}

func (s *apiShop) posted(into map[int64]json.RawMessage, cart int64) json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return into[cart]
}

func TestAPIIntegrationOrderWorkflow(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("bin/plugins/" + apiIntegrationPlugin); err != nil {
		t.Fatalf("bin/plugins/%s is missing: run make build first (%v)", apiIntegrationPlugin, err)
	}
	shop := newAPIShop(t)
	dir := workdir(t)
	n := start(t, dir)
	ctx := context.Background()
	run := func(t *testing.T, cart int) *core.Task {
		t.Helper()
		created, err := n.api.CreateTask(ctx, core.TaskRequest{Name: "api_order", Namespace: "integrations", Version: "1.0.0",
			Context:   json.RawMessage(fmt.Sprintf(`{"cart_id": %d, "api_base_url": %q}`, cart, shop.URL+"/shop")),
			Initiator: "e2e", Reason: "api integration", SourceSystem: "ci"})
		require.NoError(t, err, "cart %d", cart)
		return waitTask(t, n, created.TaskID)
	}
	took := func(t *testing.T, task *core.Task) time.Duration {
		t.Helper()
		require.NotNil(t, task.CompletedAt, "task %d", task.TaskID)
		return task.CompletedAt.Sub(task.CreatedAt)
	}
	requireAttempts := func(t *testing.T, task *core.Task, want map[string]int) {
		t.Helper()
		steps := stepsByName(task)
		require.Len(t, steps, 5)
		for name, s := range steps {
			require.Equal(t, core.StepStatusComplete, s.Status, "cart task %d: %s", task.TaskID, name)
			require.Equal(t, max(want[name], 1), s.Attempts, "cart task %d: attempts of %s", task.TaskID, name)
		}
	}

	// Baselines: carts the API answers at once, one after the other.
	fastest := time.Duration(1<<63 - 1)
	for cart := 1; cart <= 3; cart++ {
		task := run(t, cart)
		require.Equal(t, core.TaskStatusComplete, task.Status, "cart %d", cart)
		requireAttempts(t, task, nil)
		fastest = min(fastest, took(t, task))
	}

	// Cart 7: the API answers 429 with Retry-After: 1, then 200.
	task := run(t, 7)
	require.Equal(t, core.TaskStatusComplete, task.Status)
	requireAttempts(t, task, map[string]int{"fetch_cart": 2})
	steps := stepsByName(task)
	calls := shop.cartRequests("7")
	require.Len(t, calls, 2)
	gap := calls[1].Sub(calls[0])
	t.Logf("api_order at best: %s; with a 429 on the cart: %s, between the cart requests: %s", fastest, took(t, task), gap)
	require.GreaterOrEqual(t, gap, time.Second, "the retry waits for the Retry-After the API sent")
	require.GreaterOrEqual(t, steps["fetch_cart"].CompletedAt.Sub(task.CreatedAt), time.Second)
	require.True(t, task.CompletedAt.After(calls[1]), "the task completes after the retried cart request")
	require.GreaterOrEqual(t, took(t, task), gap, "the Retry-After's wait is part of the task")

	validated := `{"cart_id": 7, "total_cents": 5500, "items": [
		{"product_id": 1, "name": "Widget", "quantity": 2, "price_cents": 1500, "line_total_cents": 3000},
		{"product_id": 2, "name": "Gadget", "quantity": 1, "price_cents": 2500, "line_total_cents": 2500}]}`
	require.JSONEq(t, validated, string(steps["validate_products"].Results))
	require.JSONEq(t, validated, string(shop.posted(shop.orders, 7)), "the order POST carries the validated products")
	require.JSONEq(t, `{"order_id": 7000, "status": "created", "cart_id": 7, "total_cents": 5500}`, string(steps["create_order"].Results))
	require.JSONEq(t, `{"type": "order.created", "order_id": 7000, "cart_id": 7, "total_cents": 5500}`,
		string(shop.posted(shop.events, 7)))
	require.JSONEq(t, `{"event_id": "evt_7", "type": "order.created", "order_id": 7000}`, string(steps["publish_event"].Results))

	// Cart 99: the API answers 404, a permanent failure although 4 attempts remain.
	failed := run(t, 99)
	require.Equal(t, core.TaskStatusError, failed.Status)
	steps = stepsByName(failed)
	fc := steps["fetch_cart"]
	require.Equal(t, core.StepStatusError, fc.Status)
	require.Equal(t, 1, fc.Attempts)
	require.Equal(t, 5, fc.RetryLimit)
	require.NotNil(t, fc.LastError)
	require.Contains(t, *fc.LastError, "GET "+shop.URL+"/shop/carts/99: 404 Not Found")
	require.Contains(t, *fc.LastError, "no such cart", "the message quotes the API's answer")
	require.Len(t, shop.cartRequests("99"), 1)
	require.Equal(t, core.StepStatusComplete, steps["fetch_products"].Status, "the other root still completes")
	for _, name := range []string{"validate_products", "create_order", "publish_event"} {
		require.Equal(t, core.StepStatusPending, steps[name].Status, name)
		require.Zero(t, steps[name].Attempts, name)
	}
	require.Nil(t, shop.posted(shop.orders, 99))

	n.stop(t)
	requireNoProcessesUnder(t, dir, "no tasker, plugin or PostgreSQL process outlives a SIGTERM")
}
