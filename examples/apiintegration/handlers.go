package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tasker-systems/tasker/pluginsdk"
	"github.com/tasker-systems/tasker/pluginsdk/httpstep"
)

// api is the HTTP client every handler shares; it classifies each failure
// for the engine (see package httpstep).
var api = func() *httpstep.Client {
	c := httpstep.New()
	c.UserAgent = "tasker-apiintegration/1.0.0"
	return c
}()

// handlers are the plugin's handlers, by the names step templates use.
func handlers() map[string]pluginsdk.Handler {
	return map[string]pluginsdk.Handler{
		"fetch_cart":        fetchCart,
		"fetch_products":    fetchProducts,
		"validate_products": validateProducts,
		"create_order":      createOrder,
		"publish_event":     publishEvent,
	}
}

// taskContext is the task context of api_order.
type taskContext struct {
	CartID int64 `json:"cart_id"`
	// APIBaseURL, when set, replaces handler_config.base_url.
	APIBaseURL string `json:"api_base_url"`
}

// cart is what GET /carts/{id} answers, and fetch_cart's result.
type cart struct {
	ID    int64      `json:"id"`
	Items []cartItem `json:"items"`
}

type cartItem struct {
	ProductID int64 `json:"product_id"`
	Quantity  int   `json:"quantity"`
}

// product is one entry of GET /products.
type product struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int    `json:"stock"`
}

// catalogue is fetch_products' result.
type catalogue struct {
	Products []product `json:"products"`
}

// orderLine is a validated, priced cart item.
type orderLine struct {
	ProductID      int64  `json:"product_id"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	PriceCents     int64  `json:"price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

// validatedOrder is validate_products' result and the body of POST /orders.
type validatedOrder struct {
	CartID     int64       `json:"cart_id"`
	Items      []orderLine `json:"items"`
	TotalCents int64       `json:"total_cents"`
}

// createdOrder is create_order's result.
type createdOrder struct {
	OrderID    int64  `json:"order_id"`
	Status     string `json:"status"`
	CartID     int64  `json:"cart_id"`
	TotalCents int64  `json:"total_cents"`
}

// event is the body of POST /events.
type event struct {
	Type       string `json:"type"`
	OrderID    int64  `json:"order_id"`
	CartID     int64  `json:"cart_id"`
	TotalCents int64  `json:"total_cents"`
}

// published is publish_event's result.
type published struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	OrderID int64  `json:"order_id"`
}

// baseURL is the API's base URL for the step: the task context's
// api_base_url when set, else handler_config.base_url. A missing or
// malformed URL is a permanent error.
func baseURL(req pluginsdk.Request) (string, error) {
	var tc taskContext
	if err := req.DecodeContext(&tc); err != nil {
		return "", err
	}
	var cfg struct {
		BaseURL string `json:"base_url"`
	}
	if err := req.DecodeConfig(&cfg); err != nil {
		return "", err
	}
	base, from := tc.APIBaseURL, "context.api_base_url"
	if base == "" {
		base, from = cfg.BaseURL, "handler_config.base_url"
	}
	if base == "" {
		return "", pluginsdk.PermanentErrorf("step %q: no API base URL: set handler_config.base_url or context.api_base_url", req.StepName)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", pluginsdk.PermanentErrorf("step %q: %s %q is not an http(s) URL without a query", req.StepName, from, base)
	}
	return strings.TrimSuffix(base, "/"), nil
}

// fetchCart reads the cart named by the task context.
func fetchCart(ctx context.Context, req pluginsdk.Request) (any, error) {
	base, err := baseURL(req)
	if err != nil {
		return nil, err
	}
	var tc taskContext
	if err := req.DecodeContext(&tc); err != nil {
		return nil, err
	}
	if tc.CartID <= 0 {
		return nil, pluginsdk.PermanentErrorf("cart_id must be positive, got %d", tc.CartID)
	}
	var c cart
	if err := api.GetJSON(ctx, fmt.Sprintf("%s/carts/%d", base, tc.CartID), &c); err != nil {
		return nil, err
	}
	if c.ID != tc.CartID {
		return nil, pluginsdk.PermanentErrorf("asked for cart %d, the API answered cart %d", tc.CartID, c.ID)
	}
	pluginsdk.Logger(ctx).Info("cart fetched", "cart_id", c.ID, "items", len(c.Items))
	return c, nil
}

