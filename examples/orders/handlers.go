package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// handlers are the plugin's handlers, by the names step templates use.
func handlers() map[string]pluginsdk.Handler {
	return map[string]pluginsdk.Handler{
		"validate_order":    validateOrder,
		"process_payment":   processPayment,
		"send_confirmation": sendConfirmation,
	}
}

// order is the task context of the order workflow.
type order struct {
	OrderID       int64  `json:"order_id"`
	AmountCents   int64  `json:"amount_cents"`
	CustomerEmail string `json:"customer_email"`
}

// validation is validate_order's result.
type validation struct {
	OrderID     int64 `json:"order_id"`
	Valid       bool  `json:"valid"`
	AmountCents int64 `json:"amount_cents"`
}

// payment is process_payment's result.
type payment struct {
	PaymentID   string `json:"payment_id"`
	AmountCents int64  `json:"amount_cents"`
	Status      string `json:"status"`
}

// confirmation is send_confirmation's result.
type confirmation struct {
	SentTo    string `json:"sent_to"`
	PaymentID string `json:"payment_id"`
	Message   string `json:"message"`
}

// validateOrder checks the order in the task context; a bad order is a
// permanent failure.
func validateOrder(ctx context.Context, req pluginsdk.Request) (any, error) {
	var o order
	if err := req.DecodeContext(&o); err != nil {
		return nil, err
	}
	if o.OrderID <= 0 {
		return nil, pluginsdk.PermanentErrorf("invalid order: order_id must be positive, got %d", o.OrderID)
	}
	if o.AmountCents <= 0 {
		return nil, pluginsdk.PermanentErrorf("invalid order %d: amount_cents must be positive, got %d", o.OrderID, o.AmountCents)
	}
	pluginsdk.Logger(ctx).Info("order validated", "order_id", o.OrderID, "amount_cents", o.AmountCents)
	return validation{OrderID: o.OrderID, Valid: true, AmountCents: o.AmountCents}, nil
}

// processPayment takes the payment for a validated order. To show retries,
// it fails retryably on the step's first attempt and succeeds afterwards.
func processPayment(ctx context.Context, req pluginsdk.Request) (any, error) {
	var v validation
	if err := req.DecodeResult("validate_order", &v); err != nil {
		return nil, err
	}
	if !v.Valid {
		return nil, pluginsdk.PermanentErrorf("order %d was not validated", v.OrderID)
	}
	if req.Attempt <= 1 {
		return nil, pluginsdk.Retryable(errors.New("payment gateway timed out (simulated transient failure on first attempt)"))
	}
	p := payment{PaymentID: fmt.Sprintf("pay_%d", v.OrderID), AmountCents: v.AmountCents, Status: "captured"}
	pluginsdk.Logger(ctx).Info("payment captured", "payment_id", p.PaymentID, "amount_cents", p.AmountCents)
	return p, nil
}

// sendConfirmation tells the customer that the payment went through.
func sendConfirmation(ctx context.Context, req pluginsdk.Request) (any, error) {
	var o order
	if err := req.DecodeContext(&o); err != nil {
		return nil, err
	}
	var p payment
	if err := req.DecodeResult("process_payment", &p); err != nil {
		return nil, err
	}
	if o.CustomerEmail == "" {
		return nil, pluginsdk.PermanentErrorf("order %d has no customer_email", o.OrderID)
	}
	c := confirmation{
		SentTo:    o.CustomerEmail,
		PaymentID: p.PaymentID,
		Message:   fmt.Sprintf("Order %d confirmed: payment %s of %d cents %s.", o.OrderID, p.PaymentID, p.AmountCents, p.Status),
	}
	pluginsdk.Logger(ctx).Info("confirmation sent", "to", c.SentTo, "payment_id", c.PaymentID)
	return c, nil
}
