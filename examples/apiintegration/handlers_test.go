package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// shop is a fake of the e-commerce API under /shop: cart 7 answers 429 with
// Retry-After: 1 on its first request, cart 99 does not exist, every other
// cart holds two widgets and a gadget.
type shop struct {
	*httptest.Server
	mu        sync.Mutex
	cartCalls map[string]int
	orders    []json.RawMessage
	events    []json.RawMessage
	keys      []string
}

func newShop(t *testing.T) *shop {
	s := &shop{cartCalls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shop/carts/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		s.cartCalls[id]++
		n := s.cartCalls[id]
		s.mu.Unlock()
		switch {
		case id == "7" && n == 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error": "slow down"}`, http.StatusTooManyRequests)
		case id == "99":
			http.Error(w, `{"error": "no such cart"}`, http.StatusNotFound)
		default:
			fmt.Fprintf(w, `{"id": %s, "items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}]}`, id)
		}
	})
	mux.HandleFunc("GET /shop/products", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id": 1, "name": "Widget", "price_cents": 1500, "stock": 10},
			{"id": 2, "name": "Gadget", "price_cents": 2500, "stock": 3}]`)
	})
	record := func(list *[]json.RawMessage, answer string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var body json.RawMessage
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.mu.Lock()
			*list = append(*list, body)
			s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
			s.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, answer)
		}
	}
	mux.HandleFunc("POST /shop/orders", record(&s.orders, `{"id": 1001, "status": "created"}`))
	mux.HandleFunc("POST /shop/events", record(&s.events, `{"id": "evt_1"}`))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// request is a request for step with the task context and handler_config
// given as JSON and the given dependency results.
func request(step, taskCtx, config string, deps map[string]any) pluginsdk.Request {
	results := map[string]json.RawMessage{}
	for name, v := range deps {
		b, _ := json.Marshal(v)
		results[name] = b
	}
	return pluginsdk.Request{TaskID: 12, StepID: 3, StepName: step, Handler: step, Attempt: 1,
		Context: json.RawMessage(taskCtx), HandlerConfig: json.RawMessage(config), DependencyResults: results}
}

func TestFetchCartHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	req := request("fetch_cart", `{"cart_id": 7}`, `{"base_url": "`+s.URL+`/shop"}`, nil)
	_, err := fetchCart(context.Background(), req)
	require.Error(t, err)
	require.False(t, pluginsdk.IsPermanent(err))
	require.Equal(t, time.Second, pluginsdk.RetryDelay(err))
	require.Contains(t, err.Error(), "GET "+s.URL+"/shop/carts/7: 429 Too Many Requests")

	req.Attempt = 2
	res, err := fetchCart(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, cart{ID: 7, Items: []cartItem{{1, 2}, {2, 1}}}, res)
}

func TestMissingCartIsPermanent(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	_, err := fetchCart(context.Background(), request("fetch_cart", `{"cart_id": 99, "api_base_url": "`+s.URL+`/shop/"}`, `null`, nil))
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "404 Not Found")
	require.Contains(t, err.Error(), "no such cart")
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, ctx, config, want, err string }{
		{"handler_config", `{"cart_id": 1}`, `{"base_url": "http://cfg/shop/"}`, "http://cfg/shop", ""},
		{"the context wins", `{"cart_id": 1, "api_base_url": "https://ctx:8443/api"}`, `{"base_url": "http://cfg/shop"}`, "https://ctx:8443/api", ""},
		{"context only", `{"cart_id": 1, "api_base_url": "http://ctx"}`, `null`, "http://ctx", ""},
		{"neither", `{"cart_id": 1}`, `{}`, "", "no API base URL"},
		{"not http", `{"cart_id": 1, "api_base_url": "ftp://ctx"}`, `{}`, "", `context.api_base_url "ftp://ctx" is not an http(s) URL`},
		{"relative", `{"cart_id": 1}`, `{"base_url": "/shop"}`, "", `handler_config.base_url "/shop"`},
		{"with a query", `{"cart_id": 1}`, `{"base_url": "http://cfg/?k=v"}`, "", "without a query"},
		{"bad context", `{"cart_id": 1, "api_base_url": 5}`, `{}`, "", "decoding the task context"},
	} {
		got, err := baseURL(request("fetch_cart", tc.ctx, tc.config, nil))
		if tc.err != "" {
			require.True(t, pluginsdk.IsPermanent(err), "%s: %v", tc.name, err)
			require.ErrorContains(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestValidateProductsRejectsBadCarts(t *testing.T) {
	t.Parallel()
	cat := catalogue{Products: []product{{ID: 1, Name: "Widget", PriceCents: 1500, Stock: 2}}}
	for want, c := range map[string]cart{
		"cart 5 is empty":                                  {ID: 5},
		"cart 5: product 9 does not exist":                 {ID: 5, Items: []cartItem{{9, 1}}},
		"cart 5: product 1 has quantity 0":                 {ID: 5, Items: []cartItem{{1, 0}}},
		"cart 5: product 1 (Widget): 3 wanted, 2 in stock": {ID: 5, Items: []cartItem{{1, 3}}},
	} {
		_, err := validateProducts(context.Background(), request("validate_products", `{}`, `null`,
			map[string]any{"fetch_cart": c, "fetch_products": cat}))
		require.True(t, pluginsdk.IsPermanent(err), want)
		require.EqualError(t, err, want)
	}
}

// TestTemplateAgainstTheShop runs api_order's steps in order through the
// handlers, as the engine would, with each step's handler_config from the
// template and the shop's URL in the context.
func TestTemplateAgainstTheShop(t *testing.T) {
	t.Parallel()
	tmpl := loadTemplate(t)
	s := newShop(t)
	taskCtx := `{"cart_id": 7, "api_base_url": "` + s.URL + `/shop"}`
	results := map[string]any{}
	attempts := map[string]int{}
	for _, st := range tmpl.Steps {
		deps := map[string]any{}
		for _, d := range st.Dependencies() {
			require.Contains(t, results, d, "steps are listed in dependency order")
			deps[d] = results[d]
		}
		config, err := json.Marshal(st.HandlerConfig)
		require.NoError(t, err)
		h := handlers()[st.Handler]
		require.NotNil(t, h, st.Handler)
		for attempt := 1; ; attempt++ {
			req := request(st.Name, taskCtx, string(config), deps)
			req.Attempt = attempt
			res, err := h(context.Background(), req)
			if err == nil {
				results[st.Name], attempts[st.Name] = res, attempt
				break
			}
			require.False(t, pluginsdk.IsPermanent(err), "%s: %v", st.Name, err)
			require.Less(t, attempt, *st.RetryLimit, "%s: %v", st.Name, err)
		}
	}
	require.Equal(t, map[string]int{"fetch_cart": 2, "fetch_products": 1, "validate_products": 1,
		"create_order": 1, "publish_event": 1}, attempts)

	want := validatedOrder{CartID: 7, TotalCents: 5500, Items: []orderLine{
		{ProductID: 1, Name: "Widget", Quantity: 2, PriceCents: 1500, LineTotalCents: 3000},
		{ProductID: 2, Name: "Gadget", Quantity: 1, PriceCents: 2500, LineTotalCents: 2500},
	}}
	require.Equal(t, want, results["validate_products"])
	require.Equal(t, createdOrder{OrderID: 1001, Status: "created", CartID: 7, TotalCents: 5500}, results["create_order"])
	require.Equal(t, published{EventID: "evt_1", Type: "order.created", OrderID: 1001}, results["publish_event"])

	wantBody, err := json.Marshal(want)
	require.NoError(t, err)
	require.Len(t, s.orders, 1)
	require.JSONEq(t, string(wantBody), string(s.orders[0]), "the order carries the validated products")
	require.Len(t, s.events, 1)
	require.JSONEq(t, `{"type": "order.created", "order_id": 1001, "cart_id": 7, "total_cents": 5500}`, string(s.events[0]))
	require.Equal(t, []string{"tasker-task-12-create_order", "tasker-task-12-publish_event"}, s.keys)
	require.Equal(t, map[string]int{strconv.Itoa(7): 2}, s.cartCalls)
}