// fetchProducts reads the product catalogue.
func fetchProducts(ctx context.Context, req pluginsdk.Request) (any, error) {
	base, err := baseURL(req)
	if err != nil {
		return nil, err
	}
	var ps []product
	if err := api.GetJSON(ctx, base+"/products", &ps); err != nil {
		return nil, err
	}
	pluginsdk.Logger(ctx).Info("products fetched", "count", len(ps))
	return catalogue{Products: ps}, nil
}

// validateProducts checks each cart item against the catalogue (the product
// exists, the quantity is positive and in stock) and prices the order. It
// calls no API: a cart that fails is a permanent failure.
func validateProducts(ctx context.Context, req pluginsdk.Request) (any, error) {
	var c cart
	if err := req.DecodeResult("fetch_cart", &c); err != nil {
		return nil, err
	}
	var cat catalogue
	if err := req.DecodeResult("fetch_products", &cat); err != nil {
		return nil, err
	}
	if len(c.Items) == 0 {
		return nil, pluginsdk.PermanentErrorf("cart %d is empty", c.ID)
	}
	byID := make(map[int64]product, len(cat.Products))
	for _, p := range cat.Products {
		byID[p.ID] = p
	}
	out := validatedOrder{CartID: c.ID, Items: make([]orderLine, 0, len(c.Items))}
	for _, it := range c.Items {
		p, ok := byID[it.ProductID]
		switch {
		case !ok:
			return nil, pluginsdk.PermanentErrorf("cart %d: product %d does not exist", c.ID, it.ProductID)
		case it.Quantity <= 0:
			return nil, pluginsdk.PermanentErrorf("cart %d: product %d has quantity %d", c.ID, it.ProductID, it.Quantity)
		case it.Quantity > p.Stock:
			return nil, pluginsdk.PermanentErrorf("cart %d: product %d (%s): %d wanted, %d in stock", c.ID, p.ID, p.Name, it.Quantity, p.Stock)
		}
		line := orderLine{ProductID: p.ID, Name: p.Name, Quantity: it.Quantity, PriceCents: p.PriceCents,
			LineTotalCents: p.PriceCents * int64(it.Quantity)}
		out.Items = append(out.Items, line)
		out.TotalCents += line.LineTotalCents
	}
	pluginsdk.Logger(ctx).Info("cart validated", "cart_id", c.ID, "total_cents", out.TotalCents)
	return out, nil
}

// idempotencyKey names one step of one task, so that the API can recognise
// a retry of a request it already carried out (the first attempt may have
// timed out after the server acted).
func idempotencyKey(req pluginsdk.Request) string {
	return fmt.Sprintf("tasker-task-%d-%s", req.TaskID, req.StepName)
}

// postJSON sends body to url with the step's Idempotency-Key.
func postJSON(ctx context.Context, req pluginsdk.Request, url string, body, out any) error {
	r, err := httpstep.NewJSONRequest(ctx, http.MethodPost, url, body)
	if err != nil {
		return err
	}
	r.Header.Set("Idempotency-Key", idempotencyKey(req))
	return api.DoJSON(ctx, r, out)
}

// createOrder creates the order from the validated items.
func createOrder(ctx context.Context, req pluginsdk.Request) (any, error) {
	base, err := baseURL(req)
	if err != nil {
		return nil, err
	}
	var v validatedOrder
	if err := req.DecodeResult("validate_products", &v); err != nil {
		return nil, err
	}
	var resp struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if err := postJSON(ctx, req, base+"/orders", v, &resp); err != nil {
		return nil, err
	}
	if resp.ID <= 0 {
		return nil, pluginsdk.PermanentErrorf("POST %s/orders: the API answered no order id", base)
	}
	pluginsdk.Logger(ctx).Info("order created", "order_id", resp.ID, "cart_id", v.CartID)
	return createdOrder{OrderID: resp.ID, Status: resp.Status, CartID: v.CartID, TotalCents: v.TotalCents}, nil
}

// publishEvent announces the new order.
func publishEvent(ctx context.Context, req pluginsdk.Request) (any, error) {
	base, err := baseURL(req)
	if err != nil {
		return nil, err
	}
	var o createdOrder
	if err := req.DecodeResult("create_order", &o); err != nil {
		return nil, err
	}
	e := event{Type: "order.created", OrderID: o.OrderID, CartID: o.CartID, TotalCents: o.TotalCents}
	var resp struct {
		ID string `json:"id"`
	}
	if err := postJSON(ctx, req, base+"/events", e, &resp); err != nil {
		return nil, err
	}
	pluginsdk.Logger(ctx).Info("event published", "event_id", resp.ID, "order_id", o.OrderID)
	return published{EventID: resp.ID, Type: e.Type, OrderID: o.OrderID}, nil
}
